"""Wald tests of coefficients and linear contrasts, and likelihood-ratio tests of nested models (metafor ``anova.rma``).

* :func:`wald_test` — ``anova(fit, btt = ...)``: the Wald test that a subset of coefficients is zero; and
  ``anova(fit, X = ...)``: tests of linear combinations ``Xβ`` row by row plus their omnibus test.
* :func:`lrt` — ``anova(full, reduced)``: the likelihood-ratio test of two nested models fitted to the same
  data, with both models' fit statistics.
* :func:`anova` — one entry point that dispatches like metafor's.

Notes
-----
As metafor 3.8 ``anova.rma`` (Viechtbauer 2010, *J Stat Softw* 36(3)):

*Wald (btt).* ``QM = b_S' vb_SS⁻¹ b_S`` for the coefficients ``S``; χ²(m) for z tests; for t-type tests
(``"t"``, ``"knha"``, ``"adhoc"``) ``F = QM/m`` on ``(m, df₂)`` with the model's own denominator df (``k − p``,
or for ``dfs = "contain"`` the df of the model's omnibus test, metafor's ``x$QMdf[2]``).

*Wald (X).* For each row ``x_j``: ``x_j'b`` with ``se = √(x_j' vb x_j)``, z or t tests — t on ``k − p`` df, or
with per-coefficient df (``dfs = "contain"``) on the smallest df of the coefficients with ``x_j ≠ 0``;
the omnibus test ``(Xb)'(X vb X')⁻¹(Xb)`` when ``X`` has full row rank (χ²(m), or F on
``(m, min df)``).  An intercept model's ``X`` may leave out the intercept column (it is then 1).

*Cluster-robust results* (:func:`meta.cluster_robust.robust`) use the robust ``vb``: CR1 with ``n − p`` df, CR2 with
Satterthwaite df per row and clubSandwich's HTZ omnibus test.

*LRT.* ``LRT = dev_reduced − dev_full`` (floored at 0) on ``parms_full − parms_reduced`` df, with REML
deviances when the full model is REML and ML deviances otherwise; the models must have the same ``yi`` and
``vi``, differ in their number of parameters, not mix ML with REML, and (stricter than metafor, which only
warns) REML comparisons need identical fixed effects — the REML likelihoods of models with different
``X`` are not comparable (Welham & Thompson 1997, *JRSS B* 59:701–714).  Univariate results also report
metafor's pseudo-R² (the proportional reduction of τ²).
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
from meta.inference import contrast_matrix, parse_btt

__all__ = ["WaldTest", "LRTComparison", "wald_test", "lrt", "anova"]

_LOG2PI = math.log(2 * math.pi)


def _clean(x):
    """JSON-ready: arrays and tuples of numbers → lists, NaN/inf → None."""
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_clean(v) for v in np.asarray(x, dtype=float).ravel().tolist()]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def _names(result) -> tuple[str, ...]:
    return tuple(c.name for c in result.coefficients)


def _is_robust(result) -> bool:
    return hasattr(result, "contrast_df") and hasattr(result, "vcov_type")


def _tested_df(result) -> float | None:
    """metafor's ``x$QMdf[2]``: the denominator df of the model's own omnibus test (None for z tests)."""
    if result.test == "z":
        return None
    qm_ddf = getattr(result, "QM_ddf", None)
    if qm_ddf is not None and np.isfinite(qm_ddf):
        return float(qm_ddf)
    return float(result.k - result.p)


def _row_df(result, C: np.ndarray) -> np.ndarray | None:
    if result.test == "z":
        return None
    if _is_robust(result):
        return np.asarray(result.contrast_df(C), float)
    ddf = getattr(result, "ddf", None)
    d = np.atleast_1d(np.asarray(float(result.k - result.p) if ddf is None else ddf, float))
    if d.size == 1:
        return np.full(C.shape[0], float(d[0]))
    return np.where(C != 0, d[None, :], np.inf).min(axis=1)


# ------------------------------------------------------------------------------------------------ Wald
@dataclass(frozen=True, eq=False)
class WaldTest(ResultDisplay):
    """Wald test of coefficients (``btt``) or of linear combinations (``X``), metafor ``anova(fit, ...)``.

    Attributes
    ----------
    QM, QM_df, QM_ddf, QM_p : float, int, float or None, float
        Omnibus statistic: χ² (``QM_ddf`` None) or F on ``(QM_df, QM_ddf)`` (t-type and robust tests).
        NaN when the rows of ``X`` are linearly dependent.
    btt : tuple of int or None
        1-based coefficients tested.
    X : ndarray or None
        Linear combinations tested (one per row), with ``estimate``, ``se``, ``stat``, ``p`` and ``ddf`` per
        row.
    """

    test: str
    QM: float
    QM_df: int
    QM_ddf: float | None
    QM_p: float
    btt: tuple[int, ...] | None = None
    names: tuple[str, ...] = ()
    X: np.ndarray | None = None
    rhs: np.ndarray | None = None
    estimate: np.ndarray | None = None
    se: np.ndarray | None = None
    stat: np.ndarray | None = None
    p: np.ndarray | None = None
    ddf: np.ndarray | None = None
    delta: float = 1.0  # HTZ scaling of cluster-robust CR2 tests

    def hypotheses(self) -> list[str]:
        """metafor-style text of each tested linear combination (``"deltypegeneral - deltypeovert = 0"``)."""
        if self.X is None:
            return [f"{self.names[i - 1]} = 0" for i in self.btt]
        out = []
        for row, r in zip(self.X, self.rhs):
            terms = []
            for c, n in zip(row, self.names):
                if c == 0:
                    continue
                coef = "" if abs(c) == 1 else f"{abs(c):g}*"
                terms.append(("- " if c < 0 else "+ ") + coef + n)
            text = " ".join(terms).lstrip("+ ")
            out.append(f"{text} = {r:g}")
        return out

    def to_frame(self):
        import pandas as pd

        if self.X is None:
            return pd.DataFrame({"QM": [self.QM], "df1": [self.QM_df], "df2": [self.QM_ddf], "p": [self.QM_p]})
        cols = {"hypothesis": self.hypotheses(), "estimate": self.estimate, "se": self.se, "stat": self.stat,
                "p": self.p}
        if self.ddf is not None:
            cols["df"] = self.ddf
        return pd.DataFrame(cols, index=pd.RangeIndex(1, self.estimate.size + 1))

    def to_dict(self) -> dict:
        out = {"test": self.test, "QM": _clean(self.QM), "QM_df": self.QM_df, "QM_ddf": _clean(self.QM_ddf),
               "QM_p": _clean(self.QM_p), "btt": None if self.btt is None else list(self.btt)}
        if self.X is not None:
            out.update(X=np.asarray(self.X).tolist(), rhs=_clean(self.rhs), hypotheses=self.hypotheses(),
                       estimate=_clean(self.estimate), se=_clean(self.se), stat=_clean(self.stat), p=_clean(self.p),
                       df=None if self.ddf is None else _clean(self.ddf))
        return out

    def summary(self) -> str:
        lines = []
        if self.X is not None:
            stat = "zval" if self.ddf is None else "tval"
            hyp = self.hypotheses()
            w = max(len(h) for h in hyp) + 4
            lines.append(f"{'Hypotheses:':{w}s}{'estimate':>10s} {'se':>8s} {stat:>8s}"
                         + (f" {'df':>6s}" if self.ddf is not None else "") + f" {'pval':>8s}")
            for j, h in enumerate(hyp):
                dfc = f" {self.ddf[j]:6.4g}" if self.ddf is not None else ""
                lines.append(f"{f'{j + 1}: {h}':{w}s}{self.estimate[j]:10.4f} {self.se[j]:8.4f} "
                             f"{self.stat[j]:8.4f}{dfc} {self.p[j]:8.4f}")
            lines.append("")
            head = "Omnibus Test of Hypotheses:"
        else:
            head = f"Test of Moderators (coefficient(s) {', '.join(str(b) for b in self.btt)}):"
        lines.append(head)
        if not math.isfinite(self.QM):
            lines.append("(not computed: the hypotheses are linearly dependent)")
        elif self.QM_ddf is None:
            lines.append(f"QM(df = {self.QM_df}) = {self.QM:.4f}, p-val = {self.QM_p:.4g}")
        else:
            lines.append(f"F(df1 = {self.QM_df}, df2 = {self.QM_ddf:.4g}) = {self.QM:.4f}, p-val = {self.QM_p:.4g}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


def wald_test(result, btt: int | str | Sequence[int | str] | None = None, *, X=None,
              rhs: float | Sequence[float] = 0.0) -> WaldTest:
    """Wald test that coefficients ``btt`` are zero, or tests of linear combinations ``X β = rhs`` (metafor ``anova``).

    Parameters
    ----------
    result : UnivariateResult, MultilevelResult or RobustResult
    btt : int, str or sequence, optional
        Coefficients to test, **1-based** (``btt=[2, 3]``) or by name (a name also matches as a substring,
        as metafor's ``btt``: ``"deltype"`` selects every ``deltype`` dummy).  Default: every coefficient but
        the intercept (the model's QM).
    X : array_like, optional
        Linear combinations to test, one per row (``q × p``; an intercept model's ``X`` may omit the intercept
        column).  Give either ``btt`` or ``X``.
    rhs : float or sequence of float
        Hypothesised values (default 0): ``b_btt = rhs`` or ``X b = rhs``.

    Returns
    -------
    WaldTest

    Raises
    ------
    MetaInputError
        Both ``btt`` and ``X``, coefficient numbers out of range, unknown names, a wrong number of ``X``
        columns or of ``rhs`` values.

    Notes
    -----
    See the module docstring.  For cluster-robust CR2 results ``rhs`` must be 0 (clubSandwich tests
    ``Cβ = 0``).
    """
    if btt is not None and X is not None:
        raise MetaInputError("give either btt or X, not both")
    names = _names(result)
    p = len(names)
    beta = np.asarray(result.beta, float)
    vb = np.asarray(result.vb, float)
    robust = _is_robust(result)
    if X is None:
        Xm = np.asarray(getattr(result, "X"), float)
        has_int = bool(np.all(Xm[:, 0] == 1.0)) and p > 1
        default = tuple(range(1, p)) if has_int else tuple(range(p))
        idx = parse_btt(btt, p, names, default)
        m = len(idx)
        r = np.broadcast_to(np.asarray(rhs, float), (m,)) if np.size(rhs) in (1, m) else None
        if r is None:
            raise MetaInputError(f"rhs: {np.size(rhs)} values for {m} tested coefficient(s)")
        if robust:
            if np.any(r != 0) and result.vcov_type == "CR2":
                raise MetaInputError("rhs: cluster-robust CR2 tests are of coefficients equal to 0")
            if np.any(r != 0):
                d = beta[list(idx)] - r
                sub = vb[np.ix_(idx, idx)]
                F = float(d @ np.linalg.solve(sub, d)) / m
                df2 = float(result.n_clusters - result.p)
                return WaldTest(test=result.test, QM=F, QM_df=m, QM_ddf=df2, QM_p=float(stats.f.sf(F, m, df2)),
                                btt=tuple(i + 1 for i in idx), names=names)
            w = result.wald_test(btt=[i + 1 for i in idx])
            return WaldTest(test=result.test, QM=max(0.0, w.F), QM_df=w.df1, QM_ddf=w.df2, QM_p=w.p,
                            btt=tuple(i + 1 for i in idx), names=names, delta=w.delta)
        d = beta[list(idx)] - r
        sub = vb[np.ix_(idx, idx)]
        qm = float(d @ np.linalg.solve(sub, d))
        df2 = _tested_df(result)
        if df2 is None:
            return WaldTest(test=result.test, QM=qm, QM_df=m, QM_ddf=None, QM_p=float(stats.chi2.sf(qm, m)),
                            btt=tuple(i + 1 for i in idx), names=names)
        F = qm / m
        return WaldTest(test=result.test, QM=F, QM_df=m, QM_ddf=df2, QM_p=float(stats.f.sf(F, m, df2)),
                        btt=tuple(i + 1 for i in idx), names=names)
    C = contrast_matrix(X, p, names)
    q = C.shape[0]
    if np.size(rhs) not in (1, q):
        raise MetaInputError(f"rhs: {np.size(rhs)} values for {q} linear combination(s)")
    r = np.broadcast_to(np.asarray(rhs, float), (q,)).copy()
    if robust and result.vcov_type == "CR2" and np.any(r != 0):
        raise MetaInputError("rhs: cluster-robust CR2 tests are of combinations equal to 0")
    est = C @ beta - r
    V = C @ vb @ C.T
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    ddf = _row_df(result, C)
    pv = 2 * stats.norm.sf(np.abs(stat)) if ddf is None else 2 * stats.t.sf(np.abs(stat), ddf)
    qm, qm_ddf, qm_p, delta = float("nan"), None, float("nan"), 1.0
    if np.linalg.matrix_rank(C) == q:
        if robust:
            w = result.wald_test(X=C) if not np.any(r != 0) else None
            if w is not None:
                qm, qm_ddf, qm_p, delta = max(0.0, w.F), w.df2, w.p, w.delta
            else:  # CR1 with a non-zero rhs
                qm = float(est @ np.linalg.solve(V, est)) / q
                qm_ddf = float(result.n_clusters - result.p)
                qm_p = float(stats.f.sf(qm, q, qm_ddf))
        else:
            qm = float(est @ np.linalg.solve(V, est))
            if ddf is None:
                qm_p = float(stats.chi2.sf(qm, q))
            else:
                qm /= q
                qm_ddf = float(np.min(ddf))
                qm_p = float(stats.f.sf(qm, q, qm_ddf)) if qm_ddf > 0 else float("nan")
    return WaldTest(test=result.test, QM=qm, QM_df=q, QM_ddf=qm_ddf, QM_p=qm_p, names=names, X=C, rhs=r,
                    estimate=est, se=se, stat=stat, p=pv, ddf=ddf, delta=delta)


# ------------------------------------------------------------------------------------------------ LRT
@dataclass(frozen=True, eq=False)
class LRTComparison(ResultDisplay):
    """Likelihood-ratio test of a reduced against a full model (metafor ``anova(full, reduced)``).

    ``fit_full``/``fit_reduced`` hold ``logLik, deviance, AIC, BIC, AICc`` of the likelihood compared (REML
    when the full model is REML, ML otherwise).  ``tau2``/``R2`` (pseudo-R², percent) are for univariate
    models, ``sigma2`` for multilevel ones.
    """

    method: str
    LRT: float
    df: int
    p: float
    parms_full: int
    parms_reduced: int
    fit_full: dict
    fit_reduced: dict
    QE_full: float
    QE_reduced: float
    tau2_full: float | None = None
    tau2_reduced: float | None = None
    R2: float | None = None
    sigma2_full: tuple[float, ...] | None = None
    sigma2_reduced: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        return {k: (_clean(v) if not isinstance(v, dict) else {kk: _clean(vv) for kk, vv in v.items()})
                for k, v in self.__dict__.items()}

    def to_frame(self):
        import pandas as pd

        rows = {"Full": {"df": self.parms_full, **self.fit_full, "LRT": None, "pval": None, "QE": self.QE_full},
                "Reduced": {"df": self.parms_reduced, **self.fit_reduced, "LRT": self.LRT, "pval": self.p,
                            "QE": self.QE_reduced}}
        frame = pd.DataFrame(rows).T
        if self.tau2_full is not None:
            frame["tau^2"] = [self.tau2_full, self.tau2_reduced]
            frame["R^2"] = [None, self.R2]
        return frame

    def summary(self) -> str:
        head = f"{'':8s}{'df':>4s}{'AIC':>10s}{'BIC':>10s}{'AICc':>10s}{'logLik':>10s}{'LRT':>9s}{'pval':>9s}{'QE':>10s}"
        f, r = self.fit_full, self.fit_reduced
        lines = [head,
                 f"{'Full':8s}{self.parms_full:4d}{f['AIC']:10.4f}{f['BIC']:10.4f}{f['AICc']:10.4f}"
                 f"{f['logLik']:10.4f}{'':9s}{'':9s}{self.QE_full:10.4f}",
                 f"{'Reduced':8s}{self.parms_reduced:4d}{r['AIC']:10.4f}{r['BIC']:10.4f}{r['AICc']:10.4f}"
                 f"{r['logLik']:10.4f}{self.LRT:9.4f}{self.p:9.4f}{self.QE_reduced:10.4f}"]
        if self.R2 is not None:
            lines.append(f"(pseudo-R^2 = {self.R2:.2f}%; {self.method} likelihoods)")
        else:
            lines.append(f"({self.method} likelihoods)")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


def _fit_stats(result, kind: str) -> dict:
    """``logLik, deviance, AIC, BIC, AICc`` of the ML or REML likelihood (metafor ``fit.stats``)."""
    k, p = int(result.k), int(result.p)
    parms = int(result.parms)
    if kind == "REML":
        ll = float(result.ll_REML)
        dev = -2.0 * ll
        n = k - p
    else:
        ll = float(result.ll_ML)
        v = np.asarray(result.vi, float)
        ll_sat = -0.5 * k * _LOG2PI - 0.5 * float(np.sum(np.log(v)))
        dev = -2.0 * (ll - ll_sat) if k > p else 0.0
        n = k
    big = max(n, parms + 2)
    return {"logLik": ll, "deviance": dev, "AIC": -2 * ll + 2 * parms, "BIC": -2 * ll + parms * math.log(n),
            "AICc": -2 * ll + 2 * parms * big / (big - parms - 1)}


def lrt(full, reduced) -> LRTComparison:
    """Likelihood-ratio test between two nested models fitted to the same data (metafor ``anova(full, reduced)``).

    Parameters
    ----------
    full, reduced : UnivariateResult or MultilevelResult
        Two fits of the same kind to the same ``yi``/``vi``; their order does not matter (the one with more
        parameters is the full model).

    Returns
    -------
    LRTComparison

    Raises
    ------
    MetaInputError
        Different kinds of model or data, the same number of parameters, ML mixed with REML, an equal-effects
        full model with a random-effects reduced model, or REML fits with different fixed effects (refit
        both with ``method="ML"``).

    Notes
    -----
    See the module docstring.  Fits by other estimators (DL, PM, ...) are compared with their ML likelihood
    and a warning, as metafor does.
    """
    for r in (full, reduced):
        if _is_robust(r) or not hasattr(r, "ll_ML"):
            raise MetaInputError("lrt needs two model fits (fit_random_effects or fit_multilevel results)")
    if type(full) is not type(reduced):
        raise MetaInputError("lrt: both models must be of the same kind (univariate or multilevel)")
    if int(full.parms) == int(reduced.parms):
        raise MetaInputError(f"lrt: both models have {full.parms} parameters; a likelihood-ratio test needs "
                             "nested models with different numbers of parameters")
    if full.parms < reduced.parms:
        full, reduced = reduced, full
    y_f, y_r = np.asarray(full.yi), np.asarray(reduced.yi)
    if y_f.shape != y_r.shape or not (np.array_equal(y_f, y_r) and np.array_equal(np.asarray(full.vi),
                                                                                  np.asarray(reduced.vi))):
        raise MetaInputError("lrt: the models were fitted to different data (yi/vi differ; check omitted rows)")
    fe = ("FE",)
    if full.method in fe and reduced.method not in fe:
        raise MetaInputError("lrt: the full model is an equal-effects (FE) model and the reduced one a "
                             "random-effects model")
    if {full.method, reduced.method} == {"ML", "REML"}:
        raise MetaInputError(f"lrt: the full model uses {full.method} and the reduced model {reduced.method}; "
                             "fit both with the same method")
    ok = {"FE", "ML", "REML"}
    if full.method not in ok or reduced.method not in ok:
        warnings.warn("LRTs should be based on ML/REML estimation (as metafor warns).", UserWarning, stacklevel=2)
    if full.method == "REML":
        X_f, X_r = np.asarray(full.X), np.asarray(reduced.X)
        if X_f.shape != X_r.shape or not np.array_equal(X_f, X_r):
            raise MetaInputError("lrt: REML likelihoods of models with different fixed effects are not "
                                 "comparable; refit both models with method='ML'")
    kind = "REML" if full.method == "REML" else "ML"
    fs_f, fs_r = _fit_stats(full, kind), _fit_stats(reduced, kind)
    stat = max(0.0, fs_r["deviance"] - fs_f["deviance"])
    df = int(full.parms) - int(reduced.parms)
    out = dict(method=kind, LRT=stat, df=df, p=float(stats.chi2.sf(stat, df)), parms_full=int(full.parms),
               parms_reduced=int(reduced.parms), fit_full=fs_f, fit_reduced=fs_r, QE_full=float(full.QE),
               QE_reduced=float(reduced.QE))
    if hasattr(full, "tau2") and getattr(full, "_structure", None) is None:
        if full.method in fe:
            s2_f = full.QE / (full.k - full.p)
            s2_r = reduced.QE / (reduced.k - reduced.p)
            r2 = 100 * max(0.0, (s2_r - s2_f) / s2_r)
        elif reduced.tau2 == 0:
            r2 = 0.0
        else:
            r2 = 100 * max(0.0, (reduced.tau2 - full.tau2) / reduced.tau2)
        out.update(tau2_full=float(full.tau2), tau2_reduced=float(reduced.tau2), R2=float(r2))
    else:
        out.update(sigma2_full=tuple(full.sigma2), sigma2_reduced=tuple(reduced.sigma2))
    return LRTComparison(**out)


def anova(result, other: Any = None, *, btt=None, X=None, rhs=0.0):
    """metafor's ``anova``: :func:`lrt` when given two models, otherwise :func:`wald_test` (``btt`` or ``X``)."""
    if other is not None:
        if btt is not None or X is not None:
            raise MetaInputError("give a second model (likelihood-ratio test) or btt/X (Wald test), not both")
        return lrt(result, other)
    return wald_test(result, btt, X=X, rhs=rhs)
