"""Univariate random-effects and equal-effects meta-analysis and meta-regression (metafor ``rma.uni``).

The model is ``y_i = x_i'β + u_i + e_i`` with ``u_i ~ N(0, τ²)`` and ``e_i ~ N(0, v_i)`` (known ``v_i``).
``method="FE"`` fixes ``τ² = 0`` (metafor's equal-/fixed-effects model); ``"DL"``, ``"ML"`` and ``"REML"``
estimate ``τ²`` exactly as metafor 3.8 does, so every reported number agrees with ``rma.uni`` to
floating-point accuracy (tests/data/metafor_univariate.json).

Every quantity is computed from ``p × p`` cross-products: no ``k × k`` matrix is formed, so a fit costs
O(k p²) per iteration.

References
----------
Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the random-effects
model. *J Educ Behav Stat* 30, 261–293 (Fisher scoring for ML/REML).
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw* 36(3).
DerSimonian, R., & Laird, N. (1986). Meta-analysis in clinical trials. *Control Clin Trials* 7, 177–188.
Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis. *Stat Med* 21.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

from meta.errors import ConvergenceError, MetaInputError
from meta.inference import Coefficient, coefficient_table, omnibus_test, prediction_interval
from meta.validation import check_effect_sizes

__all__ = ["UnivariateResult", "fit_random_effects", "METHODS"]

METHODS = ("REML", "ML", "DL", "FE")

# metafor rma.uni control defaults
_THRESHOLD = 1e-5
_MAXITER = 100
_TOL = np.finfo(float).eps ** 0.25
_EVTOL = 1e-7
_LOG2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------------- linear algebra
def _wls(X: np.ndarray, w: np.ndarray, y: np.ndarray):
    """Return ``(X'WX)⁻¹`` and ``(X'WX)⁻¹X'Wy`` for diagonal weights ``w``."""
    xtwx = X.T @ (w[:, None] * X)
    inv = np.linalg.inv(xtwx)
    inv = (inv + inv.T) / 2
    return inv, inv @ (X.T @ (w * y)), xtwx


def _p_terms(X: np.ndarray, w: np.ndarray, y: np.ndarray):
    """Pieces of ``P = W − WX(X'WX)⁻¹X'W`` without forming it.

    Returns ``Py``, ``tr(P)`` and ``tr(P²) = Σ_ij P_ij²`` (P is symmetric).
    """
    inv, b, _ = _wls(X, w, y)
    py = w * (y - X @ b)
    trp = w.sum() - np.trace(inv @ (X.T @ ((w**2)[:, None] * X)))
    a2 = X.T @ ((w**2)[:, None] * X)
    a3 = X.T @ ((w**3)[:, None] * X)
    ia2 = inv @ a2
    trpp = np.sum(w**2) - 2 * np.trace(inv @ a3) + np.trace(ia2 @ ia2)
    return py, float(trp), float(trpp)


def _logdet(a: np.ndarray) -> float:
    sign, val = np.linalg.slogdet(a)
    return float(val)


# ----------------------------------------------------------------------------------- estimation
#: Step lengths tried in turn when full Fisher-scoring steps oscillate (metafor's documented remedy for
#: non-convergence is ``control=list(stepadj=0.5)``); the first is metafor's default.
_STEPADJ = (1.0, 0.5, 0.25)


def _fisher_scoring(ymc, v, X, method, tau2, stepadj, threshold, maxiter):
    """Fisher scoring for τ² (Viechtbauer 2005; metafor ``rma.uni``) from ``tau2`` with step ``stepadj``.

    Returns ``(tau2, iterations, last_change)``; converged when ``last_change <= threshold``.
    """
    change = threshold + 1
    it = 0
    while change > threshold and it <= maxiter:
        it += 1
        old = tau2
        w = 1 / (v + tau2)
        py, trp, trpp = _p_terms(X, w, ymc)
        if method == "ML":
            adj = (float(py @ py) - w.sum()) / np.sum(w**2) * stepadj
        else:
            adj = (float(py @ py) - trp) / trpp * stepadj
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
    return tau2, it, change


def _estimate_tau2(y, v, X, method, *, tau2_init=None, threshold=_THRESHOLD, maxiter=_MAXITER):
    """τ² exactly as metafor 3.8 ``rma.uni``; returns ``(tau2, se_tau2, iterations)``."""
    k, p = X.shape
    ymc = y - y.mean()  # metafor works with the mean-centred outcomes (Ymc) when estimating tau^2
    if method == "FE":
        return 0.0, float("nan"), 0
    if method == "DL":
        w = 1 / v
        py, trp, trpp = _p_terms(X, w, ymc)
        rss = float(ymc @ py)
        tau2 = max(0.0, (rss - (k - p)) / trp)
        se = math.sqrt(1 / trp**2 * (2 * (k - p) + 4 * tau2 * trp + 2 * tau2**2 * trpp))
        return tau2, se, 0
    # ML / REML: Hedges (HE) starting value, then Fisher scoring (Viechtbauer 2005)
    if tau2_init is None:
        xtx_inv = np.linalg.inv(X.T @ X)
        resid = ymc - X @ (xtx_inv @ (X.T @ ymc))
        rss = float(resid @ resid)
        tr_pv = float(v.sum() - np.trace(xtx_inv @ (X.T @ (v[:, None] * X))))
        tau2 = max(0.0, (rss - tr_pv) / (k - p))
    else:
        tau2 = float(tau2_init)
    start = tau2
    for stepadj in _STEPADJ:
        tau2, it, change = _fisher_scoring(ymc, v, X, method, start, stepadj, threshold, maxiter)
        if change <= threshold:
            break
    else:
        raise ConvergenceError(
            f"Fisher scoring algorithm did not converge after {maxiter} iterations with step lengths "
            f"{', '.join(f'{a:g}' for a in _STEPADJ)} (last tau^2 = {tau2:.6g}, last change = {change:.3g}; "
            f"threshold {threshold:g})"
        )
    if stepadj != 1.0:
        warnings.warn(
            f"Fisher scoring oscillated with full steps; converged with step length {stepadj:g} "
            "(metafor: control=list(stepadj=...)).", RuntimeWarning, stacklevel=3,
        )
    # metafor's ll0check: fall back to tau^2 = 0 if the likelihood there is higher
    ll0 = _ll_profile(y - y.mean(), v, X, 0.0, method)
    ll1 = _ll_profile(y - y.mean(), v, X, tau2, method)
    if ll0 - ll1 > _TOL and tau2 > threshold:
        warnings.warn(
            "Fisher scoring algorithm may have gotten stuck at a local maximum; setting tau^2 = 0 (as metafor).",
            RuntimeWarning, stacklevel=3,
        )
        tau2 = 0.0
    tau2 = max(0.0, tau2)
    w = 1 / (v + tau2)
    if method == "ML":
        se = math.sqrt(2 / np.sum(w**2))
    else:
        _, _, trpp = _p_terms(X, w, ymc)
        se = math.sqrt(2 / trpp)
    return tau2, se, it


def _ll_profile(y, v, X, tau2, method):
    """metafor's ll0check log-likelihood (without the REMLf constant)."""
    k, p = X.shape
    w = 1 / (v + tau2)
    _, b, xtwx = _wls(X, w, y)
    rss = float(np.sum(w * (y - X @ b) ** 2))
    if method == "ML":
        return -0.5 * k * _LOG2PI - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * rss
    return -0.5 * (k - p) * _LOG2PI - 0.5 * np.sum(np.log(v + tau2)) - 0.5 * _logdet(xtwx) - 0.5 * rss


# ------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class UnivariateResult:
    """A fitted univariate random-effects (or equal-effects) model, field names shared with the multilevel result.

    Attributes
    ----------
    k, p : int
        Number of estimates and of coefficients.
    method, test : str
        ``"REML" | "ML" | "DL" | "FE"`` and ``"z" | "t"``.
    tau2, se_tau2 : float
        Between-study variance and its standard error (NaN for FE).
    coefficients : tuple of meta.inference.Coefficient
        Coefficient table in model-matrix order (intercept first).
    beta, vb : ndarray
        Estimates and their covariance matrix ``(X'WX)⁻¹``.
    yi, vi, X : ndarray
        The data the model was fitted to.
    QE, QE_df, QE_p : float, int, float
        Test for (residual) heterogeneity.
    QM, QM_df, QM_p : float, int, float
        Omnibus test of the moderators (of the intercept for intercept-only models); for ``test="t"`` QM is
        metafor's F statistic ``QM/m`` on ``(QM_df, k − p)`` df.
    logLik, deviance, AIC, BIC, AICc : float
        Fit statistics of the method's likelihood (REML for ``"REML"``, ML otherwise), as metafor.
    I2, H2 : float
        I² (percent) and H².
    pred_interval : tuple of float
        Prediction interval of a new true effect (intercept-only models; NaN otherwise — use
        :meth:`predict`).
    converged : bool
    """

    k: int
    p: int
    method: str
    test: str
    tau2: float
    se_tau2: float
    coefficients: tuple[Coefficient, ...]
    beta: np.ndarray
    vb: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    QE: float
    QE_df: int
    QE_p: float
    QM: float
    QM_df: int
    QM_p: float
    logLik: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    I2: float
    H2: float
    pred_interval: tuple[float, float]
    converged: bool
    level: float = 0.95
    iterations: int = 0
    names: tuple[str, ...] = field(default=())
    ll_ML: float = float("nan")
    ll_REML: float = float("nan")

    # ------------------------------------------------------------------------------------ helpers
    @property
    def ddf(self) -> float | None:
        """Degrees of freedom of t tests (``k − p``), ``None`` for z tests."""
        return float(self.k - self.p) if self.test == "t" else None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vb))

    def weights(self) -> np.ndarray:
        """Percentage weight of each estimate, ``100·w_i/Σw`` with ``w_i = 1/(v_i + τ²)`` (metafor ``weights``)."""
        w = 1 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    def fitted(self) -> np.ndarray:
        """Fitted values ``Xβ̂``."""
        return self.X @ self.beta

    def residuals(self) -> np.ndarray:
        """Raw residuals ``y − Xβ̂``."""
        return self.yi - self.fitted()

    def predict(self, newmods: Sequence[float] | np.ndarray | None = None) -> dict:
        """Predicted average effect, CI and prediction interval (metafor ``predict.rma``).

        Parameters
        ----------
        newmods : array_like, optional
            Moderator values *without* the intercept column (one row or a 2-D array).  Omitted for
            intercept-only models.

        Returns
        -------
        dict
            Arrays ``pred``, ``se``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``.
        """
        has_int = bool(np.all(self.X[:, 0] == 1))
        if newmods is None:
            if self.p == 1 and has_int:
                xn = np.ones((1, 1))
            else:
                xn = self.X
        else:
            xn = np.atleast_2d(np.asarray(newmods, dtype=float))
            if has_int:
                xn = np.column_stack([np.ones(xn.shape[0]), xn])
            if xn.shape[1] != self.p:
                raise MetaInputError(f"newmods: expected {self.p - int(has_int)} moderator value(s) per row")
        pred = xn @ self.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", xn, self.vb, xn))
        alpha = 1 - self.level
        crit = stats.norm.isf(alpha / 2) if self.test == "z" else stats.t.isf(alpha / 2, self.k - self.p)
        half_pi = crit * np.sqrt(se**2 + self.tau2)
        return {
            "pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se,
            "pi_lb": pred - half_pi, "pi_ub": pred + half_pi,
        }

    # ------------------------------------------------------------------------------------- output
    def to_frame(self):
        """Coefficient table as a :class:`pandas.DataFrame` indexed by coefficient name."""
        import pandas as pd

        return pd.DataFrame([c.to_dict() for c in self.coefficients]).set_index("name")

    def to_dict(self) -> dict:
        """JSON-ready summary (the fields ``blockade meta pool --json`` reports)."""
        def f(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x

        return {
            "model": "univariate", "method": self.method, "test": self.test, "k": self.k, "p": self.p,
            "coefficients": [{kk: f(vv) for kk, vv in c.to_dict().items()} for c in self.coefficients],
            "tau2": f(self.tau2), "se_tau2": f(self.se_tau2),
            "QE": f(self.QE), "QE_df": self.QE_df, "QE_p": f(self.QE_p),
            "QM": f(self.QM), "QM_df": self.QM_df, "QM_p": f(self.QM_p),
            "logLik": f(self.logLik), "deviance": f(self.deviance), "AIC": f(self.AIC), "BIC": f(self.BIC),
            "AICc": f(self.AICc), "I2": f(self.I2), "H2": f(self.H2),
            "pred_interval": [f(self.pred_interval[0]), f(self.pred_interval[1])],
            "converged": self.converged,
        }

    def summary(self) -> str:
        """A printed summary laid out like metafor's ``print.rma.uni``."""
        model = "Equal-Effects Model" if self.method == "FE" else "Random-Effects Model"
        if self.p > 1:
            model = "Mixed-Effects Model" if self.method != "FE" else "Equal-Effects Model (with moderators)"
        head = f"k = {self.k}" if self.method == "FE" else f"k = {self.k}; tau^2 estimator: {self.method}"
        lines = [f"{model} ({head})", ""]
        lines.append(f"  logLik  deviance       AIC       BIC      AICc")
        lines.append(f"{self.logLik:8.4f} {self.deviance:9.4f} {self.AIC:9.4f} {self.BIC:9.4f} {self.AICc:9.4f}")
        lines.append("")
        if self.method != "FE":
            lines.append(f"tau^2 (estimated amount of {'residual ' if self.p > 1 else ''}heterogeneity): "
                         f"{self.tau2:.4f} (SE = {self.se_tau2:.4f})")
            lines.append(f"tau (square root of estimated tau^2 value):      {math.sqrt(self.tau2):.4f}")
        lines.append(f"I^2 ({'residual ' if self.p > 1 else ''}heterogeneity / unaccounted variability): {self.I2:.2f}%")
        lines.append(f"H^2 (unaccounted variability / sampling variability):   {self.H2:.2f}")
        lines.append("")
        lines.append(f"Test for {'Residual ' if self.p > 1 else ''}Heterogeneity:")
        lines.append(f"Q{'E' if self.p > 1 else ''}(df = {self.QE_df}) = {self.QE:.4f}, p-val{_eq_p(self.QE_p)}")
        if self.p > 1:
            lines.append("")
            lines.append(f"Test of Moderators (coefficient(s) {_btt_label(self)}):")
            if self.test == "t":
                lines.append(f"F(df1 = {self.QM_df}, df2 = {self.k - self.p}) = {self.QM:.4f}, p-val{_eq_p(self.QM_p)}")
            else:
                lines.append(f"QM(df = {self.QM_df}) = {self.QM:.4f}, p-val{_eq_p(self.QM_p)}")
        lines.append("")
        lines.append("Model Results:")
        lines.append("")
        stat = "tval" if self.test == "t" else "zval"
        nw = max(12, *(len(c.name) + 2 for c in self.coefficients))  # full names, as metafor prints them
        df_head = f" {'df':>4s}" if self.test == "t" else ""
        lines.append(f"{'':{nw}s}{'estimate':>10s} {'se':>8s} {stat:>8s}{df_head} {'pval':>8s} {'ci.lb':>8s} {'ci.ub':>8s}")
        ddf = self.k - self.p
        for c in self.coefficients:
            stars = "***" if c.p < 0.001 else "**" if c.p < 0.01 else "*" if c.p < 0.05 else "." if c.p < 0.1 else ""
            df_col = f" {ddf:4d}" if self.test == "t" else ""
            lines.append(f"{c.name:{nw}s}{c.estimate:10.4f} {c.se:8.4f} {c.z:8.4f}{df_col} {_fmt_p(c.p):>8s} "
                         f"{c.ci_lb:8.4f} {c.ci_ub:8.4f}  {stars}".rstrip())
        if self.p == 1 and math.isfinite(self.pred_interval[0]):
            lines.append("")
            lines.append(f"Prediction interval: [{self.pred_interval[0]:.4f}, {self.pred_interval[1]:.4f}]")
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def _eq_p(p: float) -> str:
    """`` = 0.0123`` or `` < .0001`` after "p-val" (metafor's layout)."""
    text = _fmt_p(p)
    return f" < {text[1:]}" if text.startswith("<") else f" = {text}"


def _btt_label(res: UnivariateResult) -> str:
    has_int = bool(np.all(res.X[:, 0] == 1))
    return f"2:{res.p}" if has_int else f"1:{res.p}"


# ------------------------------------------------------------------------------------ main API
def _design(yi_len, X, names, mods, data):
    if mods is not None:
        if X is not None:
            raise MetaInputError("give either 'X' or 'mods', not both")
        if data is None:
            raise MetaInputError("'mods' is a formula: give 'data' to evaluate it on")
        import meta.model_matrix as _mm  # the shared formula → design-matrix builder (metafor column names)

        if hasattr(_mm, "model_matrix"):
            built = _mm.model_matrix(mods, data)
            X, names = np.asarray(built.X, dtype=float), list(built.names)
        else:
            X, names = _mm.build_model_matrix(mods, data, yi_len)
            X = np.asarray(X, dtype=float)
    if X is None:
        X = np.ones((yi_len, 1))
        names = names or ["intrcpt"]
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != yi_len:
        raise MetaInputError(f"model matrix has {X.shape[0]} rows but there are {yi_len} estimates")
    if not np.all(np.isfinite(X)):
        bad = ~np.all(np.isfinite(X), axis=1)
        rows = ", ".join(str(i) for i in (np.flatnonzero(bad) + 1)[:8])
        raise MetaInputError(f"moderators: missing or non-finite value in row(s) {rows}")
    if names is None:
        names = ["intrcpt"] + [f"X{j}" for j in range(1, X.shape[1])] if np.all(X[:, 0] == 1) else \
            [f"X{j + 1}" for j in range(X.shape[1])]
    names = [str(n) for n in names]
    if len(names) != X.shape[1]:
        raise MetaInputError(f"got {len(names)} coefficient names for {X.shape[1]} model-matrix columns")
    ev = np.linalg.eigvalsh(X.T @ X)
    if np.any(ev <= _EVTOL):
        raise MetaInputError("moderators: model matrix not of full rank (a moderator is constant or collinear)")
    return X, names


def fit_random_effects(
    yi: Sequence[float],
    vi: Sequence[float],
    X: np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    mods: str | None = None,
    data=None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    tau2_init: float | None = None,
    yi_name: str = "yi",
    vi_name: str = "vi",
) -> UnivariateResult:
    """Fit metafor's ``rma.uni`` random-effects (REML, ML, DL) or equal-effects (FE) model.

    Parameters
    ----------
    yi, vi : array_like
        Estimates and their sampling variances.
    X : array_like, optional
        Model matrix (include a column of ones for an intercept); default intercept only.
    names : sequence of str, optional
        Column names of ``X`` (default ``"intrcpt"``, ``"X1"``, ...).
    mods : str, optional
        Moderator formula (e.g. ``"~ ablat"``) evaluated on ``data`` by :func:`meta.model_matrix.model_matrix`.
    data : pandas.DataFrame, optional
        Data for ``mods``.
    method : {"REML", "ML", "DL", "FE"}
        τ² estimator; ``"FE"`` is the equal-effects model (τ² = 0).
    test : {"z", "t"}
        Wald z tests (default) or t tests on ``k − p`` df with an F omnibus test.
    level : float
        Confidence level.
    tau2_init : float, optional
        Starting value for ML/REML (default: the Hedges estimator, truncated at 0, as metafor).

    Returns
    -------
    UnivariateResult

    Raises
    ------
    MetaInputError
        Bad data (one-line message naming the column and rows).
    ConvergenceError
        Fisher scoring did not converge within 100 iterations.

    Notes
    -----
    Follows metafor 3.8 ``rma.uni`` step by step so that results agree to floating-point accuracy:

    * DL: ``τ² = max(0, (Q − (k−p))/tr(P))`` with ``W = diag(1/v)``.
    * ML/REML: start at the Hedges estimator ``(RSS_OLS − tr(P_OLS V))/(k−p)`` (floored at 0), then Fisher
      scoring ``τ² += (y'PPy − tr(P))/tr(PP)`` (REML) or ``(y'PPy − Σw)/Σw²`` (ML), with step halving to stay
      ≥ 0, until the change is ≤ 1e-5 (at most 100 iterations); then metafor's check that τ² = 0 does not
      have a higher likelihood.  Standard errors of τ²: ``√(2/tr(PP))`` (REML), ``√(2/Σw²)`` (ML), the DL
      formula of metafor otherwise.
    * ``vb = (X'WX)⁻¹``; QE is the FE-weighted Cochran statistic; ``I² = 100 τ²/(τ² + (k−p)/tr(P_FE))`` and
      ``H² = τ²/ṽ + 1`` (FE: ``I² = max(0, 100(QE − (k−p))/QE)``, ``H² = QE/(k−p)``).
    * logLik (REML includes ½log|X'X|), deviance, AIC, BIC and AICc use the REML likelihood for
      ``method="REML"`` and the ML likelihood otherwise, with ``p + 1`` parameters (``p`` for FE).
    """
    method = str(method).upper()
    if method in ("EE", "CE"):
        method = "FE"
    if method not in METHODS:
        raise MetaInputError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    if test not in ("z", "t"):
        raise MetaInputError(f"test must be 'z' or 't' (got {test!r})")
    if not 0 < level < 1:
        raise MetaInputError(f"level must lie in (0, 1) (got {level!r})")
    y, v = check_effect_sizes(yi, vi, yi_name=yi_name, vi_name=vi_name, min_k=2)
    X, names = _design(y.size, X, names, mods, data)
    k, p = X.shape
    if method == "FE":
        if p > k:
            raise MetaInputError(f"more coefficients ({p}) than estimates ({k})")
    elif p + 1 > k:
        raise MetaInputError(f"too few estimates (k = {k}) for {p} coefficient(s) plus tau^2")
    if test == "t" and k - p < 1:
        raise MetaInputError("test='t' needs k > p")

    tau2, se_tau2, iters = _estimate_tau2(y, v, X, method, tau2_init=tau2_init)

    w = 1 / (v + tau2)
    vb, beta, xtwx = _wls(X, w, y)
    rss_f = float(np.sum(w * (y - X @ beta) ** 2))

    has_int = bool(np.all(X[:, 0] == 1))
    btt = list(range(1, p)) if (has_int and p > 1) else list(range(p))
    ddf = float(k - p) if test == "t" else None
    coefs = coefficient_table(names, beta, vb, test=test, df=ddf, level=level)
    om = omnibus_test(beta, vb, btt, test=test, ddf=ddf)

    # heterogeneity (FE weights; metafor uses the mean-centred outcomes here)
    ymc = y - y.mean()
    if k > p:
        py, trp, _ = _p_terms(X, 1 / v, ymc)
        qe = max(0.0, float(ymc @ py))
        qe_p = float(stats.chi2.sf(qe, k - p))
        vt = (k - p) / trp
        if method == "FE":
            i2 = max(0.0, 100 * (qe - (k - p)) / qe) if qe > 0 else 0.0
            h2 = qe / (k - p)
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
    else:
        qe, qe_p, i2, h2 = 0.0, 1.0, 0.0, 1.0

    # fit statistics
    parms = p + (0 if method == "FE" else 1)
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * rss_f
    ll_reml = (-0.5 * (k - p) * _LOG2PI + 0.5 * _logdet(X.T @ X) - 0.5 * float(np.sum(np.log(v + tau2)))
               - 0.5 * _logdet(xtwx) - 0.5 * rss_f)
    if method == "REML":
        ll, dev = ll_reml, -2 * ll_reml
        n_eff = k - p
    else:
        ll = ll_ml
        dev = -2 * (ll_ml - float(np.sum(stats.norm.logpdf(y, y, np.sqrt(v))))) if k > p else 0.0
        n_eff = k
    aic = -2 * ll + 2 * parms
    bic = -2 * ll + parms * math.log(n_eff)
    big = max(n_eff, parms + 2)
    aicc = -2 * ll + 2 * parms * big / (big - parms - 1)

    if p == 1 and has_int:
        pi = prediction_interval(float(beta[0]), float(math.sqrt(vb[0, 0])), tau2, test=test,
                                 df=ddf, level=level)
    else:
        pi = (float("nan"), float("nan"))

    return UnivariateResult(
        k=k, p=p, method=method, test=test, tau2=float(tau2), se_tau2=float(se_tau2),
        coefficients=coefs, beta=beta, vb=vb, yi=y, vi=v, X=X,
        QE=float(qe), QE_df=k - p, QE_p=float(qe_p),
        QM=float(om.statistic), QM_df=int(om.df), QM_p=float(om.p),
        logLik=float(ll), deviance=float(dev), AIC=float(aic), BIC=float(bic), AICc=float(aicc),
        I2=float(i2), H2=float(h2), pred_interval=pi, converged=True, level=level, iterations=iters,
        names=tuple(names), ll_ML=float(ll_ml), ll_REML=float(ll_reml),
    )
