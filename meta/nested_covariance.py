"""O(k) linear algebra for nested random-intercept covariance matrices.

The marginal covariance of a multilevel meta-analysis with nested random intercepts is

.. math:: M = \\operatorname{diag}(v) + \\sum_{l=1}^{L} \\sigma^2_l Z_l Z_l',

where ``Z_l`` is the indicator matrix of the level-``l`` grouping factor (the combination of the ids of
levels ``1..l``, as metafor forms ``~ 1 | study/esid``).  Because the groups are nested, ``M`` is
block-diagonal by top-level cluster and every level only adds ``σ²_l 11'`` to each of its group blocks.

Notes
-----
Write ``M_(j) = diag(v) + Σ_{l ≥ j} σ²_l Z_l Z_l'`` (block-diagonal by level-``j`` groups) and
``e_j = M_(j)⁻¹ 1``.  For a level-``j`` group ``h`` with ``A_h = 1_h' M_(j+1)⁻¹ 1_h`` the
Sherman–Morrison formula gives, group by group,

* ``M_(j)⁻¹ = M_(j+1)⁻¹ − σ²_j/(1 + σ²_j A_h) · (M_(j+1)⁻¹ 1_h)(1_h' M_(j+1)⁻¹)``,
* ``e_j = e_(j+1) / (1 + σ²_j A_h)`` element-wise,
* ``log|M_(j)| = log|M_(j+1)| + Σ_h log(1 + σ²_j A_h)``,

so ``M⁻¹U`` (for ``U = [X, y]``), ``log|M|``, ``diag(M⁻¹)`` and the traces ``tr(M⁻¹ Z_l Z_l')`` of the
likelihood gradient are obtained from ``L`` passes of vectorised segment sums (:func:`numpy.bincount`) —
``O(k·L·p)`` time and memory, with no ``k × k`` matrix and no Python loop over clusters.  This is the
recursive form of the Woodbury identity used for nested designs, e.g. Searle, Casella & McCulloch (1992),
*Variance Components*, §5.6 (Wiley), and Pinheiro & Bates (2000), *Mixed-Effects Models in S and S-PLUS*,
§2.2 (Springer).

The likelihoods are those of metafor's ``.ll.rma.mv`` (Viechtbauer 2010, *J Stat Softw* 36(3)):
ML ``−½k log 2π − ½log|M| − ½RSS`` and REML
``−½(k−p) log 2π + ½log|X'X| − ½log|M| − ½log|X'WX| − ½RSS`` with ``RSS = (y−Xb)'M⁻¹(y−Xb)``.
Their gradients with respect to ``σ²_l`` are (Harville 1977, *JASA* 72:320–338)

* ML:   ``−½ tr(M⁻¹ Z_l Z_l') + ½ ‖Z_l' M⁻¹ r‖²``,
* REML: ``−½ tr(P Z_l Z_l') + ½ ‖Z_l' P y‖²`` with ``P = M⁻¹ − M⁻¹X(X'M⁻¹X)⁻¹X'M⁻¹`` and ``Py = M⁻¹r``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

_LOG2PI = float(np.log(2.0 * np.pi))


def _segsum(codes: np.ndarray, n: int, a: np.ndarray) -> np.ndarray:  # noqa: D401 - helper
    """Sum the rows of ``a`` within the groups ``codes`` (0..n-1), vectorised."""
    if a.ndim == 1:
        return np.bincount(codes, weights=a, minlength=n)
    out = np.empty((n, a.shape[1]))
    for c in range(a.shape[1]):
        out[:, c] = np.bincount(codes, weights=a[:, c], minlength=n)
    return out


@dataclass(frozen=True)
class Evaluation:
    """Everything the fit needs at one value of the variance components."""

    ll_ml: float
    ll_reml: float
    beta: np.ndarray
    xtwx: np.ndarray
    vb: np.ndarray
    rss: float
    logdet: float
    gradient_ml: np.ndarray | None
    gradient_reml: np.ndarray | None
    grad_scale: np.ndarray | None  # magnitude of the terms of each gradient component (for tolerances)
    ai_ml: np.ndarray | None = None  # average-information matrices (see NestedStructure.evaluate)
    ai_reml: np.ndarray | None = None


class NestedStructure:
    """Integer codes of nested grouping factors, outer → inner, with the O(k) covariance algebra.

    Parameters
    ----------
    codes : sequence of ndarray of int
        ``codes[j][i]`` is the 0-based group of observation ``i`` for the level-``j`` grouping factor,
        where the level-``j`` factor is already the combination of levels ``0..j`` (nested).
    n_groups : sequence of int
        Number of groups of each factor.

    Notes
    -----
    When the observations are sorted so that every group is contiguous (see :meth:`sort_order`), group
    values are broadcast back to observations with :func:`numpy.repeat` instead of a gather, which is
    several times faster for large ``k``; the results are identical either way.
    """

    def __init__(self, codes: Sequence[np.ndarray], n_groups: Sequence[int]):
        self.codes = [np.ascontiguousarray(c, dtype=np.intp) for c in codes]
        self.n_groups = tuple(int(n) for n in n_groups)
        self.L = len(self.codes)
        self.k = int(self.codes[0].size) if self.codes else 0
        self.counts = [np.bincount(c, minlength=n) for c, n in zip(self.codes, self.n_groups)]
        self.contiguous = all(c.size < 2 or bool(np.all(c[1:] >= c[:-1])) for c in self.codes)
        # a level whose groups are single observations in order (e.g. esid within study): sums are no-ops
        self._identity = [self.contiguous and n == self.k for n in self.n_groups]
        self._anc_cache: dict[tuple[int, int], np.ndarray] = {}
        self._anc_counts: dict[tuple[int, int], np.ndarray] = {}

    def _anc(self, l: int, j: int) -> np.ndarray:
        """Level-``j`` group containing each level-``l`` group (``j < l``)."""
        key = (l, j)
        if key not in self._anc_cache:
            a = np.empty(self.n_groups[l], dtype=np.intp)
            a[self.codes[l]] = self.codes[j]
            self._anc_cache[key] = a
        return self._anc_cache[key]

    def _anc_bcast(self, l: int, j: int, vals: np.ndarray) -> np.ndarray:
        """Level-``j`` group values broadcast to the level-``l`` groups they contain (``j < l``)."""
        if self.contiguous:
            key = (l, j)
            if key not in self._anc_counts:
                self._anc_counts[key] = np.bincount(self._anc(l, j), minlength=self.n_groups[j])
            return np.repeat(vals, self._anc_counts[key])
        return vals[self._anc(l, j)]

    def _bcast(self, j: int, vals: np.ndarray) -> np.ndarray:
        if self._identity[j]:
            return vals
        if self.contiguous:
            return np.repeat(vals, self.counts[j])
        return vals[self.codes[j]]

    def _seg(self, j: int, a: np.ndarray) -> np.ndarray:
        if self._identity[j]:
            return a
        return np.bincount(self.codes[j], weights=a, minlength=self.n_groups[j])

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_ids(cls, ids: Sequence[Sequence]) -> "NestedStructure":
        """Build from raw id arrays per level (outer → inner); level ``j`` groups = combination of ids ``0..j``."""
        codes: list[np.ndarray] = []
        n_groups: list[int] = []
        prev = None
        for raw in ids:
            _, own = np.unique(np.asarray(raw), return_inverse=True)
            own = own.reshape(-1).astype(np.int64)
            if prev is None:
                key = own
            else:
                key = prev * (int(own.max()) + 1 if own.size else 1) + own
            _, comb = np.unique(key, return_inverse=True)
            comb = comb.reshape(-1)
            codes.append(comb)
            n_groups.append(int(comb.max()) + 1 if comb.size else 0)
            prev = comb.astype(np.int64)
        return cls(codes, n_groups)

    def sort_order(self) -> np.ndarray:
        """A permutation that makes every group contiguous (stable sort on the innermost code).

        The codes of :meth:`from_ids` are ranks of the lexicographic key (outer id, ..., inner id), so sorting
        on the innermost code orders every level at once.
        """
        return np.argsort(self.codes[-1], kind="stable")

    def permuted(self, order: np.ndarray) -> "NestedStructure":
        """The same structure with observations reordered by ``order`` (group codes unchanged)."""
        return NestedStructure([c[order] for c in self.codes], self.n_groups)

    def subset(self, keep: np.ndarray) -> "NestedStructure":
        """The structure restricted to the observations ``keep`` (boolean mask or indices), groups re-coded."""
        codes, n_groups = [], []
        for c in self.codes:
            _, new = np.unique(c[keep], return_inverse=True)
            new = new.reshape(-1)
            codes.append(new)
            n_groups.append(int(new.max()) + 1 if new.size else 0)
        return NestedStructure(codes, n_groups)

    # ------------------------------------------------------------------ core recursion
    def _inverse_pass(self, sigma2: np.ndarray, v: np.ndarray, cols: list[np.ndarray] | None,
                      sum_log_v: float | None = None):
        """Return ([M⁻¹u for u in cols], log|M|, [e_0..e_L], [denom_0..denom_{L-1}])."""
        e = 1.0 / v
        es: list[np.ndarray] = [None] * (self.L + 1)  # type: ignore[list-item]
        dens: list[np.ndarray] = [None] * self.L  # type: ignore[list-item]
        es[self.L] = e
        logdet = float(np.sum(np.log(v))) if sum_log_v is None else sum_log_v
        W = None if cols is None else [u * e for u in cols]
        for j in range(self.L - 1, -1, -1):
            s = float(sigma2[j])
            if s == 0.0:
                dens[j] = np.ones(self.n_groups[j])
                es[j] = e
                continue
            A = self._seg(j, e)
            den = 1.0 + s * A
            dens[j] = den
            logdet += float(np.sum(np.log(den)))
            if W is not None:
                f = s / den
                W = [w - e * self._bcast(j, f * self._seg(j, w)) for w in W]
            e = e / self._bcast(j, den)
            es[j] = e
        return W, logdet, es, dens

    def solve(self, sigma2: Sequence[float], v: np.ndarray, U: np.ndarray) -> np.ndarray:
        """``M⁻¹ U`` in O(k·L·m) (``U`` of shape (k,) or (k, m))."""
        U = np.asarray(U, dtype=float)
        vec = U.ndim == 1
        cols = [U] if vec else [U[:, c] for c in range(U.shape[1])]
        W, *_ = self._inverse_pass(np.asarray(sigma2, float), np.asarray(v, float), cols)
        return W[0] if vec else np.column_stack(W)

    def logdet(self, sigma2: Sequence[float], v: np.ndarray) -> float:
        """``log|M|``."""
        return self._inverse_pass(np.asarray(sigma2, float), np.asarray(v, float), None)[1]

    def diag_inverse(self, sigma2: Sequence[float], v: np.ndarray) -> np.ndarray:
        """``diag(M⁻¹)``: ``d_j = d_(j+1) − σ²_j/(1+σ²_j A_h) · e_(j+1)²`` element-wise."""
        sigma2 = np.asarray(sigma2, float)
        _, _, es, dens = self._inverse_pass(sigma2, np.asarray(v, float), None)
        d = 1.0 / np.asarray(v, float)
        for j in range(self.L - 1, -1, -1):
            s = float(sigma2[j])
            if s:
                d = d - self._bcast(j, s / dens[j]) * es[j + 1] ** 2
        return d

    def covariance_block(self, sigma2: Sequence[float], v: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The dense block ``M[idx, idx]`` (for small index sets, e.g. one cluster)."""
        idx = np.asarray(idx)
        out = np.diag(np.asarray(v, float)[idx])
        for j in range(self.L):
            c = self.codes[j][idx]
            out = out + float(sigma2[j]) * (c[:, None] == c[None, :])
        return out

    def dense_covariance(self, sigma2: Sequence[float], v: np.ndarray) -> np.ndarray:
        """The full ``k × k`` matrix ``M`` (reference/testing only)."""
        return self.covariance_block(sigma2, v, np.arange(self.k))

    # ------------------------------------------------------------------ likelihood
    def evaluate(
        self,
        sigma2: Sequence[float],
        v: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        *,
        gradient: bool = True,
        logdet_xtx: float | None = None,
        sum_log_v: float | None = None,
        x_cols: list[np.ndarray] | None = None,
        average_information: bool = False,
    ) -> Evaluation:
        """ML and REML log-likelihoods (metafor's definitions), GLS estimates and gradients at ``sigma2``.

        ``logdet_xtx``, ``sum_log_v`` and ``x_cols`` (the columns of ``X`` as contiguous arrays) are
        constants of a fit that callers evaluating many times may pass in precomputed.

        With ``average_information=True`` the average-information matrices are returned as well
        (Gilmour, Thompson & Cullis 1995, *Biometrics* 51:1440–1450): with ``u_l = Z_l Z_l' P y``,
        ``AI_REML[l, m] = ½ u_l' P u_m`` and ``AI_ML[l, m] = ½ u_l' M⁻¹ u_m`` (``P y = M⁻¹ r`` at the GLS
        estimate).  They approximate the negative Hessian of the log-likelihood at the cost of one more
        pass of the recursion, and are exact in expectation.
        """
        sigma2 = np.asarray(sigma2, dtype=float)
        v = np.asarray(v, dtype=float)
        k, p = X.shape
        if x_cols is None:
            x_cols = [np.ascontiguousarray(X[:, c]) for c in range(p)]
        W, logdet, es, dens = self._inverse_pass(sigma2, v, x_cols + [y], sum_log_v)
        WX, Wy = W[:p], W[p]
        xtwx = np.array([[float(x_cols[a] @ WX[b]) for b in range(p)] for a in range(p)])
        xtwx = 0.5 * (xtwx + xtwx.T)
        xtwy = np.array([float(x_cols[a] @ Wy) for a in range(p)])
        chol = np.linalg.cholesky(xtwx)
        beta = np.linalg.solve(xtwx, xtwy)
        Wr = Wy.copy()
        for a in range(p):
            Wr -= beta[a] * WX[a]
        rss = float(y @ Wr)  # (y − Xb)'M⁻¹(y − Xb) = y'M⁻¹(y − Xb) since X'M⁻¹(y − Xb) = 0
        vb = np.linalg.inv(xtwx)
        vb = 0.5 * (vb + vb.T)
        if logdet_xtx is None:
            logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])
        logdet_xtwx = 2.0 * float(np.sum(np.log(np.diag(chol))))
        ll_ml = -0.5 * k * _LOG2PI - 0.5 * logdet - 0.5 * rss
        ll_reml = -0.5 * (k - p) * _LOG2PI + 0.5 * logdet_xtx - 0.5 * logdet - 0.5 * logdet_xtwx - 0.5 * rss
        g_ml = g_reml = scale = None
        if gradient:
            L = self.L
            g_ml = np.empty(L)
            g_reml = np.empty(L)
            scale = np.empty(L)
            for l in range(L):
                zr = self._seg(l, Wr)
                quad = float(zr @ zr)
                trace = float(np.sum(es[l]))
                for j in range(l):
                    s = float(sigma2[j])
                    if s:
                        t = self._seg(l, es[j + 1])
                        trace -= float(np.sum(self._anc_bcast(l, j, s / dens[j]) * t * t))
                S = np.column_stack([self._seg(l, w) for w in WX])
                corr = float(np.sum(S * (S @ vb)))
                g_ml[l] = -0.5 * trace + 0.5 * quad
                g_reml[l] = -0.5 * (trace - corr) + 0.5 * quad
                scale[l] = 0.5 * (abs(trace) + abs(quad))
        ai_ml = ai_reml = None
        if average_information:
            L = self.L
            us = [self._bcast(l, self._seg(l, Wr)) for l in range(L)]
            Wus = self._apply_inverse(sigma2, es, dens, us)
            xwu = np.array([[float(WX[a] @ u) for a in range(p)] for u in us])  # (L, p): X'M⁻¹u_l
            uwu = np.array([[float(us[l] @ Wus[m]) for m in range(L)] for l in range(L)])
            uwu = 0.5 * (uwu + uwu.T)
            ai_ml = 0.5 * uwu
            ai_reml = 0.5 * (uwu - xwu @ vb @ xwu.T)
        return Evaluation(
            ll_ml=float(ll_ml), ll_reml=float(ll_reml), beta=beta, xtwx=xtwx, vb=vb, rss=rss, logdet=logdet,
            gradient_ml=g_ml, gradient_reml=g_reml, grad_scale=scale, ai_ml=ai_ml, ai_reml=ai_reml,
        )

    def _apply_inverse(self, sigma2: np.ndarray, es: list[np.ndarray], dens: list[np.ndarray],
                       cols: list[np.ndarray]) -> list[np.ndarray]:
        """``M⁻¹u`` for further columns, reusing ``e_j`` and the denominators of a previous pass."""
        W = [u * es[self.L] for u in cols]
        for j in range(self.L - 1, -1, -1):
            s = float(sigma2[j])
            if s == 0.0:
                continue
            f = s / dens[j]
            e = es[j + 1]
            W = [w - e * self._bcast(j, f * self._seg(j, w)) for w in W]
        return W
