"""Exact power and sample size of the planned comparison (two-sided t-tests, noncentral t).

Every number comes from :func:`meta.power.ttest_power` and :func:`meta.power.ttest_sample_size`; this
module only maps a design onto them (two-sample t between subjects, paired t with
``dz = g / √(2(1 − r))`` within subjects).
"""

from __future__ import annotations

import math

_MAX_N = 10_000_000


def paired_dz(effect: float, correlation: float) -> float:
    """Standardised mean difference of the paired differences, ``dz = g / √(2(1 − r))``."""
    return effect / math.sqrt(2.0 * (1.0 - correlation))


def _two_sided(d: float, n: int, alpha: float, **kw) -> float:
    """Two-sided exact power (:func:`meta.power.ttest_power`, noncentral t)."""
    from meta.power import ttest_power

    return ttest_power(d, n, alpha=alpha, alternative="two-sided", **kw)


def power_between(effect: float, n_drug: int, n_placebo: int, alpha: float) -> float:
    """Exact power of the two-sided two-sample t-test (pooled variance) for standardised effect ``effect``.

    Uses :func:`meta.power.ttest_power` (noncentral t); the sign of ``effect`` is only its direction.
    """
    return _two_sided(abs(effect), n_drug, alpha, design="between", ratio=n_placebo / n_drug)


def power_within(dz: float, n: int, alpha: float) -> float:
    """Exact power of the two-sided paired t-test with ``n`` participants for effect ``dz``."""
    return _two_sided(abs(dz), n, alpha, design="paired")


def _sample_size(effect: float, alpha: float, power: float, design: str) -> int | None:
    from meta.errors import MetaInputError
    from meta.power import ttest_sample_size

    if effect == 0:
        return None
    try:
        return int(ttest_sample_size(abs(effect), power, design=design, alpha=alpha, max_n=_MAX_N))
    except MetaInputError:  # not reachable below _MAX_N: report "no finite N"
        return None


def n_between(effect: float, alpha: float, power: float) -> int | None:
    """Smallest equal group size with power ≥ ``power`` (None when the effect is 0 or N > 10 million)."""
    return _sample_size(effect, alpha, power, "between")


def n_within(dz: float, alpha: float, power: float) -> int | None:
    """Smallest number of participants (pairs) with power ≥ ``power`` (None when dz is 0 or N > 10 million)."""
    return _sample_size(dz, alpha, power, "paired")


def power_curve(effect: float, n_total, alpha: float, kind: str):
    """Two-sided exact power at every total N of ``n_total`` in one vectorised call (the plan's power curve).

    ``kind="between"``: two equal groups of ``n_total // 2`` and ``effect`` Cohen's d (as :func:`power_between`);
    ``kind="within"``: ``n_total`` pairs and ``effect`` the paired dz (as :func:`power_within`).

    Notes
    -----
    The same formula as :func:`meta.power.ttest_power` (noncentral t: ``df = n1 + n2 − 2``,
    ``δ = d√(n1 n2/(n1 + n2))`` between; ``df = n − 1``, ``δ = dz√n`` paired; power ``P(T > t_{1−α/2}) +
    P(T_{−δ} > t_{1−α/2})``), evaluated element-wise by scipy's ufuncs, so each value equals the scalar call's
    bit for bit (tests/test_planning.py checks it) while the whole curve costs one call instead of one per N.
    """
    import numpy as np
    from scipy import stats

    d = abs(float(effect))
    n_total = np.asarray(n_total)
    if kind == "between":
        n1 = n_total // 2
        n2 = n1 * 1.0
        df = n1 + n2 - 2
        nc = d * np.sqrt(n1 * n2 / (n1 + n2))
    else:
        df = n_total - 1
        nc = d * np.sqrt(n_total)
    crit = stats.t.isf(alpha / 2, df)
    return np.asarray(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc), dtype=float)
