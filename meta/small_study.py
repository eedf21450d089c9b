"""Small-study effects: Egger-type regression tests, PET/PEESE limit estimates and trim-and-fill.

* :func:`egger_test` — metafor ``regtest``: the classical Egger test (``model="lm"``, weighted least squares
  with weights ``1/v_i`` and a t test), the mixed-effects version (``model="rma"``: ``rma.uni`` refitted with
  the predictor as an extra moderator), and the multilevel version (``model="multilevel"``: the standard
  error as a moderator in the multilevel model, as Viechtbauer suggests and the Løseth et al. review did).
* :func:`pet_peese` — the PET (predictor ``sqrt(v_i)``) and PEESE (predictor ``v_i``) limit estimates.
* :func:`trim_and_fill` — metafor ``trimfill.rma.uni`` (Duval & Tweedie 2000), estimators L0, R0 and Q0.

References
----------
Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis detected by a simple,
graphical test. *BMJ* 315, 629–634.
Sterne, J. A. C., & Egger, M. (2005). Regression methods to detect publication and other bias in
meta-analysis. In *Publication Bias in Meta-Analysis*, 99–110. Wiley.
Stanley, T. D., & Doucouliagos, H. (2014). Meta-regression approximations to reduce publication selection
bias. *Res Synth Methods* 5, 60–78.
Duval, S. J., & Tweedie, R. L. (2000). Trim and fill: A simple funnel-plot-based method of testing and
adjusting for publication bias in meta-analysis. *Biometrics* 56, 455–463.
Duval, S. J. (2005). The trim and fill method. In *Publication Bias in Meta-Analysis*, 127–144. Wiley.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw* 36(3);
metafor 3.8 ``regtest`` and ``trimfill.rma.uni``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from meta.display import ResultDisplay
from typing import Any, Sequence

import numpy as np
from scipy import stats

from meta.errors import MetaInputError
from meta.univariate import UnivariateResult, fit_random_effects
from meta.validation import check_effect_sizes

__all__ = ["EggerResult", "PetPeeseResult", "TrimFillResult", "egger_test", "pet_peese", "trim_and_fill"]


def _nan_to_none(x):
    if isinstance(x, (float, np.floating)) and not math.isfinite(float(x)):
        return None
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


# ------------------------------------------------------------------------------------------ Egger
@dataclass(frozen=True)
class EggerResult(ResultDisplay):
    """Regression test for funnel-plot asymmetry (metafor ``regtest``).

    Attributes
    ----------
    model : {"lm", "rma", "multilevel"}
    predictor : {"sei", "vi"}
    slope, se : float
        Coefficient of the predictor and its standard error.
    z : float
        Test statistic of the slope (a t statistic for ``model="lm"`` or ``test="t"``).
    p : float
        Two-sided p-value of the slope.
    df : float or None
        Degrees of freedom of the t test (``None`` for z tests).
    intercept, intercept_se, ci_lb, ci_ub : float
        The limit estimate (the intercept: the effect of a study with SE → 0) with its SE and CI.
    k : int
    method : str
        τ² / variance-component estimator of the refitted model (``"lm"`` for the classical test).
    tau2 : float or tuple
        Residual τ² (``"rma"``) or σ² per level (``"multilevel"``); NaN for ``"lm"``.
    fit : object
        The underlying fitted model (None for ``"lm"``).
    """

    model: str
    predictor: str
    slope: float
    se: float
    z: float
    p: float
    df: float | None
    intercept: float
    intercept_se: float
    ci_lb: float
    ci_ub: float
    k: int
    method: str
    tau2: Any = float("nan")
    level: float = 0.95
    fit: Any = None

    @property
    def limit_estimate(self) -> float:
        """The intercept (PET/PEESE limit estimate)."""
        return self.intercept

    def to_dict(self) -> dict:
        tau2 = self.tau2
        if isinstance(tau2, (tuple, list, np.ndarray)):
            tau2 = [_nan_to_none(float(t)) for t in tau2]
        else:
            tau2 = _nan_to_none(float(tau2))
        return {
            "model": self.model, "predictor": self.predictor, "slope": self.slope, "se": self.se,
            "z": self.z, "p": self.p, "df": _nan_to_none(self.df), "intercept": self.intercept,
            "intercept_se": self.intercept_se, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "k": self.k,
            "method": self.method, "tau2": tau2,
        }

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{k: v for k, v in self.to_dict().items() if k != "tau2"}])

    def summary(self) -> str:
        label = {"lm": "weighted regression with multiplicative dispersion",
                 "rma": f"mixed-effects meta-regression model ({self.method})",
                 "multilevel": f"multilevel meta-regression model ({self.method})"}[self.model]
        pred = {"sei": "standard error", "vi": "sampling variance"}[self.predictor]
        stat = "t" if self.df is not None else "z"
        dfs = f", df = {self.df:g}" if self.df is not None else ""
        pct = round(100 * self.level)
        return "\n".join([
            "Regression Test for Funnel Plot Asymmetry",
            "",
            f"Model:     {label}",
            f"Predictor: {pred}",
            "",
            f"Test for Funnel Plot Asymmetry: {stat} = {self.z:.4f}{dfs}, p = {self.p:.4f}",
            f"Slope: b = {self.slope:.4f} (SE = {self.se:.4f})",
            f"Limit Estimate (as sei -> 0):   b = {self.intercept:.4f} "
            f"(CI{pct}: {self.ci_lb:.4f}, {self.ci_ub:.4f})",
        ])


def _predictor_column(v: np.ndarray, predictor: str) -> np.ndarray:
    if predictor == "sei":
        return np.sqrt(v)
    if predictor == "vi":
        return v.copy()
    raise MetaInputError(f"predictor must be 'sei' or 'vi' (got {predictor!r})")


def _augment(k, X, names, v, predictor):
    if X is None:
        X = np.ones((k, 1))
        names = ["intrcpt"]
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if names is None:
        names = ["intrcpt"] + [f"X{j}" for j in range(1, X.shape[1])]
    Xa = np.column_stack([X, _predictor_column(v, predictor)])
    if np.linalg.matrix_rank(Xa) < Xa.shape[1]:
        raise MetaInputError(
            f"model matrix no longer of full rank after adding the predictor {predictor!r} "
            "(are all sampling variances equal?)"
        )
    return X, Xa, list(names) + [predictor]


def egger_test(
    yi: Sequence[float],
    vi: Sequence[float],
    *,
    model: str = "lm",
    predictor: str = "sei",
    method: str = "REML",
    test: str = "z",
    levels=None,
    X: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    level: float = 0.95,
) -> EggerResult:
    """Egger-type regression test for funnel-plot asymmetry (metafor ``regtest``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances (at least 3).
    model : {"lm", "rma", "multilevel"}
        ``"lm"``: the classical Egger test — ``lm(yi ~ 0 + X + sei, weights = 1/vi)`` with a t test on
        ``k − p − 1`` df.  ``"rma"``: ``rma.uni`` with the predictor added as a moderator (``method``,
        ``test``).  ``"multilevel"``: :func:`meta.multilevel.fit_multilevel` with the predictor added as a
        moderator; needs ``levels``.
    predictor : {"sei", "vi"}
        ``"sei"`` (Egger / PET) or ``"vi"`` (PEESE).
    method : str
        Estimator for ``"rma"`` (REML, ML, DL, FE) and ``"multilevel"`` (REML, ML).
    test : {"z", "t"}
        Test of the refitted model (``"rma"``/``"multilevel"``).
    levels : sequence or DataFrame, optional
        Cluster identifiers, outer to inner, passed on to ``fit_multilevel``.
    X, names : optional
        Moderators of the base model (default intercept only); the predictor is appended as the last column.
    level : float
        Confidence level of the limit-estimate CI.

    Returns
    -------
    EggerResult

    Notes
    -----
    As metafor ``regtest``: the test is the Wald test of the added coefficient; the limit estimate is the
    intercept and is reported only for intercept-only base models (NaN otherwise).  For ``"lm"`` the
    residual variance is estimated (multiplicative dispersion), so ``se = √(s²·[(X'WX)⁻¹]_jj)`` with
    ``s² = Σ w e²/(k − p)``, and the limit-estimate CI uses the t quantile on the same df.
    metafor's ``regtest`` refuses ``rma.mv`` models; the multilevel variant follows Viechtbauer's advice
    (``rma.mv(yi, vi, mods = ~ sqrt(vi), random = ...)``) as used by the Løseth et al. (2024) review.
    """
    y, v = check_effect_sizes(yi, vi, min_k=2)
    if y.size < 3:
        raise MetaInputError(f"Egger's test needs at least 3 estimates (got {y.size})")
    if model not in ("lm", "rma", "multilevel"):
        raise MetaInputError(f"model must be 'lm', 'rma' or 'multilevel' (got {model!r})")
    k = y.size
    X0, Xa, nm = _augment(k, X, names, v, predictor)
    p = Xa.shape[1]
    int_only = X0.shape[1] == 1 and bool(np.all(X0[:, 0] == 1))
    alpha = 1 - level
    if model == "lm":
        if k - p < 1:
            raise MetaInputError(f"Egger's test (lm) needs more estimates than coefficients (k = {k}, p = {p})")
        w = 1 / v
        xtwx = Xa.T @ (w[:, None] * Xa)
        inv = np.linalg.inv(xtwx)
        b = inv @ (Xa.T @ (w * y))
        e = y - Xa @ b
        df = k - p
        s2 = float(np.sum(w * e**2) / df)
        se = np.sqrt(np.diag(inv) * s2)
        tval = b / se
        pval = 2 * stats.t.sf(np.abs(tval), df)
        crit = stats.t.isf(alpha / 2, df)
        icpt = (float(b[0]), float(se[0]), float(b[0] - crit * se[0]), float(b[0] + crit * se[0])) if int_only \
            else (math.nan,) * 4
        return EggerResult(
            model="lm", predictor=predictor, slope=float(b[-1]), se=float(se[-1]), z=float(tval[-1]),
            p=float(pval[-1]), df=float(df), intercept=icpt[0], intercept_se=icpt[1], ci_lb=icpt[2],
            ci_ub=icpt[3], k=k, method="lm", level=level,
        )
    if model == "rma":
        fit = fit_random_effects(y, v, X=Xa, names=nm, method=method, test=test, level=level)
        tau2: Any = fit.tau2
    else:
        if levels is None:
            raise MetaInputError("the multilevel Egger test needs 'levels' (cluster ids, outer to inner)")
        from meta.multilevel import fit_multilevel  # the shared multilevel engine

        fit = fit_multilevel(y, v, levels, X=Xa, names=nm, method=method, test=test, level=level)
        tau2 = tuple(float(s) for s in np.atleast_1d(fit.sigma2))
    c_slope, c_int = fit.coefficients[-1], fit.coefficients[0]
    if not int_only:
        c_int = None
    return EggerResult(
        model=model, predictor=predictor, slope=c_slope.estimate, se=c_slope.se, z=c_slope.z, p=c_slope.p,
        df=c_slope.df, intercept=c_int.estimate if c_int else math.nan,
        intercept_se=c_int.se if c_int else math.nan, ci_lb=c_int.ci_lb if c_int else math.nan,
        ci_ub=c_int.ci_ub if c_int else math.nan, k=k, method=fit.method, tau2=tau2, level=level, fit=fit,
    )


# ----------------------------------------------------------------------------------- PET / PEESE
@dataclass(frozen=True)
class PetPeeseResult(ResultDisplay):
    """PET and PEESE limit estimates and the conditional PET-PEESE choice (Stanley & Doucouliagos 2014).

    ``estimate`` is PEESE's intercept when PET's intercept differs from 0 (two-sided p < ``alpha``), else
    PET's intercept.
    """

    pet: EggerResult
    peese: EggerResult
    estimate: float
    chosen: str
    alpha: float = 0.05

    def to_dict(self) -> dict:
        return {"pet": self.pet.to_dict(), "peese": self.peese.to_dict(), "estimate": self.estimate,
                "chosen": self.chosen, "alpha": self.alpha}

    def to_frame(self):
        import pandas as pd

        rows = []
        for name, r in (("PET", self.pet), ("PEESE", self.peese)):
            rows.append({"method": name, "estimate": r.intercept, "se": r.intercept_se, "ci_lb": r.ci_lb,
                         "ci_ub": r.ci_ub, "slope": r.slope, "slope_p": r.p})
        return pd.DataFrame(rows).set_index("method")

    def summary(self) -> str:
        return "\n".join([
            f"PET   limit estimate: {self.pet.intercept:.4f} [{self.pet.ci_lb:.4f}, {self.pet.ci_ub:.4f}]",
            f"PEESE limit estimate: {self.peese.intercept:.4f} [{self.peese.ci_lb:.4f}, {self.peese.ci_ub:.4f}]",
            f"PET-PEESE estimate ({self.chosen}): {self.estimate:.4f}",
        ])


def pet_peese(
    yi: Sequence[float], vi: Sequence[float], *, model: str = "lm", method: str = "REML", test: str = "z",
    levels=None, alpha: float = 0.05, level: float = 0.95,
) -> PetPeeseResult:
    """PET (``sqrt(vi)`` as predictor) and PEESE (``vi``) limit estimates (Stanley & Doucouliagos 2014).

    Parameters are those of :func:`egger_test` (default the classical weighted regression, ``model="lm"``).

    Notes
    -----
    The limit estimate is the intercept of the regression of ``yi`` on the predictor: the expected effect
    of a hypothetical infinitely precise study.  PET-PEESE uses PEESE when PET's intercept is significant
    (two-sided test at ``alpha``), because PET is biased downwards when there is a genuine effect.
    """
    pet = egger_test(yi, vi, model=model, predictor="sei", method=method, test=test, levels=levels, level=level)
    peese = egger_test(yi, vi, model=model, predictor="vi", method=method, test=test, levels=levels, level=level)
    if model == "lm":
        df = pet.df
        stat = pet.intercept / pet.intercept_se
        p_int = float(2 * stats.t.sf(abs(stat), df))
    else:
        p_int = float(pet.fit.coefficients[0].p)
    chosen = "PEESE" if p_int < alpha else "PET"
    return PetPeeseResult(pet=pet, peese=peese, estimate=peese.intercept if chosen == "PEESE" else pet.intercept,
                          chosen=chosen, alpha=alpha)


# --------------------------------------------------------------------------------- trim and fill
@dataclass(frozen=True)
class TrimFillResult(ResultDisplay):
    """Trim-and-fill result (metafor ``trimfill.rma.uni``).

    Attributes
    ----------
    k0 : int
        Estimated number of missing studies.
    se_k0 : float
        Its standard error (NaN when metafor's variance formula goes negative).
    side : {"left", "right"}
        Side of the funnel on which studies were imputed.
    estimator : {"L0", "R0", "Q0"}
    p_k0 : float
        Test of k0 = 0 (R0 only; NaN otherwise).
    estimate, se, z, p, ci_lb, ci_ub : float
        Pooled estimate after filling (the original fit when ``k0 = 0``).
    tau2 : float
    yi_observed, vi_observed, yi_filled, vi_filled : ndarray
        The observed data and the imputed (mirrored) values.
    fit : UnivariateResult
        Model fitted to observed + filled values.
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    method: str
    p_k0: float
    estimate: float
    se: float
    z: float
    p: float
    ci_lb: float
    ci_ub: float
    tau2: float
    yi_observed: np.ndarray
    vi_observed: np.ndarray
    yi_filled: np.ndarray
    vi_filled: np.ndarray
    fit: UnivariateResult
    iterations: int = 0

    @property
    def k(self) -> int:
        return int(self.yi_observed.size)

    def to_dict(self) -> dict:
        return {
            "k": self.k, "k0": self.k0, "se_k0": _nan_to_none(self.se_k0), "side": self.side,
            "estimator": self.estimator, "method": self.method, "p_k0": _nan_to_none(self.p_k0),
            "estimate": self.estimate, "se": self.se, "z": self.z, "p": self.p, "ci_lb": self.ci_lb,
            "ci_ub": self.ci_ub, "tau2": _nan_to_none(self.tau2),
            "yi_filled": self.yi_filled.tolist(), "vi_filled": self.vi_filled.tolist(),
        }

    def to_frame(self):
        """Observed and filled values with a ``filled`` flag (metafor ``res$fill``)."""
        import pandas as pd

        return pd.DataFrame({
            "yi": np.concatenate([self.yi_observed, self.yi_filled]),
            "vi": np.concatenate([self.vi_observed, self.vi_filled]),
            "filled": np.r_[np.zeros(self.k, bool), np.ones(self.k0, bool)],
        })

    def summary(self) -> str:
        se = "NA" if not math.isfinite(self.se_k0) else f"{self.se_k0:.4f}"
        lines = [f"Estimated number of missing studies on the {self.side} side: {self.k0} (SE = {se})"]
        if self.estimator == "R0":
            lines.append(f"Test of H0: no missing studies on the {self.side} side: p-val = {self.p_k0:.4f}")
        lines += ["", self.fit.summary()]
        return "\n".join(lines)


def _rank_first(a: np.ndarray) -> np.ndarray:
    """R's ``rank(a, ties.method = "first")``."""
    order = np.argsort(a, kind="stable")
    r = np.empty(a.size, dtype=float)
    r[order] = np.arange(1, a.size + 1)
    return r


def trim_and_fill(
    yi: Sequence[float],
    vi: Sequence[float],
    *,
    estimator: str = "L0",
    side: str | None = None,
    method: str = "REML",
    test: str = "z",
    maxiter: int = 100,
    level: float = 0.95,
) -> TrimFillResult:
    """Duval & Tweedie trim-and-fill exactly as metafor ``trimfill.rma.uni``.

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances (at least 3; no moderators).
    estimator : {"L0", "R0", "Q0"}
        Estimator of the number of missing studies (metafor default ``"L0"``).
    side : {"left", "right"}, optional
        Side on which studies are missing; by default chosen from the sign of the slope of ``sqrt(vi)`` in
        the model with the standard error as moderator (negative → ``"right"``).
    method : {"REML", "ML", "DL", "FE"}
        Model fitted at each step and to the filled data (the model ``trimfill`` is applied to).
    test : {"z", "t"}
        Test of the original model; reported when ``k0 = 0`` (metafor then returns the original fit).  The
        refit to the filled data uses z tests, as metafor.
    maxiter : int
        Maximum number of iterations (metafor 100).

    Returns
    -------
    TrimFillResult

    Notes
    -----
    Following metafor: flip signs if ``side == "right"``; sort ascending (stable); iterate — fit the model to
    the ``k − k0`` smallest values, centre *all* values at that estimate, rank ``|y − β̂|`` (ties: first),
    and estimate ``k0``: L0 ``(4S_r − k(k+1))/(2k − 1)``, R0 ``k − (largest rank of a negative
    deviation) − 1``, Q0 ``k − ½ − √(2k² − 4S_r + ¼)``; ``k0 = max(0, round(k0))`` with R's round-half-even —
    until ``k0`` no longer changes.  ``se(k0)`` uses the un-rounded ``k0`` of the last iteration (L0/Q0 from
    ``Var(S_r)``, R0 ``√(2k0 + 2)``); R0's p-value is ``0.5^(k0+1)``.  The ``k0`` most extreme values are
    mirrored around the last trimmed estimate, ``2β̂ − y``, keeping their ``vi``.
    """
    y, v = check_effect_sizes(yi, vi, min_k=2)
    k = y.size
    if k < 3:
        raise MetaInputError(f"trim-and-fill needs at least 3 estimates (got {k})")
    if estimator not in ("L0", "R0", "Q0"):
        raise MetaInputError(f"estimator must be 'L0', 'R0' or 'Q0' (got {estimator!r})")
    method = str(method).upper()
    original = fit_random_effects(y, v, method=method, test=test, level=level)
    if side is None:
        sei = np.sqrt(v)
        if np.ptp(sei) == 0:
            raise MetaInputError("cannot choose the side: all sampling variances are equal; give side='left' or 'right'")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slope = fit_random_effects(y, v, X=np.column_stack([np.ones(k), sei]), names=["intrcpt", "sei"],
                                       method=method).beta[1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise MetaInputError(f"side must be 'left' or 'right' (got {side!r})")

    ys = -y if side == "right" else y.copy()
    order = np.argsort(ys, kind="stable")
    ys, vs = ys[order], v[order]

    k0, k0_prev, it = 0, -1, 0
    beta = math.nan
    se_k0 = math.nan
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            from meta.errors import ConvergenceError

            raise ConvergenceError(f"trim-and-fill algorithm did not converge after {maxiter} iterations")
        if k - k0 < 2:
            raise MetaInputError(f"trim-and-fill trimmed too many estimates (k0 = {k0} of k = {k})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            beta = float(fit_random_effects(ys[: k - k0], vs[: k - k0], method=method).beta[0])
        yc = ys - beta
        signed = np.sign(yc) * _rank_first(np.abs(yc))
        if estimator == "R0":
            neg = signed[signed < 0]
            if neg.size == 0:
                raise MetaInputError("R0 estimator undefined: no estimate lies below the trimmed pooled estimate")
            k0_raw = (k - np.max(-neg)) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            sr = float(np.sum(signed[signed > 0]))
            if estimator == "L0":
                k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0_raw = k - 0.5 - math.sqrt(max(0.0, 2 * k**2 - 4 * sr + 0.25))
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0_raw**3 + 27 * k0_raw**2 + 17 * k0_raw
                      - 18 * k * k0_raw**2 - 18 * k * k0_raw + 6 * k**2 * k0_raw) / 24
            sd_sr = math.sqrt(var_sr) if var_sr >= 0 else math.nan
            if estimator == "L0":
                se_k0 = 4 * sd_sr / (2 * k - 1)
            else:
                denom = (k - 0.5) ** 2 - k0_raw * (2 * k - k0_raw - 1)
                se_k0 = 2 * sd_sr / math.sqrt(denom) if denom > 0 else math.nan
        k0 = int(max(0, np.round(k0_raw)))  # np.round: round half to even, as R's round()
        if math.isfinite(se_k0):
            se_k0 = max(0.0, se_k0)

    if k0 > 0:
        filled_sorted = 2 * beta - ys[k - k0:]
        y_fill = -filled_sorted if side == "right" else filled_sorted
        v_fill = vs[k - k0:].copy()
        fit = fit_random_effects(np.r_[y, y_fill], np.r_[v, v_fill], method=method, test="z", level=level)
    else:
        y_fill, v_fill = np.zeros(0), np.zeros(0)
        fit = original
    c = fit.coefficients[0]
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else math.nan
    return TrimFillResult(
        k0=k0, se_k0=float(se_k0), side=side, estimator=estimator, method=fit.method, p_k0=float(p_k0),
        estimate=c.estimate, se=c.se, z=c.z, p=c.p, ci_lb=c.ci_lb, ci_ub=c.ci_ub, tau2=fit.tau2,
        yi_observed=y, vi_observed=v, yi_filled=np.asarray(y_fill, float), vi_filled=np.asarray(v_fill, float),
        fit=fit, iterations=it,
    )
