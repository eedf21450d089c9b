"""Shared pieces of the meta-analysis figures: reading results by field name, axes, saving.

Every figure module of :mod:`meta.plots` reads univariate and multilevel results through these
helpers (by field name only) and writes files with :func:`save_figure`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from meta.atomic_write import write_atomic
from meta.errors import MetaInputError

#: File suffixes :func:`save_figure` accepts and the matplotlib format each one selects.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

_BACK = "0.85"  # funnel background (metafor: "lightgray")


def plain_text(fig):
    """Make every text of ``fig`` (a Figure or an Axes) plain text: no mathtext, no LaTeX; returns ``fig``.

    Notes
    -----
    Labels come from users' files (study ids, column names, scenario labels).  matplotlib would typeset
    ``"Reward $5 & $10"`` as math and fail on ``"$\\frac$"`` while drawing, after the whole computation;
    turning ``parse_math`` (and ``usetex``) off on every Text shows them exactly as written.  Called by
    every figure builder and by :func:`save_figure` (texts added later are covered there).
    """
    figure = getattr(fig, "figure", None) if not hasattr(fig, "savefig") else fig
    from matplotlib.text import Text

    for text in (figure or fig).findobj(Text):
        text.set_parse_math(False)
        text.set_usetex(False)
    return fig


def _new_axes(ax, figsize):
    """Return ``ax`` or the single Axes of a new pyplot-free Figure."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value() if callable(value) and name in ("fitted", "residuals", "weights") else value
    return default


def _yi_vi(result) -> tuple[np.ndarray, np.ndarray]:
    yi = _field(result, "yi")
    vi = _field(result, "vi")
    if yi is None or vi is None:
        raise MetaInputError("result has no yi/vi to plot")
    return np.asarray(yi, dtype=float).reshape(-1), np.asarray(vi, dtype=float).reshape(-1)


def _model_matrix(result, k: int) -> np.ndarray:
    X = _field(result, "X")
    if X is None:
        return np.ones((k, 1))
    X = np.asarray(X, dtype=float)
    return X.reshape(k, -1)


def _coef_names(result, p: int) -> list[str]:
    coefs = _field(result, "coefficients", default=())
    names = [c.name for c in coefs]
    if len(names) != p:
        names = _field(result, "names", default=None) or [f"x{j}" for j in range(p)]
    return list(names)


def _heterogeneity(result) -> float:
    """Total variance of the random effects: τ² (univariate) or Σσ² (multilevel); 0 for FE."""
    sigma2 = getattr(result, "sigma2", None)
    if sigma2 is not None:
        return float(np.sum(np.asarray(sigma2, dtype=float)))
    tau2 = getattr(result, "tau2", None)
    if tau2 is None or (isinstance(tau2, float) and math.isnan(tau2)):
        return 0.0
    return float(tau2)


def _is_intercept_only(X: np.ndarray) -> bool:
    return X.shape[1] == 1 and bool(np.allclose(X[:, 0], 1.0))


def _weights_percent(result, vi: np.ndarray) -> np.ndarray:
    """Model weights in percent: ``result.weights()`` when present, else ``1/(vi + total variance)``."""
    w = getattr(result, "weights", None)
    if callable(w):
        w = w()
    if w is not None:
        w = np.asarray(w, dtype=float).reshape(-1)
        if w.size == vi.size and np.all(np.isfinite(w)):
            return 100.0 * w / w.sum()
    w = 1.0 / (vi + _heterogeneity(result))
    return 100.0 * w / w.sum()


def _crit(level: float, df: float | None = None) -> float:
    level = level / 100.0 if level > 1 else level
    if df is None:
        return float(stats.norm.ppf(0.5 + level / 2.0))
    return float(stats.t.ppf(0.5 + level / 2.0, df))


def _residuals_and_se(result, yi, vi, X) -> tuple[np.ndarray, np.ndarray]:
    """Raw residuals and their standard errors (metafor ``rstandard``: ``M − X vb X'`` diagonal)."""
    beta = np.asarray(_field(result, "beta"), dtype=float).reshape(-1)
    vb = np.asarray(_field(result, "vb"), dtype=float).reshape(beta.size, beta.size)
    resid = yi - X @ beta
    var = vi + _heterogeneity(result) - np.einsum("ij,jk,ik->i", X, vb, X)
    return resid, np.sqrt(np.clip(var, 0.0, None))


def _pooled(result) -> tuple[float, float, float]:
    coefs = _field(result, "coefficients", default=())
    if coefs:
        c = coefs[0]
        return float(c.estimate), float(c.ci_lb), float(c.ci_ub)
    return (float(_field(result, "estimate")), float(_field(result, "ci_lb")), float(_field(result, "ci_ub")))


def _model_label(result) -> str:
    method = str(getattr(result, "method", "")).upper()
    if method in ("FE", "EE", "CE"):
        return "FE model"
    if getattr(result, "sigma2", None) is not None:
        return f"Multilevel model ({method})" if method else "Multilevel model"
    return f"RE model ({method})" if method else "RE model"


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Write a figure to ``path`` as PNG, SVG or PDF (by suffix), atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or matplotlib.axes.Axes
        The figure (an Axes is accepted and its figure is saved).
    path : str or path-like
        Output file; the suffix (``.png``, ``.svg`` or ``.pdf``, case-insensitive) selects the format.
    dpi : int
        Resolution of PNG output.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    MetaInputError
        If the suffix is not one of :data:`FIGURE_FORMATS`; nothing is written.

    Notes
    -----
    The figure is rendered into a temporary file in the destination folder and renamed over the
    target with :func:`os.replace`, so a failure never leaves a partial file.  ``bbox_inches="tight"``
    keeps text placed outside the Axes (forest-plot label and annotation columns).  SVG and PDF files are
    reproducible byte for byte: a fixed ``svg.hashsalt`` and no creation date.
    """
    path = Path(path)
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MetaInputError(
            f"figure file {str(path)!r}: suffix must be one of {', '.join(FIGURE_FORMATS)} (got {path.suffix or 'none'!r})"
        )
    fig = getattr(fig, "figure", fig) if not hasattr(fig, "savefig") else fig
    import matplotlib

    plain_text(fig)

    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}.get(fmt)

    def draw(handle):
        # reproducible bytes: fixed SVG id salt, no creation date (seeded runs give identical files)
        with matplotlib.rc_context({"svg.hashsalt": "blockade"}):
            fig.savefig(handle, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)

    return write_atomic(path, draw, binary=True)


#: Where :func:`place_labels` tries a label, relative to its point (points; first that fits wins).
_LABEL_OFFSETS = [(5, 4), (5, -11), (-5, 4), (-5, -11), (0, 12), (0, -19), (10, 14), (10, -21), (-10, 14),
                  (-10, -21), (14, -4), (-14, -4), (6, 24), (6, -31), (-6, 24), (-6, -31), (24, 10), (-24, 10),
                  (24, -17), (-24, -17), (0, 36), (0, -43), (30, 30), (30, -37), (-30, 30), (-30, -37)]


def place_labels(ax, xs, ys, texts, *, fontsize: float = 7, color: str = "0.25", marker_px: float = 6.0) -> list:
    """Label points without overlaps: each label takes the first free spot around its point.

    Parameters
    ----------
    ax : matplotlib Axes
        Its figure's layout is finished first (drawn once) and then frozen, so positions measured here stay true.
    xs, ys, texts : sequences
        Data coordinates and label texts.
    fontsize, color : label style.
    marker_px : float
        Half-size (pixels) of the box kept free around every point, so labels do not cover the markers.

    Returns
    -------
    list of matplotlib.text.Annotation
        The labels drawn; one placed far from its point gets a thin leader line.

    Notes
    -----
    A greedy search over :data:`_LABEL_OFFSETS` in display coordinates (points first sorted from top to bottom),
    checked against the labels already placed, the markers and the axes: simple, deterministic and enough for
    the few dozen labels a report shows (more are not labelled).  Without a free spot the last candidate is kept.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # finish the (constrained) layout, then keep it: label positions stay valid
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    xy = np.column_stack([np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)])
    px = ax.transData.transform(xy)
    markers = [Bbox.from_extents(x - marker_px, y - marker_px, x + marker_px, y + marker_px) for x, y in px]
    for collection in ax.collections:  # scatter bubbles: keep their whole area free
        offsets, sizes = collection.get_offsets(), collection.get_sizes()
        if len(offsets) == 0 or len(sizes) == 0:
            continue
        centres = collection.get_offset_transform().transform(offsets)
        radii = np.sqrt(np.resize(sizes, len(centres))) / 2.0 * fig.dpi / 72.0
        markers += [Bbox.from_extents(x - r, y - r, x + r, y + r) for (x, y), r in zip(centres, radii)]
    frame = ax.get_window_extent(renderer)
    placed: list = []
    labels = []
    for i in sorted(range(len(texts)), key=lambda j: -px[j][1]):
        chosen = None
        for dx, dy in _LABEL_OFFSETS:
            label = ax.annotate(str(texts[i]), tuple(xy[i]), xytext=(dx, dy), textcoords="offset points",
                                fontsize=fontsize, color=color, ha="left" if dx >= 0 else "right", va="bottom",
                                parse_math=False)  # users' labels as written (plain_text), measured as drawn
            box = label.get_window_extent(renderer).expanded(1.04, 1.12)
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1)
            free = not any(box.overlaps(b) for b in placed) and not any(box.overlaps(m) for m in markers)
            if inside and free:
                chosen = (label, box, dx, dy)
                break
            label.remove()
        if chosen is None:  # keep the last candidate rather than dropping the label
            dx, dy = _LABEL_OFFSETS[-1]
            label = ax.annotate(str(texts[i]), tuple(xy[i]), xytext=(dx, dy), textcoords="offset points",
                                fontsize=fontsize, color=color, ha="left", va="bottom")
            chosen = (label, label.get_window_extent(renderer), dx, dy)
        label, box, dx, dy = chosen
        if math.hypot(dx, dy) > 12:  # far from its point: a thin leader line says whose label it is
            ax.annotate("", tuple(xy[i]), xytext=(dx, dy + (0 if dy > 0 else 7)), textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6})
        placed.append(box)
        labels.append(label)
    return labels
