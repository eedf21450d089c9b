"""``bateman``: planoxone's blockade time course for intravenous naloxone (boluses and infusions).

Equations (time in minutes)
---------------------------
* ``k = ln 2 / half_life`` (half-life 110 min) and ``ka = −(1/tmax)·W₋₁(−tmax·k·e^(−tmax·k))`` with the
  blockade peak ``tmax = 25 min`` (Lambert W, lower branch), i.e. the Bateman curve with elimination ``k``
  that peaks at ``tmax``.
* Each dose ``j`` (total mg/kg ``D_j``; an infusion's total is rate × duration) gets the amplitude
  ``A_j = 100·D_j/(D_j + ED50_r) · e^(k·T_ref)`` with ``ED50_MOR = 0.002290531 mg/kg`` measured at
  ``T_ref = 55 min`` (Mayberg & Frost, Kim, Villemagne, Frost; tabulated by Trøstheim 2023).
* The amplitudes are the "doses" of a one-compartment model with first-order absorption, volume 1 and
  clearance ``k`` — ``linpk::pkprofile(t, cl = k, vc = 1, ka = ka, dose = list(t.dose, amt = A_j,
  dur = duration_j))``.  A bolus enters the depot at once; an infusion enters the depot at the constant rate
  ``A_j / duration_j`` (planoxone passes ``dur`` and linpk doses into the depot when ``ka > 0``).  Repeated
  doses and infusions are superposed (the hyperbola is applied per dose, *before* superposition, exactly as
  planoxone does).
* The sum may exceed 100 % ("super-saturation"); with ``cap=True`` (planoxone's default "Limit blockade to
  0–100 %") it is truncated at 100 %.
* KOR and DOR use ``ED50 × 8`` and ``ED50 × 41``.

Doses in mg are converted with the subject's weight (``Schedule.weight_kg``), as planoxone does.

Artefacts (planoxone's, kept for parity; the mechanistic ``pkpd`` model has neither)
-----------------------------------------------------------------------------------
Because the dose → blockade hyperbola is applied to each dose *before* the time courses are superposed, the
model is not a model of drug amounts:

* **Splitting a bolus changes the blockade.**  Two 0.005 mg/kg boluses given together are not one
  0.01 mg/kg bolus: each half gets the amplitude of the hyperbola at 0.005 mg/kg, and
  ``2·h(D/2) ≠ h(D)`` with ``h(D) = D/(D + ED50)`` (uncapped, the split 0.01 mg/kg is 1.69 times the single bolus at every
  time, 155 % instead of 92 % at 15 min; capped, it stays at 100 % for longer).
* **An infusion's planned duration changes the blockade before it ends.**  An infusion's amplitude is the
  hyperbola of its *total* (rate × duration), fixed at its start, so two infusions at the same rate that
  differ only in how long they are planned to run give different blockade from the first minute, while
  both have delivered exactly the same drug (0.01 mg/kg/h: 39.5 % at 30 min when planned for 60 min, 21.8 %
  when planned for 120 min — the input per minute is the total's amplitude divided by the duration).

Both are demonstrated (and their absence in ``pkpd`` checked) by ``tests/test_pkpd_models.py``.  Use the
``pkpd`` model for split doses, repeated small boluses and infusions; ``bateman`` reproduces planoxone.

Population scales: ``ed50_scale`` multiplies every ED50, ``half_life_scale`` the half-life (the amplitude's
``e^(k·T_ref)`` uses the individual ``k``, so ED50 keeps its meaning "50 % at 55 min"), and
``absorption_scale`` multiplies ``ka``.

Notes
-----
Source: Trøstheim M et al. 2023, Neuropsychopharmacology 48:299–307; app code
github.com/martintrostheim/opioid-antagonist-planner ``apps/planoxone/app.R`` (published ED50
0.002290531 mg/kg; an earlier version 0.002290758).  Uncapped 0.01 mg/kg bolus: 79.4 / 98.3 / 85.5 / 56.9 %
at 10 / 25 / 55 / 120 min.  The formula for ``ka`` is planoxone's (``pracma::lambertWn``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from occupancy.models.kinetics import ka_from_tmax, superpose_depot_multi
from occupancy.models.base import TimeCourseModel, as_times, check_receptor

PLANOXONE_ED50_MG_PER_KG = 0.002290531


@dataclass(frozen=True)
class BatemanModel(TimeCourseModel):
    """Planoxone's IV naloxone model.

    Parameters
    ----------
    ed50_mg_per_kg : float
        MOR ED50 at ``t_ref_min`` (0.002290531 mg/kg).
    tmax_min : float
        Time of peak blockade after a bolus (25 min).
    half_life_min : float
        Blockade half-life (110 min).
    t_ref_min : float
        Time after the dose at which the ED50 data were measured (55 min).
    kor_ratio, dor_ratio : float
        ED50 multipliers for KOR (8) and DOR (41).
    cap : bool
        Truncate at 100 % (planoxone's default); ``False`` shows super-saturation.
    """

    ed50_mg_per_kg: float = PLANOXONE_ED50_MG_PER_KG
    tmax_min: float = 25.0
    half_life_min: float = 110.0
    t_ref_min: float = 55.0
    kor_ratio: float = 8.0
    dor_ratio: float = 41.0
    cap: bool = True

    drug = "naloxone"
    name = "bateman"
    #: The ED50 is per kg, so doses in mg need the subject's weight (the pkpd model assumes 70 kg).
    mg_doses_need_weight = True

    def __post_init__(self) -> None:
        from occupancy.errors import InputError

        self._check_positive("ed50_mg_per_kg", "tmax_min", "half_life_min", "kor_ratio", "dor_ratio")
        if not (math.isfinite(self.t_ref_min) and self.t_ref_min >= 0):
            raise InputError(f"model.t_ref_min: must be >= 0 (got {self.t_ref_min})")
        if self.tmax_min * self.k_per_min >= 1.0:
            raise InputError(f"model.tmax_min: must be shorter than half_life_min/ln2 = "
                             f"{1 / self.k_per_min:.4g} min (got {self.tmax_min})")

    @property
    def k_per_min(self) -> float:
        """Elimination rate constant ``ln2 / half_life`` (1/min)."""
        return math.log(2.0) / self.half_life_min

    @property
    def ka_per_min(self) -> float:
        """Absorption rate constant from ``tmax`` via Lambert W₋₁ (1/min); 0.1262 for the defaults."""
        return ka_from_tmax(self.tmax_min, self.k_per_min)

    def ed50(self, receptor: str = "MOR") -> float:
        """ED50 (mg/kg) of ``receptor``."""
        receptor = check_receptor(receptor)
        return self.ed50_mg_per_kg * {"MOR": 1.0, "KOR": self.kor_ratio, "DOR": self.dor_ratio}[receptor]

    def raw_all(self, schedule, times_h, receptors=("MOR", "KOR", "DOR"), *, ed50_scale=1.0,
                half_life_scale=1.0, absorption_scale=1.0) -> dict:
        """Uncapped blockade (%) per receptor at ``times_h`` (hours), each ``(n, T)``; exponentials shared."""
        receptors = [check_receptor(r) for r in receptors]
        t_min = as_times(times_h) * 60.0
        scale = np.asarray(ed50_scale, dtype=float)
        k = self.k_per_min / np.asarray(half_life_scale, dtype=float)
        ka = self.ka_per_min * np.asarray(absorption_scale, dtype=float)
        ref = np.exp(k * self.t_ref_min)
        doses = schedule.amounts_mg_per_kg()
        amount_sets = [[100.0 * d / (d + self.ed50(r) * scale) * ref for d in doses] for r in receptors]
        starts = np.array([d.time_h * 60.0 for d in schedule.doses])
        durs = np.array([d.duration_min for d in schedule.doses])
        return dict(zip(receptors, superpose_depot_multi(t_min, starts, durs, amount_sets, ka, k)))

    @property
    def time_scale_h(self) -> float:  # noqa: D102
        return self.half_life_min / 60.0
