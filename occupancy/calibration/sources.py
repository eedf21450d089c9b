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


# ---------------------------------------------------------------------------------------------------------
# The pkpd models' targets (pkpd_sources.md §1–§6): plasma PK, steady-state PET, scan times.
# ---------------------------------------------------------------------------------------------------------

#: Lee 1988 post-dose scan times (h) used for the log-linear blockade half-time (the 1 h scan is at the peak).
LEE_SCAN_TIMES_H = (48.0, 72.0, 120.0, 168.0)
#: Oral naltrexone 50 mg plasma PK (mean, SD, n), study A and B of the 2-compartment study (§5).
NTX_CMAX = ((17.2, 2.6, 10), (16.6, 1.6, 10))
NTX_AUC = ((64.7, 9.4, 10), (66.2, 8.4, 10))
NTX_TMAX = PLASMA_TMAX_H
NTX_THALF = ((2.97, 0.61, 10), (3.34, 1.49, 10))
#: 6β-naltrexol half-life SD (h): 9.9 ± 1.8 h (§5).
NOL_THALF_SD_H = 1.8
#: Weerts 2008: inhibition (%) on the 4th day of 50 mg/day (mean, SD, n) (§4).
WEERTS_MOR = (94.9, 4.9, 21)
WEERTS_DOR = (21.1, 14.49, 21)
#: 2005 CPT abstract (12.5 mg n = 4; 50/100 mg n = 5): scan times (h) and the reported significance (§4).
CPT2005 = {"12.5": {3.0: "p<0.05", 24.0: "p<0.05", 72.0: "ns", 144.0: "ns"},
           "50": {3.0: "p<0.001", 24.0: "p<0.001", 72.0: "p<0.001", 144.0: "p<0.01 (regional)"}}
#: Human IV naltrexone clearance (L/h), 1984 dose-proportionality study (§5).
NTX_IV_CLEARANCE_L_PER_H = 94.0
#: 6β-naltrexol in monkeys: ~100-fold less potent than naltrexone in vivo (apparent pA2 6.5 vs 8.5) (§5).
MONKEY_DOSE_POTENCY_RATIO = 100.0
#: Frost 1985's scan window (h); the other naloxone studies scanned at 45–65 min (Trøstheim 2023 Table 1).
FROST_SCAN_WINDOW_H = (35 / 60, 65 / 60)
#: Naloxone PET with each study's scan window: (study, dose mg/kg, % MOR, window h).
NALOXONE_PET_WINDOWED = tuple((study, dose, obs, FROST_SCAN_WINDOW_H if study == "Frost 1985" else
                               NALOXONE_SCAN_WINDOW_H) for study, dose, obs in NALOXONE_PET)
#: Kim 1997 receptor clearance half-time after 2 mg IV (mean, SD, n) and the scan times (h) (§6).
KIM_1997_HALF_TIME_H = (KIM_1997_CLEARANCE_H[0], KIM_1997_CLEARANCE_H[1], 8)
KIM_SCAN_TIMES_H = (5 / 60, 2.0, 4.0, 8.0)
#: Body weight assumed for the naloxone PET subjects and Kim's 2 mg (not reported).
NALOXONE_PET_WEIGHT_KG = 70.0


def pooled_summary_sd(stats) -> float:
    """Pooled SD of (mean, SD, n) summaries: ``sqrt(Σ(n−1)SD² / Σ(n−1))``."""
    return math.sqrt(sum((n - 1) * s * s for _, s, n in stats) / sum(n - 1 for _, _, n in stats))


#: Measurement scales of the pkpd targets (see :mod:`occupancy.calibration.pkpd_targets` for why).
SIGMA_LOG_LEE = SIGMA_LOG_HALF_LIFE
SD_CMAX = pooled_summary_sd(NTX_CMAX)
CV_CMAX = SD_CMAX / float(np.mean([m for m, _, _ in NTX_CMAX]))
SD_AUC = pooled_summary_sd(NTX_AUC)
SD_TMAX = pooled_summary_sd(NTX_TMAX)
SD_THALF = pooled_summary_sd(NTX_THALF)
AUC_TARGET = float(np.mean([m for m, _, _ in NTX_AUC]))
SIGMA_NLX_PET, SIGMA_NLX_PET_DF = pooled_within_group_sd(
    [[o for _, d2, o in NALOXONE_PET if d2 == d] for d in dict.fromkeys(d for _, d, _ in NALOXONE_PET)])
SIGMA_LOG_KIM = math.sqrt(math.log1p((KIM_1997_HALF_TIME_H[1] / KIM_1997_HALF_TIME_H[0]) ** 2))


# ---------------------------------------------------------------------------------------------------------
# How a target is read: shared by the washout and pkpd calibrations.
# ---------------------------------------------------------------------------------------------------------

def target_text(kind: str, lower: float | None, upper: float | None) -> str:
    """A target as text: ``"92"`` (point), ``">= 90"``, ``"<= 5"`` or ``"70-80"`` (interval)."""
    if kind == "point":
        return f"{lower:g}"
    if kind == "min":
        return f">= {lower:g}"
    if kind == "max":
        return f"<= {upper:g}"
    return f"{lower:g}-{upper:g}"


def target_residual(kind: str, value: float | None, lower: float | None, upper: float | None,
                    log: bool = False) -> float:
    """Residual of ``value`` against a target, in its unit (log units when ``log``).

    A point target gives ``value − lower``; an inequality or interval is a hinge: 0 inside, the distance to the
    violated bound outside.  NaN when the value is missing, not finite, or not positive on a log scale.
    """
    if value is None or not np.isfinite(value):
        return float("nan")
    lo, hi = lower, upper
    if log:
        if value <= 0:
            return float("nan")
        value, lo, hi = math.log(value), (math.log(lo) if lo else None), (math.log(hi) if hi else None)
    if kind == "point":
        return value - lo
    if lo is not None and value < lo:
        return value - lo
    if hi is not None and value > hi:
        return value - hi
    return 0.0
