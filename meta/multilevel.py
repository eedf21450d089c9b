"""Multilevel random-effects meta-analysis with nested random intercepts (metafor ``rma.mv``), in O(k).

``fit_multilevel(yi, vi, {"study": s, "esid": e})`` is metafor's
``rma.mv(yi, vi, random = ~ 1 | study/esid)``: REML (default) or ML estimates of one variance component per
level, GLS estimates of the fixed effects with Wald z (or t) tests, Cochran's QE, the omnibus QM, fit
statistics, multilevel I², the prediction interval, and profile-likelihood CIs / likelihood-ratio tests for
every variance component (:mod:`meta.profile_likelihood`).

Notes
-----
*Model.* ``y ~ N(Xβ, M)``, ``M = diag(v) + Σ_l σ²_l Z_l Z_l'`` where the level-``l`` grouping factor is the
combination of the ids of levels ``1..l`` (metafor's ``study/esid``).  A factor with a single level has its
σ² fixed at 0, as metafor does.

*Likelihood and estimates.* As metafor 3.8 (``.ll.rma.mv``, Viechtbauer 2010 *J Stat Softw* 36(3)):
ML and REML log-likelihoods including REML's ``+½log|X'X|`` constant, ``b = (X'WX)⁻¹X'Wy`` and
``vb = (X'WX)⁻¹`` with ``W = M⁻¹``; QE from the fixed-effects fit with ``V`` only; ``QM`` over all
coefficients except the intercept; AIC/BIC/AICc with ``p + #(estimated σ²)`` parameters, ``log(k−p)`` in
the REML BIC and ``k−p`` in the REML AICc; ML deviance relative to the saturated model.  All of it is
computed with the O(k) algebra of :mod:`meta.nested_covariance`.

*Optimisation — why not metafor's scheme.* metafor runs ``nlminb`` on ``log σ²``, which can never reach a
component that belongs at 0 (it drifts towards ``exp(−∞)`` and is then truncated at ``10·ε``).  Here the
variance components themselves are optimised on the box ``σ² ≥ 0``: projected average-information scoring
(analytic gradient and AI matrix, both O(k)), then, unless that has clearly converged, projected Newton
steps with a finite-difference Hessian of the analytic gradient, which converge quadratically to ~1e-12
relative — so all derived quantities agree with a tightly converged metafor fit to better than 1e-6, and a
component that belongs at 0 is exactly 0.  Bound-constrained L-BFGS-B is the last fallback.  Convergence is
declared from the projected gradient; otherwise :class:`~meta.errors.ConvergenceError` carries the
optimiser's message.  Starting values follow metafor: ``max(0.001·L, var(y − Xb_FE) − 1/mean(1/v)) / L``.

*Degrees of freedom.* ``test="t"`` uses ``k − p``; ``dfs="contain"`` reproduces metafor's ``.ddf.calc``:
for coefficient ``j`` the smallest number of levels among the grouping factors within every level of which
``X[:, j]`` is constant (otherwise ``k``), minus ``p``, floored at 1.  As in metafor, ``dfs="contain"``
implies ``test="t"``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from meta.errors import ConvergenceError, MetaInputError
from meta.heterogeneity import fixed_effects_q, i_squared, typical_variance
from meta.inference import Coefficient, coefficient_table, omnibus_test, prediction_interval
from meta.model_matrix import build_model_matrix, check_model_matrix
from meta.nested_covariance import Evaluation, NestedStructure
from meta.validation import check_effect_sizes, format_rows

_LOG2PI = float(np.log(2.0 * np.pi))
_EPS0 = 10.0 * np.finfo(float).eps  # metafor: sigma2 <= 10*.Machine$double.eps is set to 0


# ---------------------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MultilevelResult:
    """A fitted multilevel model (field names shared with the univariate result, ``sigma2`` for ``tau2``)."""

    k: int
    p: int
    method: str
    test: str
    level_names: tuple[str, ...]
    sigma2: tuple[float, ...]
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
    QM_p: float  # QM is metafor's: the Wald χ² for z tests, F = χ²/m on (m, min ddf) for t tests
    logLik: float
    deviance: float
    AIC: float
    BIC: float
    AICc: float
    I2_total: float
    I2_levels: tuple[float, ...]
    pred_interval: tuple[float, float] | None
    converged: bool
    n_iter: int
    optimizer_message: str
    # ---- further detail (metafor names in comments)
    coef_names: tuple[str, ...] = ()
    factor_names: tuple[str, ...] = ()  # "study", "study/esid" (metafor's factor column)
    nlevels: tuple[int, ...] = ()  # s.nlevels
    sigma2_fixed: tuple[bool, ...] = ()  # components fixed at 0 (single-level factor) or by the caller
    dfs: str = "residual"
    ddf: tuple[float, ...] | None = None  # per-coefficient df for t tests
    QM_chi2: float = float("nan")  # the Wald χ² b'vb⁻¹b (equals QM for z tests; QM = QM_chi2/m for t tests)
    QM_ddf: float | None = None
    level: float = 0.95
    ll_ML: float = float("nan")
    ll_REML: float = float("nan")
    parms: int = 0
    typical_variance: float = float("nan")
    _structure: NestedStructure | None = field(default=None, repr=False)
    _diag_w: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ accessors
    def weights(self) -> np.ndarray:
        """Weights in percent, metafor ``weights.rma.mv(type="diagonal")``: ``100·diag(W)/Σdiag(W)``."""
        w = np.asarray(self._diag_w, dtype=float)
        return 100.0 * w / w.sum()

    def fitted(self) -> np.ndarray:
        """Fitted values ``X b`` (metafor ``fitted.rma``)."""
        return self.X @ self.beta

    def residuals(self) -> np.ndarray:
        """Raw residuals ``y − X b`` (metafor ``residuals.rma``, type "response")."""
        return self.yi - self.fitted()

    @property
    def sigma(self) -> tuple[float, ...]:
        return tuple(float(np.sqrt(s)) for s in self.sigma2)

    def refit(self, **kwargs):
        """Refit the variance components on a subset and/or with some fixed (module function :func:`refit`).

        A method so that :mod:`meta.profile_likelihood` can refit without importing this module (which
        imports it for :meth:`profile_ci` and :meth:`lrt`).
        """
        return refit(self, **kwargs)

    def profile_ci(self, component: int | str = 0, *, level: float | None = None):
        """Profile-likelihood CI for one σ² (see :func:`meta.profile_likelihood.profile_ci`)."""
        from meta.profile_likelihood import profile_ci

        return profile_ci(self, component, level=level)

    def lrt(self, component: int | str = 0):
        """Likelihood-ratio test of ``σ²_component = 0`` (see :func:`meta.profile_likelihood.lrt`)."""
        from meta.profile_likelihood import lrt

        return lrt(self, component)

    # ------------------------------------------------------------------ output
    def to_frame(self) -> pd.DataFrame:
        """Coefficient table (estimate, se, z, p, ci_lb, ci_ub[, df]) indexed by coefficient name."""
        rows = [c.to_dict() for c in self.coefficients]
        df = pd.DataFrame(rows).set_index("name")
        if self.test == "z":
            df = df.drop(columns="df")
        return df

    def variance_frame(self) -> pd.DataFrame:
        """Variance components table (metafor's "Variance Components" block plus I² per level)."""
        return pd.DataFrame(
            {
                "estim": self.sigma2, "sqrt": self.sigma, "nlvls": self.nlevels,
                "fixed": ["yes" if f else "no" for f in self.sigma2_fixed], "factor": self.factor_names,
                "I2": self.I2_levels,
            },
            index=[f"sigma^2.{i + 1}" for i in range(len(self.sigma2))],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the ``blockade meta pool --json`` object)."""
        return {
            "model": "multilevel",
            "k": self.k,
            "p": self.p,
            "method": self.method,
            "test": self.test,
            "dfs": self.dfs,
            "levels": list(self.level_names),
            "coefficients": [
                {kk: vv for kk, vv in c.to_dict().items() if not (kk == "df" and vv is None)} for c in self.coefficients
            ],
            "sigma2": list(self.sigma2),
            "sigma2_fixed": list(self.sigma2_fixed),
            "nlevels": list(self.nlevels),
            "QE": self.QE, "QE_df": self.QE_df, "QE_p": self.QE_p,
            "QM": self.QM, "QM_df": self.QM_df, "QM_p": self.QM_p,
            "QM_chi2": self.QM_chi2, "QM_ddf": self.QM_ddf,
            "logLik": self.logLik, "deviance": self.deviance, "AIC": self.AIC, "BIC": self.BIC, "AICc": self.AICc,
            "I2": {"total": self.I2_total, "levels": list(self.I2_levels)},
            "pred_interval": None if self.pred_interval is None else list(self.pred_interval),
            "converged": self.converged,
            "n_iter": self.n_iter,
            "optimizer_message": self.optimizer_message,
        }

    def summary(self, digits: int = 4) -> str:
        """A metafor-like printed summary (``print.rma.mv``) with multilevel I² added."""
        d = digits

        def f(x: float) -> str:
            return f"{x:.{d}f}"

        def pval(p: float) -> str:
            return f"< .{'0' * (d - 1)}1" if p < 10.0 ** (-d) else f"= {p:.{d}f}"

        lines = [f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})", ""]
        heads = ["logLik", "Deviance", "AIC", "BIC", "AICc"]
        vals = [self.logLik, self.deviance, self.AIC, self.BIC, self.AICc]
        w = max(len(f(v)) for v in vals) + 2
        lines.append("".join(h.rjust(w) for h in heads))
        lines.append("".join(f(v).rjust(w) for v in vals))
        lines += ["", "Variance Components:", ""]
        fac_w = max(len("factor"), *(len(n) for n in self.factor_names))
        lines.append(
            " " * 10 + "estim".rjust(9) + "sqrt".rjust(9) + "nlvls".rjust(7) + "fixed".rjust(7)
            + "I2(%)".rjust(9) + "  " + "factor".rjust(fac_w)
        )
        for i, (s, n, fx, fac, i2) in enumerate(
            zip(self.sigma2, self.nlevels, self.sigma2_fixed, self.factor_names, self.I2_levels)
        ):
            lines.append(
                f"sigma^2.{i + 1}".ljust(10) + f(s).rjust(9) + f(np.sqrt(s)).rjust(9) + str(n).rjust(7)
                + ("yes" if fx else "no").rjust(7) + f"{i2:.2f}".rjust(9) + "  " + fac.rjust(fac_w)
            )
        lines += ["", f"Multilevel I^2 (total): {self.I2_total:.2f}%", ""]
        lines += ["Test for Residual Heterogeneity:" if self.p > 1 else "Test for Heterogeneity:",
                  f"QE(df = {self.QE_df}) = {f(self.QE)}, p-val {pval(self.QE_p)}", ""]
        if self.p > 1:
            if self.test == "t":
                lines += [f"Test of Moderators (coefficients 2:{self.p}):",
                          f"F(df1 = {self.QM_df}, df2 = {self.QM_ddf:g}) = {f(self.QM)}, p-val {pval(self.QM_p)}", ""]
            else:
                lines += [f"Test of Moderators (coefficients 2:{self.p}):",
                          f"QM(df = {self.QM_df}) = {f(self.QM)}, p-val {pval(self.QM_p)}", ""]
        lines += ["Model Results:", ""]
        stat = "tval" if self.test == "t" else "zval"
        cols = ["estimate", "se", stat] + (["df"] if self.test == "t" else []) + ["pval", "ci.lb", "ci.ub"]
        nw = max(len(c.name) for c in self.coefficients)
        table = []
        for c in self.coefficients:
            row = [f(c.estimate), f(c.se), f(c.z)] + ([f"{c.df:g}"] if self.test == "t" else [])
            row += [f"{c.p:.{d}f}" if c.p >= 10.0 ** (-d) else "<." + "0" * (d - 1) + "1", f(c.ci_lb), f(c.ci_ub)]
            stars = "***" if c.p < 0.001 else "**" if c.p < 0.01 else "*" if c.p < 0.05 else "." if c.p < 0.1 else ""
            table.append((c.name, row, stars))
        cw = [max(len(h), *(len(r[1][i]) for r in table)) + 2 for i, h in enumerate(cols)]
        lines.append(" " * nw + "".join(h.rjust(cw[i]) for i, h in enumerate(cols)))
        for name, row, stars in table:
            lines.append(name.ljust(nw) + "".join(v.rjust(cw[i]) for i, v in enumerate(row)) + "  " + stars)
        if self.pred_interval is not None:
            lines += ["", f"{int(round(self.level * 100))}% prediction interval: [{f(self.pred_interval[0])}, {f(self.pred_interval[1])}]"]
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        if not self.converged:
            lines.append(f"WARNING: optimiser did not converge: {self.optimizer_message}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


# ---------------------------------------------------------------------------------------------------------
# optimisation
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _OptResult:
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
) -> _OptResult:
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
        return _OptResult(s, ev(s), 0, "no free variance components", True)

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
    return _OptResult(sv, e, n_iter, message, converged)


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


# ---------------------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------------------
def _column(x: Any, data: pd.DataFrame | None, what: str) -> tuple[Any, str]:
    if isinstance(x, str):
        if data is None:
            raise MetaInputError(f"{what} given as column name {x!r} but no data table")
        if x not in data.columns:
            raise MetaInputError(f"column {x!r} not found in data")
        return data[x].to_numpy(), x
    return x, what


def parse_levels(levels: Any, data: pd.DataFrame | None, k: int) -> tuple[list[str], list[np.ndarray]]:
    """Level names and id arrays (outer → inner) from a mapping, DataFrame or list of column names."""
    if isinstance(levels, pd.DataFrame):
        items = [(str(c), levels[c].to_numpy()) for c in levels.columns]
    elif isinstance(levels, Mapping):
        items = [(str(n), ids.to_numpy() if hasattr(ids, "to_numpy") else np.asarray(ids)) for n, ids in levels.items()]
    elif isinstance(levels, str) or (isinstance(levels, Sequence) and all(isinstance(c, str) for c in levels)):
        cols = [c.strip() for c in levels.split(",")] if isinstance(levels, str) else list(levels)
        if data is None:
            raise MetaInputError("levels given as column names need a data table")
        items = []
        for c in cols:
            if c not in data.columns:
                raise MetaInputError(f"level column {c!r} not found in data")
            items.append((c, data[c].to_numpy()))
    elif isinstance(levels, Sequence) or isinstance(levels, np.ndarray):
        # a sequence of id arrays, outer → inner, named level1, level2, ...
        items = [(f"level{j + 1}", np.asarray(ids)) for j, ids in enumerate(levels)]
    else:
        raise MetaInputError("levels must be a mapping of level name to ids, a DataFrame or a list of column names")
    if not items:
        raise MetaInputError("at least one random-effect level is needed")
    names, arrays = [], []
    for name, ids in items:
        arr = np.asarray(ids)
        if arr.ndim != 1 or arr.size != k:
            raise MetaInputError(f"level column {name!r} has {arr.size} ids for {k} estimates")
        miss = pd.isna(pd.Series(arr)).to_numpy()
        if miss.any():
            raise MetaInputError(f"level column {name!r}: missing id in row(s) {format_rows(miss)}")
        names.append(name)
        # ids compared as strings when of mixed/object type, so 1 and "1" are one group (as R factors)
        if arr.dtype.kind == "O":
            arr = arr.astype(str)
        arrays.append(arr)
    return names, arrays


def contain_ddf(X: np.ndarray, struct: NestedStructure) -> np.ndarray:
    """metafor ``.ddf.calc(dfs="contain")`` for nested random intercepts."""
    k, p = X.shape
    ddf = np.full(p, float(k))
    for j in range(p):
        col = X[:, j]
        for l in range(struct.L):
            g, n = struct.codes[l], struct.n_groups[l]
            lo = np.full(n, np.inf)
            hi = np.full(n, -np.inf)
            np.minimum.at(lo, g, col)
            np.maximum.at(hi, g, col)
            if np.all(lo == hi):
                ddf[j] = min(ddf[j], n)
    ddf = ddf - p
    ddf[ddf < 1] = 1
    return ddf


# ---------------------------------------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------------------------------------
def fit_multilevel(
    yi: Any,
    vi: Any,
    levels: Any,
    X: np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    mods: str | None = None,
    data: pd.DataFrame | None = None,
    method: str = "REML",
    test: str = "z",
    dfs: str = "residual",
    level: float = 0.95,
    sigma2: Sequence[float | None] | None = None,
    start: Sequence[float] | None = None,
    yi_name: str | None = None,
    vi_name: str | None = None,
) -> MultilevelResult:
    """Fit a multilevel random-effects model with nested random intercepts (metafor ``rma.mv``).

    Parameters
    ----------
    yi, vi : array-like or str
        Effect sizes and sampling variances (or column names in ``data``).
    levels : mapping, DataFrame or list of column names
        Level name → ids, ordered outer → inner: ``{"study": s, "esid": e}`` ≡ ``random = ~ 1 | study/esid``.
    X : ndarray, optional
        Model matrix (include the intercept column yourself); ``names`` gives its column names.
    mods : str, optional
        Moderator formula evaluated on ``data`` (``"~ pubstatus"``); alternative to ``X``.
    data : DataFrame, optional
        Table with moderators (and columns named by ``yi``/``vi``/``levels`` if given as names).
    method : {"REML", "ML"}
    test : {"z", "t"}
    dfs : {"residual", "contain"}
        Degrees of freedom for t tests; ``"contain"`` implies ``test="t"`` (metafor).
    level : float
        Confidence level.
    sigma2 : sequence of float or None, optional
        Fix components at given values (``None``/NaN = estimate), metafor's ``sigma2=`` argument.
    start : sequence of float, optional
        Starting values of the free components.
    yi_name, vi_name : str, optional
        Column names used in error messages.

    Returns
    -------
    MultilevelResult

    Raises
    ------
    MetaInputError
        Bad effect sizes, variances, level ids or moderators (one line naming column and rows).
    ConvergenceError
        The optimiser did not reach a stationary point; the message carries its report.

    Notes
    -----
    See the module docstring; reference: Viechtbauer (2010); Konstantopoulos (2011, *Res Synth Methods*
    2:61–76) for the three-level model; Assink & Wibbelink (2016, *Quant Methods Psychol* 12:154–174).
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise MetaInputError(f"method {method!r} is not available for multilevel models (use REML or ML)")
    if test not in ("z", "t"):
        raise MetaInputError(f"test must be 'z' or 't' (got {test!r})")
    if dfs not in ("residual", "contain"):
        raise MetaInputError(f"dfs must be 'residual' or 'contain' (got {dfs!r})")
    if dfs == "contain":
        test = "t"
    yi_raw, yname = _column(yi, data, "yi")
    vi_raw, vname = _column(vi, data, "vi")
    y, v = check_effect_sizes(yi_raw, vi_raw, yi_name=yi_name or yname, vi_name=vi_name or vname)
    k = y.size
    lnames, ids = parse_levels(levels, data, k)
    if X is not None and mods is not None:
        raise MetaInputError("give moderators either as a formula (mods) or as a matrix (X), not both")
    if X is not None:
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[0] != k:
            raise MetaInputError(f"model matrix has {X.shape[0]} rows for {k} estimates")
        cnames = list(names) if names is not None else (
            ["intrcpt"] + [f"X{j}" for j in range(1, X.shape[1])] if np.all(X[:, 0] == 1) else [f"X{j + 1}" for j in range(X.shape[1])]
        )
        if len(cnames) != X.shape[1]:
            raise MetaInputError(f"got {len(cnames)} coefficient names for {X.shape[1]} model-matrix columns")
        check_model_matrix(X, cnames)
    else:
        if data is not None and len(data) != k and mods is not None:
            raise MetaInputError(f"data has {len(data)} rows for {k} estimates")
        X, cnames = build_model_matrix(mods, data, k)
    k, p = X.shape
    if k - p < 1:
        raise MetaInputError(f"need more estimates ({k}) than model coefficients ({p})")

    struct = NestedStructure.from_ids(ids)
    L = struct.L
    fixed = np.full(L, np.nan)
    if sigma2 is not None:
        if len(sigma2) != L:
            raise MetaInputError(f"sigma2 has {len(sigma2)} values for {L} levels")
        for j, s in enumerate(sigma2):
            if s is not None and np.isfinite(s):
                if s < 0:
                    raise MetaInputError(f"sigma2 for level {lnames[j]!r} must be >= 0")
                fixed[j] = float(s)
    single = np.array([n == 1 for n in struct.n_groups])
    fixed[single & np.isnan(fixed)] = 0.0
    reml = method == "REML"
    logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])
    opt = optimise_variance_components(
        struct, y, v, X, reml=reml, fixed=fixed,
        start=None if start is None else np.asarray(start, float), logdet_xtx=logdet_xtx,
    )
    return _assemble(
        struct, y, v, X, cnames, lnames, opt, method=method, test=test, dfs=dfs, level=level,
        fixed_mask=~np.isnan(fixed), logdet_xtx=logdet_xtx,
    )


def _assemble(
    struct: NestedStructure, y, v, X, cnames, lnames, opt: _OptResult, *, method, test, dfs, level, fixed_mask,
    logdet_xtx,
) -> MultilevelResult:
    k, p = X.shape
    s2 = opt.sigma2
    ev = struct.evaluate(s2, v, X, y, gradient=False, logdet_xtx=logdet_xtx)
    beta, vb = ev.beta, ev.vb
    if test == "t":
        ddf = contain_ddf(X, struct) if dfs == "contain" else np.full(p, float(k - p))
    else:
        ddf = None
    coefs = coefficient_table(cnames, beta, vb, test=test, df=ddf, level=level)
    has_int = bool(np.any(np.all(X == 1.0, axis=0))) and p > 1
    btt = list(range(1, p)) if has_int else list(range(p))
    om = omnibus_test(beta, vb, btt, test=test, ddf=None if ddf is None else float(np.min(ddf[btt])))
    qe, qe_df, qe_p = fixed_effects_q(y, v, X)
    ll_ml, ll_reml = ev.ll_ml, ev.ll_reml
    reml = method == "REML"
    parms = p + int(np.sum(~fixed_mask))
    if reml:
        ll = ll_reml
        dev = -2.0 * ll_reml
        n_eff = k - p
    else:
        ll = ll_ml
        ll_qe = -0.5 * k * _LOG2PI - 0.5 * float(np.sum(np.log(v)))
        dev = -2.0 * (ll_ml - ll_qe)
        n_eff = k
    aic = -2.0 * ll + 2.0 * parms
    bic = -2.0 * ll + parms * np.log(n_eff)
    m = max(n_eff, parms + 2)
    aicc = -2.0 * ll + 2.0 * parms * m / (m - parms - 1)
    i2_total, i2_levels = i_squared(v, s2, X)
    typ = typical_variance(v, X)
    int_only = p == 1 and np.all(X[:, 0] == 1.0)
    pi = None
    if int_only:
        pi = prediction_interval(
            float(beta[0]), float(np.sqrt(vb[0, 0])), float(np.sum(s2)), test=test,
            df=None if ddf is None else float(ddf[0]), level=level,
        )
    factor_names = tuple("/".join(lnames[: j + 1]) for j in range(len(lnames)))
    return MultilevelResult(
        k=k, p=p, method=method, test=test, level_names=tuple(lnames), sigma2=tuple(float(x) for x in s2),
        coefficients=coefs, beta=beta, vb=vb, yi=y, vi=v, X=X,
        QE=qe, QE_df=qe_df, QE_p=qe_p, QM=float(om.statistic), QM_df=om.df, QM_p=om.p,
        logLik=float(ll), deviance=float(dev), AIC=float(aic), BIC=float(bic), AICc=float(aicc),
        I2_total=i2_total, I2_levels=i2_levels, pred_interval=pi, converged=opt.converged, n_iter=opt.n_iter,
        optimizer_message=opt.message, coef_names=tuple(cnames), factor_names=factor_names,
        nlevels=struct.n_groups, sigma2_fixed=tuple(bool(f) for f in fixed_mask), dfs=dfs,
        ddf=None if ddf is None else tuple(float(x) for x in ddf), QM_chi2=float(om.QM),
        QM_ddf=om.ddf, level=level, ll_ML=float(ll_ml), ll_REML=float(ll_reml), parms=parms,
        typical_variance=typ, _structure=struct, _diag_w=struct.diag_inverse(s2, v),
    )


def refit(result: MultilevelResult, *, keep: np.ndarray | None = None, sigma2: Sequence[float | None] | None = None,
          start: Sequence[float] | None = None, raise_on_failure: bool = True) -> tuple[_OptResult, NestedStructure, np.ndarray, np.ndarray, np.ndarray]:
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
