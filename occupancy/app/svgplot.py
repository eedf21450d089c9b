"""A small line chart drawn directly as inline SVG (a few milliseconds, so the Simulate tab stays live).

matplotlib needs 150–300 ms to draw and encode the time-course figure, more than the whole recompute
budget, so the page draws its live charts here; the report's matplotlib figures remain what the PNG/SVG
downloads and ``blockade run`` use.  Tick positions come from matplotlib's locators (no drawing).  All text
is escaped.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from html import escape

import numpy as np


_CLIP_IDS = itertools.count(1)  # unique per process: several charts share one page


@dataclass
class _Item:
    kind: str
    args: dict


@dataclass
class Chart:
    """A chart with linear or log axes; add series, then :meth:`render` the SVG markup."""

    width: int = 900
    height: int = 420
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    xlim: tuple | None = None
    ylim: tuple | None = None
    xlog: bool = False
    ylog: bool = False
    margin: tuple = (58, 18, 30, 44)  # left, right, top, bottom (px)
    legend: str = "upper right"
    items: list = field(default_factory=list)

    # -- series ---------------------------------------------------------------------------------------
    def line(self, x, y, *, color="black", width=1.6, dash=None, label=None):
        self.items.append(_Item("line", dict(x=np.asarray(x, float), y=np.asarray(y, float), color=color,
                                             width=width, dash=dash, label=label)))

    def band(self, x, lo, hi, *, color="black", opacity=0.15, label=None):
        self.items.append(_Item("band", dict(x=np.asarray(x, float), lo=np.asarray(lo, float),
                                             hi=np.asarray(hi, float), color=color, opacity=opacity, label=label)))

    def hline(self, y, *, color="grey", dash="5,4", width=1.0, label=None):
        self.items.append(_Item("hline", dict(y=float(y), color=color, dash=dash, width=width, label=label)))

    def vline(self, x, *, color="grey", opacity=0.5, width=1.0):
        self.items.append(_Item("vline", dict(x=float(x), color=color, opacity=opacity, width=width)))

    def vspan(self, x0, x1, *, color="green", opacity=0.12):
        self.items.append(_Item("vspan", dict(x0=float(x0), x1=float(x1), color=color, opacity=opacity)))

    def hover(self, x, series: dict, unit_x: str = ""):
        """A crosshair that follows the pointer and lists ``series`` (``{label: values at x}``, text as given) at
        the nearest ``x`` (drawn by the page's script; the values travel in the SVG as JSON)."""
        self.hover_data = {"x": [float(v) for v in np.asarray(x, float)], "unit": unit_x,
                           "series": {str(k): [None if not np.isfinite(v) else float(f"{v:.4g}")
                                               for v in np.asarray(vals, float)] for k, vals in series.items()}}

    def point(self, x, y, *, color="green", r=4.5, shape="circle", tooltip="", text="", label=None):
        self.items.append(_Item("point", dict(x=float(x), y=float(y), color=color, r=r, shape=shape,
                                              tooltip=tooltip, text=text, label=label)))

    # -- geometry -------------------------------------------------------------------------------------
    def _ranges(self):
        xs, ys = [], []
        for it in self.items:
            a = it.args
            if it.kind == "line":
                xs.append(a["x"])
                ys.append(a["y"])
            elif it.kind == "band":
                xs.append(a["x"])
                ys += [a["lo"], a["hi"]]
        xv = np.concatenate(xs) if xs else np.array([0.0, 1.0])
        yv = np.concatenate(ys) if ys else np.array([0.0, 1.0])
        xv, yv = xv[np.isfinite(xv)], yv[np.isfinite(yv)]
        if self.xlog:
            xv = xv[xv > 0]
        if self.ylog:
            yv = yv[yv > 0]
        x0, x1 = self.xlim or ((float(xv.min()), float(xv.max())) if xv.size else (0.0, 1.0))
        y0, y1 = self.ylim or ((float(yv.min()), float(yv.max())) if yv.size else (0.0, 1.0))
        if x1 <= x0:
            x1 = x0 + 1.0
        if y1 <= y0:
            y1 = y0 + 1.0
        return (x0, x1), (y0, y1)

    def _scale(self, lo, hi, a, b, log):
        if log:
            lo, hi = math.log10(lo), math.log10(hi)

            def f(v):
                v = np.asarray(v, float)
                with np.errstate(divide="ignore", invalid="ignore"):
                    return a + (np.log10(np.where(v > 0, v, np.nan)) - lo) / (hi - lo) * (b - a)
            return f
        return lambda v: a + (np.asarray(v, float) - lo) / (hi - lo) * (b - a)

    @staticmethod
    def _ticks(lo, hi, log):
        from matplotlib.ticker import LogLocator, MaxNLocator

        values = (LogLocator(base=10).tick_values(lo, hi) if log
                  else MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi))
        eps = (hi - lo) * 1e-9 if not log else 0
        return [float(v) for v in values if lo - eps <= v <= hi + eps]

    # -- output ---------------------------------------------------------------------------------------
    def render(self, aria_label: str = "") -> str:
        (x0, x1), (y0, y1) = self._ranges()
        clip = f"plotarea-{next(_CLIP_IDS)}"
        left, right, top, bottom = self.margin
        pw, ph = self.width - left - right, self.height - top - bottom
        fx = self._scale(x0, x1, left, left + pw, self.xlog)
        fy = self._scale(y0, y1, top + ph, top, self.ylog)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
               f'style="width:100%;height:auto;max-width:{self.width * 1.4:.0f}px;font-family:sans-serif" role="img" '
               f'aria-label="{escape(aria_label or self.title)}">',
               f'<defs><clipPath id="{clip}"><rect x="{left}" y="{top}" width="{pw}" height="{ph}"/>'
               "</clipPath></defs>",
               f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="white" stroke="#333" stroke-width="1"/>']
        for v in self._ticks(x0, x1, self.xlog):
            px = float(fx(v))
            out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + ph}" stroke="#e5e5e5"/>')
            out.append(f'<text x="{px:.1f}" y="{top + ph + 15}" font-size="11" text-anchor="middle">{_num(v)}</text>')
        for v in self._ticks(y0, y1, self.ylog):
            py = float(fy(v))
            out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" stroke="#e5e5e5"/>')
            out.append(f'<text x="{left - 6}" y="{py + 4:.1f}" font-size="11" text-anchor="end">{_num(v)}</text>')
        if self.xlabel:
            out.append(f'<text x="{left + pw / 2:.1f}" y="{self.height - 8}" font-size="12" text-anchor="middle">'
                       f"{escape(self.xlabel)}</text>")
        if self.ylabel:
            out.append(f'<text transform="translate(14,{top + ph / 2:.1f}) rotate(-90)" font-size="12" '
                       f'text-anchor="middle">{escape(self.ylabel)}</text>')
        if self.title:
            out.append(f'<text x="{left + pw / 2:.1f}" y="{top - 10}" font-size="13" text-anchor="middle">'
                       f"{escape(self.title)}</text>")
        body, marks, legend = [], [], []
        for it in self.items:
            a = it.args
            if it.kind == "vspan":
                xa, xb = sorted((float(fx(a["x0"])), float(fx(a["x1"]))))
                body.append(f'<rect x="{xa:.1f}" y="{top}" width="{max(xb - xa, 1):.1f}" height="{ph}" '
                            f'fill="{a["color"]}" fill-opacity="{a["opacity"]}"/>')
            elif it.kind == "vline":
                px = float(fx(a["x"]))
                body.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + ph}" stroke="{a["color"]}" '
                            f'stroke-opacity="{a["opacity"]}" stroke-width="{a["width"]}"/>')
            elif it.kind == "band":
                for seg in _segments(a["x"], a["lo"], a["hi"]):
                    xs, lo, hi = seg
                    pts = _points(fx(xs), fy(hi)) + " " + _points(fx(xs[::-1]), fy(lo[::-1]))
                    body.append(f'<polygon points="{pts}" fill="{a["color"]}" fill-opacity="{a["opacity"]}" '
                                'stroke="none"/>')
                if a["label"]:
                    legend.append(("band", a["color"], a["opacity"], a["label"]))
            elif it.kind == "line":
                dash = f' stroke-dasharray="{a["dash"]}"' if a["dash"] else ""
                for xs, ys in _segments(a["x"], a["y"]):
                    body.append(f'<polyline points="{_points(fx(xs), fy(ys))}" fill="none" stroke="{a["color"]}" '
                                f'stroke-width="{a["width"]}"{dash} stroke-linejoin="round"/>')
                if a["label"]:
                    legend.append(("line", a["color"], a["dash"], a["label"]))
            elif it.kind == "hline":
                py = float(fy(a["y"]))
                body.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" stroke="{a["color"]}" '
                            f'stroke-dasharray="{a["dash"]}" stroke-width="{a["width"]}"/>')
                if a["label"]:
                    legend.append(("line", a["color"], a["dash"], a["label"]))
            elif it.kind == "point":
                px, py = float(fx(a["x"])), float(fy(a["y"]))
                if not (math.isfinite(px) and math.isfinite(py)):
                    continue
                tip = f"<title>{escape(a['tooltip'])}</title>" if a["tooltip"] else ""
                if a["shape"] == "triangle":
                    r = a["r"]
                    marks.append(f'<polygon points="{px:.1f},{py - r:.1f} {px - r:.1f},{py + r * 0.8:.1f} '
                                 f'{px + r:.1f},{py + r * 0.8:.1f}" fill="{a["color"]}">{tip}</polygon>')
                else:
                    marks.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{a["r"]}" fill="{a["color"]}" '
                                 f'stroke="white" stroke-width="1">{tip}</circle>')
                if a["text"]:
                    marks.append(f'<text x="{px + 6:.1f}" y="{py + 14:.1f}" font-size="11" font-weight="bold" '
                                 f'fill="{a["color"]}">{escape(a["text"])}</text>')
                if a["label"]:
                    legend.append(("point", a["color"], None, a["label"]))
        out.append(f'<g clip-path="url(#{clip})">' + "".join(body) + "</g>")
        out += marks
        out += _legend(legend, left, top, pw, self.legend)
        hover = getattr(self, "hover_data", None)
        if hover:
            import json

            data = escape(json.dumps({**hover, "x0": x0, "x1": x1, "left": left, "pw": pw, "log": self.xlog}),
                          quote=True)
            out.append(f'<g class="crosshair" visibility="hidden" pointer-events="none">'
                       f'<line class="crosshair-line" x1="0" y1="{top}" x2="0" y2="{top + ph}" stroke="#333" '
                       f'stroke-width="1" stroke-dasharray="3,3"/>'
                       f'<rect class="crosshair-box" x="0" y="{top + 4}" width="10" height="10" fill="white" '
                       f'fill-opacity="0.95" stroke="#999"/><text class="crosshair-text" font-size="11" x="0" '
                       f'y="{top + 18}"></text></g>')
            out.append(f'<rect class="hover-area" x="{left}" y="{top}" width="{pw}" height="{ph}" fill="transparent" '
                       f'data-hover="{data}"/>')
        out.append("</svg>")
        return "".join(out)


def _num(v: float) -> str:
    return f"{v:g}"


def _segments(x, *ys):
    """Runs of points where x and every y are finite (NaN breaks a line, e.g. outside a model's range)."""
    ok = np.isfinite(x)
    for y in ys:
        ok &= np.isfinite(y)
    if ok.all():
        yield (x, *ys)
        return
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return
    breaks = np.flatnonzero(np.diff(idx) > 1)
    for run in np.split(idx, breaks + 1):
        if run.size:
            yield (x[run], *[y[run] for y in ys])


def _points(px, py) -> str:
    px, py = np.asarray(px, float), np.asarray(py, float)
    keep = np.isfinite(px) & np.isfinite(py)
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px[keep], py[keep]))


def _legend(entries, left, top, pw, where) -> list[str]:
    if not entries:
        return []
    width = 14 + 7.0 * max(len(e[3]) for e in entries) + 30
    height = 8 + 16 * len(entries)
    x = left + pw - width - 6 if where == "upper right" else left + 6
    y = top + 6
    out = [f'<g font-size="11"><rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{height}" fill="white" '
           'fill-opacity="0.9" stroke="#ccc"/>']
    for i, (kind, color, style, label) in enumerate(entries):
        cy = y + 12 + 16 * i
        if kind == "band":
            out.append(f'<rect x="{x + 6:.1f}" y="{cy - 5}" width="22" height="10" fill="{color}" '
                       f'fill-opacity="{max(style, 0.15)}"/>')
        elif kind == "point":
            out.append(f'<circle cx="{x + 17:.1f}" cy="{cy}" r="4" fill="{color}"/>')
        else:
            dash = f' stroke-dasharray="{style}"' if style else ""
            out.append(f'<line x1="{x + 6:.1f}" y1="{cy}" x2="{x + 28:.1f}" y2="{cy}" stroke="{color}" '
                       f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 34:.1f}" y="{cy + 4}">{escape(label)}</text>')
    out.append("</g>")
    return out
