"""Self-contained HTML reports for ``blockade run``: what was run, key numbers, figures, tables, sources.

A :class:`Report` is plain data (frozen dataclasses); :func:`render_report` turns it into one HTML file with
the Jinja2 template ``templates/report.html``.  Figures are embedded as inline SVG, styles are inline, and
nothing refers to the network, so the file can be mailed or archived and still opens anywhere.

Notes
-----
The order of a report follows what a reader needs first: the key numbers with a plain-language reading,
then figures, then the full tables, then notes about the data, then the assumptions and their sources, and
last what was run (the model's parameters and the scenario file, so the numbers can be reproduced).  Column
headers are words with units (:func:`column_label`), never the code's snake_case names.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from occupancy.version import __version__


@dataclass(frozen=True)
class KeyNumber:
    """One line of the key-number table: a label, the value as shown, and how to read it."""

    label: str
    value: str
    reading: str = ""


@dataclass(frozen=True)
class ReportFigure:
    """A figure embedded as inline SVG markup (see :func:`figure_to_svg`)."""

    title: str
    svg: str
    caption: str = ""


@dataclass(frozen=True)
class ReportTable:
    """A full table; ``columns`` and ``rows`` are already formatted for display."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""

    @classmethod
    def from_frame(cls, title: str, frame, caption: str = "", digits: int = 3) -> "ReportTable":
        """Build a table from a pandas DataFrame, rounding floats to ``digits`` significant places.

        Column names become words with units (:func:`column_label`): ``time_h`` → "Time (h)".
        """
        columns = tuple(column_label(c) for c in frame.columns)
        rows = tuple(tuple(format_cell(v, digits) for v in record) for record in frame.itertuples(index=False))
        return cls(title=title, columns=columns, rows=rows, caption=caption)


@dataclass(frozen=True)
class Assumption:
    """An assumption the numbers rest on, and where it comes from."""

    text: str
    source: str = ""


@dataclass(frozen=True)
class ReportSection:
    """One part of a report (e.g. the reanalysis, or a planning example).

    ``reading`` is a plain-language paragraph shown under the key numbers; ``data_notes`` are notes about the
    input data (e.g. defaults used for the bundled review's rows), shown once in the report's data section.
    """

    title: str
    intro: str = ""
    key_numbers: tuple[KeyNumber, ...] = ()
    figures: tuple[ReportFigure, ...] = ()
    tables: tuple[ReportTable, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    reading: str = ""
    data_notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """A whole report: provenance of the run and its sections."""

    title: str
    scenario_name: str
    scenario_text: str
    parameters: tuple[tuple[str, str], ...] = ()
    sections: tuple[ReportSection, ...] = ()
    files: tuple[str, ...] = ()
    version: str = __version__
    created: str = field(default_factory=lambda: report_timestamp())


#: Headers of well-known columns (results of simulate, plan and reanalyse); others follow :func:`column_label`'s rules.
COLUMN_LABELS = {
    "label": "Assessment", "time_h": "Time (h)", "end_h": "Window end (h)", "protocol_time_h": "Protocol time (h)",
    "MOR": "MOR blockade (%)", "KOR": "KOR blockade (%)", "DOR": "DOR blockade (%)",
    "MOR_prob_ge_90": "P(MOR ≥ 90 %)", "KOR_prob_ge_90": "P(KOR ≥ 90 %)", "DOR_prob_ge_90": "P(DOR ≥ 90 %)",
    "MOR_ci_lo": "MOR uncertainty, low (%)", "MOR_ci_hi": "MOR uncertainty, high (%)",
    "C_naltrexone_ng_ml": "Naltrexone (ng/mL)", "C_6b_naltrexol_ng_ml": "6β-naltrexol (ng/mL)",
    "C_naloxone_ng_ml": "Naloxone (ng/mL)",
    "order": "Order", "participants": "Participants", "session": "Session", "condition": "Condition",
    "session_start_h": "Session start (h)", "residual_MOR_at_start": "Residual MOR at session start (%)",
    "contrast_pp": "MOR contrast (pp)", "drug_MOR": "MOR, drug (%)", "placebo_MOR": "MOR, placebo (%)",
    "study_id": "Study", "outcome": "Outcome", "design": "Design", "isi_days": "Interval between sessions (days)",
    "yi": "Effect (g)", "vi": "Sampling variance", "sei": "Standard error", "k": "k", "n": "N",
    "ci_lb": "95 % CI, low", "ci_ub": "95 % CI, high", "se": "Standard error", "p": "p", "z": "z",
    "rescaled": "Adjusted g (rescaled)", "regression": "Adjusted g (regression)",
    "variant": "Variant", "interval": "Interval",
}

_UNIT_SUFFIXES = (("_ng_ml", "ng/mL"), ("_l_per_h", "L/h"), ("_per_h", "per h"), ("_per_min", "per min"), ("_days", "days"),
                  ("_pct", "%"), ("_pp", "pp"), ("_mg", "mg"), ("_kg", "kg"), ("_min", "min"), ("_h", "h"),
                  ("_l", "L"))
_WORDS = {"mor": "MOR", "kor": "KOR", "dor": "DOR", "nol": "6β-naltrexol", "isi": "intersession interval",
          "ci": "CI", "lb": "low", "ub": "high", "pct": "%", "n": "N", "p025": "2.5th percentile",
          "p975": "97.5th percentile", "t": "t", "half": "half-life", "sd": "SD", "mg": "mg"}
_PERCENTILE = re.compile(r"^(MOR|KOR|DOR)_p(\d\d)$")


def column_label(name) -> str:
    """A column or parameter name as words with its unit: ``time_h`` → "Time (h)", ``MOR_p05`` → "MOR 5th
    percentile (%)", ``ka_per_h`` → "ka (per h)", ``residual_threshold_pct`` → "Residual threshold (%)".

    Known names come from :data:`COLUMN_LABELS`; others lose their unit suffix into parentheses and their
    underscores into spaces.  Names that are already words are kept.
    """
    name = str(name)
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    match = _PERCENTILE.match(name)
    if match:
        q = int(match.group(2))
        return f"{match.group(1)} {'median' if q == 50 else f'{q}th percentile'} (%)"
    if "_" not in name:
        return name
    unit = ""
    for suffix, text in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name, unit = name[: -len(suffix)], text
            break
    parts = [_WORDS.get(w.lower(), w) if not (w.isupper() and len(w) > 1) else w for w in name.split("_") if w]
    words = " ".join(parts).replace("t half-life", "half-life")
    if words[:1].islower() and len(parts[0]) > 2:
        words = words[0].upper() + words[1:]
    return f"{words} ({unit})" if unit else words


def report_timestamp() -> str:
    """The report's date: ``SOURCE_DATE_EPOCH`` (reproducible builds) when set, otherwise now; UTC."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = None
    if epoch:
        try:
            when = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            when = None
    when = when or _dt.datetime.now(_dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def format_cell(value: Any, digits: int = 3) -> str:
    """Format a table cell: floats to ``digits`` significant digits, NaN/None as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


_SVG_HEADER = re.compile(r"^.*?(<svg\b)", re.DOTALL)


def figure_to_svg(fig) -> str:
    """Serialise a matplotlib figure to inline SVG markup (no XML prolog, no external references).

    The figure scales down with the page but never grows beyond its natural size (1 pt = 4/3 px), so small
    figures are not blown up on wide screens.
    """
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "blockade"}):  # reproducible ids, no date: identical bytes
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _SVG_HEADER.sub(r"\1", buffer.getvalue(), count=1)
    width = re.search(r'<svg\b[^>]*?\swidth="([0-9.]+)pt"', svg)
    natural = f"max-width:{float(width.group(1)) * 4 / 3:.0f}px;" if width else "max-width:100%;"
    svg = re.sub(r'(<svg\b[^>]*?)\swidth="[^"]*"', r"\1", svg, count=1)
    svg = re.sub(r'(<svg\b[^>]*?)\sheight="[^"]*"', rf'\1 style="width:100%;{natural}height:auto"', svg, count=1)
    return svg


def render_report(report: Report) -> str:
    """Render ``report`` to a complete, self-contained HTML document (Jinja2, autoescaped)."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("occupancy.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["svg"] = lambda s: Markup(s)  # our own matplotlib output, not user text
    env.filters["words"] = column_label
    template = env.get_template("report.html")
    return template.render(report=report)


def plain_percent(value: float) -> str:
    """A percentage for plain-language readings: ``94 %``; ``–`` for NaN."""
    return "–" if value != value else f"{value:.0f} %"
