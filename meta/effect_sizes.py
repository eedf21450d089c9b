"""Standardised mean differences: Hedges' g (Borenstein et al. 2009) and metafor's ``escalc`` SMD, SMCC, SMCR.

Sign convention
---------------
Every function returns ``yi = group 1 − group 2`` (``m1 − m2``).  Pass the drug (antagonist) condition as
group 1 and placebo as group 2, so that — as in Løseth, Trøstheim & Leknes (2024) — a **negative** effect
means a lower outcome under the drug.  For t, F, d and g inputs the sign is that of the supplied statistic;
F has no sign, so F inputs need an explicit ``sign``.

All functions are vectorised over NumPy arrays (scalars broadcast) and return :class:`EffectSizes`.  A missing
input (NaN/None) gives NaN ``yi``/``vi`` in that row, as metafor's ``escalc`` returns NA, so incomplete rows
can be passed through and dropped by the model fit (``na="omit"``); impossible values (negative SDs,
``|r| > 1`` ...) and infinite inputs raise a one-line :class:`~meta.errors.MetaInputError`.  The other
escalc measures (OR, RR, RD, COR, ZCOR, MD, ROM, PR, PLO, IRR) are in :mod:`meta.effect_measures`.

References
----------
Borenstein, M., Hedges, L. V., Higgins, J. P. T., & Rothstein, H. R. (2009). *Introduction to
Meta-Analysis*, chapter 4. Wiley.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw* 36(3);
metafor 3.8 ``escalc`` (``R/escalc.r``, ``.cmicalc``).
Becker, B. J. (1988). Synthesizing standardized mean-change measures. *Br J Math Stat Psychol* 41, 257–278.
Gibbons, R. D., Hedeker, D. R., & Davis, J. M. (1993). Estimation of effect size from a series of
experiments involving paired comparisons. *J Educ Stat* 18, 271–279.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from meta.display import ResultDisplay

import numpy as np
from scipy import special, stats

from meta.errors import MetaInputError
from meta.validation import format_rows

__all__ = [
    "EffectSizes",
    "hedges_j",
    "hedges_g_between",
    "hedges_g_within",
    "smd",
    "smcc",
    "smcr",
    "vi_from_ci",
]

_Z975 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class EffectSizes(ResultDisplay):
    """Effect-size estimates ``yi`` and their sampling variances ``vi`` (metafor's ``escalc`` columns).

    Attributes
    ----------
    yi, vi : ndarray
        Estimates and sampling variances, one per row of the input.
    measure : str
        ``"g_between"``, ``"g_within"``, ``"SMD"``, ``"SMCC"`` or ``"SMCR"``.
    """

    yi: np.ndarray
    vi: np.ndarray
    measure: str

    @property
    def sei(self) -> np.ndarray:
        """Standard errors ``sqrt(vi)``."""
        return np.sqrt(self.vi)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"yi": self.yi, "vi": self.vi})

    def to_dict(self) -> dict:
        return {"measure": self.measure, "yi": self.yi.tolist(), "vi": self.vi.tolist()}

    def summary(self) -> str:
        lines = [f"{self.measure}: k = {self.yi.size}", f"{'yi':>12} {'vi':>12}"]
        lines += [f"{y:12.4f} {v:12.4f}" for y, v in zip(self.yi, self.vi)]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------- helpers
def _arr(x, name: str) -> np.ndarray | None:
    if x is None:
        return None
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise MetaInputError(f"argument {name!r}: non-numeric values") from None
    return np.atleast_1d(a)


def _check(name: str, a: np.ndarray, *, positive: bool = False, nonneg: bool = False,
           corr: bool = False, greater: float | None = None) -> None:
    """Reject impossible values (rows named); NaN is a missing value and passes (its row's result is NaN)."""
    bad = np.isinf(a)
    if bad.any():
        raise MetaInputError(f"argument {name!r}: infinite value in row(s) {format_rows(bad)}")
    with np.errstate(invalid="ignore"):
        _check_values(name, a, positive, nonneg, corr, greater)


def _check_values(name, a, positive, nonneg, corr, greater) -> None:
    if positive and (a <= 0).any():
        raise MetaInputError(f"argument {name!r}: values must be > 0; row(s) {format_rows(a <= 0)}")
    if nonneg and (a < 0).any():
        raise MetaInputError(f"argument {name!r}: values must be >= 0; row(s) {format_rows(a < 0)}")
    if corr and (np.abs(a) > 1).any():
        raise MetaInputError(f"argument {name!r}: correlations must lie in [-1, 1]; row(s) {format_rows(np.abs(a) > 1)}")
    if greater is not None and (a <= greater).any():
        raise MetaInputError(f"argument {name!r}: values must be > {greater:g}; row(s) {format_rows(a <= greater)}")


def _broadcast(**arrays):
    present = {k: v for k, v in arrays.items() if v is not None}
    try:
        shaped = np.broadcast_arrays(*present.values())
    except ValueError:
        lens = ", ".join(f"{k}={np.size(v)}" for k, v in present.items())
        raise MetaInputError(f"inputs have incompatible lengths ({lens})") from None
    out = dict(zip(present.keys(), (np.array(s, dtype=float).reshape(-1) for s in shaped)))
    return {k: out.get(k) for k in arrays}


def hedges_j(m, *, exact: bool = True) -> np.ndarray:
    """Small-sample bias correction ``J(m)`` of a standardised mean difference on ``m`` degrees of freedom.

    Parameters
    ----------
    m : array_like
        Degrees of freedom (``n1 + n2 − 2`` for two groups, ``n − 1`` for one group / paired data).
    exact : bool
        ``True`` (default): the exact gamma-function form used by metafor's ``escalc``,
        ``J = exp(lgamma(m/2) − log√(m/2) − lgamma((m−1)/2))`` (NaN for ``m ≤ 1``).  ``False``: the
        approximation ``1 − 3/(4m − 1)`` (Hedges 1981; Borenstein et al. 2009, eq. 4.22).

    Notes
    -----
    The two forms differ by about 1e-5 relative for small ``m``, enough to miss a 1e-6 agreement with
    escalc, which is why the exact form is the default.
    """
    m = np.asarray(m, dtype=float)
    if not exact:
        return 1.0 - 3.0 / (4.0 * m - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(m > 1, m, 2.0)
        j = np.exp(special.gammaln(safe / 2) - np.log(np.sqrt(safe / 2)) - special.gammaln((safe - 1) / 2))
    return np.where(m > 1, j, np.nan)


def vi_from_ci(ci_lb, ci_ub, level: float = 0.95) -> np.ndarray:
    """Sampling variance from a symmetric Wald CI: ``((ub − lb) / (2·z_{1−α/2}))²``."""
    lb, ub = _arr(ci_lb, "ci_lb"), _arr(ci_ub, "ci_ub")
    _check("ci_lb", lb)
    _check("ci_ub", ub)
    if (ub <= lb).any():
        raise MetaInputError(f"argument 'ci_ub': upper limit must exceed lower limit; row(s) {format_rows(ub <= lb)}")
    z = stats.norm.ppf(0.5 + level / 2)
    return ((ub - lb) / (2 * z)) ** 2


def _t_from_f(f, sign, name="f"):
    f = _arr(f, name)
    _check(name, f, nonneg=True)
    if sign is None:
        raise MetaInputError("an F statistic has no sign: give 'sign' (+1 or -1; -1 = lower under group 1)")
    s = _arr(sign, "sign")
    wrong = ~np.isin(s, (-1.0, 1.0)) & ~np.isnan(s)
    if wrong.any():
        raise MetaInputError(f"argument 'sign': values must be +1 or -1; row(s) {format_rows(wrong)}")
    return s * np.sqrt(f)


def _t_from_p(p, df):
    """Signed two-sided p → t, as metafor 4 ``escalc(pi=)``: ``sign(p)·qt(|p|/2, df, upper)``."""
    _check("p", np.abs(p), positive=True)
    if (np.abs(p) > 1).any():
        raise MetaInputError(f"argument 'p': |p| must be <= 1; row(s) {format_rows(np.abs(p) > 1)}")
    return np.sign(p) * stats.t.isf(np.abs(p) / 2, df)


# --------------------------------------------------------------------------- Borenstein Hedges' g
def hedges_g_between(
    m1=None, m2=None, sd1=None, sd2=None, n1=None, n2=None, *,
    t=None, f=None, sign=None, d=None, g=None, ci_lb=None, ci_ub=None, exact_j: bool = False,
) -> EffectSizes:
    """Hedges' g for two independent groups (Borenstein et al. 2009, §4.2–4.3).

    Give exactly one of: means/SDs (``m1, m2, sd1, sd2``), ``t`` (independent-samples t), ``f`` with
    ``sign`` (one-df F = t²), Cohen's ``d``, or ``g`` with its 95 % CI (``ci_lb, ci_ub``).  ``n1, n2`` are
    needed for every input except ``g`` with a CI.

    Returns
    -------
    EffectSizes
        ``yi = g = J·d`` and ``vi = J²·V_d`` with ``V_d = (n1+n2)/(n1 n2) + d²/(2(n1+n2))``; for ``g`` with a
        CI, ``vi = ((ub − lb)/(2·1.96))²``.

    Notes
    -----
    ``d = (m1 − m2)/S_within`` with the pooled SD ``S_within = √(((n1−1)sd1² + (n2−1)sd2²)/(n1+n2−2))``;
    from a t statistic ``d = t·√(1/n1 + 1/n2)`` (eq. 4.20 inverted).  ``J`` uses ``df = n1 + n2 − 2`` and,
    like Borenstein's book (and therefore the review), the approximation ``1 − 3/(4df − 1)`` unless
    ``exact_j=True``.  ``vi = J²·V_d`` (eq. 4.24) equals metafor's SMD ``vtype="LS2"`` when ``exact_j=True``.
    Group 1 = drug, group 2 = placebo: negative = lower outcome under the drug.
    """
    if g is not None:
        gg = _arr(g, "g")
        _check("g", gg)
        if ci_lb is None or ci_ub is None:
            raise MetaInputError("g input needs its 95% CI: give 'ci_lb' and 'ci_ub'")
        v = vi_from_ci(ci_lb, ci_ub)
        b = _broadcast(g=gg, v=v)
        return EffectSizes(b["g"], b["v"], "g_between")
    n1a, n2a = _arr(n1, "n1"), _arr(n2, "n2")
    if n1a is None or n2a is None:
        raise MetaInputError("two-group effect sizes need the group sizes 'n1' and 'n2'")
    _check("n1", n1a, positive=True)
    _check("n2", n2a, positive=True)
    dd = _d_between(m1, m2, sd1, sd2, n1a, n2a, t, f, sign, d)
    b = _broadcast(d=dd, n1=n1a, n2=n2a)
    dd, n1a, n2a = b["d"], b["n1"], b["n2"]
    df = n1a + n2a - 2
    _check("n1 + n2 - 2", df, greater=1.0)
    j = hedges_j(df, exact=exact_j)
    vd = (n1a + n2a) / (n1a * n2a) + dd**2 / (2 * (n1a + n2a))
    return EffectSizes(j * dd, j**2 * vd, "g_between")


def _d_between(m1, m2, sd1, sd2, n1, n2, t, f, sign, d):
    given = [x is not None for x in (m1, t, f, d)]
    if sum(given) != 1:
        raise MetaInputError("give exactly one of: means/SDs (m1, m2, sd1, sd2), t, f (with sign) or d")
    if d is not None:
        dd = _arr(d, "d")
        _check("d", dd)
        return dd
    if t is not None or f is not None:
        tt = _arr(t, "t") if t is not None else _t_from_f(f, sign)
        _check("t", tt)
        return tt * np.sqrt(1 / n1 + 1 / n2)
    arrs = {k: _arr(v, k) for k, v in dict(m1=m1, m2=m2, sd1=sd1, sd2=sd2).items()}
    missing = [k for k, v in arrs.items() if v is None]
    if missing:
        raise MetaInputError(f"means/SDs input needs {', '.join(missing)}")
    for k in ("m1", "m2"):
        _check(k, arrs[k])
    for k in ("sd1", "sd2"):
        _check(k, arrs[k], positive=True)
    b = _broadcast(n1=n1, n2=n2, **arrs)
    sp = np.sqrt(((b["n1"] - 1) * b["sd1"] ** 2 + (b["n2"] - 1) * b["sd2"] ** 2) / (b["n1"] + b["n2"] - 2))
    return (b["m1"] - b["m2"]) / sp


def hedges_g_within(
    m1=None, m2=None, sd1=None, sd2=None, n=None, r=None, *,
    sd_diff=None, t=None, f=None, sign=None, d=None, g=None, ci_lb=None, ci_ub=None, exact_j: bool = False,
) -> EffectSizes:
    """Hedges' g for a within-subject (crossover / paired / pre-post) comparison (Borenstein et al. 2009, §4.3).

    Parameters
    ----------
    m1, m2 : array_like
        Condition means (1 = drug, 2 = placebo).
    sd1, sd2 : array_like
        Condition SDs; used with ``r`` to form ``S_diff = √(sd1² + sd2² − 2 r sd1 sd2)`` unless ``sd_diff``
        is given.
    n : array_like
        Number of participants (pairs).
    r : array_like
        Correlation between the two conditions (needed for every input except ``d`` and ``g`` with CI).
    sd_diff : array_like, optional
        SD of the paired differences.
    t, f, sign : array_like, optional
        Paired t statistic, or one-df F with its sign.
    d : array_like, optional
        Cohen's d already standardised by ``S_within``.
    g, ci_lb, ci_ub : array_like, optional
        A Hedges' g with its 95 % CI.

    Returns
    -------
    EffectSizes
        ``yi = J·d``, ``vi = J²·(1/n + d²/(2n))·2(1 − r)``.

    Notes
    -----
    Borenstein et al. standardise by the within-condition SD, ``S_within = S_diff/√(2(1 − r))`` (eq. 4.27),
    so ``d = (m1 − m2)/S_within``; from a paired t, ``d = (t/√n)·√(2(1 − r))``.  The variance is
    ``V_d = (1/n + d²/(2n))·2(1 − r)`` (eq. 4.28) and ``J`` uses ``df = n − 1``.  ``r`` must be supplied for
    the variance; reviews usually impute it (e.g. 0.5) when it is not reported.
    """
    if g is not None:
        return replace(hedges_g_between(g=g, ci_lb=ci_lb, ci_ub=ci_ub), measure="g_within")
    na = _arr(n, "n")
    if na is None:
        raise MetaInputError("within-subject effect sizes need the number of participants 'n'")
    _check("n", na, positive=True)
    ra = _arr(r, "r")
    if ra is None:
        raise MetaInputError("within-subject effect sizes need the between-condition correlation 'r'")
    _check("r", ra, corr=True)
    if (ra >= 1).any():
        raise MetaInputError(f"argument 'r': must be < 1 for a within-subject variance; row(s) {format_rows(ra >= 1)}")
    given = [x is not None for x in (m1, t, f, d)]
    if sum(given) != 1:
        raise MetaInputError("give exactly one of: means/SDs (m1, m2, sd1, sd2 or sd_diff), t, f (with sign) or d")
    if d is not None:
        dd = _arr(d, "d")
        _check("d", dd)
    elif t is not None or f is not None:
        tt = _arr(t, "t") if t is not None else _t_from_f(f, sign)
        _check("t", tt)
        b = _broadcast(t=tt, n=na, r=ra)
        dd = b["t"] / np.sqrt(b["n"]) * np.sqrt(2 * (1 - b["r"]))
    else:
        mm1, mm2 = _arr(m1, "m1"), _arr(m2, "m2")
        if mm1 is None or mm2 is None:
            raise MetaInputError("means input needs 'm1' and 'm2'")
        _check("m1", mm1)
        _check("m2", mm2)
        if sd_diff is not None:
            sdd = _arr(sd_diff, "sd_diff")
            _check("sd_diff", sdd, positive=True)
        else:
            s1, s2 = _arr(sd1, "sd1"), _arr(sd2, "sd2")
            if s1 is None or s2 is None:
                raise MetaInputError("means input needs 'sd1' and 'sd2' (or 'sd_diff')")
            _check("sd1", s1, positive=True)
            _check("sd2", s2, positive=True)
            b = _broadcast(s1=s1, s2=s2, r=ra)
            sdd = np.sqrt(b["s1"] ** 2 + b["s2"] ** 2 - 2 * b["r"] * b["s1"] * b["s2"])
        b = _broadcast(m1=mm1, m2=mm2, sdd=sdd, r=ra)
        s_within = b["sdd"] / np.sqrt(2 * (1 - b["r"]))
        dd = (b["m1"] - b["m2"]) / s_within
    b = _broadcast(d=dd, n=na, r=ra)
    dd, na, ra = b["d"], b["n"], b["r"]
    _check("n - 1", na - 1, greater=1.0)
    j = hedges_j(na - 1, exact=exact_j)
    vd = (1 / na + dd**2 / (2 * na)) * 2 * (1 - ra)
    return EffectSizes(j * dd, j**2 * vd, "g_within")


# ------------------------------------------------------------------------------- metafor escalc
def smd(
    m1=None, m2=None, sd1=None, sd2=None, n1=None, n2=None, *,
    d=None, t=None, p=None, f=None, sign=None, vtype: str = "LS",
) -> EffectSizes:
    """metafor ``escalc(measure="SMD")``: bias-corrected standardised mean difference of two groups.

    Parameters
    ----------
    m1, m2, sd1, sd2, n1, n2 : array_like
        Group means, SDs and sizes (group 1 − group 2).
    d, t, p, f, sign : array_like, optional
        Instead of means/SDs: Cohen's d, an independent-samples t, a signed two-sided p-value (sign = the
        direction of the effect, as metafor 4's ``pi=``) or a one-df F with ``sign``.
    vtype : {"LS", "LS2", "UB"}
        Sampling-variance estimator (metafor's default ``"LS"``).

    Notes
    -----
    ``m = n1 + n2 − 2``, ``J`` exact (:func:`hedges_j`), ``yi = J·d``.
    ``LS``: ``vi = 1/n1 + 1/n2 + yi²/(2(n1+n2))`` (corrected ``yi`` and total ``N``, as escalc);
    ``LS2``: ``J²(1/n1 + 1/n2 + d²/(2N))``; ``UB``: ``1/n1 + 1/n2 + (1 − (m−2)/(m J²))·yi²``.
    t → ``d = t√(1/n1 + 1/n2)``; p → ``t = sign(p)·qt(|p|/2, m, upper)``.
    """
    if vtype not in ("LS", "LS2", "UB"):
        raise MetaInputError(f"vtype must be 'LS', 'LS2' or 'UB' for SMD (got {vtype!r})")
    n1a, n2a = _arr(n1, "n1"), _arr(n2, "n2")
    if n1a is None or n2a is None:
        raise MetaInputError("SMD needs the group sizes 'n1' and 'n2'")
    _check("n1", n1a, positive=True)
    _check("n2", n2a, positive=True)
    if p is not None:
        if t is not None:
            raise MetaInputError("give either 't' or 'p', not both")
        pa = _arr(p, "p")
        b = _broadcast(p=pa, n1=n1a, n2=n2a)
        t = _t_from_p(b["p"], b["n1"] + b["n2"] - 2)
    dd = _d_between(m1, m2, sd1, sd2, n1a, n2a, t, f, sign, d)
    b = _broadcast(d=dd, n1=n1a, n2=n2a)
    dd, n1a, n2a = b["d"], b["n1"], b["n2"]
    m = n1a + n2a - 2
    _check("n1 + n2 - 2", m, greater=1.0)
    j = hedges_j(m)
    yi = j * dd
    base = 1 / n1a + 1 / n2a
    if vtype == "LS":
        vi = base + yi**2 / (2 * (n1a + n2a))
    elif vtype == "LS2":
        vi = j**2 * (base + dd**2 / (2 * (n1a + n2a)))
    else:
        vi = base + (1 - (m - 2) / (m * j**2)) * yi**2
    return EffectSizes(yi, vi, "SMD")


def _mean_change_d(m1, m2, sdx, n, t, p, d, name_sd):
    given = [x is not None for x in (m1, t, p, d)]
    if sum(given) != 1:
        raise MetaInputError(f"give exactly one of: means with {name_sd}, t, p or d")
    if d is not None:
        dd = _arr(d, "d")
        _check("d", dd)
        return dd
    if t is not None or p is not None:
        if t is not None:
            tt = _arr(t, "t")
            _check("t", tt)
        else:
            pa = _arr(p, "p")
            b = _broadcast(p=pa, n=n)
            tt = _t_from_p(b["p"], b["n"] - 1)
        return tt / np.sqrt(n)
    mm1, mm2 = _arr(m1, "m1"), _arr(m2, "m2")
    if mm2 is None:
        raise MetaInputError("means input needs 'm1' and 'm2'")
    _check("m1", mm1)
    _check("m2", mm2)
    return (mm1 - mm2) / sdx


def smcc(
    m1=None, m2=None, sd1=None, sd2=None, n=None, r=None, *, t=None, p=None, d=None, vtype: str = "LS",
) -> EffectSizes:
    """metafor ``escalc(measure="SMCC")``: standardised mean change using change-score standardisation.

    Notes
    -----
    ``sd_d = √(sd1² + sd2² − 2 r sd1 sd2)``, ``d = (m1 − m2)/sd_d`` (or ``t/√n``; a signed two-sided p is
    turned into t on ``n − 1`` df as metafor 4), ``yi = J(n−1)·d``.  ``LS`` (default):
    ``vi = 1/n + yi²/(2n)`` (Gibbons et al. 1993, eq. 21, with ``n`` instead of ``n − 1``, as escalc);
    ``LS2``: ``J²(1/n + d²/(2n))``.  ``r`` is only needed with means/SDs.
    """
    if vtype not in ("LS", "LS2"):
        raise MetaInputError(f"vtype must be 'LS' or 'LS2' for SMCC (got {vtype!r})")
    na = _arr(n, "n")
    if na is None:
        raise MetaInputError("SMCC needs the sample size 'n'")
    _check("n", na, positive=True)
    sdd = None
    if m1 is not None:
        s1, s2, ra = _arr(sd1, "sd1"), _arr(sd2, "sd2"), _arr(r, "r")
        if s1 is None or s2 is None or ra is None:
            raise MetaInputError("SMCC from means needs 'sd1', 'sd2' and 'r'")
        _check("sd1", s1, nonneg=True)
        _check("sd2", s2, nonneg=True)
        _check("r", ra, corr=True)
        sdd = np.sqrt(s1**2 + s2**2 - 2 * ra * s1 * s2)
    dd = _mean_change_d(m1, m2, sdd, na, t, p, d, "sd1, sd2, r")
    b = _broadcast(d=dd, n=na)
    dd, na = b["d"], b["n"]
    _check("n - 1", na - 1, greater=1.0)
    j = hedges_j(na - 1)
    yi = j * dd
    vi = 1 / na + yi**2 / (2 * na) if vtype == "LS" else j**2 * (1 / na + dd**2 / (2 * na))
    return EffectSizes(yi, vi, "SMCC")


def smcr(m1=None, m2=None, sd1=None, n=None, r=None, *, vtype: str = "LS") -> EffectSizes:
    """metafor ``escalc(measure="SMCR")``: standardised mean change using raw-score (pre-test SD) standardisation.

    Notes
    -----
    ``d = (m1 − m2)/sd1``, ``yi = J(n−1)·d``; ``LS`` (default): ``vi = 2(1 − r)/n + yi²/(2n)`` (Becker 1988,
    eq. 13); ``LS2``: ``J²(2(1 − r)/n + d²/(2n))``.
    """
    if vtype not in ("LS", "LS2"):
        raise MetaInputError(f"vtype must be 'LS' or 'LS2' for SMCR (got {vtype!r})")
    arrs = {k: _arr(v, k) for k, v in dict(m1=m1, m2=m2, sd1=sd1, n=n, r=r).items()}
    missing = [k for k, v in arrs.items() if v is None]
    if missing:
        raise MetaInputError(f"SMCR needs {', '.join(missing)}")
    _check("m1", arrs["m1"])
    _check("m2", arrs["m2"])
    _check("sd1", arrs["sd1"], positive=True)
    _check("n", arrs["n"], positive=True)
    _check("r", arrs["r"], corr=True)
    b = _broadcast(**arrs)
    na, ra = b["n"], b["r"]
    _check("n - 1", na - 1, greater=1.0)
    dd = (b["m1"] - b["m2"]) / b["sd1"]
    j = hedges_j(na - 1)
    yi = j * dd
    if vtype == "LS":
        vi = 2 * (1 - ra) / na + yi**2 / (2 * na)
    else:
        vi = j**2 * (2 * (1 - ra) / na + dd**2 / (2 * na))
    return EffectSizes(yi, vi, "SMCR")
