"""Confidence intervals for τ² (and I², H²) of univariate random-effects models (metafor ``confint.rma.uni``).

Two types, both solved to the exact root:

* ``"QP"`` — the Q-profile interval (Viechtbauer 2007, *Stat Med* 26:37–52), metafor's default: the bounds
  are the τ² values where the generalised Q statistic ``Q(τ²) = y'P(τ²)y`` (weights ``1/(v + τ²)``) equals
  the upper and lower ``α/2`` quantiles of ``χ²_{k−p}``.  ``Q`` decreases in τ², so each bound is the root of
  a monotone equation (:func:`meta.tau2_estimators.solve_q_root`).
* ``"PL"`` — the likelihood-profile interval (Hardy & Thompson 1996, *Stat Med* 15:619–629): the τ² values
  where ``−2(ll(τ²) − ll̂) = χ²_{1, level}``, with the (RE)ML log-likelihood of the model (β profiled out)
  and ``ll̂`` the fitted log-likelihood, as metafor (REML only for REML fits, ML otherwise).

Notes
-----
metafor searches ``[min(0, τ̂²), max(100, 10·τ̂²)]``; a bound outside that range is reported at the search
limit with ``ub_sign = ">"`` (or ``lb_sign``), and when even ``Q(0)`` is below the lower χ² quantile the
interval is ``{0}`` (``ci_null``), exactly as ``confint.rma.uni``.  metafor's ``uniroot`` stops at
``tol = ε^¼`` (~1e-4), up to about 3e-3 relative short of the root; here the roots are exact (the reference
values in tests/data were generated with ``control = list(tol = 1e-12)``).  The I² and H² bounds are
``100 τ²/(vt + τ²)`` and ``τ²/vt + 1`` at the τ² bounds, with the fit's typical within-study variance
``vt = (k − p)/tr(P_FE)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from meta.display import ResultDisplay

import numpy as np
from scipy import optimize, stats

from meta.errors import MetaInputError
from meta.tau2_estimators import solve_q_root

__all__ = ["Tau2CI", "tau2_ci"]

_LOG2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Tau2CI(ResultDisplay):
    """Estimate and CI of τ², τ, I² (percent) and H² (metafor ``confint.rma.uni``'s ``random`` block)."""

    type: str
    level: float
    tau2: tuple[float, float, float]
    tau: tuple[float, float, float]
    I2: tuple[float, float, float]
    H2: tuple[float, float, float]
    lb_sign: str = ""
    ub_sign: str = ""
    ci_null: bool = False

    @property
    def ci_lb(self) -> float:
        return self.tau2[1]

    @property
    def ci_ub(self) -> float:
        return self.tau2[2]

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("tau2", "tau", "I2", "H2"):
            d[key] = [None if not math.isfinite(x) else x for x in d[key]]
        return d

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([self.tau2, self.tau, self.I2, self.H2], columns=["estimate", "ci_lb", "ci_ub"],
                            index=["tau^2", "tau", "I^2(%)", "H^2"])

    def summary(self) -> str:
        lines = [f"{'':8s}{'estimate':>10s}{'ci.lb':>10s}{'ci.ub':>10s}"]
        for name, vals in (("tau^2", self.tau2), ("tau", self.tau), ("I^2(%)", self.I2), ("H^2", self.H2)):
            lb = f"{self.lb_sign}{vals[1]:.4f}"
            ub = f"{self.ub_sign}{vals[2]:.4f}"
            lines.append(f"{name:8s}{vals[0]:10.4f}{lb:>10s}{ub:>10s}")
        kind = "Q-profile" if self.type == "QP" else "profile-likelihood"
        lines.append(f"({int(round(self.level * 100))}% {kind} CI)")
        return "\n".join(lines)


def _ll(result, tau2: float) -> float:
    """The fit's (RE)ML log-likelihood at a fixed τ² (β profiled out; REML with metafor's ½log|X'X|)."""
    y, v, X = np.asarray(result.yi), np.asarray(result.vi), np.asarray(result.X)
    k, p = X.shape
    w = 1.0 / (v + tau2)
    xtwx = X.T @ (w[:, None] * X)
    b = np.linalg.solve(xtwx, X.T @ (w * y))
    rss = float(np.sum(w * (y - X @ b) ** 2))
    logv = float(np.sum(np.log(v + tau2)))
    if result.method == "REML":
        return (-0.5 * (k - p) * _LOG2PI + 0.5 * np.linalg.slogdet(X.T @ X)[1] - 0.5 * logv
                - 0.5 * np.linalg.slogdet(xtwx)[1] - 0.5 * rss)
    return -0.5 * k * _LOG2PI - 0.5 * logv - 0.5 * rss


def tau2_ci(result, *, type: str = "QP", level: float | None = None, tau2_max: float | None = None) -> Tau2CI:
    """CI for τ² of a univariate model, with the implied τ, I² and H² bounds (metafor ``confint.rma.uni``).

    Parameters
    ----------
    result : UnivariateResult
        A random-effects fit (not ``method="FE"``).
    type : {"QP", "PL"}
        Q-profile (default, as metafor) or likelihood-profile (REML/ML fits only).
    level : float, optional
        Confidence level (default: the fit's).
    tau2_max : float, optional
        Upper end of the search range (default metafor's ``max(100, 10·τ̂²)``).

    Returns
    -------
    Tau2CI

    Raises
    ------
    MetaInputError
        Not a univariate random-effects fit, an unknown ``type``, or ``"PL"`` for a fit that is not REML/ML.
    """
    if not hasattr(result, "tau2") or getattr(result, "sigma2", None) is not None:
        raise MetaInputError("tau2_ci needs a univariate random-effects fit (fit_random_effects); for multilevel "
                             "models use profile_ci")
    if result.method == "FE":
        raise MetaInputError("tau2_ci: the model has no random effects (method='FE')")
    type = str(type).upper()
    if type not in ("QP", "PL"):
        raise MetaInputError(f"type must be 'QP' or 'PL' (got {type!r})")
    if type == "PL" and result.method not in ("REML", "ML"):
        raise MetaInputError(f"type='PL' needs a REML or ML fit (got method={result.method!r})")
    level = float(result.level if level is None else level)
    if not 0 < level < 1:
        raise MetaInputError(f"level must lie in (0, 1) (got {level!r})")
    alpha = 1.0 - level
    tau2_hat = float(result.tau2)
    lo = min(0.0, tau2_hat)
    hi = max(100.0, 10.0 * tau2_hat, 10.0 * lo) if tau2_max is None else float(tau2_max)
    y, v, X = np.asarray(result.yi, float), np.asarray(result.vi, float), np.asarray(result.X, float)
    k, p = X.shape
    lb_sign = ub_sign = ""
    ci_null = False
    if type == "QP":
        crit_u = float(stats.chi2.isf(alpha / 2, k - p))
        crit_l = float(stats.chi2.ppf(alpha / 2, k - p))
        keep = np.ones((2, k), dtype=bool)
        roots, status = solve_q_root(X, v, np.tile(y, (2, 1)), keep, np.array([crit_l, crit_u]),
                                     lo=lo, hi=hi)
        (ub, lb), (st_ub, st_lb) = roots, status
        if st_ub == -1:  # Q(τ²_min) < lower quantile: the interval is the null set {τ²_min}
            lb = ub = lo
            lb_sign = ub_sign = "<"
            ci_null = lo <= 0
        else:
            if st_ub == 1:
                ub, ub_sign = hi, ">"
            if st_lb == 1:
                lb = ub = hi
                lb_sign = ub_sign = ">"
            elif st_lb == -1:
                lb = lo
                lb_sign = "<" if lo > 0 else ""
    else:
        crit = float(stats.chi2.ppf(level, 1))
        ll_hat = float(result.logLik)

        def drop(t2: float) -> float:
            return -2.0 * (_ll(result, t2) - ll_hat) - crit

        if drop(lo) < 0:
            lb = lo
            lb_sign = "<" if lo > 0 else ""
        else:
            lb = float(optimize.brentq(drop, lo, tau2_hat, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))
        if drop(hi) < 0:
            ub, ub_sign = hi, ">"
        else:
            ub = float(optimize.brentq(drop, tau2_hat, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))
    vt = float(result.vt)

    def i2(t):
        return 100.0 * t / (vt + t)

    def h2(t):
        return t / vt + 1.0

    def sq(t):
        return math.sqrt(t) if t >= 0 else float("nan")

    lb, ub = float(lb), float(ub)
    return Tau2CI(
        type=type, level=level, tau2=(tau2_hat, lb, ub), tau=(sq(tau2_hat), sq(lb), sq(ub)),
        I2=(float(result.I2), i2(lb), i2(ub)), H2=(float(result.H2), h2(lb), h2(ub)),
        lb_sign=lb_sign, ub_sign=ub_sign, ci_null=ci_null,
    )
