"""Predicted effects with confidence and prediction intervals at given moderator values (metafor ``predict.rma``).

Works for univariate results (:func:`meta.univariate.fit_random_effects`), multilevel results
(:func:`meta.multilevel.fit_multilevel`) and cluster-robust results (:func:`meta.cluster_robust.robust`, CR1).

Notes
-----
As metafor 3.8 ``predict.rma`` (Viechtbauer 2010, *J Stat Softw* 36(3)): for a row ``x`` of the model
matrix, ``pred = x'b``, ``se = √(x' vb x)`` and

* CI: ``pred ± crit·se``; ``crit`` is the normal quantile for z tests and the t quantile otherwise, on
  ``k − p`` df, or — with per-coefficient df (``dfs="contain"``) — on the smallest df of the coefficients
  with ``x_j ≠ 0``;
* prediction interval: ``pred ± crit·√(se² + τ²)`` for ``rma.uni`` and ``pred ± crit·√(se² + Σσ²_l)`` for
  nested random intercepts (``rma.mv`` without ``G``/``H`` terms), with the same ``crit`` (metafor's default
  ``pi.type``).

``vb`` is the model's covariance of the estimates, so Knapp–Hartung (``s2w·vb``) and cluster-robust
covariances carry over unchanged.  New moderator values can be given as model-matrix columns (without the
intercept, metafor's ``newmods``) or, for models fitted with a formula, as raw variables in a
:class:`pandas.DataFrame`, encoded with the fit's own formula, factor levels and contrasts
(:func:`meta.model_matrix.new_model_rows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from meta.display import ResultDisplay
from typing import Any

import numpy as np
from scipy import stats

from meta.errors import MetaInputError
from meta.model_matrix import new_model_rows

__all__ = ["PredictionResult", "predict"]


@dataclass(frozen=True, eq=False)
class PredictionResult(ResultDisplay):
    """Predicted values with CIs and prediction intervals, one entry per prediction row.

    Attributes
    ----------
    pred, se, ci_lb, ci_ub, pi_lb, pi_ub : ndarray
        Prediction, its standard error, confidence and prediction intervals.
    ddf : ndarray or None
        Degrees of freedom of the t quantiles (``None`` for z tests).
    X : ndarray
        The model-matrix rows the predictions are for (intercept included).
    names : tuple of str
        Coefficient (column) names of ``X``.
    level : float
    test : str
    heterogeneity : float
        The variance added for the prediction interval (τ², or Σσ² of a multilevel model).
    """

    pred: np.ndarray
    se: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    pi_lb: np.ndarray
    pi_ub: np.ndarray
    ddf: np.ndarray | None
    X: np.ndarray
    names: tuple[str, ...]
    level: float
    test: str
    heterogeneity: float

    _FIELDS = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")

    def __getitem__(self, key: str) -> np.ndarray:
        """``res["pred"]`` etc. (the dictionary form of earlier versions)."""
        if key not in self._FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self):
        return self._FIELDS

    def __len__(self) -> int:
        return int(self.pred.size)

    def to_frame(self):
        """One row per prediction: ``pred, se, ci_lb, ci_ub, pi_lb, pi_ub`` (and ``df`` for t tests)."""
        import pandas as pd

        cols = {f: getattr(self, f) for f in self._FIELDS}
        if self.ddf is not None:
            cols["df"] = self.ddf
        return pd.DataFrame(cols, index=pd.RangeIndex(1, self.pred.size + 1, name="row"))

    def to_dict(self) -> dict:
        def clean(a):
            return [None if not math.isfinite(x) else float(x) for x in np.asarray(a, float)]

        out = {f: clean(getattr(self, f)) for f in self._FIELDS}
        out.update(df=None if self.ddf is None else clean(self.ddf), level=self.level, test=self.test,
                   heterogeneity=float(self.heterogeneity), X=np.asarray(self.X).tolist(), names=list(self.names))
        return out

    def summary(self, digits: int = 4) -> str:
        """A table laid out like metafor's printed ``predict()`` output."""
        head = ["pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub"]
        rows = [[f"{x:.{digits}f}" for x in vals] for vals in zip(*(getattr(self, f) for f in self._FIELDS))]
        width = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(head)]
        lab = max(len(str(self.pred.size)), 1)
        lines = [" " * (lab + 1) + " ".join(h.rjust(width[j]) for j, h in enumerate(head))]
        for i, r in enumerate(rows, 1):
            lines.append(f"{i:>{lab}} " + " ".join(x.rjust(width[j]) for j, x in enumerate(r)))
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


def _has_intercept(result) -> bool:
    X = np.asarray(result.X)
    names = _names(result)
    return bool(np.all(X[:, 0] == 1.0)) and (not names or names[0] == "intrcpt")


def _names(result) -> tuple[str, ...]:
    for attr in ("names", "coef_names"):
        n = getattr(result, attr, None)
        if n:
            return tuple(n)
    return tuple(c.name for c in result.coefficients)


def _heterogeneity(result) -> float:
    if getattr(result, "sigma2", None) is not None and not np.isscalar(result.sigma2):
        return float(np.sum(result.sigma2))
    tau2 = getattr(result, "tau2", 0.0)
    return 0.0 if tau2 is None or not np.isfinite(tau2) else float(tau2)


def _rows(result, newmods: Any, intercept: bool) -> np.ndarray:
    X = np.asarray(result.X, float)
    p = X.shape[1]
    names = _names(result)
    int_incl = _has_intercept(result)
    int_only = p == 1 and int_incl
    if newmods is None:
        return np.ones((1, 1)) if int_only else X.copy()
    if int_only:
        raise MetaInputError("newmods: the model has no moderators (intercept-only); predict without newmods")
    import pandas as pd

    if isinstance(newmods, pd.DataFrame):
        design = getattr(result, "design", None)
        if design is not None and design.spec is not None:
            rows = new_model_rows(design, newmods)
            if int_incl:
                rows[:, 0] = 1.0 if intercept else 0.0
            return rows
        # a fit from a model matrix: columns are matched to coefficient names (metafor matches colnames)
        wanted = list(names[1:] if int_incl else names)
        absent = [c for c in wanted if c not in newmods.columns]
        if absent:
            raise MetaInputError(f"newmods: column(s) {', '.join(repr(a) for a in absent)} missing "
                                 f"(the model's coefficients are {', '.join(names)})")
        Xn = newmods[wanted].to_numpy(dtype=float)
    else:
        try:
            Xn = np.asarray(newmods, dtype=float)
        except (TypeError, ValueError):
            raise MetaInputError("newmods: non-numeric values (give a DataFrame of raw moderator values "
                                 "for formula fits)") from None
        n_mod = p - int(int_incl)
        if Xn.ndim == 0:
            Xn = Xn.reshape(1, 1)
        elif Xn.ndim == 1:
            # metafor: with one moderator a vector is several rows; otherwise it is one row
            Xn = Xn[:, None] if n_mod == 1 else Xn[None, :]
        if Xn.ndim != 2 or Xn.shape[1] != n_mod:
            raise MetaInputError(f"newmods: expected {n_mod} moderator value(s) per row "
                                 f"({', '.join(names[1:] if int_incl else names)}), got {Xn.shape[-1]}")
    if not np.all(np.isfinite(Xn)):
        from meta.validation import format_rows

        bad = ~np.all(np.isfinite(Xn), axis=1)
        raise MetaInputError(f"newmods: missing or non-finite value in row(s) {format_rows(bad)}")
    if int_incl:
        Xn = np.column_stack([np.full(Xn.shape[0], 1.0 if intercept else 0.0), Xn])
    return Xn


def _ddf(result, Xn: np.ndarray) -> np.ndarray | None:
    if result.test == "z":
        return None
    if hasattr(result, "contrast_df"):  # cluster-robust results: n − p, or Satterthwaite df per row (CR2)
        return np.asarray(result.contrast_df(Xn), float)
    ddf = getattr(result, "ddf", None)
    if ddf is None:
        return np.full(Xn.shape[0], float(result.k - result.p))
    d = np.atleast_1d(np.asarray(ddf, float))
    if d.size == 1:
        return np.full(Xn.shape[0], float(d[0]))
    # per-coefficient df (dfs="contain"): the smallest df among the coefficients used by the row
    masked = np.where(Xn != 0, d[None, :], np.inf)
    out = masked.min(axis=1)
    out[~np.isfinite(out)] = float(result.k - result.p)
    return out


def predict(result, newmods: Any = None, *, level: float | None = None, intercept: bool = True) -> PredictionResult:
    """Predicted average effect with CI and prediction interval (metafor ``predict.rma``).

    Parameters
    ----------
    result : UnivariateResult, MultilevelResult or RobustResult
    newmods : array_like or pandas.DataFrame, optional
        Moderator values to predict at.  ``None``: the pooled estimate of an intercept-only model, otherwise
        the fitted values of the data rows.  An array gives model-matrix columns *without* the intercept, as
        metafor's ``newmods`` (with one moderator a vector means one value per prediction).  A DataFrame gives
        raw variables of the moderator formula (one column per variable, e.g. ``ablat`` and the factor
        ``alloc``), encoded with the fit's formula, levels and contrasts; for fits from a model matrix its
        columns are matched to the coefficient names.
    level : float, optional
        Confidence level (default: the fit's).
    intercept : bool
        Value 1 (default) or 0 of the intercept column of the new rows (metafor's ``intercept``).

    Returns
    -------
    PredictionResult

    Raises
    ------
    MetaInputError
        Moderator values for an intercept-only model, wrong number of columns, missing variables or values
        (rows named), or unseen factor levels.

    Notes
    -----
    See the module docstring; the prediction interval uses τ² (univariate) or the sum of the σ² of the
    nested random intercepts (multilevel), and t quantiles whenever the model's tests are t-type.
    """
    level = float(result.level if level is None else level)
    if not 0 < level < 1:
        raise MetaInputError(f"level must lie in (0, 1) (got {level!r})")
    Xn = _rows(result, newmods, intercept)
    beta = np.asarray(result.beta, float)
    vb = np.asarray(result.vb, float)
    pred = Xn @ beta
    vpred = np.einsum("ij,jk,ik->i", Xn, vb, Xn)
    vpred = np.where(vpred < 0, np.nan, vpred)
    se = np.sqrt(vpred)
    alpha = 1.0 - level
    ddf = _ddf(result, Xn)
    crit = np.full(Xn.shape[0], stats.norm.isf(alpha / 2)) if ddf is None else stats.t.isf(alpha / 2, ddf)
    het = _heterogeneity(result)
    half_pi = crit * np.sqrt(vpred + het)
    return PredictionResult(
        pred=pred, se=se, ci_lb=pred - crit * se, ci_ub=pred + crit * se,
        pi_lb=pred - half_pi, pi_ub=pred + half_pi, ddf=ddf, X=Xn, names=_names(result), level=level,
        test=str(result.test), heterogeneity=het,
    )
