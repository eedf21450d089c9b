"""Wald-type inference shared by every model in :mod:`meta`: coefficient tables and omnibus tests.

Notes
-----
These follow metafor 3.8 exactly (``rma.uni`` and ``rma.mv``):

* ``test="z"``: ``z_j = b_j / se_j``, two-sided normal p-values, CI ``b ± z_{1-α/2}·se``; the omnibus
  test of the coefficients ``btt`` is ``QM = b_btt' vb_btt⁻¹ b_btt`` referred to χ²(m).
* ``test="t"``: ``t_j = b_j / se_j`` on ``df_j`` degrees of freedom (``k − p`` by default, or per
  coefficient with ``dfs="contain"``), CI ``b ± t_{1-α/2, df_j}·se``; the omnibus test is
  ``F = QM / m`` on ``(m, min(df_btt))`` degrees of freedom (metafor ``rma.mv``, ``.ddf.calc``).

Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw* 36(3).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from meta.errors import MetaInputError


@dataclass(frozen=True)
class Coefficient:
    """One row of a coefficient table: estimate, standard error, test statistic, p-value and CI.

    ``z`` holds the Wald statistic whether it is referred to the normal or the t distribution
    (``df`` is ``None`` for z tests), matching the CLI's JSON field name.
    """

    name: str
    estimate: float
    se: float
    z: float
    p: float
    ci_lb: float
    ci_ub: float
    df: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OmnibusTest:
    """Test of moderators (QM): χ² for z tests, F = QM/m for t tests."""

    statistic: float
    df: int
    p: float
    ddf: float | None = None  # denominator df of the F test; None for the χ² form
    QM: float = float("nan")  # the Wald χ² value itself (equals statistic for z tests)


def coefficient_table(
    names: Sequence[str],
    beta: np.ndarray,
    vb: np.ndarray,
    *,
    test: str = "z",
    df: float | Sequence[float] | None = None,
    level: float = 0.95,
) -> tuple[Coefficient, ...]:
    """Build the metafor-style coefficient table from estimates and their covariance matrix.

    Parameters
    ----------
    names : sequence of str
        Coefficient names in model-matrix order (intercept first).
    beta : ndarray, shape (p,)
        Estimates.
    vb : ndarray, shape (p, p)
        Covariance matrix of the estimates (metafor's ``vb``).
    test : {"z", "t"}
        Reference distribution.
    df : float or sequence of float, optional
        Degrees of freedom for ``test="t"`` (scalar or one per coefficient).
    level : float
        Confidence level of the intervals.

    Notes
    -----
    metafor ``rma.uni``/``rma.mv``: ``se = sqrt(diag(vb))``; ``crit = qnorm(1-α/2)`` or ``qt(1-α/2, ddf)``.
    """
    beta = np.asarray(beta, dtype=float).reshape(-1)
    vb = np.asarray(vb, dtype=float).reshape(beta.size, beta.size)
    se = np.sqrt(np.clip(np.diag(vb), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    alpha = 1.0 - level
    if test == "z":
        p = 2.0 * stats.norm.sf(np.abs(stat))
        crit = np.full(beta.size, stats.norm.ppf(1.0 - alpha / 2.0))
        dfs = [None] * beta.size
    elif test == "t":
        if df is None:
            raise ValueError("test='t' needs degrees of freedom")
        dfs_arr = np.broadcast_to(np.asarray(df, dtype=float), beta.shape)
        p = 2.0 * stats.t.sf(np.abs(stat), dfs_arr)
        crit = stats.t.ppf(1.0 - alpha / 2.0, dfs_arr)
        dfs = [float(d) for d in dfs_arr]
    else:
        raise ValueError(f"test must be 'z' or 't' (got {test!r})")
    return tuple(
        Coefficient(
            name=str(n), estimate=float(b), se=float(s), z=float(z), p=float(pv),
            ci_lb=float(b - c * s), ci_ub=float(b + c * s), df=d,
        )
        for n, b, s, z, pv, c, d in zip(names, beta, se, stat, p, crit, dfs)
    )


def omnibus_test(
    beta: np.ndarray,
    vb: np.ndarray,
    btt: Sequence[int],
    *,
    test: str = "z",
    ddf: float | None = None,
) -> OmnibusTest:
    """Wald test that the coefficients ``btt`` are all zero (metafor's QM).

    Notes
    -----
    ``QM = b[btt]' vb[btt, btt]⁻¹ b[btt]``; z tests: ``p = P(χ²_m > QM)``; t tests: ``F = QM/m`` with
    ``p = P(F_{m, ddf} > F)`` (metafor ``rma.mv``: ``QMp <- pf(QM, df1=m, df2=min(ddf[btt]))``).
    """
    btt = list(btt)
    m = len(btt)
    if m == 0:
        return OmnibusTest(statistic=float("nan"), df=0, p=float("nan"), ddf=ddf)
    b = np.asarray(beta, dtype=float)[btt]
    sub = np.asarray(vb, dtype=float)[np.ix_(btt, btt)]
    qm = float(b @ np.linalg.solve(sub, b))
    if test == "z":
        return OmnibusTest(statistic=qm, df=m, p=float(stats.chi2.sf(qm, m)), ddf=None, QM=qm)
    if ddf is None:
        raise ValueError("test='t' needs denominator degrees of freedom")
    f = qm / m
    return OmnibusTest(statistic=f, df=m, p=float(stats.f.sf(f, m, ddf)), ddf=float(ddf), QM=qm)


def prediction_interval(
    estimate: float, se: float, total_variance: float, *, test: str = "z", df: float | None = None,
    level: float = 0.95,
) -> tuple[float, float]:
    """Prediction interval for a new true effect: ``estimate ± crit·sqrt(se² + Σσ²)`` (metafor ``predict``)."""
    alpha = 1.0 - level
    crit = stats.norm.ppf(1 - alpha / 2) if test == "z" else stats.t.ppf(1 - alpha / 2, df)
    half = crit * np.sqrt(se**2 + total_variance)
    return float(estimate - half), float(estimate + half)


def parse_btt(btt, p: int, names: Sequence[str], default: Sequence[int]) -> tuple[int, ...]:
    """metafor's ``btt``: 1-based coefficient numbers or names → sorted unique 0-based indices.

    A name matches a coefficient exactly or, failing that, as a substring (metafor ``.set.btt`` uses
    ``grep``), so ``"deltype"`` selects every ``deltype...`` dummy.  ``None`` gives ``default``.
    """
    if btt is None:
        return tuple(default)
    items = [btt] if isinstance(btt, (int, np.integer, str)) else list(btt)
    if not items:
        raise MetaInputError("btt: no coefficients given")
    out = set()
    for b in items:
        if isinstance(b, str):
            matches = [j for j, n in enumerate(names) if n == b] or [j for j, n in enumerate(names) if b in n]
            if not matches:
                raise MetaInputError(f"btt: no coefficient named {b!r} (coefficients: {', '.join(names)})")
            out.update(matches)
        else:
            j = int(b)
            if not 1 <= j <= p:
                raise MetaInputError(f"btt: coefficient {j} out of range 1..{p} (btt is 1-based)")
            out.add(j - 1)
    return tuple(sorted(out))


def contrast_matrix(X, p: int, names: Sequence[str]) -> np.ndarray:
    """Rows of linear combinations ``X`` (``q × p``) as a float matrix; an intercept model's ``X`` may omit the
    intercept column, which is then 1 (metafor ``anova(fit, X=)``)."""
    try:
        C = np.atleast_2d(np.asarray(X, dtype=float))
    except (TypeError, ValueError):
        raise MetaInputError("X: the contrast matrix must be numeric") from None
    has_int = bool(names) and names[0] == "intrcpt"
    if has_int and C.shape[1] == p - 1:  # metafor: the intercept column may be left out
        C = np.column_stack([np.ones(C.shape[0]), C])
    if C.ndim != 2 or C.shape[1] != p:
        raise MetaInputError(f"X: {C.shape[-1]} column(s) for {p} model coefficients ({', '.join(names)})")
    if not np.all(np.isfinite(C)):
        raise MetaInputError("X: the contrast matrix has missing or non-finite values")
    return C
