"""Maximum-likelihood estimation of nested variance components, shared by fits, refits and profiles.

:func:`optimise_variance_components` maximises the ML or REML log-likelihood of the nested random-intercept
model (:mod:`meta.nested_covariance`) over ``σ² ≥ 0``; :func:`refit` re-estimates the components of a fitted
multilevel result on a subset of rows or with components held fixed.  Both live below
:mod:`meta.multilevel`, :mod:`meta.profile_likelihood` and :mod:`meta.diagnostics`, which all import them, so
no two modules of :mod:`meta` import each other.

Notes
-----
*Why not metafor's scheme.* metafor runs ``nlminb`` on ``log σ²``, which can never reach a component that
belongs at 0 (it drifts towards ``exp(−∞)`` and is then truncated at ``10·ε``).  Here the variance
components themselves are optimised on the box ``σ² ≥ 0``: projected average-information scoring (analytic
gradient and AI matrix, both O(k); Gilmour, Thompson & Cullis 1995, *Biometrics* 51:1440–1450), then, unless
that has clearly converged, projected Newton steps with a finite-difference Hessian of the analytic gradient,
which converge quadratically to ~1e-12 relative.  Bound-constrained L-BFGS-B is the last fallback.
Convergence is declared from the projected gradient; otherwise :class:`~meta.errors.ConvergenceError`
carries the optimisers' messages.  Starting values follow metafor ``rma.mv``:
``max(0.001·L, var(y − Xb_FE) − 1/mean(1/v)) / L``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import optimize

from meta.errors import ConvergenceError
from meta.nested_covariance import Evaluation, NestedStructure

__all__ = ["OptResult", "optimise_variance_components", "default_start", "refit"]

_EPS0 = 10.0 * np.finfo(float).eps  # metafor: sigma2 <= 10*.Machine$double.eps is set to 0


@dataclass
class OptResult:
    """Result of :func:`optimise_variance_components`: components, evaluation there, iterations, report."""

    sigma2: np.ndarray
    evaluation: Evaluation
    n_iter: int
    message: str
    converged: bool


def _ll_grad(ev: Evaluation, reml: bool) -> tuple[float, np.ndarray]:
    return (ev.ll_reml, ev.gradient_reml) if reml else (ev.ll_ml, ev.gradient_ml)


def optimise_variance_components(
    struct: NestedStructure,
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    *,
    reml: bool,
    fixed: np.ndarray | None = None,
    start: np.ndarray | None = None,
    logdet_xtx: float | None = None,
    raise_on_failure: bool = True,
) -> OptResult:
    """Maximise the (RE)ML log-likelihood over ``σ² ≥ 0`` (NaN in ``fixed`` = free component).

    Notes
    -----
    Projected Newton ascent on the box ``σ² ≥ 0`` (analytic gradient, forward-difference Hessian of it,
    Levenberg shift when not negative definite, step halving), which converges quadratically and lands
    exactly on the boundary; if that does not reach a stationary point, L-BFGS-B on the same box followed by
    another Newton polish.  A component at 0 is active when the gradient there points outwards
    (``∂ll/∂σ² ≤ 0``).
    """
    L = struct.L
    if not struct.contiguous:  # evaluations are permutation invariant; contiguous groups are faster
        order = struct.sort_order()
        struct = struct.permuted(order)
        y, v, X = y[order], v[order], X[order]
    if logdet_xtx is None:
        logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])
    fixed = np.full(L, np.nan) if fixed is None else np.asarray(fixed, dtype=float)
    free = np.isnan(fixed)
    if start is None:
        start = default_start(y, v, X, L)
    s = np.where(free, np.maximum(np.asarray(start, float), 0.0), fixed)
    x_cols = [np.ascontiguousarray(X[:, c]) for c in range(X.shape[1])]
    sum_log_v = float(np.sum(np.log(v)))
    y = np.ascontiguousarray(y)
    v = np.ascontiguousarray(v)

    def ev(sv: np.ndarray, ai: bool = False) -> Evaluation:
        return struct.evaluate(sv, v, X, y, gradient=True, logdet_xtx=logdet_xtx, sum_log_v=sum_log_v,
                               x_cols=x_cols, average_information=ai)

    if not free.any():
        return OptResult(s, ev(s), 0, "no free variance components", True)

    sv, e, ll, g, n_ai, done = _projected_scoring(ev, s, free, reml)
    message = f"average-information scoring: {n_ai} iteration(s)"
    n_iter = n_ai
    if not done:
        sv, e, ll, g, n_newton = _projected_newton(ev, sv, free, reml)
        message += f"; projected Newton: {n_newton} iteration(s)"
        n_iter += n_newton
    if not _is_converged(sv, e, g, ll, free):
        # fall back to bound-constrained quasi-Newton from the start, then polish again

        def fun(theta: np.ndarray):
            cand = s.copy()
            cand[free] = theta
            ec = ev(cand)
            llc, gc = _ll_grad(ec, reml)
            if not np.isfinite(llc):
                return np.inf, np.zeros(theta.size)
            return -llc, -gc[free]

        try:
            res = optimize.minimize(
                fun, s[free], jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * int(free.sum()),
                options={"maxiter": 5000, "ftol": 1e-12, "gtol": 1e-10, "maxcor": 10},
            )
            lb = s.copy()
            lb[free] = np.maximum(res.x, 0.0)
            sv2, e2, ll2, g2, n2 = _projected_newton(ev, lb, free, reml)
            message += f"; L-BFGS-B: {res.message} ({res.nit} iterations); projected Newton polish: {n2} iteration(s)"
            n_iter += int(res.nit) + n2
            if np.isfinite(ll2) and (not np.isfinite(ll) or ll2 >= ll):
                sv, e, ll, g = sv2, e2, ll2, g2
        except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
            message += f"; L-BFGS-B failed: {' '.join(str(exc).split())}"
    # metafor truncates tiny components to exactly 0
    tiny = free & (sv <= _EPS0) & (sv > 0)
    if tiny.any():
        sv[tiny] = 0.0
        e = ev(sv)
        ll, g = _ll_grad(e, reml)
    pg = np.where(sv > 0, np.abs(g), np.maximum(g, 0.0))[free]
    converged = _is_converged(sv, e, g, ll, free)
    message = f"{message}; max projected gradient {float(np.max(pg)):.3g}"
    if not converged and raise_on_failure:
        raise ConvergenceError(f"variance components did not converge ({message})")
    return OptResult(sv, e, n_iter, message, converged)


def _is_converged(sv, e: Evaluation, g, ll, free) -> bool:
    """Projected gradient ≤ 1e-6 × the size of its terms (½|tr| + ½|quadratic form|), finite likelihood."""
    if not np.isfinite(ll) or g is None or not np.all(np.isfinite(g)):
        return False
    pg = np.where(sv > 0, np.abs(g), np.maximum(g, 0.0))[free]
    scale = np.maximum(e.grad_scale[free], 1.0)
    return bool(np.all(pg <= 1e-6 * scale))


def _projected_line_search(ev, sv: np.ndarray, fr: np.ndarray, delta: np.ndarray, ll: float, reml: bool):
    """Step halving along ``delta`` (on the free components ``fr``), projected onto ``σ² ≥ 0``.

    Accepts the first step length ``t = 1, ½, ¼, …`` (at most 50 halvings) whose log-likelihood is finite
    and not lower than ``ll`` (to a relative 1e-13).  Returns ``(σ², evaluation, ll, gradient, t)``, or
    ``None`` when no step gives an ascent.  Shared by :func:`_projected_scoring` and
    :func:`_projected_newton`.
    """
    t = 1.0
    for _ in range(50):
        cand = sv.copy()
        cand[fr] = np.maximum(sv[fr] + t * delta, 0.0)
        e_c = ev(cand)
        ll_c, g_c = _ll_grad(e_c, reml)
        if np.isfinite(ll_c) and ll_c >= ll - 1e-13 * (1.0 + abs(ll)):
            return cand, e_c, ll_c, g_c, t
        t *= 0.5
    return None


def _projected_scoring(ev, sv: np.ndarray, free: np.ndarray, reml: bool, max_iter: int = 200):
    """Projected average-information (AI) scoring on ``σ² ≥ 0``: ``Δ = AI⁻¹ g`` with step halving.

    AI-REML (Gilmour, Thompson & Cullis 1995) costs about 1.6 likelihood evaluations per iteration and, for
    all but tiny data sets, converges nearly as fast as Newton's method.  Returns
    ``(σ², evaluation, ll, gradient, iterations, done)``; ``done`` is False when the caller should polish with
    :func:`_projected_newton` (AI not positive definite, no ascent, or slow linear convergence, i.e. the
    last step is not ≤ 1e-11·(1 + max σ²) with a contraction rate below ½).
    """
    sv = sv.copy()
    e = ev(sv, True)
    ll, g = _ll_grad(e, reml)
    if not np.isfinite(ll):
        return sv, e, ll, g, 0, False
    prev = None
    it = 0
    for it in range(1, max_iter + 1):
        active = free & (sv <= 0.0) & (g <= 0.0)
        fr = np.flatnonzero(free & ~active)
        if fr.size == 0:
            return sv, e, ll, g, it, True
        A = (e.ai_reml if reml else e.ai_ml)[np.ix_(fr, fr)]
        if not np.all(np.isfinite(A)):
            return sv, e, ll, g, it, False
        eig = np.linalg.eigvalsh(A)
        if eig.min() <= 1e-12 * max(float(eig.max()), 0.0):
            return sv, e, ll, g, it, False
        delta = np.linalg.solve(A, g[fr])
        found = _projected_line_search(lambda c: ev(c, True), sv, fr, delta, ll, reml)
        if found is None:
            return sv, e, ll, g, it, False
        cand, e_c, ll_c, g_c, _ = found
        step = float(np.max(np.abs(cand - sv)))
        rate = step / prev if prev else 1.0
        prev = step
        sv, e, ll, g = cand, e_c, ll_c, g_c
        tol = 1e-11 * (1.0 + float(np.max(sv)))
        if step <= tol:
            return sv, e, ll, g, it, bool(step == 0.0 or rate < 0.5)
    return sv, e, ll, g, it, False


def _projected_newton(ev, sv: np.ndarray, free: np.ndarray, reml: bool, max_iter: int = 200):
    """Projected Newton ascent on ``σ² ≥ 0`` with a forward-difference Hessian of the analytic gradient.

    Components at 0 whose gradient points outwards are held (active set); a Hessian that is not negative
    definite is shifted (Levenberg–Marquardt) so the step is an ascent direction; steps are halved until the
    log-likelihood does not decrease.  Stops when a full Newton step changes no component by more than
    ``1e-9·(1 + max σ²)`` (quadratic convergence leaves an error of order 1e-18), any step by more than
    ``1e-14·(1 + max σ²)``, or no ascent is possible.  Returns ``(σ², evaluation, ll, gradient, iterations)``.
    """
    sv = sv.copy()
    e = ev(sv)
    ll, g = _ll_grad(e, reml)
    if not np.isfinite(ll):
        return sv, e, ll, g, 0
    it = 0
    for it in range(1, max_iter + 1):
        active = free & (sv <= 0.0) & (g <= 0.0)
        fr = np.flatnonzero(free & ~active)
        if fr.size == 0:
            break
        H = np.empty((fr.size, fr.size))
        for a, i in enumerate(fr):
            h = 1e-6 * max(sv[i], 1e-3)
            up = sv.copy()
            up[i] += h
            H[:, a] = (_ll_grad(ev(up), reml)[1][fr] - g[fr]) / h
        H = 0.5 * (H + H.T)
        if not np.all(np.isfinite(H)):
            break
        eig = np.linalg.eigvalsh(H)
        big = float(np.max(np.abs(eig))) or 1.0
        if eig.max() > -1e-10 * big:
            H = H - (eig.max() + 1e-3 * big) * np.eye(fr.size)
        delta = -np.linalg.solve(H, g[fr])
        found = _projected_line_search(ev, sv, fr, delta, ll, reml)
        if found is None:
            break
        cand, e_c, ll_c, g_c, t = found
        step = float(np.max(np.abs(cand - sv)))
        full_newton = t == 1.0 and np.all(cand[fr] > 0.0)
        sv, e, ll, g = cand, e_c, ll_c, g_c
        # a full Newton step of relative size δ leaves an error O(δ²): stop once δ ≤ 1e-9
        if step <= 1e-14 * (1.0 + float(np.max(sv))) or (full_newton and step <= 1e-9 * (1.0 + float(np.max(sv)))):
            break
    return sv, e, ll, g, it


def default_start(y: np.ndarray, v: np.ndarray, X: np.ndarray, L: int) -> np.ndarray:
    """metafor's starting values: ``max(0.001·L, var(y − X b_FE) − 1/mean(1/v)) / L`` for every level."""
    w = 1.0 / v
    b = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * y))
    total = max(0.001 * L, float(np.var(y - X @ b, ddof=1)) - 1.0 / float(np.mean(w)))
    return np.full(L, total / L)



def refit(result, *, keep: np.ndarray | None = None, sigma2: Sequence[float | None] | None = None,
          start: Sequence[float] | None = None, raise_on_failure: bool = True) -> tuple[OptResult, NestedStructure, np.ndarray, np.ndarray, np.ndarray]:
    """Refit the variance components of ``result`` on a subset (``keep``) and/or with components fixed.

    Returns ``(opt, structure, y, v, X)`` of the refit; used by profile likelihood, LRTs and influence.
    Components fixed in the original fit (single-level factors) stay fixed at 0.
    """
    struct = result._structure
    y, v, X = result.yi, result.vi, result.X
    if keep is not None:
        struct = struct.subset(keep)
        y, v, X = y[keep], v[keep], X[keep]
    fixed = np.full(struct.L, np.nan)
    orig_fixed = np.array(result.sigma2_fixed)
    fixed[orig_fixed] = np.asarray(result.sigma2)[orig_fixed]
    single = np.array([n == 1 for n in struct.n_groups])
    fixed[single & np.isnan(fixed)] = 0.0
    if sigma2 is not None:
        for j, s in enumerate(sigma2):
            if s is not None and np.isfinite(s):
                fixed[j] = float(s)
    opt = optimise_variance_components(
        struct, y, v, X, reml=result.method == "REML", fixed=fixed,
        start=None if start is None else np.asarray(start, float), raise_on_failure=raise_on_failure,
    )
    return opt, struct, y, v, X
