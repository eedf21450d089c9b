"""Statistical power: per-study power (metameta), meta-analytic power (metapower) and exact t-test power.

* :func:`study_power` — power of each study to detect a true effect δ from its standard error, two-sided
  z test at α = .05, and the median across studies (metameta ``mapower_se`` / ``firepower``).
* :func:`mpower` — power of the pooled test in a fixed-effect and a random-effects meta-analysis of ``k``
  studies of equal size (metapower ``mpower``: Hedges & Pigott 2001 and the Jackson & Turner 2017 closed
  form driven by I²).
* :func:`min_study_size` — the smallest per-study N for which :func:`mpower` reaches a target power.
* :func:`ttest_power` / :func:`ttest_sample_size` — exact (noncentral t) power of two-sample, paired and
  within-subject t tests and the sample size for a target power.

References
----------
Quintana, D. S. (2023). A guide for calculating study-level statistical power for meta-analyses.
*Adv Methods Pract Psychol Sci* 6(1) (metameta).
Griffin, J. W. (2021). Calculating statistical power for meta-analysis using metapower.
*Quant Methods Psychol* 17(1), 24–39.
Hedges, L. V., & Pigott, T. D. (2001). The power of statistical tests in meta-analysis. *Psychol Methods*
6, 203–217.
Jackson, D., & Turner, R. (2017). Power analysis for random-effects meta-analysis. *Res Synth Methods* 8,
290–302.
Cohen, J. (1988). *Statistical Power Analysis for the Behavioral Sciences* (2nd ed.).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from meta.display import ResultDisplay
from typing import Sequence

import numpy as np
from scipy import integrate, stats

from meta.errors import MetaInputError

__all__ = [
    "StudyPowerResult",
    "MetaPowerResult",
    "study_power",
    "mpower",
    "jackson_turner_power",
    "min_study_size",
    "ttest_power",
    "ttest_sample_size",
]


# ------------------------------------------------------------------------------ per-study power
@dataclass(frozen=True)
class StudyPowerResult(ResultDisplay):
    """Per-study power to detect ``effect`` and its median (metameta ``mapower_se``)."""

    power: np.ndarray
    median: float
    effect: float
    se: np.ndarray
    alpha: float = 0.05

    def to_dict(self) -> dict:
        return {"effect": self.effect, "alpha": self.alpha, "power": self.power.tolist(), "median": self.median}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({"se": self.se, "power": self.power})

    def summary(self) -> str:
        """Per-study table (row, SE, power) and the median, as metameta reports it."""
        lines = [f"Power to detect delta = {self.effect:g} (two-sided alpha = {self.alpha:g}) in "
                 f"{self.power.size} studies (metameta mapower_se)", "",
                 f"{'study':>7s} {'se':>9s} {'power':>8s}"]
        lines += [f"{i:7d} {se:9.4f} {pw:8.4f}" for i, (se, pw) in enumerate(zip(self.se, self.power), start=1)]
        lines += ["", f"Median power: {self.median:.4f} (range {self.power.min():.4f}-{self.power.max():.4f})"]
        return "\n".join(lines)


def study_power(se: Sequence[float], effect: float, alpha: float = 0.05) -> StudyPowerResult:
    """Power of each study's two-sided z test to detect a true effect ``effect`` given its standard error.

    Parameters
    ----------
    se : array_like
        Standard errors of the studies' estimates (``sqrt(vi)``; metameta ``sei``).
    effect : float
        Hypothesised true effect δ (its sign does not matter).
    alpha : float
        Two-sided significance level (metameta fixes .05).

    Returns
    -------
    StudyPowerResult
        ``power`` per study and their ``median``.

    Notes
    -----
    metameta ``mapower_se``: ``power = 1 − Φ(z_{1−α/2} − |δ|/se) + Φ(−z_{1−α/2} − |δ|/se)``, i.e. the
    probability that ``|estimate/se| > z_{1−α/2}`` when the estimate is ``N(δ, se²)``.  metameta's
    ``mapower_ul`` derives ``se = (upper − lower)/(2·1.96)`` from a 95 % CI; use
    :func:`meta.effect_sizes.vi_from_ci` for that.
    """
    try:
        s = np.asarray(se, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise MetaInputError("se: non-numeric values") from None
    bad = ~np.isfinite(s) | (s <= 0)
    if bad.any():
        rows = ", ".join(str(i) for i in (np.flatnonzero(bad) + 1)[:8])
        raise MetaInputError(f"se: standard errors must be finite and > 0; row(s) {rows}")
    if s.size == 0:
        raise MetaInputError("se: no standard errors given")
    if not math.isfinite(effect):
        raise MetaInputError("effect must be a finite number")
    if not 0 < alpha < 1:
        raise MetaInputError(f"alpha must lie in (0, 1) (got {alpha})")
    z = stats.norm.isf(alpha / 2)
    lam = abs(effect) / s
    power = stats.norm.sf(z - lam) + stats.norm.cdf(-z - lam)
    return StudyPowerResult(power=power, median=float(np.median(power)), effect=float(effect), se=s, alpha=alpha)


# -------------------------------------------------------------------------- meta-analytic power
@dataclass(frozen=True)
class MetaPowerResult(ResultDisplay):
    """Power of the pooled test (metapower ``mpower``).

    Attributes
    ----------
    fixed, random : float
        Power under the fixed-effect and the random-effects (Jackson & Turner) model.
    effect_size : float
        Effect on the analysis scale (d; Fisher's z rounded to 2 decimals for r; log OR for or).
    variance : float
        Common within-study variance (rounded as metapower).
    """

    fixed: float
    random: float
    effect_size: float
    variance: float
    study_size: float
    k: int
    i2: float
    es_type: str
    test_type: str
    p: float

    def to_dict(self) -> dict:
        return {"fixed": self.fixed, "random": self.random, "effect_size": self.effect_size,
                "variance": self.variance, "study_size": self.study_size, "k": self.k, "i2": self.i2,
                "es_type": self.es_type, "test_type": self.test_type, "p": self.p}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([self.to_dict()])

    def summary(self) -> str:
        return "\n".join([
            f"Power analysis for a meta-analysis of k = {self.k} studies of N = {self.study_size:g} "
            f"(effect {self.effect_size:g} [{self.es_type}], I^2 = {self.i2:g}, {self.test_type}, p = {self.p:g})",
            f"  fixed-effect model:   {self.fixed:.7f}",
            f"  random-effects model: {self.random:.7f}",
        ])


def _r_round(x: float, digits: int) -> float:
    """R's ``round(x, digits)`` for the values metapower rounds (correctly rounded decimal, half-even)."""
    return float(round(float(x), digits))


def _jt_cdf(t: float, k: int, lam: float, i2: float) -> float:
    """Jackson & Turner (2017) CDF of the random-effects test statistic (metapower ``CDF``).

    Notes
    -----
    With ``df = k − 1`` and ``a = √(1 − I²)``:
    ``CDF(t) = P(χ²_df < df(1 − I²))·Φ((t − λ)a) + 2·df·∫_a^∞ x Φ(t x − λ a) f_{χ²_df}(df x²) dx``.
    Substituting ``u = df x²`` (so ``2·df·x dx·f(df x²) = f(u) du``) turns the integral into
    ``∫_{df a²}^∞ Φ(t√(u/df) − λa) f_{χ²_df}(u) du``, a bounded integrand against a density, which
    :func:`scipy.integrate.quad` evaluates to ~1e-14.
    """
    df = k - 1
    a = math.sqrt(1 - i2)
    lower = df * (1 - i2)
    part1 = stats.gamma.cdf(lower / 2, df / 2) * stats.norm.cdf((t - lam) * a)

    half = df / 2.0
    log_norm = -half * math.log(2.0) - math.lgamma(half)
    la = lam * a
    sqrt2 = math.sqrt(2.0)

    def f(u):  # Φ(t√(u/df) − λa)·f_χ²(u; df), written with math.* for speed (quad calls it ~10³ times)
        if u <= 0.0:
            return 0.0
        phi = 0.5 * math.erfc(-(t * math.sqrt(u / df) - la) / sqrt2)
        return phi * math.exp(log_norm + (half - 1.0) * math.log(u) - u / 2.0)

    mode = max(df - 2.0, 0.0)
    sd = math.sqrt(2.0 * df)
    upper = max(lower, mode) + 60 * sd + 100
    # split at the bulk of the chi-square density for accuracy
    pts = sorted({p for p in (mode, df, mode + 5 * sd) if lower < p < upper})
    part2 = 0.0
    edges = [lower, *pts, upper]
    for lo, hi in zip(edges[:-1], edges[1:]):
        val, _ = integrate.quad(f, lo, hi, epsabs=1e-16, epsrel=1e-13, limit=400)
        part2 += val
    return float(part1 + part2)


def jackson_turner_power(effect: float, variance: float, k: int, i2: float, *, p: float = 0.05,
                         test_type: str = "two-tailed") -> tuple[float, float]:
    """Fixed- and random-effects power for ``k`` studies with common variance ``variance``.

    Returns
    -------
    (fixed, random) : tuple of float

    Notes
    -----
    ``λ = effect/√(variance/k)``, ``c = z_{1−p/2}`` (two-tailed) or ``z_{1−p}``.  Fixed effect (Hedges & Pigott
    2001): ``1 − Φ(c − λ) + Φ(−c − λ)``; random effects (Jackson & Turner 2017): ``1 − (CDF(c) − CDF(−c))``
    (one-tailed: ``1 − CDF(c)``), where τ² enters only through I² because all studies share ``variance``.
    """
    if k < 2:
        raise MetaInputError(f"k must be at least 2 (got {k})")
    if not 0 <= i2 < 1:
        raise MetaInputError(f"i2 must lie in [0, 1) (got {i2})")
    if not variance > 0:
        raise MetaInputError(f"variance must be > 0 (got {variance})")
    if test_type not in ("two-tailed", "one-tailed"):
        raise MetaInputError(f"test_type must be 'two-tailed' or 'one-tailed' (got {test_type!r})")
    c = stats.norm.ppf(1 - p / 2) if test_type == "two-tailed" else stats.norm.ppf(1 - p)
    lam = effect / math.sqrt(variance / k)
    if test_type == "two-tailed":
        fixed = stats.norm.sf(c - lam) + stats.norm.cdf(-c - lam)
        random = 1 - (_jt_cdf(c, k, lam, i2) - _jt_cdf(-c, k, lam, i2))
    else:
        fixed = stats.norm.sf(c - lam)
        random = 1 - _jt_cdf(c, k, lam, i2)
    return float(fixed), float(random)


def _es_and_variance(effect_size, study_size, es_type, con_table):
    if es_type == "d":
        if effect_size is None:
            raise MetaInputError("es_type 'd' needs effect_size")
        if not study_size > 0:
            raise MetaInputError(f"study_size must be > 0 (got {study_size})")
        n = study_size
        v = _r_round((n / 2 + n / 2) / ((n / 2) * (n / 2)) + effect_size**2 / (2 * (n / 2 + n / 2)), 5)
        return float(effect_size), v
    if es_type == "r":
        if effect_size is None or not -1 < effect_size < 1:
            raise MetaInputError(f"es_type 'r' needs a correlation in (-1, 1) (got {effect_size})")
        if not study_size > 3:
            raise MetaInputError(f"study_size must be > 3 for correlations (got {study_size})")
        es = _r_round(0.5 * math.log((1 + effect_size) / (1 - effect_size)), 2)
        return es, 1 / (study_size - 3)
    if es_type == "or":
        if con_table is None or len(con_table) != 4 or min(con_table) <= 0:
            raise MetaInputError("es_type 'or' needs con_table = (a, b, c, d) with positive cells")
        a, b, c, d = (float(x) for x in con_table)
        es = _r_round(math.log(_r_round(a * d / (b * c), 3)), 3)
        return es, _r_round(1 / a + 1 / b + 1 / c + 1 / d, 3)
    raise MetaInputError(f"es_type must be 'd', 'r' or 'or' (got {es_type!r})")


def mpower(
    effect_size: float | None,
    study_size: float,
    k: int,
    i2: float,
    es_type: str = "d",
    test_type: str = "two-tailed",
    p: float = 0.05,
    con_table: Sequence[float] | None = None,
) -> MetaPowerResult:
    """Power of a fixed- and a random-effects meta-analysis (metapower 0.2.2 ``mpower``).

    Parameters
    ----------
    effect_size : float
        Expected effect: Cohen's d (``es_type="d"``) or a correlation (``"r"``); ignored for ``"or"``.
    study_size : float
        Total N of each study (for d split equally into two groups).
    k : int
        Number of studies.
    i2 : float
        Expected I² in [0, 1) (metapower suggests .25 small, .50 moderate, .75 large).
    es_type : {"d", "r", "or"}
    test_type : {"two-tailed", "one-tailed"}
    p : float
        Significance level.
    con_table : sequence of 4 floats, optional
        Expected 2×2 table ``(a, b, c, d)`` for ``es_type="or"`` (metapower's ``con_table``).

    Returns
    -------
    MetaPowerResult

    Notes
    -----
    As metapower (including its rounding): d — ``v = round(4/N + d²/(2N), 5)``; r — Fisher's z rounded to
    2 decimals and ``v = 1/(N − 3)``; or — ``log(round(ad/bc, 3))`` rounded to 3 decimals and
    ``v = round(1/a + 1/b + 1/c + 1/d, 3)``.  Power from :func:`jackson_turner_power`.
    The README example (d = .3, N = 20, k = 10, I² = .5) gives fixed 0.5594533 and random 0.3454424.
    """
    if int(k) != k:
        raise MetaInputError(f"k must be an integer (got {k})")
    es, v = _es_and_variance(effect_size, study_size, es_type, con_table)
    fixed, random = jackson_turner_power(es, v, int(k), i2, p=p, test_type=test_type)
    return MetaPowerResult(fixed=fixed, random=random, effect_size=es, variance=v, study_size=float(study_size),
                           k=int(k), i2=float(i2), es_type=es_type, test_type=test_type, p=p)


def min_study_size(
    effect_size: float,
    k: int,
    i2: float,
    *,
    target: float = 0.8,
    es_type: str = "d",
    model: str = "random",
    test_type: str = "two-tailed",
    p: float = 0.05,
    step: int | None = None,
    max_n: int = 1_000_000,
) -> int:
    """Smallest per-study total N for which :func:`mpower` reaches ``target`` power.

    Parameters
    ----------
    effect_size, k, i2, es_type, test_type, p
        As :func:`mpower` (``es_type`` ``"d"`` or ``"r"``).
    target : float
        Required power (default .80).
    model : {"random", "fixed"}
        Which power must reach the target.
    step : int, optional
        N is searched on multiples of ``step``; default 2 for d (two equal arms), 1 for r.
    max_n : int
        Upper limit of the search.

    Raises
    ------
    MetaInputError
        When the target is unreachable (random-effects power is bounded below 1 for fixed k when I² > 0)
        or not reached by ``max_n``.

    Notes
    -----
    Power increases with N (up to metapower's rounding of v), so the search brackets by doubling and then
    bisects on the grid of multiples of ``step``; the neighbours below the answer are checked.
    """
    if es_type not in ("d", "r"):
        raise MetaInputError("min_study_size supports es_type 'd' and 'r'")
    if model not in ("random", "fixed"):
        raise MetaInputError(f"model must be 'random' or 'fixed' (got {model!r})")
    if not 0 < target < 1:
        raise MetaInputError(f"target power must lie in (0, 1) (got {target})")
    step = step or (2 if es_type == "d" else 1)
    lo_n = 2 * step if es_type == "d" else max(4, step)
    lo_n = int(math.ceil(lo_n / step) * step)

    def pw(n):
        res = mpower(effect_size, n, k, i2, es_type=es_type, test_type=test_type, p=p)
        return res.random if model == "random" else res.fixed

    if pw(lo_n) >= target:
        return lo_n
    hi = lo_n
    while pw(hi) < target:
        if hi >= max_n:
            raise MetaInputError(
                f"target power {target:g} not reached with N <= {max_n} (k = {k}, I^2 = {i2:g}); "
                "increase k or lower the target"
            )
        hi = min(max_n, hi * 2)
    lo = lo_n  # pw(lo) < target <= pw(hi)
    while hi - lo > step:
        mid = lo + ((hi - lo) // (2 * step)) * step
        if mid <= lo:
            mid = lo + step
        if pw(mid) >= target:
            hi = mid
        else:
            lo = mid
    while hi - step >= lo_n and pw(hi - step) >= target:  # guard against rounding non-monotonicity
        hi -= step
    return int(hi)


# --------------------------------------------------------------------------------- t-test power
def _ttest_setup(d, n, design, r, ratio=1.0):
    if design == "between":
        n1 = n
        n2 = n * ratio
        df = n1 + n2 - 2
        nc = d * np.sqrt(n1 * n2 / (n1 + n2))
    elif design in ("paired", "within"):
        dz = d
        if design == "within":
            if r is None or not -1 < r < 1:
                raise MetaInputError("design 'within' needs the between-condition correlation r in (-1, 1)")
            dz = d / math.sqrt(2 * (1 - r))
        df = n - 1
        nc = dz * np.sqrt(n)
    else:
        raise MetaInputError(f"design must be 'between', 'paired' or 'within' (got {design!r})")
    return df, nc


def ttest_power(
    d: float, n: float, *, design: str = "between", r: float | None = None, alpha: float = 0.05,
    alternative: str = "two-sided", ratio: float = 1.0,
) -> float:
    """Exact power of a two-sample, paired or within-subject t test (noncentral t).

    Parameters
    ----------
    d : float
        Standardised effect: Cohen's d (``"between"``, ``"within"``) or d_z (``"paired"``).
    n : float
        Per-group size (``"between"``; group 2 has ``ratio·n``) or number of participants.
    design : {"between", "paired", "within"}
        ``"within"`` converts ``d`` (standardised by the within-condition SD) to
        ``d_z = d/√(2(1 − r))``.
    r : float, optional
        Correlation between conditions (``"within"``).
    alpha : float
    alternative : {"two-sided", "larger", "smaller"}
    ratio : float
        ``n2/n1`` for ``"between"``.

    Notes
    -----
    ``T`` is noncentral t with ``df = n1 + n2 − 2`` and ``δ = d√(n1 n2/(n1 + n2))`` (between) or
    ``df = n − 1`` and ``δ = d_z√n`` (paired); two-sided power ``P(T > t_{1−α/2}) + P(T < −t_{1−α/2})``.
    This is what statsmodels ``TTestIndPower``/``TTestPower`` compute.

    Lower tails are evaluated through the reflection ``P(T_δ < −c) = P(T_{−δ} > c)``: scipy's
    ``nct.cdf`` returns NaN far in the lower tail (e.g. ``nct.cdf(-2.02, 40, 9.0)``, a probability below
    1e-20, which statsmodels inherits), whereas ``nct.sf`` with the reflected noncentrality is accurate.
    """
    df, nc = _ttest_setup(d, n, design, r, ratio)
    if df < 1:
        raise MetaInputError(f"sample size too small for a t test (df = {df})")
    if alternative == "two-sided":
        crit = stats.t.isf(alpha / 2, df)
        return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))
    if alternative == "larger":
        return float(stats.nct.sf(stats.t.isf(alpha, df), df, nc))
    if alternative == "smaller":
        return float(stats.nct.sf(stats.t.isf(alpha, df), df, -nc))
    raise MetaInputError(f"alternative must be 'two-sided', 'larger' or 'smaller' (got {alternative!r})")


def ttest_sample_size(
    d: float, power: float = 0.8, *, design: str = "between", r: float | None = None, alpha: float = 0.05,
    alternative: str = "two-sided", ratio: float = 1.0, max_n: int = 10_000_000,
) -> int:
    """Smallest integer n (per group for ``"between"``, participants otherwise) with ``ttest_power ≥ power``.

    Notes
    -----
    Power increases with n; the answer is the ceiling of the real root that statsmodels ``solve_power``
    returns, found here by doubling and integer bisection on the exact power.
    """
    if d == 0:
        raise MetaInputError("effect size d must be non-zero")
    if not 0 < power < 1:
        raise MetaInputError(f"power must lie in (0, 1) (got {power})")
    if alternative == "two-sided":
        d = abs(d)

    def pw(n):
        return ttest_power(d, n, design=design, r=r, alpha=alpha, alternative=alternative, ratio=ratio)

    lo = 2
    if pw(lo) >= power:
        return lo
    hi = 4
    while pw(hi) < power:
        if hi >= max_n:
            raise MetaInputError(f"power {power:g} not reached with n <= {max_n}")
        lo, hi = hi, min(max_n, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pw(mid) >= power:
            hi = mid
        else:
            lo = mid
    return int(hi)
