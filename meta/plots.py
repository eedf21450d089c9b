"""Standard meta-analysis figures: forest, funnel, contour-enhanced funnel, trim-and-fill funnel, bubble.

Every function takes a fitted result (univariate or multilevel, recognised by field names only) and an
optional matplotlib :class:`~matplotlib.axes.Axes`, draws on it and returns it; without an Axes a new
:class:`~matplotlib.figure.Figure` is created (no ``pyplot`` state, never ``show()``).  matplotlib is
imported inside the functions so that importing :mod:`meta` stays fast, and figures are built as bare
``Figure`` objects rendered by the non-interactive Agg/SVG/PDF canvases, whatever backend pyplot uses.  Figures are written with
:func:`save_figure` (PNG, SVG or PDF chosen by the file suffix, written atomically).

Conventions follow metafor 3.8 (``funnel.rma``, ``forest.rma``):

* Funnel plots put the standard error on the y axis, inverted so that 0 (the most precise studies) is
  at the top.  Intercept-only models plot the observed ``yi`` with the pseudo confidence region and the
  reference line at the pooled estimate; models with moderators plot the raw residuals ``yi − x_i'b``
  against their standard errors (``rstandard``: ``sqrt(v_i + Σσ² − x_i' vb x_i)``) around 0.  The
  region is ``refline ± z_{1−α/2}·SE`` (``addtau2=FALSE``, the metafor default and the only choice
  for ``rma.mv``).
* Contour-enhanced funnels (Peters et al. 2008) shade the regions of two-sided significance around 0:
  ``p > .10`` (white), ``.05 < p ≤ .10``, ``.01 < p ≤ .05`` (greys) and ``p ≤ .01`` (background).
* Forest-plot squares have an area proportional to the model weight (metafor scales ``sqrt(weights)``
  linearly; here side length ∝ ``sqrt(weight)``), per-outcome intervals are ``yi ± z·sqrt(vi)``.

Artists that tests (and users) may want to find carry a ``gid``: ``"forest-ci"``, ``"forest-point"``,
``"study-aggregate"``, ``"pooled-diamond"``, ``"prediction-interval"``, ``"null-line"``,
``"pseudo-ci"``, ``"refline"``, ``"funnel-points"``, ``"contour-region"``, ``"observed-points"``,
``"filled-points"``, ``"bubble-points"``, ``"fitted-line"``, ``"fitted-ci"``.

References
----------
Peters, J. L., Sutton, A. J., Jones, D. R., Abrams, K. R., & Rushton, L. (2008). Contour-enhanced
meta-analysis funnel plots help distinguish publication bias from other causes of asymmetry.
*J Clin Epidemiol* 61(10), 991–996.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw* 36(3).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from meta.atomic_write import write_atomic
from meta.errors import MetaInputError

__all__ = [
    "forest_plot",
    "funnel_plot",
    "contour_funnel_plot",
    "trimfill_funnel_plot",
    "bubble_plot",
    "save_figure",
    "FIGURE_FORMATS",
]

#: File suffixes :func:`save_figure` accepts and the matplotlib format each one selects.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

_BACK = "0.85"  # funnel background (metafor: "lightgray")


# --------------------------------------------------------------------------------------------------
# Reading results by field name (univariate and multilevel results alike)
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------


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

    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}.get(fmt)

    def draw(handle):
        # reproducible bytes: fixed SVG id salt, no creation date (seeded runs give identical files)
        with matplotlib.rc_context({"svg.hashsalt": "blockade"}):
            fig.savefig(handle, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)

    return write_atomic(path, draw, binary=True)


# --------------------------------------------------------------------------------------------------
# Forest plot
# --------------------------------------------------------------------------------------------------


def _format_ci(est: float, lb: float, ub: float, digits: int) -> str:
    # a space in place of the minus sign keeps the monospace column aligned
    return f"{est: .{digits}f} [{lb: .{digits}f}, {ub: .{digits}f}]"


def _format_cell(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value: .{digits}f}"
    return str(value)


def _cluster_aggregate(y: np.ndarray, v: np.ndarray, rho: float) -> tuple[float, float]:
    """Inverse-variance aggregate under compound symmetry (metafor ``aggregate.escalc``, struct "CS").

    ``V = S R S`` with ``S = diag(sqrt(v))`` and correlation ``rho`` off the diagonal;
    ``ȳ = 1'V⁻¹y / 1'V⁻¹1`` and ``var = 1 / 1'V⁻¹1``.
    """
    s = np.sqrt(v)
    R = np.full((v.size, v.size), rho)
    np.fill_diagonal(R, 1.0)
    w = np.linalg.solve(s[:, None] * R * s[None, :], np.ones(v.size))
    return float(w @ y / w.sum()), float(1.0 / w.sum())


def forest_plot(
    result,
    labels: Sequence[str] | None = None,
    groups: Sequence[Any] | None = None,
    *,
    aggregate: bool = False,
    rho: float = 0.0,
    extra_columns: Mapping[str, Sequence[Any]] | None = None,
    effect_label: str = "g",
    level: float = 0.95,
    digits: int = 2,
    show_prediction: bool = True,
    show_weights: bool = False,
    refline: float | None = 0.0,
    xlabel: str | None = None,
    ax=None,
):
    """Forest plot of every outcome, grouped under its study, with the pooled estimate.

    Parameters
    ----------
    result : UnivariateResult or MultilevelResult
        Fitted model (fields ``yi``, ``vi``, ``X``, ``coefficients``, ``pred_interval``, ``weights()``).
    labels : sequence of str, optional
        One label per outcome (default ``"1"``, ``"2"``, ...).
    groups : sequence, optional
        Study (cluster) id of each outcome.  Outcomes are shown under a bold header per study, studies
        in order of first appearance, outcomes in data order within a study.
    aggregate : bool
        Add a study-aggregate row (hollow diamond) under each study with more than one outcome: the
        inverse-variance mean under compound symmetry with correlation ``rho`` (metafor
        ``aggregate.escalc``, struct "CS", weighted).  Needs ``groups``.
    rho : float
        Assumed correlation of outcomes within a study for the aggregates.
    extra_columns : mapping of str to sequence, optional
        Extra annotation columns, one value per outcome in data order (numbers are printed with
        ``digits`` decimals), e.g. ``{"MOR contrast": contrast}``.
    effect_label : str
        Name of the effect size in the annotation header (``"g [95% CI]"``).
    level : float
        Confidence level of the per-outcome intervals (the pooled interval is the model's).
    digits : int
        Decimals in the annotations.
    show_prediction : bool
        Draw the prediction interval under the pooled diamond (random-effects models only).
    show_weights : bool
        Add a "Weight" column (model weights in percent, ``result.weights()``) before the extra columns.
    refline : float or None
        Position of the vertical null line (``None`` for none).
    xlabel : str, optional
        x-axis label (default: ``effect_label``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure sized to the number of rows is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.

    Notes
    -----
    Rows are laid out top-down in data coordinates (y = row number, y axis hidden).  The label column is
    drawn left of the Axes and the annotation columns right of it (axes-fraction x positions), so save
    with :func:`save_figure` (``bbox_inches="tight"``) to keep them.  For models with moderators there
    is no single pooled estimate: each row gets a grey diamond for its fitted value ``x_i'b`` and CI
    (metafor ``addfit``), and no pooled diamond or prediction interval is drawn.
    """
    from matplotlib.patches import Polygon
    from matplotlib.transforms import blended_transform_factory

    yi, vi = _yi_vi(result)
    k = yi.size
    X = _model_matrix(result, k)
    int_only = _is_intercept_only(X)
    labels = [str(i + 1) for i in range(k)] if labels is None else [str(s) for s in labels]
    if len(labels) != k:
        raise MetaInputError(f"forest_plot: {len(labels)} labels for {k} outcomes")
    if groups is not None and len(groups) != k:
        raise MetaInputError(f"forest_plot: {len(groups)} group ids for {k} outcomes")
    if aggregate and groups is None:
        raise MetaInputError("forest_plot: aggregate=True needs groups (the study of each outcome)")
    extra_columns = dict(extra_columns or {})
    for name, values in extra_columns.items():
        if len(values) != k:
            raise MetaInputError(f"forest_plot: extra column {name!r} has {len(values)} values for {k} outcomes")

    crit = _crit(level)
    se = np.sqrt(vi)
    lo, hi = yi - crit * se, yi + crit * se
    weights = _weights_percent(result, vi)
    if show_weights:
        extra_columns = {"Weight": [f"{w:5.1f}%" for w in weights], **extra_columns}

    # ---- row layout (top row has the largest y) --------------------------------------------------
    entries: list[tuple[str, Any]] = []  # ("header", name) | ("row", i) | ("agg", idx array) | ("gap", None)
    if groups is None:
        entries = [("row", i) for i in range(k)]
    else:
        order: dict[Any, list[int]] = {}
        for i, g in enumerate(groups):
            order.setdefault(g, []).append(i)
        for g, idx in order.items():
            entries.append(("header", g))
            entries.extend(("row", i) for i in idx)
            if aggregate and len(idx) > 1:
                entries.append(("agg", np.asarray(idx)))
    n_entries = len(entries)
    n_bottom = 3 if (int_only and show_prediction) else (2 if int_only else 0)
    total_rows = n_entries + n_bottom + 1
    if ax is None:
        ax = _new_axes(None, (8.0 + 1.2 * len(extra_columns), 1.2 + 0.28 * total_rows))
    trans = blended_transform_factory(ax.transAxes, ax.transData)
    label_x, anno_x, col_step = -0.02, 1.02, 0.30
    top = float(n_entries)

    def row_y(j: int) -> float:
        return top - j

    xs_for_limits = [lo, hi]
    point_x, point_y, point_w = [], [], []
    for j, (kind, item) in enumerate(entries):
        y = row_y(j)
        if kind == "header":
            ax.text(label_x, y, str(item), transform=trans, ha="right", va="center", fontweight="bold",
                    clip_on=False, gid="group-header")
        elif kind == "row":
            i = item
            indent = "    " if groups is not None else ""
            ax.text(label_x, y, indent + labels[i], transform=trans, ha="right", va="center", clip_on=False)
            ax.plot([lo[i], hi[i]], [y, y], color="black", lw=1.0, solid_capstyle="butt", gid="forest-ci")
            point_x.append(yi[i]); point_y.append(y); point_w.append(weights[i])
            ax.text(anno_x, y, _format_ci(yi[i], lo[i], hi[i], digits), transform=trans, ha="left",
                    va="center", family="monospace", fontsize="small", clip_on=False)
            for c, values in enumerate(extra_columns.values(), start=1):
                ax.text(anno_x + c * col_step, y, _format_cell(values[i], digits), transform=trans,
                        ha="left", va="center", family="monospace", fontsize="small", clip_on=False)
        elif kind == "agg":
            est, var = _cluster_aggregate(yi[item], vi[item], rho)
            a_lo, a_hi = est - crit * math.sqrt(var), est + crit * math.sqrt(var)
            xs_for_limits.append(np.array([a_lo, a_hi]))
            ax.add_patch(Polygon([(a_lo, y), (est, y + 0.25), (a_hi, y), (est, y - 0.25)], closed=True,
                                 facecolor="white", edgecolor="black", lw=1.0, gid="study-aggregate"))
            ax.text(label_x, y, "    study aggregate", transform=trans, ha="right", va="center",
                    style="italic", fontsize="small", clip_on=False)
            ax.text(anno_x, y, _format_ci(est, a_lo, a_hi, digits), transform=trans, ha="left",
                    va="center", family="monospace", fontsize="small", style="italic", clip_on=False)

    # squares: side ∝ sqrt(weight) → area ∝ weight
    point_w = np.asarray(point_w)
    sizes = 120.0 * point_w / point_w.max() if point_w.size else point_w
    ax.scatter(point_x, point_y, s=np.maximum(sizes, 6.0), marker="s", color="black", zorder=3,
               gid="forest-point")

    if not int_only:
        beta = np.asarray(_field(result, "beta"), dtype=float).reshape(-1)
        vb = np.asarray(_field(result, "vb"), dtype=float).reshape(beta.size, beta.size)
        fit = X @ beta
        fit_se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", X, vb, X), 0, None))
        zc = _crit(0.95)
        for j, (kind, item) in enumerate(entries):
            if kind == "row":
                f, s, y = fit[item], fit_se[item], row_y(j)
                ax.add_patch(Polygon([(f - zc * s, y), (f, y + 0.2), (f + zc * s, y), (f, y - 0.2)],
                                     closed=True, facecolor="0.6", edgecolor="0.6", alpha=0.7, gid="fitted-value"))

    # ---- pooled estimate and prediction interval -------------------------------------------------
    y_pool = row_y(n_entries) - 1.0
    if int_only:
        est, c_lb, c_ub = _pooled(result)
        xs_for_limits.append(np.array([c_lb, c_ub]))
        ax.add_patch(Polygon([(c_lb, y_pool), (est, y_pool + 0.35), (c_ub, y_pool), (est, y_pool - 0.35)],
                             closed=True, facecolor="black", edgecolor="black", gid="pooled-diamond"))
        ax.text(label_x, y_pool, _model_label(result), transform=trans, ha="right", va="center",
                fontweight="bold", clip_on=False)
        ax.text(anno_x, y_pool, _format_ci(est, c_lb, c_ub, digits), transform=trans, ha="left", va="center",
                family="monospace", fontsize="small", fontweight="bold", clip_on=False)
        pi = getattr(result, "pred_interval", None)
        is_fe = str(getattr(result, "method", "")).upper() in ("FE", "EE", "CE")
        if show_prediction and pi is not None and not is_fe:
            p_lb, p_ub = float(pi[0]), float(pi[1])
            y_pi = y_pool - 1.0
            xs_for_limits.append(np.array([p_lb, p_ub]))
            ax.plot([p_lb, p_ub], [y_pi, y_pi], color="black", lw=1.2, ls=(0, (4, 2)),
                    gid="prediction-interval")
            ax.plot([p_lb, p_lb, np.nan, p_ub, p_ub], [y_pi - 0.15, y_pi + 0.15, np.nan, y_pi - 0.15, y_pi + 0.15],
                    color="black", lw=1.2)
            ax.text(label_x, y_pi, "Prediction interval", transform=trans, ha="right", va="center",
                    clip_on=False)
            ax.text(anno_x, y_pi, " " * (digits + 4) + f"[{p_lb: .{digits}f}, {p_ub: .{digits}f}]", transform=trans, ha="left",
                    va="center", family="monospace", fontsize="small", clip_on=False)

    # ---- headers, reference line, axes -----------------------------------------------------------
    y_head = top + 1.0
    ax.text(label_x, y_head, "Study / outcome" if groups is not None else "Outcome", transform=trans,
            ha="right", va="center", fontweight="bold", clip_on=False)
    pct = round(100 * (level if level <= 1 else level / 100))
    ax.text(anno_x, y_head, f"{effect_label} [{pct}% CI]", transform=trans, ha="left", va="center",
            fontweight="bold", clip_on=False)
    for c, name in enumerate(extra_columns, start=1):
        ax.text(anno_x + c * col_step, y_head, name, transform=trans, ha="left", va="center",
                fontweight="bold", clip_on=False)
    allx = np.concatenate([np.atleast_1d(a) for a in xs_for_limits])
    allx = allx[np.isfinite(allx)]
    x_lo, x_hi = float(allx.min()), float(allx.max())
    if refline is not None:
        x_lo, x_hi = min(x_lo, refline), max(x_hi, refline)
        ax.axvline(refline, color="black", lw=0.8, ls=":", gid="null-line")
    pad = 0.05 * (x_hi - x_lo or 1.0)
    ax.set_xlim(x_lo - pad, x_hi + pad)
    ax.set_ylim(row_y(n_entries) - n_bottom - 0.2, y_head + 0.6)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(effect_label if xlabel is None else xlabel)
    return ax


# --------------------------------------------------------------------------------------------------
# Funnel plots
# --------------------------------------------------------------------------------------------------


def _funnel_frame(ax, se_max: float, x_values: np.ndarray, centre: float, widest_crit: float):
    """Axis limits as metafor: y from max SE (bottom) to 0 (top), x covering the widest region ±10 %."""
    x_lo = min(centre - widest_crit * se_max, float(np.min(x_values)))
    x_hi = max(centre + widest_crit * se_max, float(np.max(x_values)))
    r = x_hi - x_lo or 1.0
    ax.set_xlim(x_lo - 0.1 * r, x_hi + 0.1 * r)
    ax.set_ylim(se_max * 1.04, 0.0)  # inverted: 0 on top; small margin so the least precise points show
    ax.set_facecolor(_BACK)
    ax.set_ylabel("Standard Error")


def _region(ax, centre: float, crit: float, se_top: float, **kw):
    se_grid = np.linspace(0.0, se_top, 200)
    return ax.fill_betweenx(se_grid, centre - crit * se_grid, centre + crit * se_grid, **kw)


def _funnel_points(result=None, yi=None, vi=None):
    """x values, their SEs, the reference line and the x label, metafor ``funnel.rma`` style."""
    if result is None:
        if yi is None or vi is None:
            raise MetaInputError("give a fitted result or both yi and vi")
        y = np.asarray(yi, dtype=float).reshape(-1)
        v = np.asarray(vi, dtype=float).reshape(-1)
        if y.size != v.size or y.size == 0:
            raise MetaInputError(f"yi and vi must have the same, non-zero length ({y.size} vs {v.size})")
        return y, np.sqrt(v), None, "Observed outcome"
    y, v = _yi_vi(result)
    X = _model_matrix(result, y.size)
    if _is_intercept_only(X):
        return y, np.sqrt(v), _pooled(result)[0], "Observed outcome"
    resid, se = _residuals_and_se(result, y, v, X)
    return resid, se, 0.0, "Residual value"


def funnel_plot(result, *, level: float = 95, refline: float | None = None, xlabel: str | None = None, ax=None):
    """Funnel plot: estimates (or residuals) against their standard errors, with a pseudo-CI region.

    Parameters
    ----------
    result : UnivariateResult or MultilevelResult
        Fitted model.
    level : float
        Level of the pseudo confidence region in percent (or as a fraction).
    refline : float, optional
        Centre of the region; default the pooled estimate (intercept-only) or 0 (with moderators).
    xlabel : str, optional
        x-axis label (default ``"Observed outcome"`` or ``"Residual value"``).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (a new figure when omitted).

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    metafor ``funnel.rma`` conventions: the y axis is the SE, inverted (0 at the top); the white region
    is ``refline ± z_{1−α/2}·SE`` on a light-grey background.  With moderators the points are the raw
    residuals ``yi − x_i'b`` with SE ``sqrt(v_i + Σσ² − x_i' vb x_i)`` (``rstandard``) around 0.
    """
    x, se, centre, default_label = _funnel_points(result)
    centre = centre if refline is None else float(refline)
    ax = _new_axes(ax, (6.0, 4.5))
    crit = _crit(level)
    se_max = float(se.max())
    _funnel_frame(ax, se_max, x, centre, crit)
    _region(ax, centre, crit, se_max * 1.1, facecolor="white", edgecolor="none", zorder=1, gid="pseudo-ci")
    grid = np.array([0.0, se_max * 1.1])
    ax.plot(centre - crit * grid, grid, color="black", ls=":", lw=0.8, zorder=2)
    ax.plot(centre + crit * grid, grid, color="black", ls=":", lw=0.8, zorder=2)
    ax.plot([centre, centre], [0.0, se_max * 1.1], color="black", lw=0.9, zorder=2, gid="refline")
    ax.scatter(x, se, s=22, color="black", zorder=3, gid="funnel-points")
    ax.set_xlabel(default_label if xlabel is None else xlabel)
    return ax


def contour_funnel_plot(
    result=None,
    *,
    yi: Sequence[float] | None = None,
    vi: Sequence[float] | None = None,
    levels: Sequence[float] = (90, 95, 99),
    shades: Sequence[str] = ("white", "0.55", "0.75"),
    legend: bool = True,
    xlabel: str | None = None,
    ax=None,
):
    """Contour-enhanced funnel plot (Peters et al. 2008): significance regions around 0.

    Parameters
    ----------
    result : UnivariateResult or MultilevelResult, optional
        Fitted model; its ``yi`` are plotted (its residuals when it has moderators, as metafor does).
    yi, vi : sequence of float, optional
        Estimates and sampling variances, used instead of ``result``.
    levels : sequence of float
        Confidence levels in percent of the contours (two-sided significance at 1 − level).
    shades : sequence of str
        Fill colours of the regions inside each level, narrowest level first; the area outside the
        widest level keeps the background colour.
    legend : bool
        Add a legend with the p-value band of each region.
    xlabel : str, optional
        x-axis label.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    metafor: ``funnel(res, level=c(90, 95, 99), shade=c("white", "gray55", "gray75"), refline=0,
    legend=TRUE)``.  One filled region per level (``gid="contour-region"``), drawn from the widest to the
    narrowest so that the narrower ones sit on top; points outside the widest contour are significant
    at p < 1 − max(level)/100.
    """
    from matplotlib.patches import Patch

    levels = sorted(float(lv) for lv in levels)
    if not levels or any(not 0 < lv < 100 for lv in levels):
        raise MetaInputError(f"contour levels must be percentages in (0, 100) (got {levels})")
    if len(shades) < len(levels):
        raise MetaInputError(f"need one shade per contour level ({len(levels)} levels, {len(shades)} shades)")
    x, se, _, default_label = _funnel_points(result, yi, vi)
    ax = _new_axes(ax, (6.0, 4.5))
    crits = [_crit(lv) for lv in levels]
    se_max = float(se.max())
    _funnel_frame(ax, se_max, x, 0.0, crits[-1])
    for m in range(len(levels) - 1, -1, -1):
        _region(ax, 0.0, crits[m], se_max * 1.1, facecolor=shades[m], edgecolor="none", zorder=1,
                gid="contour-region")
    ax.plot([0.0, 0.0], [0.0, se_max * 1.1], color="black", lw=0.9, zorder=2, gid="refline")
    ax.scatter(x, se, s=22, color="black", zorder=3, gid="funnel-points")
    ax.set_xlabel(default_label if xlabel is None else xlabel)
    if legend:
        alphas = [1.0] + [1.0 - lv / 100.0 for lv in levels]
        handles = [
            Patch(facecolor=shades[m], edgecolor="black", lw=0.5,
                  label=f"{alphas[m + 1]:.2f} < p ≤ {alphas[m]:.2f}")
            for m in range(len(levels))
        ]
        handles.append(Patch(facecolor=_BACK, edgecolor="black", lw=0.5, label=f"p ≤ {alphas[-1]:.2f}"))
        ax.legend(handles=handles, loc="upper right", fontsize="small", framealpha=1.0)
    return ax


def _trimfill_fields(tf, yi, vi):
    y_obs = yi if yi is not None else _field(tf, "yi_observed", "observed_yi", "yi")
    v_obs = vi if vi is not None else _field(tf, "vi_observed", "observed_vi", "vi")
    y_fill = _field(tf, "yi_filled", "filled_yi", "fill_yi")
    v_fill = _field(tf, "vi_filled", "filled_vi", "fill_vi")
    if y_obs is None or v_obs is None:
        raise MetaInputError("trimfill_funnel_plot: give the observed yi and vi (the result does not carry them)")
    y_obs = np.asarray(y_obs, dtype=float).reshape(-1)
    v_obs = np.asarray(v_obs, dtype=float).reshape(-1)
    y_fill = np.zeros(0) if y_fill is None else np.asarray(y_fill, dtype=float).reshape(-1)
    v_fill = np.zeros(0) if v_fill is None else np.asarray(v_fill, dtype=float).reshape(-1)
    if y_fill.size != v_fill.size or y_obs.size != v_obs.size:
        raise MetaInputError("trimfill_funnel_plot: yi and vi lengths differ")
    return y_obs, v_obs, y_fill, v_fill


def trimfill_funnel_plot(
    trimfill_result, *, yi=None, vi=None, level: float = 95, xlabel: str = "Observed outcome", ax=None
):
    """Funnel plot after trim-and-fill: observed points filled, imputed points hollow.

    Parameters
    ----------
    trimfill_result : TrimFillResult
        Result of :func:`meta.small_study.trim_and_fill` (fields ``estimate``, ``k0``, ``side`` and the
        filled values).
    yi, vi : sequence of float, optional
        Observed estimates and variances, when the result does not carry them.
    level : float
        Level of the pseudo confidence region (percent).
    xlabel : str
        x-axis label.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    As metafor's ``funnel`` on a ``trimfill`` object: the reference line and the pseudo-CI region are
    centred on the adjusted estimate (the fit to the observed plus filled values), observed values
    are solid black points and the filled ones white points with a black edge.
    """
    y_obs, v_obs, y_fill, v_fill = _trimfill_fields(trimfill_result, yi, vi)
    centre = float(_field(trimfill_result, "estimate", "beta"))
    ax = _new_axes(ax, (6.0, 4.5))
    crit = _crit(level)
    se_obs, se_fill = np.sqrt(v_obs), np.sqrt(v_fill)
    se_max = float(np.max(np.concatenate([se_obs, se_fill])))
    _funnel_frame(ax, se_max, np.concatenate([y_obs, y_fill]), centre, crit)
    _region(ax, centre, crit, se_max * 1.1, facecolor="white", edgecolor="none", zorder=1, gid="pseudo-ci")
    grid = np.array([0.0, se_max * 1.1])
    ax.plot(centre - crit * grid, grid, color="black", ls=":", lw=0.8, zorder=2)
    ax.plot(centre + crit * grid, grid, color="black", ls=":", lw=0.8, zorder=2)
    ax.plot([centre, centre], [0.0, se_max * 1.1], color="black", lw=0.9, zorder=2, gid="refline")
    ax.scatter(y_obs, se_obs, s=22, facecolors="black", edgecolors="black", zorder=3, gid="observed-points",
               label="observed")
    ax.scatter(y_fill, se_fill, s=22, facecolors="white", edgecolors="black", linewidths=1.0, zorder=3,
               gid="filled-points", label=f"filled (k0 = {int(_field(trimfill_result, 'k0', default=y_fill.size))})")
    ax.legend(loc="upper right", fontsize="small", framealpha=1.0)
    ax.set_xlabel(xlabel)
    return ax


# --------------------------------------------------------------------------------------------------
# Bubble plot
# --------------------------------------------------------------------------------------------------


def bubble_plot(
    result,
    moderator: str | int,
    *,
    others: str | Mapping[str, float] = "mean",
    level: float = 0.95,
    n_points: int = 200,
    xlabel: str | None = None,
    ylabel: str = "Observed outcome",
    ax=None,
):
    """Meta-regression bubble plot: outcomes against one continuous moderator, sized by weight.

    Parameters
    ----------
    result : UnivariateResult or MultilevelResult
        Fitted meta-regression (fields ``yi``, ``vi``, ``X``, ``beta``, ``vb``, coefficient names).
    moderator : str or int
        Model-matrix column (name as in ``result.coefficients`` or index) on the x axis; not the
        intercept.
    others : {"mean", "zero"} or mapping
        Values of the other model-matrix columns along the fitted line: their unweighted means over
        the outcomes (``"mean"``, the default; for a dummy column that is the proportion of outcomes
        in that category), 0 (``"zero"``: the reference category, or a centred moderator at its
        centre), or a mapping from column name to value (columns not named are held at their means).
        An intercept column is always 1.
    level : float
        Confidence level of the band around the fitted line.
    n_points : int
        Points along the fitted line.
    xlabel, ylabel : str, optional
        Axis labels (x default: the moderator name).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    The line is ``x0'b`` over the observed range of the moderator and the band ``x0'b ± c·sqrt(x0' vb
    x0)``, ``c`` the normal (z tests) or t quantile (t tests, df of the moderator's coefficient) — the
    CI of the mean effect, as metafor's ``regplot``.  Bubble areas are proportional to the model weights
    (``result.weights()``).
    """
    yi, vi = _yi_vi(result)
    X = _model_matrix(result, yi.size)
    names = _coef_names(result, X.shape[1])
    if isinstance(moderator, (int, np.integer)):
        j = int(moderator)
        if not 0 <= j < X.shape[1]:
            raise MetaInputError(f"bubble_plot: moderator index {j} out of range (model has {X.shape[1]} columns)")
    else:
        if moderator not in names:
            raise MetaInputError(
                f"bubble_plot: moderator {moderator!r} is not a model column (columns: {', '.join(names)})"
            )
        j = names.index(moderator)
    xj = X[:, j]
    if np.allclose(xj, xj[0]):
        raise MetaInputError(f"bubble_plot: {names[j]!r} is constant (the intercept?); choose a moderator")
    beta = np.asarray(_field(result, "beta"), dtype=float).reshape(-1)
    vb = np.asarray(_field(result, "vb"), dtype=float).reshape(beta.size, beta.size)

    if isinstance(others, str):
        if others not in ("mean", "zero"):
            raise MetaInputError(f"bubble_plot: others must be 'mean', 'zero' or a mapping (got {others!r})")
        base = X.mean(axis=0) if others == "mean" else np.zeros(X.shape[1])
    else:
        base = X.mean(axis=0)
        for name, value in others.items():
            if name not in names:
                raise MetaInputError(f"bubble_plot: unknown model column {name!r} in others")
            base[names.index(name)] = float(value)
    intercepts = [c for c in range(X.shape[1]) if np.allclose(X[:, c], 1.0)]
    base[intercepts] = 1.0
    grid = np.linspace(xj.min(), xj.max(), n_points)
    X0 = np.tile(base, (n_points, 1))
    X0[:, j] = grid
    pred = X0 @ beta
    pred_se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", X0, vb, X0), 0, None))
    coefs = _field(result, "coefficients", default=())
    df = coefs[j].df if len(coefs) == X.shape[1] and getattr(coefs[j], "df", None) is not None else None
    crit = _crit(level, df)

    ax = _new_axes(ax, (6.0, 4.5))
    w = _weights_percent(result, vi)
    sizes = 15.0 + 285.0 * w / w.max()  # area ∝ weight (plus a floor so small studies stay visible)
    ax.fill_between(grid, pred - crit * pred_se, pred + crit * pred_se, color="0.8", alpha=0.6, lw=0,
                    zorder=1, gid="fitted-ci")
    ax.plot(grid, pred, color="black", lw=1.4, zorder=2, gid="fitted-line")
    ax.plot(grid, pred - crit * pred_se, color="black", lw=0.8, ls="--", zorder=2)
    ax.plot(grid, pred + crit * pred_se, color="black", lw=0.8, ls="--", zorder=2)
    ax.scatter(xj, yi, s=sizes, facecolors="0.6", edgecolors="black", alpha=0.8, zorder=3, gid="bubble-points")
    ax.set_xlabel(names[j] if xlabel is None else xlabel)
    ax.set_ylabel(ylabel)
    return ax
