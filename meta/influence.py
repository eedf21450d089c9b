"""Influence diagnostics: leave-one-out by outcome or cluster, Cook's distance, studentised residuals.

Works for multilevel results (:func:`meta.multilevel.fit_multilevel`) and univariate results
(:func:`meta.univariate.fit_random_effects`).  metafor 3.8 has ``cooks.distance`` and ``rstudent`` for
``rma.mv`` but no ``leave1out`` (orchaRd and dmetar fill that gap by hand); here all three share one refit
loop.

Notes
-----
Following metafor (``cooks.distance.rma.mv``, ``rstudent.rma.mv``, ``influence.rma.uni``,
``leave1out.rma.uni``; Viechtbauer & Cheung 2010, *Res Synth Methods* 1:112–125):

* Each unit (one outcome, or all outcomes of one cluster) is deleted in turn and the model is refitted with
  the variance components re-estimated (``reestimate=TRUE``), started at the full-data estimates.
  Components that were fixed in the full fit stay fixed; a grouping factor left with one level gets
  ``σ² = 0``, as ``rma.mv`` does.
* Cook's distance ``D = (b − b₍₋ᵢ₎)' vb⁻¹ (b − b₍₋ᵢ₎)`` over all coefficients, with ``vb`` of the full fit.
* Studentised deleted residuals: ``e = y_i − x_i b₍₋ᵢ₎`` with
  ``se = sqrt(M_ii(θ₍₋ᵢ₎) + x_i vb₍₋ᵢ₎ x_i')`` where ``M(θ₍₋ᵢ₎)`` is the marginal covariance of the *full*
  data at the deleted-fit variance components (``v_i + τ²₍₋ᵢ₎`` for univariate models); for a deleted
  cluster also ``X² = e' (M_cc + X_c vb₍₋c₎ X_c')⁻¹ e`` on ``k_c`` df.
* Leave-one-out summaries report, per deleted unit, the coefficients with their tests and CIs, the variance
  components, QE and I² of the refit (metafor ``leave1out``'s columns).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from meta.errors import MetaInputError
from meta.heterogeneity import fixed_effects_q, i_squared


# --------------------------------------------------------------------------------------------------- units
def _is_multilevel(result) -> bool:
    return hasattr(result, "sigma2") and getattr(result, "_structure", None) is not None


def _units(result, cluster: Any) -> tuple[str, list, list[np.ndarray]]:
    """Return (kind, labels, index arrays) of the units to delete."""
    k = int(result.k)
    if cluster is None:
        return "outcome", list(range(1, k + 1)), [np.array([i]) for i in range(k)]
    if isinstance(cluster, str):
        if not _is_multilevel(result) or cluster not in result.level_names:
            raise MetaInputError(f"cluster {cluster!r} is not a level of the model")
        j = list(result.level_names).index(cluster)
        codes = result._structure.codes[j]
        ids = codes
    else:
        ids = np.asarray(cluster)
        if ids.shape != (k,):
            raise MetaInputError(f"cluster has {ids.size} ids for {k} estimates")
        miss = pd.isna(pd.Series(ids)).to_numpy()
        if miss.any():
            from meta.validation import format_rows

            raise MetaInputError(f"cluster: missing id in row(s) {format_rows(miss)}")
    # units in order of first appearance (metafor: ids <- unique(cluster))
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    members = [np.flatnonzero(inverse.reshape(-1) == u) for u in order]
    if isinstance(cluster, str):
        labels = [int(m[0]) + 1 for m in members]  # first data row of each cluster
        kind = f"cluster:{cluster}"
    else:
        labels = [ids[m[0]].item() if hasattr(ids[m[0]], "item") else ids[m[0]] for m in members]
        kind = "cluster"
    return kind, labels, members


# --------------------------------------------------------------------------------------------------- refits
@dataclass
class _Refit:
    beta: np.ndarray
    vb: np.ndarray
    components: tuple[float, ...]
    converged: bool
    k: int
    p: int
    ddf: np.ndarray | None
    QE: float
    QE_p: float
    I2: float
    block: np.ndarray | None  # marginal covariance of the deleted rows at the refit components


def _refit_without(result, drop: np.ndarray) -> _Refit | None:
    k = int(result.k)
    keep = np.ones(k, dtype=bool)
    keep[drop] = False
    X = np.asarray(result.X, dtype=float)
    Xk = X[keep]
    p = X.shape[1]
    if keep.sum() <= p or np.linalg.matrix_rank(Xk) < p:
        return None  # metafor: coefficient(s) not estimable -> NA
    yk, vk = np.asarray(result.yi)[keep], np.asarray(result.vi)[keep]
    if _is_multilevel(result):
        from meta.multilevel import contain_ddf, refit

        opt, struct_k, *_ = refit(result, keep=keep, start=np.asarray(result.sigma2, float), raise_on_failure=False)
        comps = tuple(float(s) for s in opt.sigma2)
        beta, vb = opt.evaluation.beta, opt.evaluation.vb
        converged = opt.converged
        if result.test == "t":
            ddf = contain_ddf(Xk, struct_k) if result.dfs == "contain" else np.full(p, float(Xk.shape[0] - p))
        else:
            ddf = None
        block = result._structure.covariance_block(comps, np.asarray(result.vi), np.asarray(drop))
    else:
        from meta.univariate import fit_random_effects

        try:
            fit = fit_random_effects(
                yk, vk, X=Xk, names=[c.name for c in result.coefficients], method=result.method,
                test=result.test, level=result.level,
                tau2_init=None if result.method in ("FE", "DL") or not np.isfinite(result.tau2) else float(result.tau2),
            )
        except MetaInputError:
            return None
        tau2 = 0.0 if result.method == "FE" else float(fit.tau2)
        comps = (tau2,)
        beta, vb = np.asarray(fit.beta, float), np.asarray(fit.vb, float)
        converged = bool(fit.converged)
        ddf = np.full(p, float(Xk.shape[0] - p)) if result.test == "t" else None
        block = np.diag(np.asarray(result.vi, float)[drop] + tau2)
    qe, _, qe_p = fixed_effects_q(yk, vk, Xk)
    i2 = i_squared(vk, comps, Xk)[0]
    return _Refit(beta=np.asarray(beta, float), vb=np.asarray(vb, float), components=comps, converged=converged,
                  k=int(keep.sum()), p=p, ddf=ddf, QE=qe, QE_p=qe_p, I2=i2, block=block)


def _refits(result, cluster) -> tuple[str, list, list[np.ndarray], list[_Refit | None]]:
    kind, labels, members = _units(result, cluster)
    return kind, labels, members, [_refit_without(result, m) for m in members]


# --------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class LeaveOneOut:
    """Per deleted unit: coefficients, tests, CIs, variance components, QE and I² of the refit.

    Arrays have one row per unit (``labels``: 1-based data rows for outcomes, cluster ids for clusters) and,
    for coefficient quantities, one column per coefficient (``names``).
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
        cols.update(QE=self.QE, QE_p=self.QE_p, I2=self.I2, converged=self.converged)
        return pd.DataFrame(cols, index=pd.Index(self.labels, name=self.unit))

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}


@dataclass(frozen=True, eq=False)
class StudentizedResiduals:
    """metafor ``rstudent``: deleted residuals, their SEs and ``z = resid/se`` per outcome (data order).

    For cluster deletion also ``X2`` (and ``k`` per cluster, ``cluster_labels``): the multivariate
    standardised residual of each cluster.
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


@dataclass(frozen=True, eq=False)
class InfluenceResult:
    """Cook's distances, studentised residuals and leave-one-out refits from one refit loop."""

    unit: str
    labels: tuple
    cooks: np.ndarray
    rstudent: StudentizedResiduals
    leave_one_out: LeaveOneOut

    def to_frame(self) -> pd.DataFrame:
        frame = self.leave_one_out.to_frame()
        frame.insert(0, "cooks_distance", self.cooks)
        if self.unit == "outcome":
            frame.insert(1, "rstudent", self.rstudent.z)
        elif self.rstudent.X2 is not None:
            frame.insert(1, "X2", self.rstudent.X2)
        return frame

    def to_dict(self) -> dict:
        return {"unit": self.unit, "labels": list(self.labels), "cooks_distance": self.cooks.tolist(),
                "rstudent": {"resid": self.rstudent.resid.tolist(), "se": self.rstudent.se.tolist(),
                             "z": self.rstudent.z.tolist(),
                             "X2": None if self.rstudent.X2 is None else self.rstudent.X2.tolist()},
                "leave_one_out": self.leave_one_out.to_dict()}


# --------------------------------------------------------------------------------------------------- compute
def _cooks(result, refits) -> np.ndarray:
    beta = np.asarray(result.beta, float)
    vb = np.asarray(result.vb, float)
    svb = np.linalg.inv(vb)
    out = np.full(len(refits), np.nan)
    for u, r in enumerate(refits):
        if r is None:
            continue
        dfb = beta - r.beta
        out[u] = float(dfb @ svb @ dfb)
    return out


def _rstudent(result, kind, labels, members, refits) -> StudentizedResiduals:
    k = int(result.k)
    X = np.asarray(result.X, float)
    y = np.asarray(result.yi, float)
    resid = np.full(k, np.nan)
    se = np.full(k, np.nan)
    X2 = np.full(len(members), np.nan)
    kc = np.full(len(members), np.nan)
    for u, (idx, r) in enumerate(zip(members, refits)):
        if r is None:
            continue
        Xi = X[idx]
        e = y[idx] - Xi @ r.beta
        e[np.abs(e) < 100 * np.finfo(float).eps] = 0.0
        S = r.block + Xi @ r.vb @ Xi.T
        resid[idx] = e
        se[idx] = np.sqrt(np.diag(S))
        try:
            X2[u] = float(e @ np.linalg.solve(S, e))
        except np.linalg.LinAlgError:
            pass
        kc[u] = idx.size
    z = resid / se
    if kind == "outcome":
        return StudentizedResiduals(resid=resid, se=se, z=z, unit=kind)
    return StudentizedResiduals(resid=resid, se=se, z=z, unit=kind, cluster_labels=tuple(labels), X2=X2, cluster_k=kc)


def _loo(result, kind, labels, refits) -> LeaveOneOut:
    names = tuple(c.name for c in result.coefficients)
    p = len(names)
    comp_names = tuple(f"sigma2.{j + 1}" for j in range(len(result.sigma2))) if _is_multilevel(result) else ("tau2",)
    n = len(refits)
    est, se, z, pv, lb, ub = (np.full((n, p), np.nan) for _ in range(6))
    comps = np.full((n, len(comp_names)), np.nan)
    kk = np.zeros(n, dtype=int)
    qe, qep, i2 = (np.full(n, np.nan) for _ in range(3))
    conv = np.zeros(n, dtype=bool)
    alpha = 1.0 - float(result.level)
    for u, r in enumerate(refits):
        if r is None:
            continue
        s = np.sqrt(np.clip(np.diag(r.vb), 0, None))
        stat = r.beta / s
        if r.ddf is None:
            pvals = 2 * stats.norm.sf(np.abs(stat))
            crit = stats.norm.ppf(1 - alpha / 2)
        else:
            pvals = 2 * stats.t.sf(np.abs(stat), r.ddf)
            crit = stats.t.ppf(1 - alpha / 2, r.ddf)
        est[u], se[u], z[u], pv[u] = r.beta, s, stat, pvals
        lb[u], ub[u] = r.beta - crit * s, r.beta + crit * s
        comps[u] = r.components
        kk[u], qe[u], qep[u], i2[u], conv[u] = r.k, r.QE, r.QE_p, r.I2, r.converged
    return LeaveOneOut(unit=kind, labels=tuple(labels), names=names, component_names=comp_names, k=kk,
                       estimate=est, se=se, z=z, p=pv, ci_lb=lb, ci_ub=ub, components=comps, QE=qe, QE_p=qep,
                       I2=i2, converged=conv)


def influence(result, *, cluster: str | Sequence | None = None) -> InfluenceResult:
    """Cook's distance, studentised residuals and leave-one-out refits, deleting outcomes or clusters.

    Parameters
    ----------
    result : MultilevelResult or UnivariateResult
    cluster : str or array-like, optional
        ``None``: delete one outcome at a time.  A level name of a multilevel model (e.g. ``"study"``) or an
        id array: delete one cluster at a time (metafor's ``cluster=`` argument), in order of first appearance.
    """
    kind, labels, members, refits = _refits(result, cluster)
    return InfluenceResult(unit=kind, labels=tuple(labels), cooks=_cooks(result, refits),
                           rstudent=_rstudent(result, kind, labels, members, refits),
                           leave_one_out=_loo(result, kind, labels, refits))


def leave_one_out(result, *, cluster: str | Sequence | None = None) -> LeaveOneOut:
    """Refit without each outcome (or cluster); see :func:`influence`."""
    kind, labels, _, refits = _refits(result, cluster)
    return _loo(result, kind, labels, refits)


def cooks_distance(result, *, cluster: str | Sequence | None = None) -> np.ndarray:
    """metafor ``cooks.distance``: one value per deleted outcome (or cluster, in order of first appearance)."""
    _, _, _, refits = _refits(result, cluster)
    return _cooks(result, refits)


def rstudent(result, *, cluster: str | Sequence | None = None) -> StudentizedResiduals:
    """metafor ``rstudent``: studentised deleted residuals per outcome (plus ``X2`` per deleted cluster)."""
    kind, labels, members, refits = _refits(result, cluster)
    return _rstudent(result, kind, labels, members, refits)
