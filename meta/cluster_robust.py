"""Cluster-robust (sandwich) inference for univariate and multilevel models (metafor ``robust``, clubSandwich CR2).

``robust(fit, cluster)`` keeps the fitted (working) model's estimates ``b`` and replaces their covariance by a
sandwich estimator that is valid when the working model's covariance ``M`` is misspecified, as long as
clusters are independent.

Notes
-----
With ``W = M⁻¹``, ``B = (X'WX)⁻¹`` and residuals ``e = y − Xb``:

*CR1* — metafor's default ``robust(fit, cluster)`` (``adjust = TRUE``; Hedges, Tipton & Johnson 2010,
*Res Synth Methods* 1:39–65): ``V = n/(n−p) · vb X'W (⊕_j e_j e_j') W X vb`` with ``n`` clusters and the
model's ``vb`` (metafor uses ``x$vb``, so a Knapp–Hartung fit enters with its ``s2w``); t tests and CIs on
``n − p`` df, the omnibus test ``F = b'V⁻¹b/m`` on ``(m, n − p)`` df.  ``W X`` is computed with the O(k)
algebra of the model, so clusters need not nest the random effects.

*CR2* — ``robust(fit, cluster, clubSandwich = TRUE)`` = clubSandwich ``vcovCR(type = "CR2")`` with the working
model as target (``inverse_var``; Bell & McCaffrey 2002, *Surv Methodol* 28:169–181; Tipton 2015,
*Psychol Methods* 20:375–393; Pustejovsky & Tipton 2018, *J Bus Econ Stat* 36:672–683):
``V = B (Σ_j X_j'W_j A_j e_j e_j' A_j W_j X_j) B`` with ``A_j = L_j G_j^{−½} L_j'``, ``M_j = L_j L_j'`` and
``G_j = L_j'(M_j − X_j B X_j')L_j`` (symmetric inverse square root over eigenvalues > 1e-12, as clubSandwich).
Coefficient tests use Satterthwaite df ``E²/ΣP²`` with ``P = diag(g) − H'H`` per coefficient
(``g_j = ‖(B E_j L_j)_i‖²``, ``H_j = B E_j X_j chol(B)``, ``E_j = X_j'W_j A_j``), and Wald tests of
``Cβ = 0`` the HTZ approximation (Hotelling's T² with ``ν = q(q+1)/Σ Var``; Tipton & Pustejovsky 2015,
*J Educ Behav Stat* 40:604–634).  The random effects must be nested within the clusters (clubSandwich's
requirement), so every cluster is one block of ``M``.  Every per-cluster matrix function is evaluated in
batches of clusters of equal size (no Python loop over clusters); the traces of the ``J × J`` matrices ``P``
are reduced to ``p × p`` products, so nothing of size ``J²`` is formed.

clubSandwich rescales the univariate weights by their mean and ``bread``/``meat`` by ``k``; those factors
cancel and are not reproduced (only the 1e-12 eigenvalue cut-offs are placed on clubSandwich's scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from meta.display import ResultDisplay
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from meta.errors import MetaInputError
from meta.inference import Coefficient, contrast_matrix, parse_btt
from meta.validation import format_rows

__all__ = ["RobustResult", "RobustWaldTest", "robust", "VCOV_TYPES"]

VCOV_TYPES = ("CR2", "CR1")
_EIG_TOL = 1e-12  # clubSandwich matrix_power(): eigenvalues <= 1e-12 are dropped


# ----------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RobustWaldTest(ResultDisplay):
    """Cluster-robust Wald test of ``C β = 0`` (rows of ``C``; ``btt`` for coefficient subsets).

    ``F`` is ``b'C'(CVC')⁻¹Cb/q`` on ``(q, df2)`` df for CR1; for CR2 the HTZ statistic ``delta·Q/q`` on
    ``(q, ν − q + 1)`` df (clubSandwich ``Wald_test(test = "HTZ")``).
    """

    vcov: str
    F: float
    df1: int
    df2: float
    p: float
    delta: float = 1.0
    btt: tuple[int, ...] | None = None  # 1-based coefficients tested
    C: tuple[tuple[float, ...], ...] | None = None

    def to_dict(self) -> dict:
        return {"vcov": self.vcov, "F": self.F, "df1": self.df1, "df2": self.df2, "p": self.p, "delta": self.delta,
                "btt": None if self.btt is None else list(self.btt),
                "C": None if self.C is None else [list(r) for r in self.C]}

    def to_frame(self) -> pd.DataFrame:
        """One row: vcov, F, df1, df2, p (and the coefficients tested)."""
        import pandas as pd

        return pd.DataFrame([{"vcov": self.vcov, "F": self.F, "df1": self.df1, "df2": self.df2, "p": self.p,
                              "btt": None if self.btt is None else ",".join(map(str, self.btt))}])

    def summary(self) -> str:
        what = f"coefficient(s) {', '.join(str(b) for b in self.btt)}" if self.btt else f"{self.df1} contrast(s)"
        return (f"Cluster-robust ({self.vcov}) test of {what}: F(df1 = {self.df1}, df2 = {self.df2:.4g}) = "
                f"{self.F:.4f}, p-val = {self.p:.4g}")


@dataclass(frozen=True, eq=False)
class RobustResult(ResultDisplay):
    """A model with cluster-robust standard errors, tests and CIs (metafor ``robust.rma`` object).

    Attributes
    ----------
    model : UnivariateResult or MultilevelResult
        The working model (its estimates are kept).
    vcov_type : {"CR2", "CR1"}
    coefficients : tuple of Coefficient
        Robust coefficient table (t tests; ``df`` per coefficient).
    beta, vb : ndarray
        Estimates (the model's) and the cluster-robust covariance matrix.
    ddf : ndarray
        Degrees of freedom per coefficient (``n − p`` for CR1, Satterthwaite for CR2).
    n_clusters : int
    cluster_labels : tuple
        Cluster ids, sorted; ``cluster_sizes`` the number of estimates in each.
    QM, QM_df, QM_ddf, QM_p : float, int, float, float
        Robust omnibus test of the moderators (metafor's ``QM``: F for CR1, HTZ F for CR2, ``t²`` for an
        intercept-only model).
    """

    model: Any
    vcov_type: str
    coefficients: tuple[Coefficient, ...]
    beta: np.ndarray
    vb: np.ndarray
    ddf: np.ndarray
    n_clusters: int
    cluster_labels: tuple
    cluster_sizes: tuple[int, ...]
    QM: float
    QM_df: int
    QM_ddf: float
    QM_p: float
    level: float
    btt: tuple[int, ...]
    _cr2: Any = field(default=None, repr=False)

    test = "t"

    # --------------------------------------------------------------- what predict() and anova() need
    @property
    def k(self) -> int:
        return int(self.model.k)

    @property
    def p(self) -> int:
        return int(self.model.p)

    @property
    def X(self) -> np.ndarray:
        return self.model.X

    @property
    def design(self):
        return getattr(self.model, "design", None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.coefficients)

    @property
    def tau2(self) -> float | None:
        return getattr(self.model, "tau2", None)

    @property
    def sigma2(self):
        return getattr(self.model, "sigma2", None) if hasattr(self.model, "_structure") else None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vb))

    def contrast_df(self, C: np.ndarray) -> np.ndarray:
        """Degrees of freedom of t tests of the rows of ``C`` (``n − p``, or Satterthwaite for CR2)."""
        C = np.atleast_2d(np.asarray(C, float))
        if self._cr2 is None:
            return np.full(C.shape[0], float(self.n_clusters - self.p))
        return self._cr2.satterthwaite(C)

    def wald_test(self, btt: Sequence[int] | None = None, *, X: np.ndarray | None = None) -> RobustWaldTest:
        """Cluster-robust Wald test of coefficients ``btt`` (1-based) or of the rows of ``X`` (``Xβ = 0``).

        CR1: F on ``(q, n − p)`` df (metafor ``anova`` of a ``robust`` object); CR2: HTZ (clubSandwich
        ``Wald_test(test = "HTZ")``).  Default: the moderators (all coefficients but the intercept).
        """
        p = self.p
        if X is not None and btt is not None:
            raise MetaInputError("give either btt or X, not both")
        if X is None:
            idx = parse_btt(btt, p, self.names, default=self.btt)
            C = np.eye(p)[list(idx)]
            label = tuple(i + 1 for i in idx)
        else:
            C = contrast_matrix(X, p, self.names)
            label = None
            if np.linalg.matrix_rank(C) < C.shape[0]:
                raise MetaInputError(f"X: the {C.shape[0]} contrast rows are linearly dependent (rank "
                                     f"{np.linalg.matrix_rank(C)}); the omnibus test needs full row rank")
        q = C.shape[0]
        cb = C @ self.beta
        Q = float(cb @ np.linalg.solve(C @ self.vb @ C.T, cb))
        if self._cr2 is None:
            df2 = float(self.n_clusters - p)
            F = Q / q
            return RobustWaldTest("CR1", F, q, df2, float(stats.f.sf(F, q, df2)), 1.0, label,
                                  None if label else tuple(map(tuple, C.tolist())))
        nu = self._cr2.htz_nu(C)
        delta = max((nu - q + 1) / nu, 0.0)
        df2 = nu - q + 1
        F = delta * Q / q
        pv = float(stats.f.sf(F, q, df2)) if df2 > 0 else float("nan")
        return RobustWaldTest("CR2", F, q, float(df2), pv, float(delta), label,
                              None if label else tuple(map(tuple, C.tolist())))

    # ----------------------------------------------------------------------------------- output
    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.to_dict() for c in self.coefficients]).set_index("name")

    def to_dict(self) -> dict:
        def f(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x

        return {
            "model": "robust", "vcov": self.vcov_type, "working_model": type(self.model).__name__,
            "k": self.k, "p": self.p, "n_clusters": self.n_clusters,
            "cluster_labels": [c.item() if hasattr(c, "item") else c for c in self.cluster_labels],
            "coefficients": [{kk: f(vv) for kk, vv in c.to_dict().items()} for c in self.coefficients],
            "QM": f(self.QM), "QM_df": self.QM_df, "QM_ddf": f(self.QM_ddf), "QM_p": f(self.QM_p),
            "btt": [b + 1 for b in self.btt],
        }

    def summary(self) -> str:
        how = ("CR2, Satterthwaite df (clubSandwich)" if self.vcov_type == "CR2"
               else f"CR1, df = n - p = {self.n_clusters - self.p}")
        lines = [f"Cluster-robust inference ({how}); working model: {type(self.model).__name__} "
                 f"(k = {self.k}, method {self.model.method})",
                 f"Number of clusters: {self.n_clusters}; outcomes per cluster: {min(self.cluster_sizes)}-"
                 f"{max(self.cluster_sizes)} (mean {np.mean(self.cluster_sizes):.2f})", ""]
        if self.p > 1:
            lines.append(f"Test of Moderators (coefficient(s) {', '.join(str(b + 1) for b in self.btt)}):")
            lines.append(f"F(df1 = {self.QM_df}, df2 = {self.QM_ddf:.4g}) = {self.QM:.4f}, p-val = {self.QM_p:.4g}")
            lines.append("")
        nw = max(10, *(len(c.name) + 2 for c in self.coefficients))
        lines.append(f"{'':{nw}s}{'estimate':>10s} {'se':>8s} {'tval':>8s} {'df':>7s} {'pval':>8s} {'ci.lb':>8s} {'ci.ub':>8s}")
        for c in self.coefficients:
            pv = "<.0001" if c.p < 1e-4 else f"{c.p:.4f}"
            lines.append(f"{c.name:{nw}s}{c.estimate:10.4f} {c.se:8.4f} {c.z:8.4f} {c.df:7.2f} {pv:>8s} "
                         f"{c.ci_lb:8.4f} {c.ci_ub:8.4f}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()


# ----------------------------------------------------------------------------------------------- helpers
def _inv_sqrt_psd(G: np.ndarray, tol: np.ndarray | float) -> np.ndarray:
    """Symmetric ``G^{−½}`` over eigenvalues > ``tol`` (clubSandwich ``matrix_power(G, −1/2)``), batched."""
    val, vec = np.linalg.eigh(G)
    tol = np.asarray(tol, float)
    tol = tol[..., None] if tol.ndim else tol
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(val > tol, 1.0 / np.sqrt(np.where(val > 0, val, 1.0)), 0.0)
    return np.matmul(vec * f[..., None, :], np.swapaxes(vec, -1, -2))


def _cluster_codes(result, cluster) -> tuple[list, np.ndarray]:
    """Cluster labels (sorted by id) and the cluster code of every estimate of the fit."""
    k = int(result.k)
    if isinstance(cluster, str):
        names = tuple(getattr(result, "level_names", ()))
        if cluster not in names:
            raise MetaInputError(f"cluster {cluster!r} is not a level of the model; give the cluster ids as an "
                                 "array (one per estimate)")
        j = names.index(cluster)
        codes = np.asarray(result._structure.codes[j])  # ranks of the (outer id, ..., level-j id) combinations
        n = int(result._structure.n_groups[j])
        first = np.full(n, -1)
        first[codes[::-1]] = np.arange(k)[::-1]
        raw = getattr(result, "level_ids", ())
        if raw and len(raw) > j:
            labels = [("/".join(str(_plain(raw[l][i])) for l in range(j + 1)) if j else _plain(raw[0][i]))
                      for i in first]
        else:
            labels = list(range(1, n + 1))
        return labels, codes
    ids = np.asarray(cluster)
    omitted = tuple(getattr(result, "omitted_rows", ()))
    if ids.ndim != 1:
        raise MetaInputError("cluster: give one id per estimate (a 1-D array)")
    if omitted and ids.size == k + len(omitted):  # ids of the input rows: drop the omitted ones (na.omit)
        keep = np.ones(ids.size, dtype=bool)
        keep[np.asarray(omitted) - 1] = False
        ids = ids[keep]
    if ids.size != k:
        raise MetaInputError(f"cluster has {ids.size} ids for {k} estimates")
    miss = pd.isna(pd.Series(ids)).to_numpy()
    if miss.any():
        raise MetaInputError(f"cluster: missing id in row(s) {format_rows(miss)}")
    arr = ids
    if arr.dtype.kind not in "iufb":
        num = pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce")
        arr = num.to_numpy() if num.notna().all() and all(
            isinstance(x, (int, float, np.integer, np.floating)) for x in arr) else arr.astype(str)
    uniq, codes = np.unique(arr, return_inverse=True)
    return [_plain(u) for u in uniq], codes.reshape(-1)


def _plain(x):
    return x.item() if hasattr(x, "item") else x


def _blocks(result, idx: np.ndarray) -> np.ndarray:
    """Marginal covariance blocks ``M[idx_c, idx_c]`` of the working model for a batch of clusters ``idx``."""
    v = np.asarray(result.vi, float)[idx]  # (n_m, m)
    M = np.zeros(idx.shape + (idx.shape[1],))
    if hasattr(result, "_structure") and result._structure is not None:
        for codes, s2 in zip(result._structure.codes, result.sigma2):
            if s2:
                c = codes[idx]
                M += float(s2) * (c[:, :, None] == c[:, None, :])
    else:
        v = v + float(result.tau2)  # univariate: M = diag(v + τ²)
    M[:, np.arange(idx.shape[1]), np.arange(idx.shape[1])] += v
    return M


def _model_wx(result) -> np.ndarray:
    """``W X = M⁻¹ X`` of the working model (O(k))."""
    X = np.asarray(result.X, float)
    if hasattr(result, "_structure") and result._structure is not None:
        return result._structure.solve(result.sigma2, np.asarray(result.vi, float), X)
    return X / (np.asarray(result.vi, float) + float(result.tau2))[:, None]


class _CR2:
    """Per-cluster pieces of CR2 for Satterthwaite df and HTZ tests (``GG_j = G_jG_j'`` and ``H_j``)."""

    def __init__(self, GG: np.ndarray, H: np.ndarray, omega_tol: float):
        self.GG = GG  # (J, p, p)
        self.H = H  # (J, p, p)
        self.omega_tol = omega_tol

    def satterthwaite(self, C: np.ndarray) -> np.ndarray:
        """Satterthwaite df of each row ``c`` of ``C``: ``(tr P)²/ΣP²`` with ``P = diag(a) − H_c'H_c``."""
        a = np.einsum("qi,jik,qk->qj", C, self.GG, C)  # (q, J)
        h = np.einsum("qi,jik->qjk", C, self.H)  # (q, J, p)
        hh = np.einsum("qjk,qjk->qj", h, h)
        trace = a.sum(axis=1) - hh.sum(axis=1)
        K = np.einsum("qjk,qjl->qkl", h, h)  # Σ_j h_j h_j'
        sq = np.sum(a * a, axis=1) - 2 * np.sum(a * hh, axis=1) + np.einsum("qkl,qkl->q", K, K)
        return trace**2 / sq

    def htz_nu(self, C: np.ndarray) -> float:
        """ν of clubSandwich's HTZ test of ``Cβ = 0``: ``q(q+1)/Σ_{st} Var_st``."""
        q = C.shape[0]
        D = np.einsum("si,jik,tk->jst", C, self.GG, C)
        HC = np.einsum("si,jik->jsk", C, self.H)
        omega = D.sum(axis=0) - np.einsum("jsk,jtk->st", HC, HC)
        Ct = _inv_sqrt_psd(0.5 * (omega + omega.T), self.omega_tol) @ C
        D = np.einsum("si,jik,tk->jst", Ct, self.GG, Ct)  # (J, q, q)
        Hh = np.einsum("si,jik->jsk", Ct, self.H)  # (J, q, p)
        c = np.einsum("jsk,jtk->jst", Hh, Hh)  # H̃_j[s]·H̃_j[t]
        K = np.einsum("jtk,jsl->tskl", Hh, Hh)  # K_ts = Σ_j H̃_j[t]' H̃_j[s]  (p × p)
        var = np.empty((q, q))
        for s in range(q):
            for t in range(s + 1):
                d_st, d_ss, d_tt = D[:, s, t], D[:, s, s], D[:, t, t]
                tr_b2 = (np.sum(d_st**2) - 2 * np.sum(d_st * c[:, s, t])
                         + np.trace(K[t, s] @ K[t, s]))
                inner = (np.sum(d_ss * d_tt) - np.sum(d_ss * c[:, t, t]) - np.sum(d_tt * c[:, s, s])
                         + np.sum(K[t, s] ** 2))
                var[s, t] = var[t, s] = tr_b2 + inner
        return q * (q + 1) / float(np.sum(var))


# ----------------------------------------------------------------------------------------------- main
def robust(result, cluster, *, vcov: str = "CR2", level: float | None = None) -> RobustResult:
    """Cluster-robust tests and CIs for a fitted univariate or multilevel model (metafor ``robust``).

    Parameters
    ----------
    result : UnivariateResult or MultilevelResult
        The working model.
    cluster : str or array_like
        Cluster ids, one per estimate of the fit (the input rows' ids are also accepted when the fit
        omitted rows with missing values), or the name of a level of a multilevel model (e.g. ``"study"``).
    vcov : {"CR2", "CR1"}
        ``"CR2"`` (default): bias-reduced linearisation with Satterthwaite df and HTZ Wald tests, as
        ``robust(fit, cluster, clubSandwich = TRUE)``.  ``"CR1"``: metafor's default ``robust()``
        (small-sample factor ``n/(n − p)``, df ``n − p``).
    level : float, optional
        Confidence level (default: the fit's).

    Returns
    -------
    RobustResult

    Raises
    ------
    MetaInputError
        Fewer than two clusters, no more clusters than coefficients, wrong number of or missing ids (rows
        named), an unknown level name or ``vcov``; for CR2 also random effects not nested within the
        clusters.

    Notes
    -----
    See the module docstring.
    """
    vcov = str(vcov).upper()
    if vcov not in VCOV_TYPES:
        raise MetaInputError(f"vcov must be 'CR2' or 'CR1' (got {vcov!r})")
    level = float(result.level if level is None else level)
    if not 0 < level < 1:
        raise MetaInputError(f"level must lie in (0, 1) (got {level!r})")
    labels, codes = _cluster_codes(result, cluster)
    n = len(labels)
    k, p = result.X.shape
    if n < 2:
        raise MetaInputError(f"cluster: cluster-robust inference needs at least 2 clusters (got {n})")
    if n <= p:
        raise MetaInputError(f"cluster: the number of clusters ({n}) must be larger than the number of "
                             f"coefficients ({p})")
    X = np.asarray(result.X, float)
    y = np.asarray(result.yi, float)
    beta = np.asarray(result.beta, float)
    e = y - X @ beta
    names = tuple(c.name for c in result.coefficients)
    has_int = bool(np.all(X[:, 0] == 1.0)) and p > 1
    btt = tuple(range(1, p)) if has_int else tuple(range(p))
    sizes = np.bincount(codes, minlength=n)
    cr2 = None
    if vcov == "CR1":
        WX = _model_wx(result)
        s = np.column_stack([np.bincount(codes, weights=WX[:, j] * e, minlength=n) for j in range(p)])
        vb_model = np.asarray(result.vb, float)
        V = (n / (n - p)) * vb_model @ (s.T @ s) @ vb_model
        ddf = np.full(p, float(n - p))
    else:
        multilevel = hasattr(result, "_structure") and result._structure is not None
        if multilevel:
            top = result._structure.codes[0]
            pairs = np.unique(np.column_stack([top, codes]), axis=0)
            if pairs.shape[0] != np.unique(top).size:
                raise MetaInputError(f"cluster: the random effects ({result.level_names[0]!r}) are not nested "
                                     "within the clusters (CR2 needs every random-effect group inside one cluster)")
            w_scale = 1.0
        else:
            w_scale = float(np.mean(1.0 / (np.asarray(result.vi, float) + float(result.tau2))))
        # B = (X'WX)^-1 of the working model without any Knapp-Hartung factor (clubSandwich's bread)
        WX = _model_wx(result)
        B = np.linalg.inv(X.T @ WX)
        B = 0.5 * (B + B.T)
        LB = np.linalg.cholesky(B)
        comp = np.empty((n, p))
        GG = np.empty((n, p, p))
        H = np.empty((n, p, p))
        order = np.argsort(codes, kind="stable")
        members = np.split(order, np.cumsum(sizes)[:-1])
        for m in np.unique(sizes):  # one batch per distinct cluster size
            cl = np.flatnonzero(sizes == m)
            idx = np.stack([members[c] for c in cl])  # (n_m, m)
            M = _blocks(result, idx)
            L = np.linalg.cholesky(M)
            Xj = X[idx]  # (n_m, m, p)
            W = np.linalg.inv(M)
            W = 0.5 * (W + np.swapaxes(W, 1, 2))
            R = M - np.einsum("nip,pq,njq->nij", Xj, B, Xj)
            G = np.einsum("nji,njk,nkl->nil", L, R, L)  # L'(M − XBX')L
            G = 0.5 * (G + np.swapaxes(G, 1, 2))
            A = np.einsum("nij,njk,nlk->nil", L, _inv_sqrt_psd(G, _EIG_TOL / w_scale**2), L)
            E = np.einsum("nip,nij,njk->npk", Xj, W, A)  # X_j' W_j A_j  (n_m, p, m)
            comp[cl] = np.einsum("npk,nk->np", E, e[idx])
            BE = np.einsum("pq,nqk->npk", B, E)
            Gs = np.einsum("npk,nkl->npl", BE, L)
            GG[cl] = np.einsum("npl,nql->npq", Gs, Gs)
            H[cl] = np.einsum("npk,nkq,qr->npr", BE, Xj, LB)
        V = B @ (comp.T @ comp) @ B
        cr2 = _CR2(GG, H, omega_tol=_EIG_TOL * w_scale)
        ddf = cr2.satterthwaite(np.eye(p))
    V = 0.5 * (V + V.T)
    se = np.sqrt(np.clip(np.diag(V), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = beta / se
    alpha = 1.0 - level
    pv = 2.0 * stats.t.sf(np.abs(tval), ddf)
    crit = stats.t.isf(alpha / 2, ddf)
    coefs = tuple(Coefficient(name=nm, estimate=float(b), se=float(s), z=float(t), p=float(pp),
                              ci_lb=float(b - c * s), ci_ub=float(b + c * s), df=float(d))
                  for nm, b, s, t, pp, c, d in zip(names, beta, se, tval, pv, crit, ddf))
    res = RobustResult(model=result, vcov_type=vcov, coefficients=coefs, beta=beta, vb=V, ddf=ddf, n_clusters=n,
                       cluster_labels=tuple(labels),
                       cluster_sizes=tuple(int(s) for s in sizes), QM=float("nan"), QM_df=0, QM_ddf=float("nan"),
                       QM_p=float("nan"), level=level, btt=btt, _cr2=cr2)
    if vcov == "CR2" and not has_int and p == 1:
        qm, qm_df, qm_ddf, qm_p = max(0.0, float(tval[0]) ** 2), 1, float(ddf[0]), float(pv[0])
    else:
        w = res.wald_test()
        qm, qm_df, qm_ddf, qm_p = (max(0.0, w.F), w.df1, w.df2, w.p)
    object.__setattr__(res, "QM", qm)
    object.__setattr__(res, "QM_df", qm_df)
    object.__setattr__(res, "QM_ddf", qm_ddf)
    object.__setattr__(res, "QM_p", qm_p)
    return res
