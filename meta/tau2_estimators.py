"""The τ² estimators of metafor's ``rma.uni``, batched over row subsets (one fit, or every leave-one-out refit).

Each estimator works on a stack of ``n`` row subsets of one data set at once: subset ``u`` keeps the rows
where ``keep[u]`` is true (``keep`` of shape ``(n, k)``; a single fit is ``n = 1``).  A dropped row simply gets
weight 0 in every weighted cross-product, so the ``n`` fits cost ``n`` times one fit with no Python loop over
subsets — this is what makes leave-one-out, Cook's distances and studentised residuals of ``rma.uni``
(:mod:`meta.diagnostics`) both vectorised and *exactly* metafor's: every refit starts where metafor's starts,
takes the same steps and stops by the same rule.

Notes
-----
Following metafor 3.8 ``rma.uni`` (Viechtbauer 2005, *J Educ Behav Stat* 30:261–293; Viechtbauer 2010,
*J Stat Softw* 36(3)), with ``y`` centred on the subset mean (metafor's ``Ymc``), ``W = diag(w)``,
``P = W − WX(X'WX)⁻¹X'W`` and ``Q(τ²) = y'P y`` with ``w = 1/(v + τ²)``:

* ``FE``: τ² = 0.
* ``DL`` (DerSimonian & Laird 1986): ``max(0, (Q(0) − (k−p))/tr P(0))``.
* ``HS`` (Hunter & Schmidt 2004): ``max(0, (Q(0) − k)/Σ(1/v))``.
* ``HE`` (Hedges 1983): ``max(0, (RSS_OLS − tr(P_OLS V))/(k−p))``; also the starting value of ML/REML.
* ``SJ`` (Sidik & Jonkman 2005): ``τ²₀·Q(τ²₀)/(k−p)`` with ``τ²₀ = Σ(y−ȳ)²/k``.
* ``ML``/``REML``: Fisher scoring from the HE estimate, ``τ² += (y'PPy − Σw)/Σw²`` (ML) or
  ``(y'PPy − tr P)/tr PP`` (REML), halving a step while it would make τ² negative, until the change is
  ≤ ``threshold`` (1e-5) or after ``maxiter`` (100) iterations; then metafor's ``ll0check``: τ² = 0 if the
  log-likelihood there is higher by more than ``ε^¼`` while τ² > ``threshold``.  A subset whose full steps
  do not converge is retried with step lengths 0.5 and 0.25 (metafor's remedy ``control=list(stepadj=...)``).
* ``PM`` (Paule & Mandel 1982) and ``EB`` (Morris 1983): the root of ``Q(τ²) = k − p`` (0 when ``Q(0) < k−p``).
  metafor finds PM's root with ``uniroot(tol = ε^¼)`` and iterates EB's equivalent fixed point
  ``τ² += (Q·k/(k−p) − k)/Σw`` until the change is ≤ 1e-5; both stop up to ~1e-4 short.  Here the root is
  solved exactly (safeguarded Newton on the bracket, ``dQ/dτ² = −y'PPy``), which is what metafor reports
  with ``control = list(tol = 1e-12, threshold = 1e-14)``.
* Standard errors of τ² are metafor's, estimator by estimator (see :func:`estimate_tau2`).

Traces of products of ``P`` with diagonal matrices come from ``p × p`` cross-products only:
``tr(P D₁ P D₂) = Σw²d₁d₂ − 2 tr(S X'diag(w³d₁d₂)X) + tr(S A₁ S A₂)`` with ``S = (X'WX)⁻¹`` and
``A_j = X'diag(w²d_j)X``, so nothing ``k × k`` is ever formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["METHODS", "Tau2Batch", "estimate_tau2", "generalised_q", "solve_q_root", "ll_check"]

METHODS = ("REML", "ML", "DL", "FE", "PM", "SJ", "HE", "EB", "HS")

# metafor rma.uni control defaults
THRESHOLD = 1e-5
MAXITER = 100
TOL = float(np.finfo(float).eps ** 0.25)
#: step lengths tried in turn when full Fisher-scoring steps oscillate; the first is metafor's default
STEPADJ = (1.0, 0.5, 0.25)
_LOG2PI = math.log(2 * math.pi)
#: number of subsets evaluated together (bounds the (n, k) work arrays to ~4 million elements)
_CHUNK_ELEMENTS = 1 << 22


# ------------------------------------------------------------------------------------------ batched algebra
def _cross(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``X' diag(w_u) X`` for every row ``u`` of ``w`` (shape ``(n, p, p)``), as one matrix product.

    ``w (n × k)`` times the ``k × p²`` matrix of column products ``x_ia x_ib`` — a single BLAS call rather
    than ``n`` small ones.
    """
    k, p = X.shape
    xx = (X[:, :, None] * X[:, None, :]).reshape(k, p * p)
    return (np.atleast_2d(w) @ xx).reshape(w.shape[:-1] + (p, p))


def _inv(a: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(a)
    return 0.5 * (inv + np.swapaxes(inv, -1, -2))


def _tr(a: np.ndarray) -> np.ndarray:
    return np.trace(a, axis1=-2, axis2=-1)


@dataclass
class _PTerms:
    """Pieces of ``P = W − WX(X'WX)⁻¹X'W`` for a batch of weight vectors (never forming ``P``)."""

    w: np.ndarray  # (n, k)
    S: np.ndarray  # (X'WX)^-1, (n, p, p)
    b: np.ndarray  # WLS coefficients of y, (n, p)
    py: np.ndarray  # P y, (n, k)
    ypy: np.ndarray  # y'Py, (n,)
    trp: np.ndarray  # tr P, (n,)

    def trace_pdpd(self, X: np.ndarray, d1: np.ndarray | None, d2: np.ndarray | None) -> np.ndarray:
        """``tr(P D₁ P D₂)`` for diagonal ``D₁ = diag(d1)``, ``D₂ = diag(d2)`` (``None`` = identity)."""
        w = self.w
        one = np.ones(w.shape[-1])
        d1 = one if d1 is None else d1
        d2 = one if d2 is None else d2
        a1 = _cross(X, w * w * d1)
        a2 = a1 if d2 is d1 else _cross(X, w * w * d2)
        a3 = _cross(X, w**3 * d1 * d2)
        return (np.sum(w * w * d1 * d2, axis=-1) - 2.0 * _tr(self.S @ a3)
                + _tr(self.S @ a1 @ self.S @ a2))


def _pterms(X: np.ndarray, w: np.ndarray, y: np.ndarray) -> _PTerms:
    S = _inv(_cross(X, w))
    b = np.einsum("npq,nq->np", S, (w * y) @ X)
    py = w * (y - b @ X.T)
    ypy = np.sum(y * py, axis=-1)
    trp = np.sum(w, axis=-1) - _tr(S @ _cross(X, w * w))
    return _PTerms(w=w, S=S, b=b, py=py, ypy=ypy, trp=trp)


def _centre(y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``y`` minus its mean over each subset (metafor's ``Ymc``); dropped rows are irrelevant (weight 0)."""
    kk = keep.sum(axis=-1)
    mean = (keep * y).sum(axis=-1) / kk
    return y[None, :] - mean[:, None]


def generalised_q(X: np.ndarray, v: np.ndarray, y: np.ndarray, keep: np.ndarray, tau2: np.ndarray) -> _PTerms:
    """P-terms at ``τ²`` per subset: ``Q(τ²) = y'P y`` is ``.ypy`` (``y`` of shape ``(n, k)``)."""
    w = keep / (v[None, :] + np.asarray(tau2, float)[:, None])
    return _pterms(X, w, y)


def ll_check(X, v, ymc, keep, tau2, method) -> np.ndarray:
    """metafor's ``ll0check`` log-likelihood (ML, or REML without the ``½log|X'X|`` constant) per subset."""
    k_u = keep.sum(axis=-1)
    p = X.shape[1]
    w = keep / (v[None, :] + tau2[:, None])
    pt = _pterms(X, w, ymc)
    logv = np.sum(np.where(keep, np.log(v[None, :] + tau2[:, None]), 0.0), axis=-1)
    if method == "ML":
        return -0.5 * k_u * _LOG2PI - 0.5 * logv - 0.5 * pt.ypy
    logdet = np.linalg.slogdet(_cross(X, w))[1]
    return -0.5 * (k_u - p) * _LOG2PI - 0.5 * logv - 0.5 * logdet - 0.5 * pt.ypy


# ------------------------------------------------------------------------------------------ root of Q(τ²) = c
def solve_q_root(X, v, y, keep, target, lo=None, hi=None, *, max_iter: int = 500):
    """Exact root of ``Q(τ²) = target`` per subset on ``[lo, hi]`` (safeguarded Newton; ``Q`` decreases in τ²).

    Returns ``(root, status)``: status 0 = root found, −1 = ``Q(lo) < target`` (root below the bracket;
    ``root = lo``), +1 = ``Q(hi) > target`` (root above ``hi``; ``root = hi``).  ``hi=None`` expands the
    bracket by doubling until ``Q(hi) < target``.

    Notes
    -----
    ``dQ/dτ² = −y'PPy = −‖Py‖²`` (from ``dP/dτ² = −PP``).  Newton steps that leave the current bracket are
    replaced by bisection; iteration stops when a step changes τ² by at most ``4ε·τ²`` or the bracket is that
    narrow, i.e. at the floating-point root.
    """
    n = keep.shape[0]
    target = np.broadcast_to(np.asarray(target, float), (n,)).copy()
    lo = np.zeros(n) if lo is None else np.broadcast_to(np.asarray(lo, float), (n,)).copy()
    f_lo = generalised_q(X, v, y, keep, lo).ypy - target
    status = np.zeros(n, dtype=int)
    status[f_lo < 0] = -1
    root = lo.copy()
    todo = status == 0
    todo &= f_lo != 0
    if hi is None:
        hi = np.maximum(np.maximum(lo, 0.0) * 2.0, 1.0)
        expand = True
    else:
        hi = np.broadcast_to(np.asarray(hi, float), (n,)).copy()
        expand = False
    f_hi = np.full(n, -1.0)
    if todo.any():
        idx = np.flatnonzero(todo)
        f_hi[idx] = generalised_q(X, v, y[idx], keep[idx], hi[idx]).ypy - target[idx]
        if expand:
            for _ in range(200):
                up = idx[f_hi[idx] > 0]
                if up.size == 0:
                    break
                hi[up] *= 4.0
                f_hi[up] = generalised_q(X, v, y[up], keep[up], hi[up]).ypy - target[up]
        above = todo & (f_hi > 0)
        status[above] = 1
        root[above] = hi[above]
        todo &= ~above
        exact_hi = todo & (f_hi == 0)
        root[exact_hi] = hi[exact_hi]
        todo &= ~exact_hi
    a, b = lo.copy(), hi.copy()
    x = 0.5 * (a + b)
    for _ in range(max_iter):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        pt = generalised_q(X, v, y[idx], keep[idx], x[idx])
        f = pt.ypy - target[idx]
        df = -np.sum(pt.py * pt.py, axis=-1)
        xi = x[idx]
        pos = f > 0
        a[idx] = np.where(pos, xi, a[idx])
        b[idx] = np.where(pos, b[idx], xi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xi - f / df
        inside = np.isfinite(newton) & (newton > a[idx]) & (newton < b[idx])
        nxt = np.where(inside, newton, 0.5 * (a[idx] + b[idx]))
        tol = 4.0 * np.finfo(float).eps * np.maximum(np.abs(nxt), np.finfo(float).tiny)
        done = (f == 0) | (np.abs(nxt - xi) <= tol) | (b[idx] - a[idx] <= tol)
        x[idx] = np.where(f == 0, xi, nxt)
        root[idx[done]] = x[idx[done]]
        todo[idx[done]] = False
    root[todo] = x[todo]
    return root, status


# ------------------------------------------------------------------------------------------ the estimators
@dataclass
class Tau2Batch:
    """τ² per subset with its standard error and the iteration record (metafor ``rma.uni`` fields)."""

    tau2: np.ndarray
    se: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    change: np.ndarray  # last change of a Fisher-scoring iteration (NaN for non-iterative estimators)
    stepadj: np.ndarray  # step length that converged (1 = metafor's default)
    ll0_reset: np.ndarray  # τ² set to 0 by metafor's ll0check


def _he(X, v, ymc, keep):
    """Hedges' estimator (untruncated) and the OLS P-terms it uses."""
    pt = _pterms(X, keep.astype(float), ymc)
    k_u = keep.sum(axis=-1)
    p = X.shape[1]
    tr_pv = np.sum(keep * v, axis=-1) - _tr(pt.S @ _cross(X, keep * v))
    return (pt.ypy - tr_pv) / (k_u - p), pt, tr_pv


def _fisher(X, v, ymc, keep, method, start, stepadj, threshold, maxiter):
    n = keep.shape[0]
    tau2 = start.astype(float).copy()
    change = np.full(n, threshold + 1.0)
    it = np.zeros(n, dtype=int)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t = tau2[idx]
        pt = generalised_q(X, v, ymc[idx], keep[idx], t)
        if method == "ML":
            adj = (np.sum(pt.py**2, axis=-1) - np.sum(pt.w, axis=-1)) / np.sum(pt.w**2, axis=-1)
        else:  # REML
            trpp = pt.trace_pdpd(X, None, None)
            adj = (np.sum(pt.py**2, axis=-1) - pt.trp) / trpp
        adj = adj * stepadj
        adj[~np.isfinite(adj)] = 0.0
        adj[(t == 0.0) & (adj < 0)] = 0.0  # halving a negative step at τ² = 0 ends at −0 (metafor's loop)
        neg = t + adj < 0
        while neg.any():
            adj[neg] /= 2.0
            neg = t + adj < 0
        new = t + adj
        change[idx] = np.abs(t - new)
        tau2[idx] = new
        it[idx] += 1
        stop = (change[idx] <= threshold) | (it[idx] > maxiter)
        active[idx[stop]] = False
    return tau2, it, change


def estimate_tau2(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    keep: np.ndarray | None = None,
    method: str = "REML",
    *,
    tau2_init: float | np.ndarray | None = None,
    threshold: float = THRESHOLD,
    maxiter: int = MAXITER,
) -> Tau2Batch:
    """τ² exactly as metafor 3.8 ``rma.uni(method=...)``, for one fit or a stack of row subsets.

    Parameters
    ----------
    y, v : ndarray, shape (k,)
        Estimates and sampling variances.
    X : ndarray, shape (k, p)
        Model matrix.
    keep : ndarray of bool, shape (n, k), optional
        Rows of each subset (default: one subset with every row).
    method : {"REML", "ML", "DL", "FE", "PM", "SJ", "HE", "EB", "HS"}
    tau2_init : float or ndarray, optional
        Starting value(s) for ML/REML (default: the HE estimate floored at 0, as metafor).
    threshold, maxiter : float, int
        Fisher-scoring stopping rule (metafor's ``control`` defaults 1e-5 and 100).

    Returns
    -------
    Tau2Batch

    Notes
    -----
    See the module docstring for the estimators.  Standard errors (metafor ``se.tau2``):
    ML ``√(2/Σw²)``; REML ``√(2/tr PP)``; DL ``√((2(k−p) + 4τ² tr P + 2τ⁴ tr PP))/tr P`` with FE weights;
    HS the same with ``Σ(1/v)`` in place of ``tr P``; HE ``√(2 tr(PVPV) + 4τ² tr(PV) + 2τ⁴(k−p))/(k−p)``
    with the OLS ``P``; SJ ``τ²₀√(2 tr(PVPV) + 4τ² tr(PVP) + 2τ⁴ tr PP)/(k−p)`` with ``P`` at ``τ²₀``;
    PM and EB ``√(2k²/(k−p))/Σw``.
    """
    y = np.asarray(y, float)
    v = np.asarray(v, float)
    X = np.asarray(X, float)
    k, p = X.shape
    if keep is None:
        keep = np.ones((1, k), dtype=bool)
    keep = np.asarray(keep, dtype=bool)
    n = keep.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(k, 1))
    if n > chunk:
        parts = [estimate_tau2(y, v, X, keep[s:s + chunk], method,
                               tau2_init=None if tau2_init is None or np.ndim(tau2_init) == 0 else
                               np.asarray(tau2_init)[s:s + chunk] if tau2_init is not None else None,
                               threshold=threshold, maxiter=maxiter)
                 for s in range(0, n, chunk)]
        return Tau2Batch(*(np.concatenate([getattr(b, f) for b in parts]) for f in Tau2Batch.__dataclass_fields__))
    k_u = keep.sum(axis=-1).astype(float)
    ymc = _centre(y, keep)
    nan = np.full(n, np.nan)
    ones = np.ones(n)
    no = np.zeros(n, dtype=bool)
    zero_it = np.zeros(n, dtype=int)
    yes = np.ones(n, dtype=bool)

    if method == "FE":
        return Tau2Batch(np.zeros(n), nan, zero_it, yes, nan, ones, no)
    if method in ("DL", "HS"):
        pt = generalised_q(X, v, ymc, keep, np.zeros(n))
        trpp = pt.trace_pdpd(X, None, None)
        if method == "DL":
            tau2 = np.maximum(0.0, (pt.ypy - (k_u - p)) / pt.trp)
            se = np.sqrt((2 * (k_u - p) + 4 * tau2 * pt.trp + 2 * tau2**2 * trpp) / pt.trp**2)
        else:
            sw = np.sum(pt.w, axis=-1)
            tau2 = np.maximum(0.0, (pt.ypy - k_u) / sw)
            se = np.sqrt((2 * (k_u - p) + 4 * tau2 * pt.trp + 2 * tau2**2 * trpp) / sw**2)
        return Tau2Batch(tau2, se, zero_it, yes, nan, ones, no)
    if method == "HE":
        raw, pt, tr_pv = _he(X, v, ymc, keep)
        tau2 = np.maximum(0.0, raw)
        vv = np.broadcast_to(v, keep.shape)
        trpvpv = pt.trace_pdpd(X, vv, vv)
        se = np.sqrt((2 * trpvpv + 4 * tau2 * tr_pv + 2 * tau2**2 * (k_u - p)) / (k_u - p) ** 2)
        return Tau2Batch(tau2, se, zero_it, yes, nan, ones, no)
    if method == "SJ":
        t0 = np.sum(keep * ymc**2, axis=-1) / k_u  # var(y)·(k−1)/k
        pt = generalised_q(X, v, ymc, keep, t0)
        tau2 = np.maximum(0.0, t0 * pt.ypy / (k_u - p))
        vv = np.broadcast_to(v, keep.shape)
        se = t0 * np.sqrt(2 * pt.trace_pdpd(X, vv, vv) + 4 * tau2 * pt.trace_pdpd(X, vv, None)
                          + 2 * tau2**2 * pt.trace_pdpd(X, None, None)) / (k_u - p)
        return Tau2Batch(tau2, se, zero_it, yes, nan, ones, no)
    if method in ("PM", "EB"):
        tau2, _ = solve_q_root(X, v, ymc, keep, k_u - p)
        tau2 = np.maximum(tau2, 0.0)
        w = keep / (v[None, :] + tau2[:, None])
        se = np.sqrt(2 * k_u**2 / (k_u - p)) / np.sum(w, axis=-1)
        return Tau2Batch(tau2, se, zero_it, yes, nan, ones, no)
    if method not in ("ML", "REML"):
        raise ValueError(f"unknown tau^2 estimator {method!r}")

    if tau2_init is None:
        start = np.maximum(0.0, _he(X, v, ymc, keep)[0])
    else:
        start = np.broadcast_to(np.asarray(tau2_init, float), (n,)).copy()
    tau2 = np.full(n, np.nan)
    it = np.zeros(n, dtype=int)
    change = np.full(n, np.inf)
    used = np.full(n, np.nan)
    todo = np.ones(n, dtype=bool)
    for step in STEPADJ:
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        t_s, it_s, ch_s = _fisher(X, v, ymc[idx], keep[idx], method, start[idx], step, threshold, maxiter)
        ok = ch_s <= threshold
        first = np.isnan(tau2[idx])
        # keep the first attempt's record for subsets that never converge
        upd = ok | first
        tau2[idx[upd]], it[idx[upd]], change[idx[upd]] = t_s[upd], it_s[upd], ch_s[upd]
        used[idx[ok]] = step
        todo[idx[ok]] = False
    converged = change <= threshold
    # metafor's ll0check: tau^2 = 0 if the likelihood there is higher
    reset = np.zeros(n, dtype=bool)
    chk = np.flatnonzero(converged & (tau2 > threshold))
    if chk.size:
        ll0 = ll_check(X, v, ymc[chk], keep[chk], np.zeros(chk.size), method)
        ll1 = ll_check(X, v, ymc[chk], keep[chk], tau2[chk], method)
        r = ll0 - ll1 > TOL
        reset[chk[r]] = True
        tau2[chk[r]] = 0.0
    tau2 = np.maximum(0.0, tau2)
    pt = generalised_q(X, v, ymc, keep, tau2)
    if method == "ML":
        se = np.sqrt(2.0 / np.sum(pt.w**2, axis=-1))
    else:
        se = np.sqrt(2.0 / pt.trace_pdpd(X, None, None))
    return Tau2Batch(tau2, se, it, converged, change, used, reset)
