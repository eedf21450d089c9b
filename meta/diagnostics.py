"""Influence diagnostics: leave-one-out by outcome or cluster, Cook's distance, studentised residuals.

Works for univariate results (:func:`meta.univariate.fit_random_effects`) and multilevel results
(:func:`meta.multilevel.fit_multilevel`).  metafor 3.8 has ``leave1out`` only for ``rma.uni`` and
``cooks.distance``/``rstudent`` for both; here all three share one set of refits.

Notes
-----
Following metafor (``leave1out.rma.uni``, ``influence.rma.uni``, ``cooks.distance.rma.mv``,
``rstudent.rma.mv``; Viechtbauer & Cheung 2010, *Res Synth Methods* 1:112–125):

* *Univariate models* are refitted exactly as metafor does: ``rma.uni`` on the remaining rows with the
  model's method, test and control, so τ² starts at the subset's own Hedges estimate and Fisher scoring
  stops by the same 1e-5 threshold (:func:`meta.univariate.refit_subsets`, all refits at once with batched
  algebra).  Starting the refits at the full-data τ² instead — a tempting shortcut — moves the refitted τ²
  by up to the threshold and the diagnostics by up to several percent.
* *Multilevel models* are refitted with the variance components re-estimated (``reestimate=TRUE``), started
  at the full-data estimates and converged tightly (:func:`meta.variance_components.refit`); components fixed
  in the full fit stay fixed and a grouping factor left with one level gets ``σ² = 0``, as ``rma.mv`` does.
* Cook's distance ``D = (b − b₍₋ᵢ₎)' vb⁻¹ (b − b₍₋ᵢ₎)`` over all coefficients, with ``vb`` of the full fit.
* Studentised deleted residuals ``e/se`` with ``e = y_i − x_i b₍₋ᵢ₎`` and
  ``se² = s2w₍₋ᵢ₎(v_i + τ²₍₋ᵢ₎) + x_i vb₍₋ᵢ₎ x_i'`` (univariate; ``s2w`` is the Knapp–Hartung factor, 1
  otherwise) or ``se² = M_ii(θ₍₋ᵢ₎) + x_i vb₍₋ᵢ₎ x_i'`` with ``M`` the marginal covariance of the *full* data at
  the deleted-fit components (multilevel); for a deleted cluster also
  ``X² = e' (M_cc + X_c vb₍₋c₎ X_c')⁻¹ e`` on ``k_c`` df.
* The rest of metafor's ``influence.rma.uni`` (outcome deletion): hat values
  ``h = diag(X(X'WX)⁻¹X'W)`` of the full fit (``hatvalues``, values above 1 − 10ε set to 1), weights
  ``100 w_i/Σw`` (``weights``), ``DFFITS_i = (x_i b − x_i b₍₋ᵢ₎)/√(s2w₍₋ᵢ₎ h_i (τ²₍₋ᵢ₎ + v_i))``,
  ``DFBETAS_ij = (b_j − b₍₋ᵢ₎j)/√(s2w₍₋ᵢ₎ [(X'W₍₋ᵢ₎X)⁻¹]_jj)`` where ``W₍₋ᵢ₎ = diag(1/(v + τ²₍₋ᵢ₎))`` over *all*
  k rows, ``COVRATIO_i = det vb₍₋ᵢ₎ / det vb``, ``τ²₍₋ᵢ₎`` and ``QE₍₋ᵢ₎``; a case is flagged influential
  when ``|DFFITS| > 3√(p/(k−p))``, ``pchisq(D, p) > 0.5``, ``h > 3p/k`` or any ``|DFBETAS| > 1``
  (Viechtbauer & Cheung 2010).
* Multilevel (``rma.mv``): ``hatvalues`` ``diag(X(X'M⁻¹X)⁻¹X'M⁻¹)``, ``weights`` ``100 diag(M⁻¹)/Σ``, and
  ``dfbetas`` ``(b − b₍₋ᵢ₎)/√diag((X'M(θ₍₋ᵢ₎)⁻¹X)⁻¹)`` with the deleted fit's components applied to the full data
  (``dfbetas.rma.mv``), per outcome or cluster.
* Deleting clusters (metafor's ``cluster=``): clusters are sorted by their id and labelled by it, as
  ``cooks.distance(fit, cluster = ...)`` orders its output (``order(ids)``).  Numeric ids sort
  numerically, others as strings (by code point; R sorts character ids in the locale's collation order,
  which can differ for mixed-case ids).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from meta.display import ResultDisplay
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from meta.errors import MetaInputError
from meta.heterogeneity import fixed_effects_q, i_squared
from meta.validation import format_rows

__all__ = ["InfluenceResult", "LeaveOneOut", "StudentizedResiduals", "influence", "leave_one_out",
           "cooks_distance", "rstudent", "hatvalues", "dfbetas"]


# --------------------------------------------------------------------------------------------------- units
def _is_multilevel(result) -> bool:
    return hasattr(result, "sigma2") and getattr(result, "_structure", None) is not None


def _sorted_groups(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique ids in sorted order and the group code of every row (numeric ids numerically, others as str)."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iufb":
        num = pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce")
        if num.notna().all() and all(isinstance(x, (int, float, np.integer, np.floating)) for x in arr):
            arr = num.to_numpy()
        else:
            arr = arr.astype(str)
    uniq, codes = np.unique(arr, return_inverse=True)
    return uniq, codes.reshape(-1)


def _units(result, cluster: Any) -> tuple[str, list, list[np.ndarray]]:
    """Return (kind, labels, index arrays) of the units to delete, clusters sorted by id."""
    k = int(result.k)
    if cluster is None:
        return "outcome", list(range(1, k + 1)), [np.array([i]) for i in range(k)]
    if isinstance(cluster, str):
        if not _is_multilevel(result) or cluster not in result.level_names:
            raise MetaInputError(f"cluster {cluster!r} is not a level of the model")
        j = list(result.level_names).index(cluster)
        codes = result._structure.codes[j]  # ranks of the (outer id, ..., level-j id) combinations
        n = result._structure.n_groups[j]
        order = np.argsort(codes, kind="stable")
        members = np.split(order, np.cumsum(np.bincount(codes, minlength=n))[:-1])
        raw = getattr(result, "level_ids", ())
        if raw and len(raw) > j:
            first = [int(m[0]) for m in members]
            if j == 0:
                labels = [_plain(raw[0][i]) for i in first]
            else:
                labels = ["/".join(str(_plain(raw[l][i])) for l in range(j + 1)) for i in first]
        else:  # results built without raw ids: the group rank
            labels = list(range(1, n + 1))
        return f"cluster:{cluster}", labels, members
    ids = np.asarray(cluster)
    omitted = tuple(getattr(result, "omitted_rows", ()))
    if omitted and ids.ndim == 1 and ids.size == k + len(omitted):  # ids of the input rows (metafor: not.na)
        keep = np.ones(ids.size, dtype=bool)
        keep[np.asarray(omitted) - 1] = False
        ids = ids[keep]
    if ids.shape != (k,):
        raise MetaInputError(f"cluster has {ids.size} ids for {k} estimates")
    miss = pd.isna(pd.Series(ids)).to_numpy()
    if miss.any():
        raise MetaInputError(f"cluster: missing id in row(s) {format_rows(miss)}")
    uniq, codes = _sorted_groups(ids)
    order = np.argsort(codes, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(codes, minlength=uniq.size))[:-1])
    return "cluster", [_plain(u) for u in uniq], members


def _plain(x):
    return x.item() if hasattr(x, "item") else x


# --------------------------------------------------------------------------------------------------- refits
@dataclass
class _Refits:
    """Refits without each unit, as arrays (one row per unit); NaN where the model was not estimable."""

    beta: np.ndarray  # (n, p)
    vb: np.ndarray  # (n, p, p)
    components: np.ndarray  # (n, c)
    converged: np.ndarray
    k: np.ndarray
    ddf: np.ndarray | None  # (n,) or (n, p)
    QE: np.ndarray
    QE_p: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    resid: np.ndarray  # deleted residuals of every row (data order)
    se: np.ndarray
    X2: np.ndarray  # per unit
    s2w: np.ndarray | None = None  # Knapp–Hartung factor of each refit (univariate; 1 otherwise)


def _univariate_refits(result, members) -> _Refits:
    from meta.univariate import refit_subsets

    k = int(result.k)
    n = len(members)
    rows = np.concatenate(members)
    units = np.repeat(np.arange(n), [m.size for m in members])
    unit_of = np.empty(k, dtype=np.intp)
    unit_of[rows] = units
    keep = np.ones((n, k), dtype=bool)
    keep[units, rows] = False
    fits = refit_subsets(result, keep)
    X = np.asarray(result.X, float)
    y, v = np.asarray(result.yi, float), np.asarray(result.vi, float)
    b_row = fits.beta[unit_of]  # (k, p): the refit that deleted each row
    resid = y - np.einsum("ij,ij->i", X, b_row)
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    s2w, tau2 = fits.s2w[unit_of], fits.tau2[unit_of]
    var = s2w * (v + tau2) + np.einsum("ij,ijk,ik->i", X, fits.vb[unit_of], X)
    se = np.sqrt(var)

    def blocks(idx, us):  # (n_m, m) row indices of n_m clusters of size m → their (n_m, m, m) covariances
        Xi = X[idx]
        diag = fits.s2w[us][:, None] * (v[idx] + fits.tau2[us][:, None])
        return np.einsum("nij,njk,nlk->nil", Xi, fits.vb[us], Xi) + diag[:, :, None] * np.eye(idx.shape[1])

    X2 = _cluster_x2(members, resid, blocks) if any(m.size > 1 for m in members) else resid**2 / var
    return _Refits(beta=fits.beta, vb=fits.vb, components=fits.tau2[:, None], converged=fits.converged,
                   k=fits.k, ddf=fits.ddf, QE=fits.QE, QE_p=fits.QE_p, I2=fits.I2, H2=fits.H2,
                   resid=resid, se=se, X2=X2, s2w=fits.s2w)


def _cluster_x2(members, resid, blocks) -> np.ndarray:
    """``X² = e' S⁻¹ e`` per unit, batched over units of equal size.

    ``blocks(idx, us)`` returns the ``(n_m, m, m)`` covariance blocks of the units ``us`` whose rows are
    ``idx`` (shape ``(n_m, m)``).
    """
    n = len(members)
    X2 = np.full(n, np.nan)
    sizes = np.array([m.size for m in members])
    for m in np.unique(sizes):  # one batch per distinct cluster size
        us = np.flatnonzero(sizes == m)
        idx = np.stack([members[u] for u in us])
        S = blocks(idx, us)
        e = resid[idx]
        good = np.all(np.isfinite(S), axis=(1, 2)) & np.all(np.isfinite(e), axis=1)
        if good.any():
            try:
                sol = np.linalg.solve(S[good], e[good][..., None])[..., 0]
                X2[us[good]] = np.einsum("ij,ij->i", e[good], sol)
            except np.linalg.LinAlgError:
                for j, u in enumerate(us[good]):
                    try:
                        X2[u] = float(e[good][j] @ np.linalg.solve(S[good][j], e[good][j]))
                    except np.linalg.LinAlgError:
                        pass
    return X2


def _multilevel_refits(result, members) -> _Refits:
    from meta.multilevel import contain_ddf
    from meta.variance_components import refit

    k = int(result.k)
    X = np.asarray(result.X, dtype=float)
    y, v = np.asarray(result.yi, float), np.asarray(result.vi, float)
    p = X.shape[1]
    n = len(members)
    L = len(result.sigma2)
    beta, vb = np.full((n, p), np.nan), np.full((n, p, p), np.nan)
    comps = np.full((n, L), np.nan)
    conv = np.zeros(n, dtype=bool)
    kk = np.zeros(n, dtype=int)
    ddf = np.full((n, p), np.nan) if result.test == "t" else None
    qe, qe_p, i2 = (np.full(n, np.nan) for _ in range(3))
    resid, se = np.full(k, np.nan), np.full(k, np.nan)
    blocks = {}
    for u, drop in enumerate(members):  # each refit is an optimisation; the algebra inside is O(k)
        keep = np.ones(k, dtype=bool)
        keep[drop] = False
        Xk = X[keep]
        kk[u] = int(keep.sum())
        if kk[u] <= p or np.linalg.matrix_rank(Xk) < p:
            continue  # metafor: coefficient(s) not estimable -> NA
        opt, struct_k, *_ = refit(result, keep=keep, start=np.asarray(result.sigma2, float), raise_on_failure=False)
        comps[u] = opt.sigma2
        beta[u], vb[u] = opt.evaluation.beta, opt.evaluation.vb
        conv[u] = opt.converged
        if ddf is not None:
            ddf[u] = contain_ddf(Xk, struct_k) if result.dfs == "contain" else np.full(p, float(kk[u] - p))
        qe[u], _, qe_p[u] = fixed_effects_q(y[keep], v[keep], Xk)
        i2[u] = i_squared(v[keep], comps[u], Xk)[0]
        S = result._structure.covariance_block(comps[u], v, drop) + X[drop] @ vb[u] @ X[drop].T
        e = y[drop] - X[drop] @ beta[u]
        e[np.abs(e) < 100 * np.finfo(float).eps] = 0.0
        resid[drop], se[drop] = e, np.sqrt(np.diag(S))
        blocks[u] = S
    X2 = _cluster_x2(members, resid, lambda idx, us: np.stack(
        [blocks.get(u, np.full((idx.shape[1],) * 2, np.nan)) for u in us]))
    return _Refits(beta=beta, vb=vb, components=comps, converged=conv, k=kk, ddf=ddf, QE=qe, QE_p=qe_p, I2=i2,
                   H2=np.full(n, np.nan), resid=resid, se=se, X2=X2)


def _refits(result, cluster) -> tuple[str, list, list[np.ndarray], _Refits]:
    kind, labels, members = _units(result, cluster)
    if _is_multilevel(result):
        return kind, labels, members, _multilevel_refits(result, members)
    return kind, labels, members, _univariate_refits(result, members)


# --------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class LeaveOneOut(ResultDisplay):
    """Per deleted unit: coefficients, tests, CIs, variance components, QE, I² and H² of the refit.

    Arrays have one row per unit (``labels``: 1-based data rows for outcomes, cluster ids for clusters, sorted)
    and, for coefficient quantities, one column per coefficient (``names``).  ``H2`` is NaN for multilevel
    models (metafor defines no multilevel H²).
    """

    unit: str
    labels: tuple
    names: tuple[str, ...]
    component_names: tuple[str, ...]
    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    components: np.ndarray
    QE: np.ndarray
    QE_p: np.ndarray
    I2: np.ndarray
    converged: np.ndarray
    H2: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per deleted unit; coefficient columns are suffixed with the coefficient name when p > 1."""
        cols: dict[str, Any] = {"k": self.k}
        single = len(self.names) == 1
        for j, n in enumerate(self.names):
            suf = "" if single else f"[{n}]"
            for key in ("estimate", "se", "z", "p", "ci_lb", "ci_ub"):
                cols[key + suf] = getattr(self, key)[:, j]
        for j, n in enumerate(self.component_names):
            cols[n] = self.components[:, j]
        cols.update(QE=self.QE, QE_p=self.QE_p, I2=self.I2)
        if self.H2 is not None:
            cols["H2"] = self.H2
        cols["converged"] = self.converged
        return pd.DataFrame(cols, index=pd.Index(self.labels, name=self.unit))

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}

    def summary(self, digits: int = 4) -> str:
        return self.to_frame().to_string(float_format=lambda x: f"{x:.{digits}f}")


@dataclass(frozen=True, eq=False)
class StudentizedResiduals(ResultDisplay):
    """metafor ``rstudent``: deleted residuals, their SEs and ``z = resid/se`` per outcome (data order).

    For cluster deletion also ``X2`` (and ``k`` per cluster, ``cluster_labels``, sorted by id): the
    multivariate standardised residual of each cluster.
    """

    resid: np.ndarray
    se: np.ndarray
    z: np.ndarray
    unit: str = "outcome"
    cluster_labels: tuple | None = None
    X2: np.ndarray | None = None
    cluster_k: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"resid": self.resid, "se": self.se, "z": self.z},
                            index=pd.RangeIndex(1, self.resid.size + 1, name="row"))

    def key_numbers(self) -> list[tuple[str, str]]:
        """How many residuals, the largest |z| and where, and how many exceed 1.96."""
        z = np.abs(np.asarray(self.z, dtype=float))
        if not z.size or np.isnan(z).all():
            return [("residuals", str(z.size))]
        i = int(np.nanargmax(z))
        return [("residuals", f"{z.size} ({self.unit})"), ("largest |z|", f"{z[i]:.3g} (row {i + 1})"),
                ("|z| > 1.96", str(int(np.sum(z > 1.96))))]

    def summary(self, digits: int = 4) -> str:
        """A table of the studentised deleted residuals (metafor ``rstudent``)."""
        return self.to_frame().round(digits).to_string()

    def to_dict(self) -> dict:
        return {"resid": self.resid.tolist(), "se": self.se.tolist(), "z": self.z.tolist(), "unit": self.unit,
                "cluster_labels": None if self.cluster_labels is None else list(self.cluster_labels),
                "X2": None if self.X2 is None else self.X2.tolist(),
                "cluster_k": None if self.cluster_k is None else self.cluster_k.tolist()}


@dataclass(frozen=True, eq=False)
class InfluenceResult(ResultDisplay):
    """Cook's distances, studentised residuals and leave-one-out refits from one set of refits."""

    unit: str
    labels: tuple
    cooks: np.ndarray
    rstudent: StudentizedResiduals
    leave_one_out: LeaveOneOut
    names: tuple[str, ...] = ()
    dfbetas: np.ndarray | None = None  # (n, p); univariate: outcome deletion only
    dffits: np.ndarray | None = None  # univariate, outcome deletion
    cov_r: np.ndarray | None = None  # univariate, outcome deletion
    hat: np.ndarray | None = None  # per outcome of the full fit (hatvalues)
    weight: np.ndarray | None = None  # per outcome of the full fit, percent (weights)
    is_influential: np.ndarray | None = None  # univariate, outcome deletion (metafor's "*")

    @property
    def tau2_del(self) -> np.ndarray:
        """τ² (univariate) or the first σ² (multilevel) of each refit."""
        return self.leave_one_out.components[:, 0]

    @property
    def QE_del(self) -> np.ndarray:
        return self.leave_one_out.QE

    def metafor_frame(self) -> pd.DataFrame:
        """metafor's ``influence()`` table: rstudent, dffits, cook.d, cov.r, tau2.del, QE.del, hat, weight,
        dfbs (one column per coefficient) and inf (``"*"`` for influential cases); univariate, per outcome."""
        if self.unit != "outcome" or self.dffits is None:
            raise MetaInputError("metafor's influence() table is defined for univariate models, deleting outcomes")
        cols = {"rstudent": self.rstudent.z, "dffits": self.dffits, "cook.d": self.cooks, "cov.r": self.cov_r,
                "tau2.del": self.tau2_del, "QE.del": self.QE_del, "hat": self.hat, "weight": self.weight}
        for j, n in enumerate(self.names):
            cols[f"dfbs.{n}"] = self.dfbetas[:, j]
        cols["inf"] = np.where(self.is_influential, "*", "")
        return pd.DataFrame(cols, index=pd.Index(self.labels, name="row"))

    def to_frame(self) -> pd.DataFrame:
        frame = self.leave_one_out.to_frame()
        frame.insert(0, "cooks_distance", self.cooks)
        if self.unit == "outcome":
            frame.insert(1, "rstudent", self.rstudent.z)
        elif self.rstudent.X2 is not None:
            frame.insert(1, "X2", self.rstudent.X2)
        pos = 2
        for key in ("dffits", "cov_r"):
            val = getattr(self, key)
            if val is not None:
                frame.insert(pos, key, val)
                pos += 1
        if self.dfbetas is not None:
            single = len(self.names) == 1
            for j, n in enumerate(self.names):
                frame.insert(pos, "dfbetas" + ("" if single else f"[{n}]"), self.dfbetas[:, j])
                pos += 1
        if self.unit == "outcome":
            for key in ("hat", "weight"):
                val = getattr(self, key)
                if val is not None:
                    frame.insert(pos, key, val)
                    pos += 1
            if self.is_influential is not None:
                frame["influential"] = self.is_influential
        return frame

    def to_dict(self) -> dict:
        def arr(x):
            return None if x is None else np.asarray(x).tolist()

        return {"unit": self.unit, "labels": list(self.labels), "names": list(self.names),
                "cooks_distance": self.cooks.tolist(), "rstudent": self.rstudent.to_dict(),
                "dffits": arr(self.dffits), "cov_r": arr(self.cov_r), "dfbetas": arr(self.dfbetas),
                "tau2_del": arr(self.tau2_del), "QE_del": arr(self.QE_del),
                "hat": arr(self.hat), "weight": arr(self.weight), "is_influential": arr(self.is_influential),
                "leave_one_out": self.leave_one_out.to_dict()}

    def summary(self, digits: int = 4) -> str:
        return self.to_frame().to_string(float_format=lambda x: f"{x:.{digits}f}")


# --------------------------------------------------------------------------------------------------- compute
def _cooks(result, R: _Refits) -> np.ndarray:
    svb = np.linalg.inv(np.asarray(result.vb, float))
    dfb = np.asarray(result.beta, float)[None, :] - R.beta
    return np.einsum("ij,jk,ik->i", dfb, svb, dfb)


def _rstudent(kind, labels, members, R: _Refits) -> StudentizedResiduals:
    z = R.resid / R.se
    if kind == "outcome":
        return StudentizedResiduals(resid=R.resid, se=R.se, z=z, unit=kind)
    kc = np.array([m.size for m in members], dtype=float)
    return StudentizedResiduals(resid=R.resid, se=R.se, z=z, unit=kind, cluster_labels=tuple(labels), X2=R.X2,
                                cluster_k=kc)


def _loo(result, kind, labels, R: _Refits) -> LeaveOneOut:
    names = tuple(c.name for c in result.coefficients)
    multilevel = _is_multilevel(result)
    comp_names = tuple(f"sigma2.{j + 1}" for j in range(len(result.sigma2))) if multilevel else ("tau2",)
    se = np.sqrt(np.clip(np.diagonal(R.vb, axis1=1, axis2=2), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = R.beta / se
    alpha = 1.0 - float(result.level)
    if R.ddf is None:
        pv = 2 * stats.norm.sf(np.abs(stat))
        crit = np.full_like(stat, stats.norm.isf(alpha / 2))
    else:
        d = R.ddf if R.ddf.ndim == 2 else np.broadcast_to(R.ddf[:, None], stat.shape)
        pv = 2 * stats.t.sf(np.abs(stat), d)
        crit = stats.t.isf(alpha / 2, d)
    return LeaveOneOut(unit=kind, labels=tuple(labels), names=names, component_names=comp_names, k=R.k,
                       estimate=R.beta, se=se, z=stat, p=pv, ci_lb=R.beta - crit * se, ci_ub=R.beta + crit * se,
                       components=R.components, QE=R.QE, QE_p=R.QE_p, I2=R.I2, converged=R.converged,
                       H2=None if multilevel else R.H2)


def hatvalues(result) -> np.ndarray:
    """metafor ``hatvalues``: diagonal of the hat matrix ``X(X'WX)⁻¹X'W`` of the fit (W = M⁻¹ for ``rma.mv``).

    Values above ``1 − 10ε`` are set to 1, as metafor does.
    """
    X = np.asarray(result.X, float)
    v = np.asarray(result.vi, float)
    if _is_multilevel(result):
        WX = result._structure.solve(np.asarray(result.sigma2, float), v, X)
    else:
        WX = X / (v + float(result.tau2))[:, None]
    S = np.linalg.inv(X.T @ WX)
    h = np.einsum("ij,jk,ik->i", X, S, WX)
    h[h > 1 - 10 * np.finfo(float).eps] = 1.0
    return h


def _dfbetas(result, R: _Refits) -> np.ndarray:
    """metafor ``dfbetas``: ``(b − b₍₋ᵤ₎)/√diag(vb)`` with ``vb`` the full data's ``(X'W X)⁻¹`` at the refit's
    variance components (times the refit's Knapp–Hartung factor for univariate models)."""
    X = np.asarray(result.X, float)
    v = np.asarray(result.vi, float)
    b = np.asarray(result.beta, float)
    n, p = R.beta.shape
    out = np.full((n, p), np.nan)
    if _is_multilevel(result):
        for u in range(n):
            if not np.all(np.isfinite(R.components[u])):
                continue
            WX = result._structure.solve(R.components[u], v, X)
            out[u] = (b - R.beta[u]) / np.sqrt(np.diag(np.linalg.inv(X.T @ WX)))
        return out
    t2 = R.components[:, 0]
    ok = np.isfinite(t2)
    if ok.any():
        W = 1.0 / (v[None, :] + t2[ok, None])
        S = np.linalg.inv(np.einsum("ji,nj,jk->nik", X, W, X))
        var = R.s2w[ok, None] * np.diagonal(S, axis1=1, axis2=2)
        out[ok] = (b[None, :] - R.beta[ok]) / np.sqrt(var)
    return out


def dfbetas(result, *, cluster: str | Sequence | None = None) -> np.ndarray:
    """metafor ``dfbetas``: one row per deleted outcome (or cluster, sorted by id), one column per coefficient."""
    _, _, _, R = _refits(result, cluster)
    return _dfbetas(result, R)


def influence(result, *, cluster: str | Sequence | None = None) -> InfluenceResult:
    """Cook's distance, studentised residuals and leave-one-out refits, deleting outcomes or clusters.

    Parameters
    ----------
    result : UnivariateResult or MultilevelResult
    cluster : str or array-like, optional
        ``None``: delete one outcome at a time.  A level name of a multilevel model (e.g. ``"study"``) or an
        id array (one id per estimate of the fit, or per input row when the fit omitted rows with missing
        values): delete one cluster at a time (metafor's ``cluster=``); clusters are sorted by id and labelled
        by it.

    Returns
    -------
    InfluenceResult

    Raises
    ------
    MetaInputError
        Unknown level name, wrong number of ids, or missing ids (rows named).
    """
    kind, labels, members, R = _refits(result, cluster)
    cooks = _cooks(result, R)
    names = tuple(c.name for c in result.coefficients)
    dfbs = _dfbetas(result, R)
    hat = hatvalues(result)
    weight = np.asarray(result.weights(), float)
    extra: dict[str, Any] = {}
    if kind == "outcome" and not _is_multilevel(result):
        X = np.asarray(result.X, float)
        v = np.asarray(result.vi, float)
        k, p = X.shape
        b = np.asarray(result.beta, float)
        delpred = np.einsum("ij,ij->i", X, R.beta)
        t2 = R.components[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            dffits = (X @ b - delpred) / np.sqrt(R.s2w * hat * (t2 + v))
            cov_r = np.linalg.det(R.vb) / np.linalg.det(np.asarray(result.vb, float))
            infl = ((np.abs(dffits) > 3 * np.sqrt(p / (k - p))) | (stats.chi2.cdf(cooks, p) > 0.5)
                    | (hat > 3 * p / k) | np.any(np.abs(dfbs) > 1, axis=1))
        extra = dict(dffits=dffits, cov_r=cov_r, is_influential=infl)
    return InfluenceResult(unit=kind, labels=tuple(labels), cooks=cooks,
                           rstudent=_rstudent(kind, labels, members, R),
                           leave_one_out=_loo(result, kind, labels, R), names=names, dfbetas=dfbs, hat=hat,
                           weight=weight, **extra)


def leave_one_out(result, *, cluster: str | Sequence | None = None) -> LeaveOneOut:
    """metafor ``leave1out``: refit without each outcome (or cluster); see :func:`influence`."""
    kind, labels, _, R = _refits(result, cluster)
    return _loo(result, kind, labels, R)


def cooks_distance(result, *, cluster: str | Sequence | None = None) -> np.ndarray:
    """metafor ``cooks.distance``: one value per deleted outcome (or cluster, sorted by id)."""
    _, _, _, R = _refits(result, cluster)
    return _cooks(result, R)


def rstudent(result, *, cluster: str | Sequence | None = None) -> StudentizedResiduals:
    """metafor ``rstudent``: studentised deleted residuals per outcome (plus ``X2`` per deleted cluster)."""
    kind, labels, members, R = _refits(result, cluster)
    return _rstudent(kind, labels, members, R)
