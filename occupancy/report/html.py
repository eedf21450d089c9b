"""Self-contained HTML reports for ``blockade run``: what was run, key numbers, figures, tables, sources.

A :class:`Report` is plain data (frozen dataclasses); :func:`render_report` turns it into one HTML file with
the Jinja2 template ``templates/report.html``.  Figures are embedded as inline SVG, styles are inline, and
nothing refers to the network, so the file can be mailed or archived and still opens anywhere.

Notes
-----
The order of a report follows what a reader needs first: the scenario and model (so the numbers can be
reproduced), then the key numbers with a plain-language reading, then figures, then the full tables, then
the assumptions and their sources.
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
        """Build a table from a pandas DataFrame, rounding floats to ``digits`` significant places."""
        columns = tuple(str(c) for c in frame.columns)
        rows = tuple(tuple(format_cell(v, digits) for v in record) for record in frame.itertuples(index=False))
        return cls(title=title, columns=columns, rows=rows, caption=caption)


@dataclass(frozen=True)
class Assumption:
    """An assumption the numbers rest on, and where it comes from."""

    text: str
    source: str = ""


@dataclass(frozen=True)
class ReportSection:
    """One part of a report (e.g. the reanalysis, or a planning example)."""

    title: str
    intro: str = ""
    key_numbers: tuple[KeyNumber, ...] = ()
    figures: tuple[ReportFigure, ...] = ()
    tables: tuple[ReportTable, ...] = ()
    assumptions: tuple[Assumption, ...] = ()


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
    template = env.get_template("report.html")
    return template.render(report=report)


def plain_percent(value: float) -> str:
    """A percentage for plain-language readings: ``94 %``; ``–`` for NaN."""
    return "–" if value != value else f"{value:.0f} %"
