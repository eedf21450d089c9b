"""Forest plot (metafor ``forest.rma``): outcomes grouped by cluster with aggregates, the pooled diamond
and the prediction interval.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from meta.errors import MetaInputError
from meta.plots.common import (
    _crit, _field, _is_intercept_only, _model_label, _model_matrix, _new_axes, _pooled, _weights_percent,
    _yi_vi, plain_text,
)


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
    plain_text(ax)
    return ax
