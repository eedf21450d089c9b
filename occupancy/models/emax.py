"""``emax``: plantrexone's dose → blockade hyperbola for oral naltrexone (no time course).

Equation
--------
``blockade = 100 · D / (D + ED50_r)`` with ``ED50_MOR = 5.592841 mg``, ``ED50_KOR = 2 · ED50_MOR`` and
``ED50_DOR = 79 · ED50_MOR`` (a log-logistic with slope 1, lower 0, upper 100).

Time and repeated doses (decisions of this package; plantrexone has neither)
----------------------------------------------------------------------------
The fit is to PET scans taken "< 8 h" after a single dose, so the model is only defined *within 8 h of a
dose*.  At a time ``t`` the effective dose is the sum of the doses taken in ``[t − 8 h, t]`` (a split dose
within one window counts as one dose); earlier doses are ignored.  Outside every such window the model
returns ``NaN`` (the CLI warns when an assessment gets ``NaN``): use the ``washout`` model for anything
later than 8 h after a dose or for multi-day schedules.

Notes
-----
Source: Trøstheim M et al. 2023, Neuropsychopharmacology 48:299–307, and the authors' app code
(github.com/martintrostheim/opioid-antagonist-planner, ``apps/plantrexone/app.R``; the published version
uses ED50 = 5.592841 mg, "ED50 from Rabiner et al. (2011)").  Receptor ratios MOR:KOR 1:2 and MOR:DOR 1:79
from the same paper.  Values: 2 mg → 26.3 %, 50 mg → 89.9 % MOR (81.7 % KOR, 10.2 % DOR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occupancy.models.kinetics import is_population
from occupancy.models.base import BlockadeModel, as_times, check_receptor

#: plantrexone's MOR ED50 (mg), a drc fit of Rabiner 2011 as tabulated by Trøstheim 2023.
PLANTREXONE_ED50_MG = 5.592841


@dataclass(frozen=True)
class EmaxModel(BlockadeModel):
    """Plantrexone's hyperbola, valid within ``window_h`` hours of a dose (``NaN`` elsewhere).

    Parameters
    ----------
    ed50_mg : float
        MOR ED50 in mg (default 5.592841 mg, plantrexone).
    kor_ratio, dor_ratio : float
        ED50 multipliers for KOR (2) and DOR (79).
    window_h : float
        Validity window after each dose (8 h, the Rabiner scans were "< 8 h" after the dose).
    """

    ed50_mg: float = PLANTREXONE_ED50_MG
    kor_ratio: float = 2.0
    dor_ratio: float = 79.0
    window_h: float = 8.0

    drug = "naltrexone"
    name = "emax"

    def __post_init__(self) -> None:
        self._check_positive("ed50_mg", "kor_ratio", "dor_ratio", "window_h")

    def ed50(self, receptor: str = "MOR") -> float:
        """ED50 (mg) of ``receptor``."""
        receptor = check_receptor(receptor)
        return self.ed50_mg * {"MOR": 1.0, "KOR": self.kor_ratio, "DOR": self.dor_ratio}[receptor]

    def dose_response(self, dose_mg, receptor: str = "MOR", ed50_scale=1.0) -> np.ndarray:
        """Plantrexone's curve: ``100·D/(D + ED50)`` in percent for doses in mg."""
        d = np.asarray(dose_mg, dtype=float)
        e = self.ed50(receptor) * np.asarray(ed50_scale, dtype=float)
        return 100.0 * d / (d + e)

    def effective_dose_mg(self, schedule, times_h) -> np.ndarray:
        """Sum of the doses (mg) taken within ``window_h`` before each time; ``NaN`` when there are none."""
        t = as_times(times_h)
        starts = np.array([d.time_h for d in schedule.doses])
        mg = np.array(schedule.amounts_mg())
        since = t[None, :] - starts[:, None]
        inside = (since >= 0.0) & (since <= self.window_h)
        total = (mg[:, None] * inside).sum(axis=0)
        return np.where(inside.any(axis=0), total, np.nan)

    def blockade(self, schedule, times_h, receptor="MOR", *, ed50_scale=1.0, half_life_scale=1.0,
                 absorption_scale=1.0) -> np.ndarray:
        """Blockade (%) at ``times_h``; ``NaN`` outside ``window_h`` after every dose.

        ``half_life_scale`` and ``absorption_scale`` are accepted for interface compatibility and ignored
        (the model has no time course).
        """
        dose = self.effective_dose_mg(schedule, times_h)
        out = self.dose_response(dose[None, :], receptor, ed50_scale=ed50_scale)
        if is_population(ed50_scale, half_life_scale, absorption_scale):
            rows = max(np.shape(ed50_scale)[0] if np.ndim(ed50_scale) else 1,
                       np.shape(half_life_scale)[0] if np.ndim(half_life_scale) else 1,
                       np.shape(absorption_scale)[0] if np.ndim(absorption_scale) else 1)
            return np.broadcast_to(out, (rows, out.shape[1])).copy()
        return out[0]

    @property
    def time_scale_h(self) -> float:  # noqa: D102
        return self.window_h
