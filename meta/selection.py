"""Selection models for publication bias (metafor ``selmodel``): step-function and beta selection models.

A selection model says that a study with one-sided p-value ``p_i`` is published with relative probability
``w(p_i; δ)``; the observed estimates then have the weighted density

    f(y_i) = w(p(y_i); δ) · φ(y_i; x_i'β, v_i + τ²) / A_i,    A_i = ∫ w(p(y); δ) φ(y; x_i'β, v_i + τ²) dy,

and β, τ² and δ are estimated by maximum likelihood.  The likelihood-ratio test against the unadjusted
(ML) random-effects model asks whether selection changed the fit.

Notes
-----
This follows metafor 3.8 ``selmodel.rma.uni`` (read to match its definitions, not copied):

* **p-values** are one-sided by default (``alternative="greater"``: ``p = 1 − Φ(y/√v)``; ``"less"``:
  ``Φ(y/√v)``; ``"two.sided"``: ``2(1 − Φ(|y|/√v))``).
* **Step function** (Hedges 1992; Vevea & Hedges 1995; the *three-parameter selection model* 3PSM is the
  single cut point 0.025): cut points ``0 < s_1 < … < s_{J−1} < s_J = 1``; ``w = δ_j`` for
  ``s_{j−1} < p ≤ s_j`` with ``δ_1 = 1``.  ``A_i`` is a sum of normal probabilities between the cut points on
  the ``y`` scale (closed form).  Every interval must contain an observed p-value (metafor stops otherwise).
* **Beta** (Citkowicz & Vevea 2017): ``w = p^(δ_1−1)(1 − p)^(δ_2−1)`` with p-values truncated to
  ``[1e−5, 1 − 1e−5]``, also inside ``A_i``.  metafor integrates ``A_i`` with ``integrate()``; here the
  weight is constant outside the truncation points (normal tail probabilities) and the middle part is
  integrated by composite Gauss–Legendre quadrature on the standardised scale ``z = y/√v`` (smooth
  integrand; 24 panels × 24 nodes, plus geometrically graded panels next to p = 1 for two-sided p-values,
  checked against adaptive quadrature to 1e−10 in the tests).
* **Parametrisation and start** (metafor's defaults): the model is first refitted by ML; the optimiser
  works on ``(β, log τ², logit-type δ)`` with ``δ = lo + (hi − lo)/(1 + e^{−θ})``, bounds ``[0, 100]``
  (step function) and ``[1e−5, 100]`` (beta), starting at the ML estimates, ``log(τ² + 0.001)`` and
  ``δ = 1``.  metafor's ``optim(method = "BFGS")`` stops at ``reltol = 1e−8`` with gradients from
  ``ndeps = 1e−3`` differences, i.e. a few 1e−7 short of the maximum; here BFGS is followed by Newton
  steps on the same scale, so estimates are the maximum itself (the fixtures are generated with
  ``reltol = 1e−14`` and also record metafor's default run, which differs by < 1e−5).
* **Standard errors** come from the inverse Hessian of −log L on the natural scale ``(β, τ², δ)`` over the
  estimated parameters (metafor: ``numDeriv::hessian`` with Richardson extrapolation); here the same
  Richardson-extrapolated difference scheme (:func:`_hessian`).  Wald tests of ``δ_j = 1`` use these SEs.
* **LRT**: ``max(0, −2(ll_ML(unadjusted) − ll))`` on as many df as there are estimated δ.

References
----------
Vevea, J. L., & Hedges, L. V. (1995). A general linear model for estimating effect size in the presence of
publication bias. *Psychometrika* 60, 419–435.
Citkowicz, M., & Vevea, J. L. (2017). A parsimonious weight function for modeling publication bias.
*Psychological Methods* 22, 28–41.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw* 36(3).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import optimize, special, stats

from meta.errors import ConvergenceError, MetaInputError

__all__ = ["SelectionModelResult", "selection_model", "TYPES", "ALTERNATIVES"]

TYPES = ("stepfun", "beta")
ALTERNATIVES = ("greater", "less", "two.sided")
_BETA_PMIN = 1e-5  # metafor's pval.min for the beta model
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_PANELS = 24


def _pvalues(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(z) if alternative == "less" else special.ndtr(-z)


# ----------------------------------------------------------------------------------------- A_i: step function
def _step_bounds(v: np.ndarray, steps: np.ndarray, alternative: str) -> np.ndarray:
    """``(k, J+1)`` y-values of the cut points: interval j is between columns j and j+1 (one-sided) or, for
    two-sided tests, between ±column j and ±column j+1 (|y| decreasing)."""
    se = np.sqrt(v)[:, None]
    s = np.concatenate([[0.0], steps])  # s_0 = 0 ... s_J = 1
    if alternative == "two.sided":
        return se * special.ndtri(1 - s / 2)[None, :]  # |y|: +inf ... 0
    if alternative == "less":
        return se * special.ndtri(s)[None, :]  # -inf ... +inf
    return se * special.ndtri(1 - s)[None, :]  # +inf ... -inf


def _step_probs(bounds: np.ndarray, mu: np.ndarray, sd: np.ndarray, alternative: str) -> np.ndarray:
    """``(k, J)`` probabilities that y falls in each p-value interval under N(mu, sd²)."""
    z = (bounds - mu[:, None]) / sd[:, None]
    if alternative == "two.sided":
        zneg = (-bounds - mu[:, None]) / sd[:, None]
        upper = special.ndtr(-z[:, 1:]) - special.ndtr(-z[:, :-1])  # y in [a_j, a_{j-1})
        lower = special.ndtr(zneg[:, 1:]) - special.ndtr(zneg[:, :-1])
        return upper + lower
    if alternative == "less":
        return special.ndtr(z[:, 1:]) - special.ndtr(z[:, :-1])
    return special.ndtr(-z[:, 1:]) - special.ndtr(-z[:, :-1])


# ------------------------------------------------------------------------------------------------ A_i: beta
def _beta_weight(p: np.ndarray, delta: np.ndarray) -> np.ndarray:
    p = np.clip(p, _BETA_PMIN, 1 - _BETA_PMIN)
    return np.exp((delta[0] - 1) * np.log(p) + (delta[1] - 1) * np.log1p(-p))


def _beta_pieces(alternative: str):
    """Constant-weight tails and the smooth middle of the z = y/√v axis for the truncated beta weight.

    Returns ``(panels, constants)``: ``panels`` a list of (z_lo, z_hi) integrated by quadrature, ``constants``
    a list of (z_lo, z_hi, p) where the truncated p-value (hence the weight) is constant.
    """
    zc = special.ndtri(1 - _BETA_PMIN)
    if alternative == "two.sided":
        z_hi = special.ndtri(1 - _BETA_PMIN / 2)  # p = 1e-5 at |z| = z_hi
        z_lo = special.ndtri(1 - (1 - _BETA_PMIN) / 2)  # p = 1 - 1e-5 at |z| = z_lo
        return ([(-z_hi, -z_lo), (z_lo, z_hi)],
                [(-np.inf, -z_hi, _BETA_PMIN), (z_hi, np.inf, _BETA_PMIN), (-z_lo, z_lo, 1 - _BETA_PMIN)])
    small_p_side = (zc, np.inf) if alternative == "greater" else (-np.inf, -zc)
    large_p_side = (-np.inf, -zc) if alternative == "greater" else (zc, np.inf)
    return [(-zc, zc)], [(*small_p_side, _BETA_PMIN), (*large_p_side, 1 - _BETA_PMIN)]


def _beta_nodes(alternative: str):
    """Quadrature nodes and weights on the z scale (shared by all studies) and the constant pieces."""
    panels, constants = _beta_pieces(alternative)
    nodes, weights = [], []
    for lo, hi in panels:
        edges = np.linspace(lo, hi, _PANELS + 1)
        if alternative == "two.sided":
            # (1 − p)^(δ₂−1) with p = 2Φ(−|z|) behaves like |z|^(δ₂−1) near z = 0 (integrable, cut at |z| = z_lo):
            # panels shrink geometrically towards that end so that Gauss–Legendre keeps its accuracy
            near = lo if abs(lo) < abs(hi) else hi
            far = hi if near == lo else lo
            grid = near + (far - near) * np.concatenate([[0.0], 2.0 ** -np.arange(44, 0, -1), [1.0]])
            edges = np.unique(np.concatenate([grid, np.linspace(lo, hi, _PANELS + 1)]))
        half = np.diff(edges)[:, None] / 2
        mid = (edges[:-1] + edges[1:])[:, None] / 2
        nodes.append((mid + half * _GL_X[None, :]).ravel())
        weights.append((half * _GL_W[None, :]).ravel())
    return np.concatenate(nodes), np.concatenate(weights), constants


def _beta_norm(delta, mu, sd, sv, alternative, quad) -> np.ndarray:
    """``A_i = ∫ w(p(y)) φ(y; mu_i, sd_i²) dy`` for every study (vectorised)."""
    z, wq, constants = quad
    p = _pvalues(z, np.ones_like(z), alternative)
    wz = _beta_weight(p, delta)  # weight at each node (same for all studies on the z scale)
    y = sv[:, None] * z[None, :]
    dens = np.exp(-0.5 * ((y - mu[:, None]) / sd[:, None]) ** 2) / (np.sqrt(2 * np.pi) * sd[:, None]) * sv[:, None]
    A = dens @ (wq * wz)
    for lo, hi, pc in constants:
        wc = float(_beta_weight(np.array([pc]), delta)[0])
        a = (sv * lo - mu) / sd
        b = (sv * hi - mu) / sd
        prob = np.where(a > 0, special.ndtr(-a) - special.ndtr(-b), special.ndtr(b) - special.ndtr(a))
        A = A + wc * prob
    return A


# ------------------------------------------------------------------------------------------------ likelihood
@dataclass(frozen=True)
class _Problem:
    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    type: str
    alternative: str
    steps: np.ndarray  # stepfun: cut points including 1
    free_delta: np.ndarray  # bool per delta
    delta_lo: np.ndarray
    delta_hi: np.ndarray
    tau2_fixed: float | None  # 0 for equal-effects models
    pvals: np.ndarray
    group: np.ndarray | None  # stepfun: interval of each observed p-value (0-based)
    bounds: np.ndarray | None
    quad: tuple | None

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def loglik(self, beta: np.ndarray, tau2: float, delta: np.ndarray) -> float:
        """log L at natural-scale parameters (δ the full vector, fixed entries included)."""
        if tau2 < 10 * np.finfo(float).eps:
            tau2 = 0.0
        mu = self.X @ beta
        sd = np.sqrt(self.v + tau2)
        lphi = stats.norm.logpdf(self.y, mu, sd)
        if self.type == "stepfun":
            if np.any(delta < 0):
                return -np.inf
            A = _step_probs(self.bounds, mu, sd, self.alternative) @ delta
            with np.errstate(divide="ignore"):
                return float(np.sum(np.log(delta[self.group]) + lphi - np.log(A)))
        if np.any(delta <= 0):
            return -np.inf
        A = _beta_norm(delta, mu, sd, np.sqrt(self.v), self.alternative, self.quad)
        return float(np.sum(np.log(_beta_weight(self.pvals, delta)) + lphi - np.log(A)))

    # ------------------------------------------------------------------ optimiser scale (as metafor)
    def unpack(self, theta: np.ndarray):
        p = self.p
        beta = theta[:p]
        j = p
        if self.tau2_fixed is None:
            tau2 = math.exp(min(theta[j], 700.0))
            j += 1
        else:
            tau2 = self.tau2_fixed
        delta = np.ones(self.free_delta.size)
        nfree = int(self.free_delta.sum())
        t = theta[j:j + nfree]
        lo, hi = self.delta_lo[self.free_delta], self.delta_hi[self.free_delta]
        delta[self.free_delta] = lo + (hi - lo) * special.expit(t)
        return beta, tau2, delta

    def natural(self, theta: np.ndarray) -> np.ndarray:
        beta, tau2, delta = self.unpack(theta)
        parts = [beta]
        if self.tau2_fixed is None:
            parts.append([tau2])
        parts.append(delta[self.free_delta])
        return np.concatenate([np.asarray(q, float) for q in parts])

    def natural_loglik(self, x: np.ndarray) -> float:
        p = self.p
        beta = x[:p]
        j = p
        if self.tau2_fixed is None:
            tau2 = max(float(x[j]), 0.0)
            j += 1
        else:
            tau2 = self.tau2_fixed
        delta = np.ones(self.free_delta.size)
        delta[self.free_delta] = x[j:]
        return self.loglik(beta, tau2, delta)


def _hessian(f, x: np.ndarray, d: float = 1e-1, r: int = 6) -> np.ndarray:
    """Hessian of ``f`` at ``x`` by differences with Richardson extrapolation, the scheme of ``numDeriv::hessian``.

    Notes
    -----
    metafor's ``selmodel`` computes its standard errors with ``numDeriv::hessian(..., method.args =
    list(r = 6))`` (Gilbert & Varadhan's ``genD``): initial steps ``h = d·|x_i|`` plus ``1e−4`` where
    ``|x_i| < √(ε/7e−7)``, halved ``r − 1`` times; the diagonal from ``f(x ± h e_i)``, the off-diagonal from
    ``f(x ± h_i e_i ± h_j e_j)`` minus the diagonal terms, each sequence extrapolated (factors 4^m).  The same
    scheme is used here so that parameters on a boundary (τ² ≈ 0, where the likelihood is evaluated at τ² = 0
    for negative steps) give the same numbers as in R.
    """
    x = np.asarray(x, float)
    n = x.size
    zero_tol = math.sqrt(np.finfo(float).eps / 7e-7)
    h0 = np.abs(d * x) + 1e-4 * (np.abs(x) < zero_tol)
    f0 = f(x)

    def richardson(a: list[float]) -> float:
        a = list(a)
        for m in range(1, len(a)):
            a = [(a[i + 1] * 4**m - a[i]) / (4**m - 1) for i in range(len(a) - 1)]
        return a[0]

    diag = np.zeros(n)
    for i in range(n):
        est, h = [], h0.copy()
        for _ in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            est.append((f(x + e) - 2 * f0 + f(x - e)) / h[i] ** 2)
            h = h / 2
        diag[i] = richardson(est)
    H = np.diag(diag)
    for i in range(n):
        for j in range(i):
            est, h = [], h0.copy()
            for _ in range(r):
                e = np.zeros(n)
                e[i], e[j] = h[i], h[j]
                est.append((f(x + e) - 2 * f0 + f(x - e) - diag[i] * h[i] ** 2 - diag[j] * h[j] ** 2)
                           / (2 * h[i] * h[j]))
                h = h / 2
            H[i, j] = H[j, i] = richardson(est)
    return H


# ------------------------------------------------------------------------------------------------ result
@dataclass(frozen=True)
class SelectionModelResult:
    """A fitted selection model (metafor ``selmodel``).

    Attributes
    ----------
    type, alternative : str
        ``"stepfun"`` or ``"beta"``; the direction of the p-values.
    steps : tuple of float
        Cut points of the step function including 1 (empty for the beta model).
    names : tuple of str
        Coefficient names.
    beta, se, z, p, ci_lb, ci_ub : ndarray
        Selection-adjusted coefficients with Wald z tests and CIs (Hessian-based SEs).
    tau2, se_tau2 : float
        Between-study variance under the selection model (ML) and its SE (NaN if fixed or at 0).
    delta, se_delta, z_delta, p_delta, ci_lb_delta, ci_ub_delta : ndarray
        Selection parameters (δ_1 = 1 fixed for the step function; its SE and test NaN), Wald tests of δ = 1.
    LRT, LRT_df, LRT_p : float, int, float
        Likelihood-ratio test against the unadjusted ML model.
    logLik, logLik_unadjusted : float
    k : int
    k_per_interval : tuple of int
        Observed p-values per interval of the step function (metafor ``ptable``).
    unadjusted : UnivariateResult
        The ML random-effects (or equal-effects) model without selection.
    """

    type: str
    alternative: str
    steps: tuple[float, ...]
    names: tuple[str, ...]
    beta: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    tau2: float
    se_tau2: float
    delta: np.ndarray
    se_delta: np.ndarray
    z_delta: np.ndarray
    p_delta: np.ndarray
    ci_lb_delta: np.ndarray
    ci_ub_delta: np.ndarray
    LRT: float
    LRT_df: int
    LRT_p: float
    logLik: float
    logLik_unadjusted: float
    k: int
    level: float
    k_per_interval: tuple[int, ...] = ()
    converged: bool = True
    unadjusted: object = field(default=None, repr=False, compare=False)

    @property
    def estimate(self) -> float:
        """The adjusted intercept (the pooled effect of an intercept-only model)."""
        return float(self.beta[0])

    def to_dict(self) -> dict:
        """JSON-ready summary; ``estimate``/``se`` are the first coefficient (``blockade meta bias --selmodel``)."""
        def f(x):
            x = float(x)
            return x if math.isfinite(x) else None

        return {
            "type": self.type, "alternative": self.alternative, "steps": list(self.steps), "k": self.k,
            "estimate": f(self.beta[0]), "se": f(self.se[0]), "z": f(self.z[0]), "p": f(self.p[0]),
            "ci_lb": f(self.ci_lb[0]), "ci_ub": f(self.ci_ub[0]),
            "coefficients": [{"name": n, "estimate": f(b), "se": f(s), "z": f(z), "p": f(p), "ci_lb": f(lb),
                              "ci_ub": f(ub)} for n, b, s, z, p, lb, ub in
                             zip(self.names, self.beta, self.se, self.z, self.p, self.ci_lb, self.ci_ub)],
            "tau2": f(self.tau2), "se_tau2": f(self.se_tau2),
            "delta": [f(d) for d in self.delta], "se_delta": [f(d) for d in self.se_delta],
            "delta_p": [f(d) for d in self.p_delta],
            "LRT": f(self.LRT), "LRT_df": self.LRT_df, "LRT_p": f(self.LRT_p),
            "logLik": f(self.logLik), "logLik_unadjusted": f(self.logLik_unadjusted),
            "k_per_interval": list(self.k_per_interval), "converged": self.converged,
        }

    def to_frame(self):
        """Coefficients, τ² and δ as one table (rows ``intrcpt``…, ``tau2``, ``delta.1``…)."""
        import pandas as pd

        rows = [{"parameter": n, "estimate": b, "se": s, "z": z, "p": p, "ci_lb": lb, "ci_ub": ub}
                for n, b, s, z, p, lb, ub in zip(self.names, self.beta, self.se, self.z, self.p, self.ci_lb,
                                                 self.ci_ub)]
        rows.append({"parameter": "tau2", "estimate": self.tau2, "se": self.se_tau2, "z": np.nan, "p": np.nan,
                     "ci_lb": np.nan, "ci_ub": np.nan})
        for j in range(self.delta.size):
            rows.append({"parameter": f"delta.{j + 1}", "estimate": self.delta[j], "se": self.se_delta[j],
                         "z": self.z_delta[j], "p": self.p_delta[j], "ci_lb": self.ci_lb_delta[j],
                         "ci_ub": self.ci_ub_delta[j]})
        return pd.DataFrame(rows).set_index("parameter")

    def summary(self) -> str:
        """A printed summary laid out like metafor's ``print.rma.uni.selmodel``."""
        def num(x):
            return "NA" if not math.isfinite(x) else f"{x:.4f}"

        def pv(x):
            return "NA" if not math.isfinite(x) else "<.0001" if x < 1e-4 else f"{x:.4f}"

        kind = "Step Function" if self.type == "stepfun" else "Beta"
        fe = getattr(self.unadjusted, "method", "ML") == "FE"
        lines = [f"Equal-Effects Model (k = {self.k})" if fe else
                 f"Random-Effects Model (k = {self.k}; tau^2 estimator: ML)", "",
                 f"logLik = {self.logLik:.4f} (unadjusted: {self.logLik_unadjusted:.4f})", "",
                 *([] if fe else [f"tau^2 (estimated amount of total heterogeneity): {num(self.tau2)} "
                                  f"(SE = {num(self.se_tau2)})", ""]),
                 "Test for Selection Model Parameters:",
                 f"LRT(df = {self.LRT_df}) = {self.LRT:.4f}, p-val = {pv(self.LRT_p)}", "",
                 f"Selection Model Type: {kind}" + (f" (alternative = {self.alternative})"), ""]
        lines.append("Model Results:")
        lines.append(f"{'':12s}{'estimate':>10s} {'se':>8s} {'zval':>8s} {'pval':>8s} {'ci.lb':>8s} {'ci.ub':>8s}")
        for n, b, s, z, p, lb, ub in zip(self.names, self.beta, self.se, self.z, self.p, self.ci_lb, self.ci_ub):
            lines.append(f"{n:12s}{b:10.4f} {num(s):>8s} {num(z):>8s} {pv(p):>8s} {num(lb):>8s} {num(ub):>8s}")
        lines += ["", "Test for Selection Model Parameters (delta = 1):"]
        labels = ([f"{lo:g} < p <= {hi:g}" for lo, hi in zip((0.0, *self.steps[:-1]), self.steps)]
                  if self.type == "stepfun" else ["delta.1", "delta.2"])
        lines.append(f"{'':20s}{'k':>4s} {'estimate':>10s} {'se':>8s} {'zval':>8s} {'pval':>8s}")
        for j, lab in enumerate(labels):
            kk = f"{self.k_per_interval[j]:4d}" if self.k_per_interval else "    "
            lines.append(f"{lab:20s}{kk} {self.delta[j]:10.4f} {num(self.se_delta[j]):>8s} "
                         f"{num(self.z_delta[j]):>8s} {pv(self.p_delta[j]):>8s}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


# ------------------------------------------------------------------------------------------------ main API
def _parse_steps(steps) -> np.ndarray:
    if steps is None:
        steps = (0.025,)
    if isinstance(steps, (int, float)):
        steps = (steps,)
    s = np.asarray([float(x) for x in steps], float)
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise MetaInputError("steps: give one or more cut points between 0 and 1")
    if np.any((s <= 0) | (s > 1)):
        raise MetaInputError(f"steps: cut points must lie in (0, 1] (got {', '.join(f'{x:g}' for x in s)})")
    s = np.unique(s)
    if s[-1] != 1.0:
        s = np.append(s, 1.0)
    return s


def selection_model(model=None, vi=None, *, type: str = "stepfun", steps: Sequence[float] | float | None = None,
                    alternative: str = "greater", level: float | None = None, **fit_args) -> SelectionModelResult:
    """Fit metafor's ``selmodel()``: a step-function (3PSM by default) or beta selection model.

    Parameters
    ----------
    model : UnivariateResult or array_like or str
        A fitted :func:`meta.univariate.fit_random_effects` model (any τ² method: it is refitted by ML, as
        metafor does; ``method="FE"`` keeps τ² = 0), or the estimates ``yi`` (then ``vi`` and optionally
        ``data=``, ``mods=`` … are passed to :func:`~meta.univariate.fit_random_effects`).
    vi : array_like or str, optional
        Sampling variances when ``model`` holds the estimates.
    type : {"stepfun", "beta"}
    steps : float or sequence of float, optional
        Cut points of the step function (default ``0.025``: the three-parameter selection model); 1 is added.
        Ignored (with a warning) for the beta model.
    alternative : {"greater", "less", "two.sided"}
        Direction of the p-values that drive selection (metafor's default ``"greater"``: large positive
        effects are favoured).
    level : float, optional
        Confidence level (default: the model's).

    Returns
    -------
    SelectionModelResult

    Raises
    ------
    MetaInputError
        Unknown type or alternative, bad cut points, an interval without observed p-values (step function),
        or too few studies for the parameters.
    ConvergenceError
        The likelihood could not be maximised.
    """
    from meta.univariate import UnivariateResult, fit_random_effects

    if type not in TYPES:
        raise MetaInputError(f"selection model type must be one of {', '.join(TYPES)} (got {type!r})")
    if alternative not in ALTERNATIVES:
        raise MetaInputError(f"alternative must be one of {', '.join(ALTERNATIVES)} (got {alternative!r})")
    if isinstance(model, UnivariateResult):
        if vi is not None or fit_args:
            raise MetaInputError("give either a fitted model or yi/vi (with fit options), not both")
        fitted = model
    else:
        if model is None or vi is None:
            raise MetaInputError("selection_model needs a fitted model or yi and vi")
        fitted = fit_random_effects(model, vi, **fit_args)
    level = float(fitted.level if level is None else level)
    fe = fitted.method == "FE"
    y, v, X = np.asarray(fitted.yi, float), np.asarray(fitted.vi, float), np.asarray(fitted.X, float)
    if np.any(v <= 0):
        raise MetaInputError("selection models need positive sampling variances")
    # metafor refits the model by ML (unless FE or already ML); the unadjusted log-likelihood is that fit's
    ml = fitted if fitted.method in ("ML", "FE") else fit_random_effects(y, v, X, names=fitted.names, method="ML",
                                                                         level=level)
    ll0 = float(ml.ll_ML)
    k, p = X.shape
    pvals = _pvalues(y, v, alternative)
    if type == "stepfun":
        cut = _parse_steps(steps)
        nd = cut.size
        free = np.ones(nd, dtype=bool)
        free[0] = False
        lo, hi = np.zeros(nd), np.full(nd, 100.0)
        group = np.searchsorted(cut, pvals, side="left")  # first cut point >= p
        counts = np.bincount(group, minlength=nd)
        if np.any(counts[free] == 0):
            empty = [f"{a:g} < p <= {b:g}" for a, b, c in zip((0.0, *cut[:-1]), cut, counts) if c == 0]
            raise MetaInputError(f"selection model: no observed p-value ({alternative}) in interval(s) "
                                 f"{', '.join(empty)}; choose other --steps or --alternative")
        bounds = _step_bounds(v, cut, alternative)
        quad = None
        pv_used = pvals
    else:
        if steps is not None:
            warnings.warn("steps are ignored by the beta selection model (as metafor)", UserWarning, stacklevel=2)
        cut = np.array([])
        nd = 2
        free = np.ones(2, dtype=bool)
        lo, hi = np.full(2, 1e-5), np.full(2, 100.0)
        group, bounds, counts = None, None, np.array([], dtype=int)
        quad = _beta_nodes(alternative)
        pv_used = np.clip(pvals, _BETA_PMIN, 1 - _BETA_PMIN)
    nfree = int(free.sum())
    if k < p + (0 if fe else 1) + nfree:
        raise MetaInputError(f"too few studies (k = {k}) for the selection model's {p + (0 if fe else 1) + nfree} "
                             "parameters")
    prob = _Problem(y=y, v=v, X=X, type=type, alternative=alternative, steps=cut, free_delta=free, delta_lo=lo,
                    delta_hi=hi, tau2_fixed=0.0 if fe else None, pvals=pv_used, group=group, bounds=bounds,
                    quad=quad)

    def negll(theta):
        val = -prob.loglik(*prob.unpack(theta))
        return val if math.isfinite(val) else 1e300

    d0 = np.ones(nd)[free]
    theta0 = np.concatenate([np.asarray(ml.beta, float), [] if fe else [math.log(ml.tau2 + 0.001)],
                             np.log((d0 - lo[free]) / (hi[free] - d0))])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        opt = optimize.minimize(negll, theta0, method="BFGS", jac="3-point", options={"gtol": 1e-9, "maxiter": 2000})
        theta = opt.x
        # Newton polish on the optimiser scale: BFGS with finite-difference gradients stops a little short
        for _ in range(20):
            g = _central_grad(negll, theta)
            Ht = _hessian(negll, theta, d=1e-2, r=4)
            try:
                step = np.linalg.solve(Ht, g)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(Ht) <= 0):
                break
            t = 1.0
            f_old = negll(theta)
            while t > 1e-4 and negll(theta - t * step) > f_old + 1e-12 * abs(f_old):
                t /= 2
            if t <= 1e-4:
                break
            theta = theta - t * step
            if np.max(np.abs(t * step)) < 1e-10:
                break
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        grad = _central_grad(negll, theta)
    converged = bool(np.all(np.isfinite(theta)) and np.max(np.abs(grad)) < 1e-3)
    if not converged:
        warnings.warn(f"selection model: the optimiser stopped with a gradient of {np.max(np.abs(grad)):.3g}; the "
                      "estimates may not be the maximum", RuntimeWarning, stacklevel=2)
    beta, tau2, delta = prob.unpack(theta)
    if tau2 < 10 * np.finfo(float).eps:
        tau2 = 0.0
    ll = prob.loglik(beta, tau2, delta)
    if not math.isfinite(ll):
        raise ConvergenceError("selection model: the likelihood could not be maximised")
    if np.any(delta[free] <= lo[free] + np.finfo(float).eps ** 0.25) or np.any(
            delta[free] >= hi[free] - 100 * np.finfo(float).eps ** 0.25):
        warnings.warn("one or more delta estimates are (almost) at their bound (0/1e-5 or 100); treat the "
                      "selection model with caution (as metafor)", RuntimeWarning, stacklevel=2)

    # Hessian on the natural scale (beta, tau2, free deltas), as metafor
    x_nat = prob.natural(theta)
    if not fe:
        x_nat[p] = tau2
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        H = _hessian(lambda x: -prob.natural_loglik(x), x_nat)
    n_par = x_nat.size
    cov = np.full((n_par, n_par), np.nan)
    try:
        L = np.linalg.cholesky(H)
        Li = np.linalg.inv(L)
        cov = Li.T @ Li
    except np.linalg.LinAlgError:
        warnings.warn("the Hessian of the selection model could not be inverted; standard errors are NaN "
                      "(as metafor)", RuntimeWarning, stacklevel=2)
    vb = cov[:p, :p]
    se = np.sqrt(np.diag(vb))
    se_tau2 = float("nan") if fe else float(math.sqrt(cov[p, p])) if math.isfinite(cov[p, p]) else float("nan")
    off = p + (0 if fe else 1)
    se_delta = np.full(nd, np.nan)
    se_delta[free] = np.sqrt(np.diag(cov[off:, off:]))
    crit = stats.norm.isf((1 - level) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / se
        z_delta = (delta - 1.0) / se_delta
    pz = 2 * stats.norm.sf(np.abs(z))
    p_delta = 2 * stats.norm.sf(np.abs(z_delta))
    lb_d = np.maximum(delta - crit * se_delta, 0.0)
    ub_d = delta + crit * se_delta
    lrt = max(0.0, -2 * (ll0 - ll))
    lrt_p = float(stats.chi2.sf(lrt, nfree)) if nfree > 0 else float("nan")
    return SelectionModelResult(
        type=type, alternative=alternative, steps=tuple(float(s) for s in cut), names=tuple(fitted.names),
        beta=np.asarray(beta, float), se=se, z=z, p=pz, ci_lb=beta - crit * se, ci_ub=beta + crit * se,
        tau2=float(tau2), se_tau2=se_tau2, delta=delta, se_delta=se_delta, z_delta=z_delta, p_delta=p_delta,
        ci_lb_delta=lb_d, ci_ub_delta=ub_d, LRT=float(lrt), LRT_df=nfree, LRT_p=lrt_p, logLik=float(ll),
        logLik_unadjusted=ll0, k=k, level=level, k_per_interval=tuple(int(c) for c in counts),
        converged=converged, unadjusted=ml,
    )


def _central_grad(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (-f(x + 2 * e) + 8 * f(x + e) - 8 * f(x - e) + f(x - 2 * e)) / (12 * h)
    return g
