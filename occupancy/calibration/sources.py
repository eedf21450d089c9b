"""The published data the models are fitted to, and the measurement scales derived from them.

Every number here is read from ``shared/reference/pkpd_sources.md`` (which cites the primary sources);
nothing is fitted.  Calibration routines (:mod:`occupancy.calibration.washout`) and the population
variability (:mod:`occupancy.simulation.population`) both read them, so they live below both.
"""

from __future__ import annotations

import math

import numpy as np

#: Rabiner 2011 oral naltrexone PET (Trøstheim 2023, Table 1): (dose mg, % MOR blockade), scans < 8 h.
RABINER_2011 = ((2.0, 27.0), (5.0, 43.0), (5.0, 46.0), (5.0, 58.0), (15.0, 61.0), (50.0, 92.0), (50.0, 98.0))
#: Assumed Rabiner scan window (h after the dose).
RABINER_WINDOW_H = (1.0, 8.0)
#: Lee 1988 blockade half-time range across 5 subjects (h) and Trøstheim's value.
LEE_HALF_LIFE_RANGE_H = (72.0, 108.0)
LEE_N = 5
#: Expected range of 5 standard normal draws (d2 constant of quality control).
EXPECTED_RANGE_5_NORMALS = 2.326
#: Oral naltrexone 50 mg plasma tmax (mean, SD, n) from two groups (pkpd_sources.md §5, study A and B).
PLASMA_TMAX_H = ((0.81, 0.09, 10), (1.09, 0.25, 10))


def pooled_within_group_sd(groups) -> tuple[float, int]:
    """Pooled within-group SD ``sqrt(Σ SS_g / Σ (n_g − 1))`` over groups with ≥ 2 values; returns (sd, df)."""
    ss = 0.0
    df = 0
    for values in groups:
        v = np.asarray(values, dtype=float)
        if v.size >= 2:
            ss += float(((v - v.mean()) ** 2).sum())
            df += v.size - 1
    if df == 0:
        return float("nan"), 0
    return math.sqrt(ss / df), df


def rabiner_groups() -> list[list[float]]:
    """Rabiner observations grouped by dose."""
    by_dose: dict[float, list[float]] = {}
    for dose, obs in RABINER_2011:
        by_dose.setdefault(dose, []).append(obs)
    return list(by_dose.values())


SIGMA_PET, SIGMA_PET_DF = pooled_within_group_sd(rabiner_groups())
SIGMA_LOG_HALF_LIFE = math.log(LEE_HALF_LIFE_RANGE_H[1] / LEE_HALF_LIFE_RANGE_H[0]) / EXPECTED_RANGE_5_NORMALS
TMAX_TARGET_H = float(np.mean([m for m, _, _ in PLASMA_TMAX_H]))
SIGMA_TMAX_H = math.sqrt(sum((n - 1) * s**2 for _, s, n in PLASMA_TMAX_H) / sum(n - 1 for _, _, n in PLASMA_TMAX_H))


#: Naloxone PET / dual-detector data (Trøstheim 2023 Table 1): (study, dose mg/kg, % MOR), scans 45–65 min.
NALOXONE_PET = (
    ("Frost 1985", 1.0, 83.0), ("Frost 1985", 1.0, 90.0),
    ("Mayberg & Frost 1990", 0.001, 19.0), ("Mayberg & Frost 1990", 0.01, 65.0),
    ("Mayberg & Frost 1990", 0.1, 97.0), ("Mayberg & Frost 1990", 1.0, 98.0),
    ("Kim 1997", 0.002, 43.0), ("Kim 1997", 0.03, 81.0),
    ("Villemagne 1994", 0.0005, 20.0), ("Villemagne 1994", 0.001, 40.0), ("Villemagne 1994", 0.005, 75.0),
    ("Villemagne 1994", 0.01, 100.0), ("Villemagne 1994", 0.1, 100.0), ("Villemagne 1994", 0.5, 100.0),
    ("Villemagne 1994", 1.0, 100.0),
)
NALOXONE_SCAN_WINDOW_H = (45 / 60, 65 / 60)
#: Kim 1997 receptor clearance half-time after 2 mg IV naloxone (mean, SD) in h.
KIM_1997_CLEARANCE_H = (2.0, 1.6)
#: FDA label serum half-life of naloxone (mean, SD) in min.
NALOXONE_SERUM_HALF_LIFE_MIN = (64.0, 12.0)
