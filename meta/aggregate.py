"""Aggregate dependent estimates within clusters assuming compound symmetry (metafor ``aggregate.escalc``).

Within cluster ``i`` the estimates have covariance ``V_i = S R S`` with ``S = diag(√v)`` and ``R`` a
compound-symmetric correlation matrix (1 on the diagonal, ``ρ`` elsewhere) — metafor's default
``struct="CS"``.  The weighted aggregate is the GLS mean ``ȳ = 1'V⁻¹y / 1'V⁻¹1`` with variance
``1/(1'V⁻¹1)``; the unweighted one is the plain mean with variance ``1'V1/k_i²``.

``V_i⁻¹`` is never formed: for compound symmetry ``R⁻¹ = (I − ρ/(1 − ρ + nρ)·11')/(1 − ρ)``, so every
cluster reduces to a few sums and the whole aggregation is O(k).

References
----------
Viechtbauer, W. metafor 3.8 ``aggregate.escalc`` (``R/aggregate.escalc.r``).
Borenstein, M., Hedges, L. V., Higgins, J. P. T., & Rothstein, H. R. (2009). *Introduction to
Meta-Analysis*, chapter 24 (multiple outcomes within a study).
"""

from __future__ import annotations

from dataclasses import dataclass
from meta.display import ResultDisplay
from typing import Sequence

import numpy as np

from meta.errors import MetaInputError
from meta.validation import check_effect_sizes

__all__ = ["AggregateResult", "aggregate_estimates"]


@dataclass(frozen=True)
class AggregateResult(ResultDisplay):
    """One aggregated estimate per cluster, clusters in order of first appearance (as metafor).

    Attributes
    ----------
    cluster : ndarray
        Cluster identifiers.
    yi, vi : ndarray
        Aggregated estimates and their sampling variances.
    ki : ndarray
        Number of estimates in each cluster.
    rho : ndarray
        Within-cluster correlation used for each cluster.
    weighted : bool
    """

    cluster: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    ki: np.ndarray
    rho: np.ndarray
    weighted: bool

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"cluster": self.cluster, "yi": self.yi, "vi": self.vi, "ki": self.ki})

    def to_dict(self) -> dict:
        return {
            "cluster": [c.item() if hasattr(c, "item") else c for c in self.cluster],
            "yi": self.yi.tolist(), "vi": self.vi.tolist(), "ki": self.ki.tolist(),
            "rho": self.rho.tolist(), "weighted": self.weighted,
        }

    def summary(self) -> str:
        lines = [f"Aggregated within {self.cluster.size} clusters (struct CS, "
                 f"{'weighted' if self.weighted else 'unweighted'})", f"{'cluster':>12} {'ki':>4} {'yi':>10} {'vi':>10}"]
        lines += [f"{str(c):>12} {n:4d} {y:10.4f} {v:10.4f}" for c, n, y, v in zip(self.cluster, self.ki, self.yi, self.vi)]
        return "\n".join(lines)


def aggregate_estimates(
    yi: Sequence[float],
    vi: Sequence[float],
    cluster: Sequence,
    rho: float | Sequence[float],
    weighted: bool = True,
) -> AggregateResult:
    """Combine estimates within clusters under compound symmetry (metafor ``aggregate(x, cluster, rho)``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances.
    cluster : array_like
        Cluster identifier of each estimate (e.g. the study).
    rho : float or array_like
        Assumed correlation between estimates of the same cluster, one value or one per cluster (in order
        of first appearance).  metafor has no default; 0.6 is a common choice.
    weighted : bool
        GLS (inverse-variance) aggregation (default) or the plain mean.

    Returns
    -------
    AggregateResult

    Notes
    -----
    With ``a_j = 1/√v_j`` within a cluster of size ``n``: ``1'V⁻¹1 = (Σa² − ρ(Σa)²/(1 − ρ + nρ))/(1 − ρ)`` and
    ``1'V⁻¹y = (Σa²y − ρ(Σa)(Σay)/(1 − ρ + nρ))/(1 − ρ)``; the unweighted variance is
    ``(Σv + ρ((Σ√v)² − Σv))/n²``.  A cluster whose ``V_i`` is not positive definite (``ρ`` = 1 or
    ``ρ ≤ −1/(n − 1)``) is an error, as in metafor.
    """
    y, v = check_effect_sizes(yi, vi, min_k=1)
    cl = np.asarray(cluster, dtype=object).reshape(-1)
    if cl.size != y.size:
        raise MetaInputError(f"cluster has {cl.size} values but there are {y.size} estimates")
    import pandas as pd

    missing = pd.isna(cl)
    if missing.any():
        rows = ", ".join(str(i) for i in (np.flatnonzero(missing) + 1)[:8])
        raise MetaInputError(f"cluster: missing id in row(s) {rows}")
    codes, uniq = pd.factorize(pd.Series(cl), sort=False)
    n_cl = uniq.size
    r = np.asarray(rho, dtype=float).reshape(-1)
    if r.size == 1:
        r = np.full(n_cl, r[0])
    if r.size != n_cl:
        raise MetaInputError(f"rho has {r.size} values but there are {n_cl} clusters")
    if np.any(~np.isfinite(r)) or np.any(np.abs(r) > 1):
        raise MetaInputError("rho must lie in [-1, 1]")
    ki = np.bincount(codes, minlength=n_cl)
    a = 1 / np.sqrt(v)
    s_a = np.bincount(codes, a, n_cl)
    s_a2 = np.bincount(codes, a * a, n_cl)
    # positive definiteness of R: eigenvalues 1 - rho (n - 1 times) and 1 + (n - 1) rho
    bad = (ki > 1) & ((1 - r <= np.finfo(float).eps) | (1 + (ki - 1) * r <= np.finfo(float).eps))
    if bad.any():
        names = ", ".join(str(u) for u in uniq[bad][:8])
        raise MetaInputError(f"rho: within-cluster covariance matrix not positive definite for cluster(s) {names}")
    if weighted:
        s_a2y = np.bincount(codes, a * a * y, n_cl)
        s_ay = np.bincount(codes, a * y, n_cl)
        single = ki == 1
        rr = np.where(single, 0.0, r)  # a single estimate is its own aggregate whatever rho is
        denom = 1 - rr + ki * rr
        sum_w = (s_a2 - rr * s_a**2 / denom) / (1 - rr)
        sum_wy = (s_a2y - rr * s_a * s_ay / denom) / (1 - rr)
        y_agg = sum_wy / sum_w
        v_agg = 1 / sum_w
    else:
        s_y = np.bincount(codes, y, n_cl)
        s_v = np.bincount(codes, v, n_cl)
        s_sd = np.bincount(codes, np.sqrt(v), n_cl)
        y_agg = s_y / ki
        v_agg = (s_v + r * (s_sd**2 - s_v)) / ki**2
    return AggregateResult(cluster=np.asarray(uniq), yi=y_agg, vi=v_agg, ki=ki, rho=r, weighted=bool(weighted))
