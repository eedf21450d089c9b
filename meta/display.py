"""Notebook display of result objects: a short ``repr``, an HTML view that starts with the key numbers.

Every result class of ``meta`` and ``occupancy`` (pooled models, tests, simulations, plans, reanalyses,
annotations) inherits :class:`ResultDisplay` and says what its key numbers are (:meth:`key_numbers`) and, where
it helps, one plain-language sentence (:meth:`reading`).  The mixin then gives

* ``repr(result)``: ``<ClassName: label value; label value; ...>``, at most :data:`MAX_REPR` characters
  (a dataclass's generated repr printed every array and table: 24 KB for a reanalysis);
* ``result._repr_html_()``: the key numbers as a small table, the reading, then the full text
  :meth:`summary` folded away and the first rows of :meth:`to_frame` (Jupyter, VS Code and Quarto call it).

Notes
-----
The dataclass decorator adds its own ``__repr__`` unless the class body already has one;
:meth:`ResultDisplay.__init_subclass__` puts the mixin's into each subclass's body, so ``@dataclass`` keeps it
and no result class needs ``repr=False``.  Nothing here imports numpy or pandas at module level.
"""

from __future__ import annotations

import html
import math

__all__ = ["MAX_REPR", "ResultDisplay", "format_number"]

#: Longest ``repr`` of a result (characters).
MAX_REPR = 480


def format_number(value, digits: int = 4) -> str:
    """A number for a key-number line: ``digits`` significant digits, ``n/a`` for None/NaN, ints as they are."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}g}"


def coefficient_numbers(coefficients, level: float | None = None) -> list[tuple[str, str]]:
    """Key numbers of a coefficient table: the first coefficient (the pooled estimate of an intercept-only
    model) with its CI and p-value, then how many more coefficients there are."""
    if not coefficients:
        return []
    c = coefficients[0]
    pct = f"{100 * level:g} % CI" if level else "CI"
    out = [(c.name if c.name != "intrcpt" else "estimate",
            f"{format_number(c.estimate)} ({pct} {format_number(c.ci_lb)} to {format_number(c.ci_ub)}), "
            f"p = {format_number(c.p, 3)}")]
    if len(coefficients) > 1:
        out.append(("moderators", ", ".join(f"{x.name} {format_number(x.estimate)}" for x in coefficients[1:4])
                    + (" ..." if len(coefficients) > 4 else "")))
    return out


class ResultDisplay:
    """Mixin: short ``repr`` and ``_repr_html_`` from :meth:`key_numbers`, :meth:`summary` and :meth:`to_frame`."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = ResultDisplay.__repr__  # before @dataclass runs: it keeps a __repr__ it finds

    # -- what a subclass provides --------------------------------------------------------------------------
    def key_numbers(self) -> list[tuple[str, str]]:
        """``(label, value text)`` pairs, most important first.

        The default lists the first scalar fields of the dataclass (numbers and short texts, in field order),
        or the first line of :meth:`summary` when there are none; result classes with a natural headline
        override it.
        """
        import dataclasses
        import numbers

        out = []
        for f in dataclasses.fields(self) if dataclasses.is_dataclass(self) else ():
            value = getattr(self, f.name, None)
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, numbers.Number):
                out.append((f.name, format_number(value)))
            elif isinstance(value, str) and 0 < len(value) <= 40:
                out.append((f.name, value))
            if len(out) == 8:
                break
        if not out:  # only arrays and tables: the summary's first line says what the result is
            first = next((line.strip() for line in self.summary().splitlines() if line.strip()), "")
            out = [("", first)] if first else []
        return out

    def reading(self) -> str:
        """One plain-language sentence about the result ("" when the key numbers speak for themselves)."""
        return ""

    # -- what the mixin gives ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        try:
            parts = [f"{k} {v}".strip() for k, v in self.key_numbers()]
        except Exception as exc:  # a repr must never raise (debuggers call it on half-built objects)
            parts = [f"(key numbers unavailable: {type(exc).__name__})"]
        text = f"<{type(self).__name__}: {'; '.join(parts)}>"
        if len(text) > MAX_REPR:
            text = text[: MAX_REPR - 4] + "...>"
        return text

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                       for k, v in self.key_numbers())
        parts = [f"<div class='blockade-result'><strong>{html.escape(type(self).__name__)}</strong>",
                 f"<table class='key-numbers'>{rows}</table>"]
        reading = self.reading()
        if reading:
            parts.append(f"<p>{html.escape(reading)}</p>")
        parts.append(f"<details><summary>Full summary</summary><pre>{html.escape(self.summary())}</pre></details>")
        try:
            frame = self.to_frame()
        except Exception:  # noqa: BLE001 - the display is a convenience; the summary above is complete
            frame = None
        if frame is not None and len(frame):
            shown = frame.head(10)
            more = f"<p>… {len(frame) - 10} more rows: <code>.to_frame()</code></p>" if len(frame) > 10 else ""
            parts.append(f"<details><summary>Table ({len(frame)} rows)</summary>"
                         f"{shown.to_html(index=False, na_rep='')}{more}</details>")
        parts.append("</div>")
        return "".join(parts)
