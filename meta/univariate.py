"""Univariate random-effects and equal-effects meta-analysis and meta-regression (metafor ``rma.uni``).

The model is ``y_i = x_i'β + u_i + e_i`` with ``u_i ~ N(0, τ²)`` and ``e_i ~ N(0, v_i)`` (known ``v_i``).
``method="FE"`` fixes ``τ² = 0`` (metafor's equal-/fixed-effects model); ``"REML"``, ``"ML"``, ``"DL"``,
``"PM"``, ``"SJ"``, ``"HE"``, ``"EB"`` and ``"HS"`` estimate ``τ²`` exactly as metafor 3.8 does
(:mod:`meta.tau2_estimators`), so every reported number agrees with ``rma.uni`` to floating-point accuracy
(tests/data/metafor_univariate.json, tests/data/metafor_univariate_breadth.json).  Tests are Wald z (default),
t on ``k − p`` df, or Knapp–Hartung (``test="knha"``: t with the covariance scaled by the weighted residual
variance; ``"adhoc"`` floors that factor at 1).  Rows with missing values are dropped with one warning
(metafor's ``na.action = "na.omit"``) or rejected with ``na="fail"``.

Every quantity is computed from ``p × p`` cross-products: no ``k × k`` matrix is formed, so a fit costs
O(k p²) per iteration.

References
----------
Knapp, G., & Hartung, J. (2003). Improved tests for a random effects meta-regression with a single covariate.
*Stat Med* 22, 2693–2710.
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
from meta.display import ResultDisplay
from typing import Sequence

import numpy as np
from scipy import stats

from meta import tau2_estimators as _t2
from meta.errors import ConvergenceError, MetaInputError
from meta.inference import Coefficient, coefficient_table, omnibus_test, prediction_interval
from meta.model_matrix import DesignMatrix, missing_inputs, model_matrix
from meta.validation import as_float_column, check_effect_sizes, omit_missing

__all__ = ["UnivariateResult", "fit_random_effects", "METHODS", "TESTS"]

METHODS = _t2.METHODS
#: "z": Wald z; "t": t on k − p df; "knha": Knapp–Hartung; "adhoc": Knapp–Hartung with the factor floored at 1
TESTS = ("z", "t", "knha", "adhoc")

# metafor rma.uni control defaults (module globals read at call time, so tests can tighten them)
_THRESHOLD = _t2.THRESHOLD
_MAXITER = _t2.MAXITER
_TOL = _t2.TOL
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
def _estimate_tau2(y, v, X, method, *, tau2_init=None, threshold=None, maxiter=None):
    """τ² exactly as metafor 3.8 ``rma.uni``; returns ``(tau2, se_tau2, iterations)``.

    A thin single-fit wrapper of :func:`meta.tau2_estimators.estimate_tau2` that raises
    :class:`~meta.errors.ConvergenceError` when Fisher scoring fails and warns when it needed shorter steps
    or metafor's ``ll0check`` set τ² to 0.
    """
    threshold = _THRESHOLD if threshold is None else threshold
    maxiter = _MAXITER if maxiter is None else maxiter
    est = _t2.estimate_tau2(y, v, X, None, method, tau2_init=tau2_init, threshold=threshold, maxiter=maxiter)
    if not bool(est.converged[0]):
        raise ConvergenceError(
            f"Fisher scoring algorithm did not converge after {maxiter} iterations with step lengths "
            f"{', '.join(f'{a:g}' for a in _t2.STEPADJ)} (last tau^2 = {est.tau2[0]:.6g}, last change = "
            f"{est.change[0]:.3g}; threshold {threshold:g})"
        )
    if method in ("ML", "REML") and est.stepadj[0] != 1.0:
        warnings.warn(
            f"Fisher scoring oscillated with full steps; converged with step length {est.stepadj[0]:g} "
            "(metafor: control=list(stepadj=...)).", RuntimeWarning, stacklevel=3,
        )
    if est.ll0_reset[0]:
        warnings.warn(
            "Fisher scoring algorithm may have gotten stuck at a local maximum; setting tau^2 = 0 (as metafor).",
            RuntimeWarning, stacklevel=3,
        )
    return float(est.tau2[0]), float(est.se[0]), int(est.iterations[0])


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
class UnivariateResult(ResultDisplay):
    """A fitted univariate random-effects (or equal-effects) model, field names shared with the multilevel result.

    Attributes
    ----------
    k, p : int
        Number of estimates and of coefficients.
    method, test : str
        τ² estimator (:data:`METHODS`) and test (:data:`TESTS`).
    tau2, se_tau2 : float
        Between-study variance and its standard error (NaN for FE).
    s2w : float
        Knapp–Hartung factor by which ``vb`` was scaled (1 unless ``test`` is ``"knha"``/``"adhoc"``).
    coefficients : tuple of meta.inference.Coefficient
        Coefficient table in model-matrix order (intercept first).
    beta, vb : ndarray
        Estimates and their covariance matrix ``s2w·(X'WX)⁻¹``.
    yi, vi, X : ndarray
        The data the model was fitted to.
    QE, QE_df, QE_p : float, int, float
        Test for (residual) heterogeneity.
    QM, QM_df, QM_p : float, int, float
        Omnibus test of the moderators (of the intercept for intercept-only models); for t-type tests
        (``"t"``, ``"knha"``, ``"adhoc"``) QM is metafor's F statistic ``QM/m`` on ``(QM_df, k − p)`` df.
    logLik, deviance, AIC, BIC, AICc : float
        Fit statistics of the method's likelihood (REML for ``"REML"``, ML otherwise), as metafor.
    I2, H2 : float
        I² (percent) and H².
    pred_interval : tuple of float
        Prediction interval of a new true effect (intercept-only models; NaN otherwise — use
        :meth:`predict`).
    converged : bool
    omitted_rows : tuple of int
        1-based input rows left out because of missing values (metafor's ``na.omit``).
    vt : float
        Typical within-study variance ``(k − p)/tr P_FE`` used by I² and H².
    design : meta.model_matrix.DesignMatrix or None
        The moderator design (formula, factor levels) for predictions at new raw moderator values.
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
    s2w: float = 1.0
    vt: float = float("nan")
    omitted_rows: tuple[int, ...] = ()
    design: DesignMatrix | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------------------------ helpers
    @property
    def ddf(self) -> float | None:
        """Degrees of freedom of t-type tests (``k − p``), ``None`` for z tests."""
        return float(self.k - self.p) if self.test != "z" else None

    @property
    def QM_ddf(self) -> float | None:
        """Denominator df of the omnibus F test (metafor ``QMdf[2]``: ``k − p``); ``None`` for the χ² test (z)."""
        return self.ddf

    @property
    def parms(self) -> int:
        """Number of estimated parameters (metafor ``parms``): ``p`` plus 1 for τ² unless FE."""
        return self.p + (0 if self.method == "FE" else 1)

    @property
    def int_only(self) -> bool:
        """True for the intercept-only model."""
        return self.p == 1 and bool(np.all(self.X[:, 0] == 1))

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

    def predict(self, newmods=None, *, level: float | None = None):
        """Predicted average effect, CI and prediction interval (metafor ``predict.rma``).

        See :func:`meta.prediction.predict`; ``newmods`` are model-matrix columns without the intercept
        (array) or raw moderator values (a DataFrame, for formula fits).  The result also answers
        ``res["pred"]``, ``res["pi_lb"]`` etc. with arrays.
        """
        from meta.prediction import predict

        return predict(self, newmods, level=level)

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
            "QM": f(self.QM), "QM_df": self.QM_df, "QM_ddf": self.QM_ddf, "QM_p": f(self.QM_p),
            "logLik": f(self.logLik), "deviance": f(self.deviance), "AIC": f(self.AIC), "BIC": f(self.BIC),
            "AICc": f(self.AICc), "I2": f(self.I2), "H2": f(self.H2),
            "pred_interval": [f(self.pred_interval[0]), f(self.pred_interval[1])],
            "converged": self.converged, "s2w": f(self.s2w), "omitted_rows": list(self.omitted_rows),
        }

    def key_numbers(self) -> list[tuple[str, str]]:
        """k, the pooled estimate (or first coefficient) with CI and p, tau² and I² (notebook display)."""
        from meta.display import coefficient_numbers, format_number

        out = [("k", str(self.k)), ("method", self.method)]
        out += coefficient_numbers(self.coefficients, getattr(self, "level", None))
        if self.method != "FE":
            out += [("tau²", format_number(self.tau2)), ("I²", f"{self.I2:.1f} %")]
        return out

    def summary(self) -> str:
        """A printed summary laid out like metafor's ``print.rma.uni``."""
        model = "Equal-Effects Model" if self.method == "FE" else "Random-Effects Model"
        if self.p > 1:
            model = "Mixed-Effects Model" if self.method != "FE" else "Equal-Effects Model (with moderators)"
        head = f"k = {self.k}" if self.method == "FE" else f"k = {self.k}; tau^2 estimator: {self.method}"
        lines = [f"{model} ({head})", ""]
        if self.omitted_rows:
            lines[-1:] = [f"({len(self.omitted_rows)} row(s) with missing values omitted: "
                          f"{', '.join(str(r) for r in self.omitted_rows[:20])}"
                          f"{' ...' if len(self.omitted_rows) > 20 else ''})", ""]
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
            if self.test != "z":
                lines.append(f"F(df1 = {self.QM_df}, df2 = {self.k - self.p}) = {self.QM:.4f}, p-val{_eq_p(self.QM_p)}")
            else:
                lines.append(f"QM(df = {self.QM_df}) = {self.QM:.4f}, p-val{_eq_p(self.QM_p)}")
        lines.append("")
        lines.append("Model Results:")
        lines.append("")
        stat = "tval" if self.test != "z" else "zval"
        nw = max(12, *(len(c.name) + 2 for c in self.coefficients))  # full names, as metafor prints them
        df_head = f" {'df':>4s}" if self.test != "z" else ""
        lines.append(f"{'':{nw}s}{'estimate':>10s} {'se':>8s} {stat:>8s}{df_head} {'pval':>8s} {'ci.lb':>8s} {'ci.ub':>8s}")
        ddf = self.k - self.p
        for c in self.coefficients:
            stars = "***" if c.p < 0.001 else "**" if c.p < 0.01 else "*" if c.p < 0.05 else "." if c.p < 0.1 else ""
            df_col = f" {ddf:4d}" if self.test != "z" else ""
            lines.append(f"{c.name:{nw}s}{c.estimate:10.4f} {c.se:8.4f} {c.z:8.4f}{df_col} {_fmt_p(c.p):>8s} "
                         f"{c.ci_lb:8.4f} {c.ci_ub:8.4f}  {stars}".rstrip())
        if self.p == 1 and math.isfinite(self.pred_interval[0]):
            lines.append("")
            lines.append(f"Prediction interval: [{self.pred_interval[0]:.4f}, {self.pred_interval[1]:.4f}]")
        if self.test in ("knha", "adhoc"):
            lines.append("")
            lines.append(f"(Knapp-Hartung adjustment{' (ad hoc, factor >= 1)' if self.test == 'adhoc' else ''}: "
                         f"s2w = {self.s2w:.4f})")
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
def _column(x, data, what: str):
    """A column given by name in ``data``, or the values themselves; returns ``(values, name)``."""
    if isinstance(x, str):
        if data is None:
            raise MetaInputError(f"{what} given as column name {x!r} but no data table")
        if x not in data.columns:
            raise MetaInputError(f"column {x!r} not found in data")
        return data[x].to_numpy(), x
    return x, None


def _default_names(X: np.ndarray) -> list[str]:
    if np.all(X[:, 0] == 1):
        return ["intrcpt"] + [f"X{j}" for j in range(1, X.shape[1])]
    return [f"X{j + 1}" for j in range(X.shape[1])]


def _prepare(yi, vi, X, names, mods, data, yi_name, vi_name, na, stacklevel):
    """Inputs → complete rows: ``(y, v, design, omitted_rows)`` (metafor ``na.action``; rows named 1-based)."""
    y_in, yn = _column(yi, data, "yi")
    v_in, vn = _column(vi, data, "vi")
    yi_name, vi_name = yn or yi_name, vn or vi_name
    y = as_float_column(y_in, yi_name)
    v = as_float_column(v_in, vi_name)
    if y.size != v.size:
        raise MetaInputError(f"columns {yi_name!r} and {vi_name!r} have different lengths ({y.size} vs {v.size})")
    k_all = y.size
    missing, Xa = missing_inputs(y, v, X, mods, data, yi_name, vi_name)
    keep = omit_missing(missing, k_all, na=na, stacklevel=stacklevel)
    omitted = tuple(int(i) + 1 for i in np.flatnonzero(~keep))
    # validity of the remaining rows, with the input's own row numbers in messages
    check_effect_sizes(np.where(keep, y, 0.0), np.where(keep, v, 1.0), yi_name=yi_name, vi_name=vi_name, min_k=1)
    y, v = y[keep], v[keep]
    if y.size < 2:
        raise MetaInputError(f"need at least 2 estimates (got {y.size}"
                             f"{f' after omitting {len(omitted)} row(s) with missing values' if omitted else ''})")
    if mods is not None:
        design = model_matrix(mods, data, rows=keep)  # evaluated on all rows, as R's model.frame
    else:
        if Xa is None:
            Xk = np.ones((y.size, 1))
            names = list(names) if names is not None else ["intrcpt"]
        else:
            Xk = Xa[keep]
            if not np.all(np.isfinite(Xk)):
                bad = np.zeros(k_all, dtype=bool)
                bad[np.flatnonzero(keep)] = ~np.all(np.isfinite(Xk), axis=1)
                from meta.validation import format_rows

                raise MetaInputError(f"moderators: non-finite value in row(s) {format_rows(bad)}")
            names = [str(n) for n in names] if names is not None else _default_names(Xk)
        if len(names) != Xk.shape[1]:
            raise MetaInputError(f"got {len(names)} coefficient names for {Xk.shape[1]} model-matrix columns")
        design = DesignMatrix(X=Xk, names=tuple(str(n) for n in names))
    ev = np.linalg.eigvalsh(design.X.T @ design.X)
    if np.any(ev <= _EVTOL):
        raise MetaInputError("moderators: model matrix not of full rank (a moderator is constant or collinear)")
    return y, v, design, omitted


def knapp_hartung_factor(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, test: str) -> float:
    """metafor's ``s2w``: ``Σw(y − Xb)²/(k − p)`` with ``w = 1/(v + τ²)`` (0 if the RSS is ≤ ε), floored at 1 for "adhoc".

    Notes
    -----
    Knapp & Hartung (2003); Hartung & Knapp (2001, *Stat Med* 20:3875–3889); Sidik & Jonkman (2002).  metafor
    ``rma.uni``: ``vb <- s2w * vb`` and t tests on ``k − p`` df.
    """
    if test not in ("knha", "adhoc"):
        return 1.0
    k, p = X.shape
    w = 1 / (v + tau2)
    _, b, _ = _wls(X, w, y)
    rss = float(np.sum(w * (y - X @ b) ** 2))
    s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
    return max(s2w, 1.0) if test == "adhoc" else s2w


def fit_random_effects(
    yi,
    vi,
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
    na: str = "omit",
) -> UnivariateResult:
    """Fit metafor's ``rma.uni`` random-effects model (τ² by REML, ML, DL, PM, SJ, HE, EB or HS) or equal-effects model (FE).

    Parameters
    ----------
    yi, vi : array_like or str
        Estimates and their sampling variances (or column names in ``data``).  Missing values (NaN/None)
        are handled by ``na``.
    X : array_like, optional
        Model matrix (include a column of ones for an intercept); default intercept only.
    names : sequence of str, optional
        Column names of ``X`` (default ``"intrcpt"``, ``"X1"``, ...).
    mods : str, optional
        Moderator formula (e.g. ``"~ ablat"``) evaluated on ``data`` by :func:`meta.model_matrix.model_matrix`.
    data : pandas.DataFrame, optional
        Data for ``mods`` (and for ``yi``/``vi`` given as column names).
    method : {"REML", "ML", "DL", "PM", "SJ", "HE", "EB", "HS", "FE"}
        τ² estimator; ``"FE"`` (alias ``"EE"``, ``"CE"``) is the equal-effects model (τ² = 0).
    test : {"z", "t", "knha", "adhoc"}
        Wald z tests (default); t tests on ``k − p`` df with an F omnibus test; Knapp–Hartung (t and F with
        ``vb`` scaled by ``s2w``); or ``"adhoc"`` Knapp–Hartung with ``s2w`` floored at 1.
    level : float
        Confidence level.
    tau2_init : float, optional
        Starting value for ML/REML (default: the Hedges estimator, truncated at 0, as metafor).
    yi_name, vi_name : str
        Column names used in messages when ``yi``/``vi`` are arrays.
    na : {"omit", "fail"}
        metafor's ``na.action``: ``"omit"`` (default) drops rows with a missing ``yi``, ``vi`` or moderator
        and warns once (:class:`~meta.errors.OmittedRowsWarning`) naming the 1-based rows, which the result
        keeps in ``omitted_rows``; ``"fail"`` raises a one-line :class:`~meta.errors.MetaInputError`.

    Returns
    -------
    UnivariateResult

    Raises
    ------
    MetaInputError
        Bad data or arguments (one-line message naming the column, argument and rows).
    ConvergenceError
        Fisher scoring did not converge within 100 iterations.

    Notes
    -----
    Follows metafor 3.8 ``rma.uni`` step by step so that results agree to floating-point accuracy:

    * τ²: see :mod:`meta.tau2_estimators` (Fisher scoring from the Hedges estimate with metafor's 1e-5
      threshold for ML/REML, its closed forms for DL, HS, HE, SJ, and the exact root of
      ``Q(τ²) = k − p`` for PM and EB), with metafor's standard errors.
    * ``vb = s2w·(X'WX)⁻¹``, ``s2w = 1`` except for Knapp–Hartung (:func:`knapp_hartung_factor`); QE is the
      FE-weighted Cochran statistic; ``I² = 100 τ²/(τ² + vt)`` and ``H² = τ²/vt + 1`` with
      ``vt = (k−p)/tr(P_FE)`` (FE: ``I² = max(0, 100(QE − (k−p))/QE)``, ``H² = QE/(k−p)``).
    * logLik (REML includes ½log|X'X|), deviance, AIC, BIC and AICc use the REML likelihood for
      ``method="REML"`` and the ML likelihood otherwise, with ``p + 1`` parameters (``p`` for FE).
    """
    method = str(method).upper()
    if method in ("EE", "CE"):
        method = "FE"
    if method not in METHODS:
        raise MetaInputError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    if test not in TESTS:
        raise MetaInputError(f"test must be one of {', '.join(TESTS)} (got {test!r})")
    if not 0 < level < 1:
        raise MetaInputError(f"level must lie in (0, 1) (got {level!r})")
    y, v, design, omitted = _prepare(yi, vi, X, names, mods, data, yi_name, vi_name, na, stacklevel=4)
    X, names = design.X, list(design.names)
    k, p = X.shape
    if method == "FE":
        if p > k:
            raise MetaInputError(f"more coefficients ({p}) than estimates ({k})")
    elif p + 1 > k:
        raise MetaInputError(f"too few estimates (k = {k}) for {p} coefficient(s) plus tau^2")
    if test != "z" and k - p < 1:
        raise MetaInputError(f"test={test!r} needs k > p")
    if method == "FE" and test in ("knha", "adhoc"):
        warnings.warn("Knapp & Hartung method is not meant to be used in the context of FE models (as metafor).",
                      UserWarning, stacklevel=2)

    tau2, se_tau2, iters = _estimate_tau2(y, v, X, method, tau2_init=tau2_init)

    w = 1 / (v + tau2)
    vb, beta, xtwx = _wls(X, w, y)
    rss_f = float(np.sum(w * (y - X @ beta) ** 2))
    s2w = knapp_hartung_factor(y, v, X, tau2, test)
    vb = s2w * vb

    has_int = bool(np.all(X[:, 0] == 1))
    btt = list(range(1, p)) if (has_int and p > 1) else list(range(p))
    ddf = float(k - p) if test != "z" else None
    ttype = "z" if test == "z" else "t"
    coefs = coefficient_table(names, beta, vb, test=ttype, df=ddf, level=level)
    om = omnibus_test(beta, vb, btt, test=ttype, ddf=ddf)

    # heterogeneity (FE weights; metafor uses the mean-centred outcomes here)
    ymc = y - y.mean()
    vt = float("nan")
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
        pi = prediction_interval(float(beta[0]), float(math.sqrt(vb[0, 0])), tau2, test=ttype,
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
        names=tuple(names), ll_ML=float(ll_ml), ll_REML=float(ll_reml), s2w=float(s2w), vt=float(vt),
        omitted_rows=omitted, design=design,
    )


# ------------------------------------------------------------------------------------ refits on row subsets
@dataclass(frozen=True, eq=False)
class SubsetFits:
    """The model refitted on ``n`` row subsets at once (:func:`refit_subsets`); NaN where not estimable.

    Arrays have one entry (row) per subset: ``tau2``, ``se_tau2``, ``s2w``, ``QE``, ``QE_p``, ``I2``, ``H2``,
    ``k``, ``converged`` of shape ``(n,)``, ``beta`` ``(n, p)`` and ``vb`` ``(n, p, p)``; ``ddf`` is ``k − p``
    for t-type tests and ``None`` for z tests.
    """

    tau2: np.ndarray
    se_tau2: np.ndarray
    beta: np.ndarray
    vb: np.ndarray
    s2w: np.ndarray
    QE: np.ndarray
    QE_p: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    k: np.ndarray
    converged: np.ndarray
    ddf: np.ndarray | None


def refit_subsets(result: UnivariateResult, keep: np.ndarray) -> SubsetFits:
    """Refit ``result``'s model on each row subset ``keep[u]`` exactly as ``rma.uni`` would fit that subset.

    Parameters
    ----------
    result : UnivariateResult
    keep : ndarray of bool, shape (n, k)
        Rows of each subset (e.g. all rows but one, for leave-one-out).

    Returns
    -------
    SubsetFits

    Notes
    -----
    This is what metafor's ``leave1out.rma.uni``, ``influence.rma.uni`` (``cooks.distance``, ``rstudent``)
    do for every deleted row: ``rma.uni`` on the subset with the model's ``method``, ``test`` and
    ``control`` — so τ² starts at the subset's own Hedges estimate (not at the full-data τ²) and Fisher
    scoring stops by the same 1e-5 threshold (:func:`meta.tau2_estimators.estimate_tau2`).  All subsets are
    computed together with batched ``p × p`` algebra.  A subset with too few rows or a rank-deficient model
    matrix gives NaN (metafor's ``try``/``NA``); so does one whose Fisher scoring fails to converge.
    """
    y, v, X = np.asarray(result.yi, float), np.asarray(result.vi, float), np.asarray(result.X, float)
    keep = np.asarray(keep, dtype=bool)
    n = keep.shape[0]
    k_u = keep.sum(axis=1)
    p = X.shape[1]
    need = p if result.method == "FE" else p + 1
    ok = k_u >= max(need, 2)
    if result.test != "z":
        ok &= k_u > p
    xtx = np.matmul(X.T, keep[..., None] * X)
    ok &= np.linalg.eigvalsh(xtx)[:, 0] > _EVTOL
    nan = np.full(n, np.nan)
    tau2, se_tau2, conv = nan.copy(), nan.copy(), np.zeros(n, dtype=bool)
    beta, vb = np.full((n, p), np.nan), np.full((n, p, p), np.nan)
    s2w, qe, qe_p, i2, h2 = (nan.copy() for _ in range(5))
    idx = np.flatnonzero(ok)
    if idx.size:
        kp = keep[idx]
        est = _t2.estimate_tau2(y, v, X, kp, result.method, threshold=_THRESHOLD, maxiter=_MAXITER)
        good = est.converged
        idx, kp = idx[good], kp[good]
        t2 = est.tau2[good]
        tau2[idx], se_tau2[idx], conv[idx] = t2, est.se[good], True
        ku = k_u[idx].astype(float)
        w = kp / (v[None, :] + t2[:, None])
        S = _t2._inv(_t2._cross(X, w))
        b = np.einsum("npq,nq->np", S, (w * y[None, :]) @ X)
        factor = np.ones(idx.size)
        if result.test in ("knha", "adhoc"):
            rss = np.sum(w * (y[None, :] - b @ X.T) ** 2, axis=1)
            factor = np.where(rss <= np.finfo(float).eps, 0.0, rss / (ku - p))
            if result.test == "adhoc":
                factor = np.maximum(factor, 1.0)
        beta[idx], vb[idx], s2w[idx] = b, factor[:, None, None] * S, factor
        # heterogeneity with FE weights on the subset's mean-centred outcomes
        ymc = _t2._centre(y, kp)
        pt = _t2.generalised_q(X, v, ymc, kp, np.zeros(idx.size))
        q = np.maximum(0.0, pt.ypy)
        df = ku - p
        with np.errstate(divide="ignore", invalid="ignore"):
            vt = df / pt.trp
            if result.method == "FE":
                i2_u = np.where(q > 0, np.maximum(0.0, 100 * (q - df) / q), 0.0)
                h2_u = q / df
            else:
                i2_u = 100 * t2 / (vt + t2)
                h2_u = t2 / vt + 1
        has_df = df > 0
        qe[idx] = np.where(has_df, q, 0.0)
        qe_p[idx] = np.where(has_df, stats.chi2.sf(q, np.maximum(df, 1)), 1.0)
        i2[idx] = np.where(has_df, i2_u, 0.0)
        h2[idx] = np.where(has_df, h2_u, 1.0)
    ddf = (k_u - p).astype(float) if result.test != "z" else None
    return SubsetFits(tau2=tau2, se_tau2=se_tau2, beta=beta, vb=vb, s2w=s2w, QE=qe, QE_p=qe_p, I2=i2, H2=h2,
                      k=k_u, converged=conv, ddf=ddf)
