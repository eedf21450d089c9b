"""Funnel plots (metafor ``funnel.rma``): plain, contour-enhanced (Peters et al. 2008) and trim-and-fill."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from meta.errors import MetaInputError
from meta.plots.common import (
    _BACK, _crit, _field, _is_intercept_only, _model_matrix, _new_axes, _pooled, _residuals_and_se, _yi_vi,
    plain_text,
)


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
    plain_text(ax)
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
    plain_text(ax)
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
    plain_text(ax)
    return ax
