"""``washout``: oral naltrexone blockade over days, for single doses, daily dosing and titration.

Equation
--------
For doses ``D_j`` (mg) at times ``t_j`` and receptor ``r``::

    raw_r(t)      = Σ_j  Smax · 100 · D_j / (D_j + ED50_r) · S(t − t_j)
    S(τ)          = ka/(ka − k) · (e^(−k·τ) − e^(−ka·τ))          (τ ≥ 0; 0 before the dose)
    blockade_r(t) = min(raw_r(t), 100)

with ``k = ln 2 / half_life`` and ``ka`` from the time of peak ``tmax`` via Lambert W₋₁ (as in
planoxone).  ``S`` is the Bateman curve of a unit dose with volume 1; it rises to ≈1 at ``tmax`` and
then declines as ``e^(−k·τ)``, so ``Smax·100·D/(D+ED50)`` is the *super-saturated amplitude* of a dose:
it may exceed 100 %, in which case the receptors stay fully blocked until it has decayed below 100 %.
Repeated doses are superposed in the raw (super-saturated) domain before the cap, so daily dosing
accumulates.  KOR and DOR use ``ED50 × 2`` and ``ED50 × 79`` (Trøstheim 2023).

Parameters ``ed50_mg``, ``smax`` and ``tmax_h`` are **fitted** by :mod:`occupancy.calibration.washout`
(``blockade calibrate``) with the blockade half-life held at its default of 72 h (Lee 1988's lower bound,
Trøstheim 2023's value; ``blockade calibrate --free-half-life`` shows the fit with it free), and loaded from
``occupancy/data/washout_calibration.json``; any of them can be overridden, e.g.
``get_model("naltrexone", "washout", half_life_h=108)`` (Lee's upper bound) keeps the other fitted values.

Notes
-----
Why this structure: Rabiner 2011 found the plasma → occupancy relation *indirect*, and Lee 1988 found a
blockade half-time of 72–108 h, far longer than the plasma half-lives (3–4 h naltrexone, 8–13 h
6β-naltrexol).  The model therefore describes blockade directly (as planoxone does for naloxone) rather
than through plasma concentrations.

Targets and their conflicts (see :mod:`occupancy.calibration.washout` for weights and residuals):

* Rabiner 2011 PET (< 8 h; assumed window 1–8 h): 2 → 27, 5 → 43/46/58, 15 → 61, 50 → 92/98 %.
* ≥ 90 % 2 h after 50 mg (review); ≥ 90 % at 49 h after 50 mg (review) **conflicts** with the
  Swiss product information's 70–80 % at 48 h — both are kept, the label at half weight.
* Super-saturation strong enough to hold ≥ 90 % for two days also predicts 100 % at < 8 h for 50 mg,
  which **conflicts** with Rabiner's 92/98 % at 50 mg, and pushes the low-dose points up unless ED50 rises.
* Half-life 72 h (Lee 1988: 72–108 h) versus ≤ 5 % left 15 days after 50 mg: a large amplitude with a 72 h
  half-life leaves more than 5 % at 15 days, so these pull against the 49 h target too.
* Weerts 2008: ≥ 90 % (94.9 ± 4.9 %) during 50 mg/day.
* Blockade peak at the plasma tmax of oral naltrexone (0.81 ± 0.09 h and 1.09 ± 0.25 h).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occupancy.models.kinetics import ka_from_tmax, superpose_depot_multi
from occupancy.models.base import TimeCourseModel, as_times, check_receptor

CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "data" / "washout_calibration.json"


@functools.lru_cache(maxsize=1)
def load_calibration() -> dict:
    """The committed calibration (fitted parameters, residual table, targets, optimiser status)."""
    try:
        return json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:  # pragma: no cover - only before the first `blockade calibrate --write`
        raise RuntimeError(
            f"{CALIBRATION_FILE} is missing; run `blockade calibrate --write` to create it"
        ) from exc


def _fitted(name: str):
    return field(default_factory=lambda: float(load_calibration()["parameters"][name]))


@dataclass(frozen=True)
class WashoutModel(TimeCourseModel):
    """Super-saturated blockade with first-order rise and exponential washout, capped at 100 %.

    Parameters
    ----------
    ed50_mg : float
        MOR ED50 of the amplitude hyperbola (mg), fitted.
    smax : float
        Super-saturation factor: amplitude of a dose = ``smax·100·D/(D+ED50)`` percent, fitted.
    tmax_h : float
        Time of peak of a single dose's curve (h), fitted.
    half_life_h : float
        Blockade half-life (h); default 72 h (Lee 1988, Trøstheim 2023), held during the calibration.
    kor_ratio, dor_ratio : float
        ED50 multipliers for KOR (2) and DOR (79).
    cap : bool
        Truncate at 100 % of receptors (default ``True``; ``False`` shows the raw super-saturated value).
    """

    ed50_mg: float = _fitted("ed50_mg")
    smax: float = _fitted("smax")
    tmax_h: float = _fitted("tmax_h")
    half_life_h: float = _fitted("half_life_h")
    kor_ratio: float = 2.0
    dor_ratio: float = 79.0
    cap: bool = True

    drug = "naltrexone"
    name = "washout"

    def __post_init__(self) -> None:
        self._check_positive("ed50_mg", "smax", "tmax_h", "half_life_h", "kor_ratio", "dor_ratio")
        if self.tmax_h * self.k_per_h >= 1.0:
            from occupancy.errors import InputError

            raise InputError(
                f"model.tmax_h: must be shorter than half_life_h/ln2 = {1 / self.k_per_h:.4g} h (got {self.tmax_h})"
            )

    @property
    def k_per_h(self) -> float:
        """Washout rate constant ``ln 2 / half_life_h`` (1/h)."""
        return math.log(2.0) / self.half_life_h

    @property
    def ka_per_h(self) -> float:
        """Rise rate constant from ``tmax_h`` via Lambert W₋₁ (1/h)."""
        return ka_from_tmax(self.tmax_h, self.k_per_h)

    def ed50(self, receptor: str = "MOR") -> float:
        """ED50 (mg) of ``receptor``."""
        receptor = check_receptor(receptor)
        return self.ed50_mg * {"MOR": 1.0, "KOR": self.kor_ratio, "DOR": self.dor_ratio}[receptor]

    def raw_all(self, schedule, times_h, receptors=("MOR", "KOR", "DOR"), *, ed50_scale=1.0, half_life_scale=1.0,
                absorption_scale=1.0) -> dict:
        """Uncapped (super-saturated) blockade (%) per receptor, each of shape ``(n, T)``."""
        receptors = [check_receptor(r) for r in receptors]
        t = as_times(times_h)
        k = self.k_per_h / np.asarray(half_life_scale, dtype=float)
        ka = self.ka_per_h * np.asarray(absorption_scale, dtype=float)
        doses = schedule.amounts_mg()
        scale = np.asarray(ed50_scale, dtype=float)
        amount_sets = [[self.smax * 100.0 * d / (d + self.ed50(r) * scale) for d in doses] for r in receptors]
        starts = np.array([d.time_h for d in schedule.doses])
        durs = np.array([d.duration_min / 60.0 for d in schedule.doses])
        return dict(zip(receptors, superpose_depot_multi(t, starts, durs, amount_sets, ka, k)))

    def raw(self, schedule, times_h, receptor="MOR", **scales) -> np.ndarray:
        """Uncapped (super-saturated) blockade in percent, shape ``(n, T)`` (n = 1 for scalars)."""
        return self.raw_all(schedule, times_h, (receptor,), **scales)[check_receptor(receptor)]

    @property
    def time_scale_h(self) -> float:  # noqa: D102
        return self.half_life_h
