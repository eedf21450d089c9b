"""Profile-likelihood confidence intervals and likelihood-ratio tests for multilevel variance components.

Notes
-----
As metafor's ``confint.rma.mv`` (Viechtbauer 2010; Hardy & Thompson 1996, *Stat Med* 15:619–629): the
bounds of the CI for ``σ²_l`` are the values where the profile log-likelihood — the (RE)ML log-likelihood
maximised over the other components with ``σ²_l`` held fixed — has dropped by ``χ²_{1,level}/2`` from its
maximum.  The lower bound is 0 when the drop at ``σ²_l = 0`` is smaller than that (including an estimate
on the boundary).  Roots are found with Brent's method to ``xtol = 1e-12`` (metafor's ``uniroot`` default
tolerance is ``ε^¼ ≈ 1.2e-4``, which is why its printed bounds are only good to about 1e-4).

The LRT of ``σ²_l = 0`` compares the fit with that component fixed at 0 to the full fit:
``LRT = 2(ll_full − ll_0)`` on 1 df, as metafor's ``anova.rma`` reports it (no χ² mixture correction for
the boundary; see Self & Liang 1987, *JASA* 82:605–610, for why the naive p-value is conservative).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from meta.errors import MetaInputError
from meta.variance_components import refit


@dataclass(frozen=True)
class ProfileCI:
    """Profile-likelihood CI of one variance component (``sigma2``) and of its square root."""

    component: int
    factor: str
    estimate: float
    ci_lb: float
    ci_ub: float
    level: float

    @property
    def sigma(self) -> tuple[float, float, float]:
        return (float(np.sqrt(self.estimate)), float(np.sqrt(self.ci_lb)), float(np.sqrt(self.ci_ub)))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LRTResult:
    """Likelihood-ratio test of ``σ²_component = 0`` (metafor ``anova(full, reduced)``)."""

    component: int
    factor: str
    LRT: float
    df: int
    p: float
    logLik_full: float
    logLik_reduced: float

    def to_dict(self) -> dict:
        return asdict(self)


def _component_index(result, component) -> int:
    L = len(result.sigma2)
    if isinstance(component, str):
        names = list(result.level_names)
        facs = list(result.factor_names)
        if component in names:
            return names.index(component)
        if component in facs:
            return facs.index(component)
        raise MetaInputError(f"unknown variance component {component!r} (levels: {', '.join(names)})")
    j = int(component)
    if not 0 <= j < L:
        raise MetaInputError(f"variance component index {j} out of range 0..{L - 1}")
    return j


def _profile_ll(result, j: int, value: float, start: np.ndarray) -> float:
    fixed = [None] * len(result.sigma2)
    fixed[j] = value
    opt, *_ = refit(result, sigma2=fixed, start=start)
    ev = opt.evaluation
    return ev.ll_reml if result.method == "REML" else ev.ll_ml


def profile_loglik(result, component: int | str, values) -> np.ndarray:
    """Profile (RE)ML log-likelihood of ``σ²_component`` at the given values (other components re-estimated)."""
    j = _component_index(result, component)
    start = np.asarray(result.sigma2, float)
    return np.array([_profile_ll(result, j, float(x), start) for x in np.atleast_1d(values)])


def profile_ci(result, component: int | str = 0, *, level: float | None = None) -> ProfileCI:
    """Profile-likelihood CI for one variance component of a :class:`~meta.multilevel.MultilevelResult`.

    Parameters
    ----------
    result : MultilevelResult
    component : int or str
        0-based index (outer → inner) or level / factor name.
    level : float, optional
        Confidence level (defaults to the fit's).
    """
    j = _component_index(result, component)
    level = result.level if level is None else level
    if result.sigma2_fixed[j]:
        raise MetaInputError(f"variance component {result.factor_names[j]!r} is fixed; it has no profile CI")
    crit = float(stats.chi2.ppf(level, 1))
    ll_hat = result.logLik
    est = float(result.sigma2[j])
    start = np.asarray(result.sigma2, float)

    def drop(x: float) -> float:
        return 2.0 * (ll_hat - _profile_ll(result, j, x, start)) - crit

    # lower bound
    if est <= 0.0 or drop(0.0) <= 0.0:
        lb = 0.0
    else:
        lb = float(optimize.brentq(drop, 0.0, est, xtol=1e-14, rtol=1e-12, maxiter=500))
    # upper bound: expand until the drop exceeds the cut-off
    hi = max(2.0 * est, 10.0 * float(np.mean(result.vi)), 1e-4)
    lo = est
    d_hi = drop(hi)
    tries = 0
    while d_hi <= 0.0 and tries < 60:
        lo, hi = hi, hi * 2.0
        d_hi = drop(hi)
        tries += 1
    if d_hi <= 0.0:
        ub = float("inf")
    else:
        ub = float(optimize.brentq(drop, lo, hi, xtol=1e-14, rtol=1e-12, maxiter=500))
    return ProfileCI(component=j, factor=result.factor_names[j], estimate=est, ci_lb=lb, ci_ub=ub, level=level)


def lrt(result, component: int | str = 0) -> LRTResult:
    """Likelihood-ratio test that one variance component is 0 (full vs reduced fit, same method)."""
    j = _component_index(result, component)
    fixed = [None] * len(result.sigma2)
    fixed[j] = 0.0
    opt, *_ = refit(result, sigma2=fixed, start=np.asarray(result.sigma2, float))
    ev = opt.evaluation
    ll0 = ev.ll_reml if result.method == "REML" else ev.ll_ml
    stat = max(0.0, 2.0 * (result.logLik - ll0))
    df = 0 if result.sigma2_fixed[j] else 1
    p = float(stats.chi2.sf(stat, df)) if df else 1.0
    return LRTResult(component=j, factor=result.factor_names[j], LRT=float(stat), df=df, p=p,
                     logLik_full=float(result.logLik), logLik_reduced=float(ll0))
