"""Bubble plot of a meta-regression on one moderator (metafor ``regplot``)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from meta.errors import MetaInputError
from meta.plots.common import _coef_names, _crit, _field, _model_matrix, _new_axes, _weights_percent, _yi_vi, plain_text


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
    plain_text(ax)
    return ax
