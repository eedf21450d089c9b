"""``pkpd`` (naloxone): IV naloxone three-compartment PK, competitive MOR/KOR/DOR binding, hysteresis.

The model in the order of an mrgsolve model file: parameters, compartments, equations, outputs, sources.
The receptor parameters are fitted in ``occupancy/data/pkpd_naloxone_calibration.json`` (``blockade
calibrate --drug naloxone``), one set per hysteresis variant; the PK is Dowling 2008's, held.

$PARAM (70-kg subject)
----------------------
======================================= ====== ============================================ ====================
parameter                               unit   meaning                                      value
======================================= ====== ============================================ ====================
``cl_l_per_h``                          L/h    clearance                                    91 (Dowling 2008)
``v1_l``, ``v2_l``, ``v3_l``            L      central and peripheral volumes               2.87, 1.49, 33.6
``q2_l_per_h``, ``q3_l_per_h``          L/h    intercompartmental clearances (Q2↔V2, Q3↔V3) 5.66, 29.8
``k_mor_ng_ml``                         ng/mL  MOR dissociation constant (effect site/plasma) fitted (PET)
``ke0_per_h``                           1/h    effect-compartment rate (``effect_compartment``) fitted
``koff_per_h``                          1/h    receptor off-rate (``binding_kinetics``)     fitted
``kor_ratio``, ``dor_ratio``            –      K_KOR/K_MOR and K_DOR/K_MOR                  8 and 41 (Trøstheim 2023)
``hysteresis``                          –      ``"effect_compartment"`` (default) or ``"binding_kinetics"``
``weight_kg``                           kg     body weight when the schedule has none        70
======================================= ====== ============================================ ====================

$CMT
----
central ``A1``, peripherals ``A2``, ``A3`` (mg); effect site ``Ce`` or bound fractions ``B_r``.

$ODE
----
Mammillary three-compartment model, IV input into the central compartment (a bolus, or a zero-order
infusion when ``duration_min > 0``), or for an ``"intranasal"``/``"intramuscular"`` dose a depot
``dAd/dt = −ka·Ad`` (bolus F·D) feeding the central compartment (Dowling 2008; :data:`ROUTES`)::

    dA1/dt = input − (CL + Q2 + Q3)/V1·A1 + Q2/V2·A2 + Q3/V3·A3
    dA2/dt = Q2/V1·A1 − Q2/V2·A2,     dA3/dt = Q3/V1·A1 − Q3/V3·A3,     C = 1000·A1/V1   (ng/mL)

solved in closed form (eigendecomposition, :func:`occupancy.models.linear_kinetics.mammillary_modes`).
Dowling's abstract lists Q 5.66 and 29.8 L/h without saying which peripheral each belongs to: pairing
5.66 L/h with V2 = 1.49 L and 29.8 L/h with V3 = 33.6 L gives a terminal half-life of 62.8 min (FDA label:
serum half-life 64 ± 12 min); the other pairing gives 262 min (:func:`dowling_pairings`).

Receptors (competitive binding, no cap; Motulsky & Mahan 1984)::

    occupancy_r = 100·X_r/(1 + X_r),   X_r = Ce/K_r,   K_r = K_MOR·(1, kor_ratio, dor_ratio)

Hysteresis: ``"effect_compartment"`` ``dCe/dt = ke0·(C − Ce)`` (Sheiner 1979); ``"binding_kinetics"``
``dB_r/dt = kon_r·C·(1 − B_r) − koff·B_r``, ``kon_r = koff/K_r`` (exact exponential integrator,
:mod:`occupancy.models.binding`).  ``K_MOR`` and ``ke0``/``koff`` are fitted to the IV PET dose–occupancy
points (scans 35/45–65 min after the bolus; Trøstheim 2023 Table 1) with Kim 1997's receptor-clearance
half-time (2.0 ± 1.6 h after 2 mg) as a weak target.

Body weight W (assumption): clearances ∝ (W/70)^0.75, volumes ∝ W/70.  Doses in mg/kg are multiplied by W.

$TABLE
------
``C_naloxone_ng_ml``; ``MOR``, ``KOR``, ``DOR`` in percent.  Between-subject multipliers: ``cl_scale``
(CL), ``affinity_scale`` (every K), ``ke0_scale``/``koff_scale``; ``ka_scale`` multiplies the absorption rate of
intranasal/intramuscular doses (no variability is drawn for it; IV doses ignore it).

$SOURCES
--------
* Dowling J et al. 2008, Ther Drug Monit 30:490 (3-compartment population PK, 70 kg); FDA label serum
  half-life 64 ± 12 min (pkpd_sources.md §6).
* PET / dual-detector dose–occupancy: Frost 1985, Mayberg & Frost 1990, Kim 1997, Villemagne 1994
  (Trøstheim M et al. 2023, Neuropsychopharmacology 48:299, Table 1); receptor ratios 1:8:41 (same).
* Kim 1997: receptor clearance half-time 2.0 ± 1.6 h after 2 mg IV (pkpd_sources.md §6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from occupancy.models import linear_kinetics as lk
from occupancy.models.kinetics import as_column, param_rows
from occupancy.models.base import RECEPTORS
from occupancy.models.pkpd_base import PKPDModel, weight_factors

__all__ = ["NaloxonePKPD", "DOWLING", "ROUTES", "absorption_modes", "dowling_pairings", "CALIBRATION_FILE"]

CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "data" / "pkpd_naloxone_calibration.json"
#: Dowling 2008 (70 kg): CL, V1, V2, V3 and the two intercompartmental clearances (pairing: see docstring).
DOWLING = {"cl_l_per_h": 91.0, "v1_l": 2.87, "v2_l": 1.49, "v3_l": 33.6, "q_values_l_per_h": (5.66, 29.8)}

#: Extravascular routes (Dowling 2008, Ther Drug Monit 30:490, abstract; pkpd_sources.md §6): first-order
#: absorption rate ``ka_per_h`` into the central compartment of the same three-compartment model and the
#: bioavailability ``f`` relative to IV (= absolute, the IV arm being the reference).  Dowling's abstract
#: gives "Ka (intramuscular), 0.65; and Ka (intranasal), 1.52" without a unit; the model's time unit is the
#: hour (CL 91 L/hr), and per hour the model's peak times are 6.8 min (IM) and 5.1 min (IN) against the
#: reported median tmax of 12 and 6–9 min, whereas per minute they would be 1.5 and 0.9 min — so 1/h.
#: F: 36 % IM and 4 % IN (Dowling's relative bioavailability; their intranasal product was the 0.4 mg/mL
#: injection solution given into the nose).  Purpose-made nasal products report much higher F (e.g.
#: Gufford 2017, Clin Transl Sci 10:380: 41 % IN, 55 % IM, 2 mg); the values here are Dowling's because the
#: absorption rates, the disposition and F come from one fit of one data set.  See
#: docs/how-to/model-uncertainty.md ("Naloxone routes").
ROUTES = {
    "intramuscular": {"ka_per_h": 0.65, "f": 0.36, "source": "Dowling 2008 (0.8 mg IM, 6 men)"},
    "intranasal": {"ka_per_h": 1.52, "f": 0.04, "source": "Dowling 2008 (0.8 and 2 mg IN, 6 men)"},
}


def absorption_modes(lam, W, ka_per_h, f):
    """Modal form after a first-order absorption depot: ``f · (ka/(s + ka)) · G(s)`` (exact convolution).

    ``lam`` (n, m), ``W`` (n, k, m) is the IV impulse response (per mg into the central compartment); the
    result has one more mode, ``−ka``, and is the response per mg given by the route (bioavailability ``f``):
    ``dA_depot/dt = −ka·A_depot`` (bolus ``f·D``), input ``ka·A_depot`` into the central compartment
    (Gibaldi & Perrier, Pharmacokinetics, 2nd ed., ch. 1–3; Dowling 2008's structural model).
    :func:`occupancy.models.linear_kinetics.first_order_filter` gives the convolution in closed form.

    Notes
    -----
    ``f`` multiplies every weight, so the AUC (and every concentration) scales exactly with it.
    """
    lam_a, W_a = lk.first_order_filter(lam, W, ka_per_h)
    return lam_a, W_a * f


def dowling_pairings() -> list[dict]:
    """Half-lives (min) and AUC shares of the two possible Q ↔ V pairings of Dowling 2008's model."""
    out = []
    qa, qb = DOWLING["q_values_l_per_h"]
    for q2, q3 in ((qa, qb), (qb, qa)):
        lam, coef = lk.mammillary_modes(DOWLING["cl_l_per_h"], DOWLING["v1_l"], [q2, q3],
                                        [DOWLING["v2_l"], DOWLING["v3_l"]])
        auc = coef[0] / -lam[0]
        out.append({"q2_l_per_h (with V2 1.49 L)": q2, "q3_l_per_h (with V3 33.6 L)": q3,
                    "half_lives_min": [float(x) for x in math.log(2) / -lam[0] * 60.0],
                    "intercept_fractions": [float(x) for x in coef[0]],
                    "auc_fractions": [float(x) for x in auc / auc.sum()],
                    "terminal_half_life_min": float(math.log(2) / -lam[0][-1] * 60.0)})
    return out


@dataclass(frozen=True)
class NaloxonePKPD(PKPDModel):
    """Mechanistic IV naloxone: Dowling 2008 three-compartment PK, competitive binding, hysteresis.

    Parameters are listed in the module docstring ($PARAM); ``None`` means the value of the ``hysteresis``
    variant's calibration (``None``: the better-fitting variant, ``effect_compartment``).
    """

    cl_l_per_h: float = DOWLING["cl_l_per_h"]
    v1_l: float = DOWLING["v1_l"]
    v2_l: float = DOWLING["v2_l"]
    v3_l: float = DOWLING["v3_l"]
    q2_l_per_h: float = 5.66
    q3_l_per_h: float = 29.8
    k_mor_ng_ml: float | None = None
    ke0_per_h: float | None = None
    koff_per_h: float | None = None
    kor_ratio: float = 8.0
    dor_ratio: float = 41.0
    hysteresis: str | None = None
    weight_kg: float = 70.0

    drug: ClassVar[str] = "naloxone"
    name: ClassVar[str] = "pkpd"
    CALIBRATION_FILE: ClassVar[Path] = CALIBRATION_FILE
    ALL_SCALES: ClassVar[tuple] = ("cl", "ka", "affinity", "ke0", "koff")
    #: Doses may be "iv" (default), "intranasal" or "intramuscular" (:data:`ROUTES`).
    supports_routes: ClassVar[bool] = True
    VARIABILITY_BASE: ClassVar[tuple] = ("cl", "affinity")

    def __post_init__(self) -> None:
        self._fill_defaults()  # also the physical ranges (PARAMETER_RANGES) and 1 <= kor_ratio <= dor_ratio

    def dissociation_constants(self, affinity_scale=1.0) -> dict:
        """``{receptor: K (ng/mL)}`` (arrays of shape (n, 1) with an array scale)."""
        s = np.asarray(affinity_scale, dtype=float)
        ratio = {"MOR": 1.0, "KOR": self.kor_ratio, "DOR": self.dor_ratio}
        return {r: self.k_mor_ng_ml * ratio[r] * s for r in RECEPTORS}

    def pk_modes(self, weight_kg: float, cl_scale=1.0, route=None, ka_scale=1.0):
        """Modal form of C (ng/mL) per mg given: ``lam`` (n, 3), ``W`` (n, 1, 3) for IV (``route`` None/"iv");
        one more mode (``−ka``) for ``"intranasal"``/``"intramuscular"`` (:func:`absorption_modes`, :data:`ROUTES`;
        ``ka_scale`` multiplies ka)."""
        fc, fv = weight_factors(weight_kg)
        v1 = self.v1_l * fv
        lam, coef = lk.mammillary_modes(self.cl_l_per_h * fc * as_column(cl_scale), v1,
                                        [self.q2_l_per_h * fc, self.q3_l_per_h * fc],
                                        [self.v2_l * fv, self.v3_l * fv])
        W = (1000.0 / v1 * coef)[:, None, :]
        if route in (None, "iv"):
            return lam, W
        r = ROUTES[route]
        return absorption_modes(lam, W, r["ka_per_h"] * as_column(ka_scale), r["f"])

    def _inverse_k(self, receptors, affinity_scale):
        K = self.dissociation_constants(affinity_scale)
        cols = [as_column(1.0 / np.asarray(K[r], dtype=float)) for r in receptors]
        n = param_rows(*cols)
        return np.stack([np.broadcast_to(c, (n, 1)) for c in cols], axis=1)  # (n, R, 1)

    # ------------------------------------------------------------------ hooks for PKPDModel
    def _conc_modes(self, weight_kg, s, route=None):
        lam, W = self.pk_modes(weight_kg, s["cl_scale"], route, s["ka_scale"])
        return lam, W, ("C_naloxone_ng_ml",)

    def _effect_modes(self, weight_kg, receptors, s, route=None):
        lam, W = self.pk_modes(weight_kg, s["cl_scale"], route, s["ka_scale"])
        lam4, We = lk.first_order_filter(lam, W, self.ke0_per_h * as_column(s["ke0_scale"]))
        inv = self._inverse_k(receptors, s["affinity_scale"])
        n = max(lam4.shape[0], inv.shape[0])
        WX = np.broadcast_to(inv, (n,) + inv.shape[1:]) * np.broadcast_to(We, (n,) + We.shape[1:])
        return np.broadcast_to(lam4, (n, lam4.shape[1])), WX

    def _binding_setup(self, weight_kg, receptors, s):
        inv = self._inverse_k(receptors, s["affinity_scale"])  # (n1, R, 1)
        koff = self.koff_per_h * as_column(s["koff_scale"])[:, 0]
        n = max(inv.shape[0], koff.shape[0])
        inv = np.broadcast_to(inv, (n,) + inv.shape[1:])
        koff = np.broadcast_to(koff, (n,))
        return np.transpose(inv, (2, 1, 0)) * koff[None, None, :], koff[None, None, :]

    @property
    def time_scale_h(self) -> float:
        """Characteristic decay time (h): the longer of the terminal PK half-life and the hysteresis half-life."""
        lam, _ = self.pk_modes(self.weight_kg)
        return max(float(math.log(2) / -lam[0, -1]), math.log(2) / getattr(self, self.kinetic_parameter))
