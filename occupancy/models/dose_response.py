"""The anchor apps' dose → blockade curves (``blockade dose-curve`` and the web app's Simulate tab).

Naltrexone: plantrexone's hyperbola ``100·D/(D + ED50)`` within 8 h of one oral dose (the ``emax`` model:
ED50 5.592841 mg; KOR ×2, DOR ×79).  Naloxone: planoxone's dose-response hyperbola fitted to PET at
~55 min (the ``bateman`` model's ED50 0.002290531 mg/kg; KOR ×8, DOR ×41).  Both are the published
curves of the anchor apps, whatever the default time-course model is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occupancy.errors import InputError

#: The model whose ED50s define each drug's published dose → blockade curve.
CURVE_MODEL = {"naltrexone": "emax", "naloxone": "bateman"}
#: Default dose range (mg for naltrexone, mg/kg for naloxone).
DEFAULT_RANGE = {"naltrexone": (0.01, 1000.0), "naloxone": (1e-5, 10.0)}
TITLES = {"naltrexone": "oral naltrexone within 8 h of a dose (plantrexone)",
          "naloxone": "IV naloxone: planoxone's dose-response hyperbola (PET at ~55 min)"}

#: What a point of each curve is (a time, not a time course): the words the app puts beside a simulated number.
BASIS = {"naltrexone": "plantrexone's published hyperbola, blockade taken as constant over the first 8 h after "
                       "one oral dose (no time course: the emax model)",
         "naloxone": "planoxone's hyperbola fitted to PET about 55 min after one IV dose (one time point)"}


@dataclass(frozen=True, eq=False)
class DoseCurve:
    """Blockade (%) of each receptor at log-spaced doses."""

    drug: str
    unit: str
    column: str
    doses: np.ndarray
    curves: dict
    title: str

    def to_csv(self) -> str:
        """CSV text: the dose column, then one column per receptor (what ``blockade dose-curve`` prints)."""
        recs = list(self.curves)
        lines = [",".join([self.column] + recs)]
        lines += [",".join([f"{d:.12g}"] + [f"{self.curves[r][i]:.9f}" for r in recs])
                  for i, d in enumerate(self.doses)]
        return "\n".join(lines) + "\n"

    @property
    def basis(self) -> str:
        """What one point of the curve is (:data:`BASIS`): a single dose at one reference time, not a time course."""
        return BASIS[self.drug]

    def at(self, dose: float, receptor: str = "MOR") -> float:
        """Blockade (%) of ``receptor`` at one ``dose`` (same unit as the curve)."""
        from occupancy.models import check_receptor, get_model

        model = get_model(self.drug, CURVE_MODEL[self.drug])
        return float(100.0 * dose / (dose + model.ed50(check_receptor(receptor))))


def dose_curve(drug: str = "naltrexone", receptors=None, min_dose: float | None = None,
               max_dose: float | None = None, points: int = 101) -> DoseCurve:
    """The published dose → blockade curve of ``drug`` on ``points`` log-spaced doses.

    Parameters
    ----------
    drug : {"naltrexone", "naloxone"}
    receptors : sequence of str, optional
        Default MOR, KOR, DOR.
    min_dose, max_dose : float, optional
        Dose range (mg for naltrexone, mg/kg for naloxone); defaults in :data:`DEFAULT_RANGE`.
    points : int
        Number of doses (>= 2).
    """
    from occupancy.models import check_drug, check_receptor, get_model

    drug = check_drug(drug)
    recs = [check_receptor(r) for r in (receptors or ())] or ["MOR", "KOR", "DOR"]
    lo = DEFAULT_RANGE[drug][0] if min_dose is None else float(min_dose)
    hi = DEFAULT_RANGE[drug][1] if max_dose is None else float(max_dose)
    if not (lo > 0 and hi > lo):
        raise InputError(f"dose range: need 0 < min < max (got {lo}, {hi})")
    if int(points) < 2:
        raise InputError(f"points: must be >= 2 (got {points})")
    doses = np.logspace(np.log10(lo), np.log10(hi), int(points))
    model = get_model(drug, CURVE_MODEL[drug])
    curves = {r: 100.0 * doses / (doses + model.ed50(r)) for r in recs}
    unit, column = ("mg", "dose_mg") if drug == "naltrexone" else ("mg/kg", "dose_mg_per_kg")
    return DoseCurve(drug=drug, unit=unit, column=column, doses=doses, curves=curves, title=TITLES[drug])
