"""The ``pkpd`` least-squares problems: fitted and held parameters, starts, profile grids, key predictions.

Each drug has one :class:`~occupancy.calibration.fitting.Problem` per hysteresis variant; the objective is
``Σ z²`` over the targets of :mod:`occupancy.calibration.pkpd_targets` (plasma PK and occupancy jointly),
parameters on the log scale within wide bounds, fitted by ``scipy.optimize.least_squares`` from the fixed
starts below (no hand tuning).

Held naltrexone parameters and why (each is profiled in the record, so their influence is shown):

* ``t_half_beta_h = 96`` h — Lee 1988's terminal plasma half-time (one published value, no spread;
  ``../shared/reference/pkpd_sources.md`` §1);
* ``f_systemic = 0.05`` — systemic availability ≈ 5 % (§5, 1984 dose-proportionality study); it only
  splits 6β-naltrexol formation between first pass and systemic clearance;
* ``nol_potency_ratio`` ρ — 6β-naltrexol is ~100-fold less potent than naltrexone per *dose* in vivo
  (monkey apparent pA2 6.5 vs 8.5, §5), converted to a *concentration* ratio by
  :func:`potency_ratio_from_pharmacology` and checked against "no central effect of 20 mg IV 6β-naltrexol
  in humans" (§5, Pain Med 2011) by :func:`iv_naltrexol_peak_mor`.  The occupancy data cannot separate the
  two ligands' contributions, which is why ρ is held rather than fitted.

The naloxone PK is Dowling 2008's three-compartment model (§6), held; only the MOR dissociation constant
and the kinetic constant of the variant are fitted.
"""

from __future__ import annotations

import math

import numpy as np

from occupancy.calibration import pkpd_targets as T
from occupancy.calibration.fitting import Param, Problem
from occupancy.calibration.sources import (
    LEE_SCAN_TIMES_H,
    MONKEY_DOSE_POTENCY_RATIO,
    NALOXONE_PET_WEIGHT_KG,
    NTX_IV_CLEARANCE_L_PER_H,
)
from occupancy.models import binding, linear_kinetics as lk
from occupancy.models.pkpd_base import HYSTERESIS, KINETIC

__all__ = [
    "HYSTERESIS", "KINETIC", "NTX_FITTED", "NTX_KINETIC", "NTX_HELD", "NTX_PROFILE_GRIDS",
    "NTX_PROFILES_SECONDARY", "NLX_K", "NLX_KINETIC", "NO_CENTRAL_EFFECT_MAX_MOR", "make_naltrexone",
    "make_naloxone", "naltrexone_problem", "naloxone_problem", "naltrexone_starts", "naloxone_starts",
    "potency_ratio_from_pharmacology", "iv_naltrexol_peak_mor", "ntx_key_predictions", "nlx_key_predictions",
    "profile_grid",
]

# ----------------------------------------------------------------------------------------- naltrexone
#: Fitted naltrexone parameters (start, bounds; the note says which targets inform each).
NTX_FITTED = (
    Param("ka_per_h", 2.0, 0.3, 20.0, "1/h", "absorption; plasma tmax"),
    Param("cl_l_per_h", 750.0, 100.0, 5000.0, "L/h", "CL/F; AUC"),
    Param("t_half_alpha_h", 3.5, 1.0, 12.0, "h", "fast NTX half-life; t1/2 3-4 h"),
    Param("terminal_auc_fraction", 0.02, 1e-5, 0.6, "", "share of NTX AUC in the 96 h phase; occupancy tail"),
    Param("t_half_nol_h", 11.0, 3.0, 30.0, "h", "6b-naltrexol half-life; 8-13 h"),
    Param("v_nol_l", 420.0, 50.0, 5000.0, "L", "V_NOL/fm; NOL Cmax"),
    Param("k_mor_ng_ml", 0.1, 1e-4, 100.0, "ng/mL", "NTX MOR K; occupancy targets"),
)
#: The kinetic constant fitted by each naltrexone variant.
NTX_KINETIC = {
    "effect_compartment": Param("ke0_per_h", 0.02, 1e-4, 10.0, "1/h", "effect-compartment rate; time course"),
    "binding_kinetics": Param("koff_per_h", 0.02, 1e-4, 10.0, "1/h", "receptor off-rate; time course"),
}
#: Held naltrexone parameters: (value, source).  ``nol_potency_ratio`` is replaced by the derived ρ.
NTX_HELD = {
    "t_half_beta_h": (96.0, "Lee 1988: terminal plasma naltrexone half-time 96 h"),
    "f_systemic": (0.05, "systemic availability ~5 % (1984 dose-proportionality study; Swiss label: 95 % first pass)"),
    "nol_potency_ratio": (MONKEY_DOSE_POTENCY_RATIO,
                          "6b-naltrexol ~100x less potent in vivo (monkey pA2 6.5 vs 8.5); no central effect of "
                          "20 mg IV in humans"),
}
#: Profile grids: ``("relative", factors of the estimate)`` or ``("absolute", values)``.
NTX_PROFILE_GRIDS = {
    "ka_per_h": ("relative", [0.25, 0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5, 4.0]),
    "cl_l_per_h": ("relative", [0.5, 0.65, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0]),
    "t_half_alpha_h": ("relative", [0.5, 0.65, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0]),
    "terminal_auc_fraction": ("absolute", [1e-4, 1e-3, 0.005, 0.02, 0.05, 0.08, 0.12, 0.16, 0.2, 0.3, 0.45]),
    "t_half_nol_h": ("relative", [0.5, 0.65, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0]),
    "v_nol_l": ("relative", [0.5, 0.65, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0]),
    "k_mor_ng_ml": ("relative", [0.25, 0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5, 4.0]),
    "ke0_per_h": ("relative", [0.25, 0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5, 4.0]),
    "koff_per_h": ("relative", [0.25, 0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5, 4.0]),
    "nol_potency_ratio": ("absolute", [3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 1e4, 1e6]),
    "f_systemic": ("absolute", [0.01, 0.02, 0.05, 0.1, 0.2, 0.3]),
    "t_half_beta_h": ("absolute", [24.0, 48.0, 72.0, 96.0, 120.0, 168.0, 240.0]),
}
#: Profiles computed for the losing variant (each refit is ~10x slower with binding kinetics).
NTX_PROFILES_SECONDARY = ("terminal_auc_fraction", "k_mor_ng_ml", "koff_per_h", "ke0_per_h", "nol_potency_ratio")
#: "No central effect" of IV 6β-naltrexol 20 mg (§5, Pain Med 2011) read as peak MOR < 50 %, i.e. a Schild
#: dose ratio ``1 + X < 2`` for an agonist (Arunlakshana & Schild 1959, Br J Pharmacol 14:48): less than a
#: 2-fold shift of morphine's central effects.
NO_CENTRAL_EFFECT_MAX_MOR = 50.0


def make_naltrexone(values: dict):
    """A :class:`~occupancy.models.pkpd_naltrexone.NaltrexonePKPD` from a full parameter dict."""
    from occupancy.models.pkpd_naltrexone import NaltrexonePKPD

    return NaltrexonePKPD(**values)


def make_naloxone(values: dict):
    """A :class:`~occupancy.models.pkpd_naloxone.NaloxonePKPD` from a parameter dict."""
    from occupancy.models.pkpd_naloxone import NaloxonePKPD

    return NaloxonePKPD(**values)


def _other(hysteresis: str) -> str:
    return "binding_kinetics" if hysteresis == "effect_compartment" else "effect_compartment"


def potency_ratio_from_pharmacology(model) -> dict:
    """In vivo concentration-potency ratio ``ρ = K_NOL,MOR / K_NTX,MOR`` from the monkey dose ratio.

    Parameters
    ----------
    model : NaltrexonePKPD
        A fit whose 6β-naltrexol clearance is used.

    Returns
    -------
    dict
        ``rho``, the inputs and the formula (stored in the record's ``held``).

    Notes
    -----
    Equal effect needs equal receptor drive ``X = C/K``; at steady exposure ``C ∝ AUC = dose/CL``, so a
    dose-potency ratio of 100 (monkey apparent pA2 6.5 vs 8.5, pkpd_sources.md §5) becomes the
    concentration ratio ``ρ = 100·CL_NTX/CL_NOL``, with the human IV naltrexone clearance 94 L/h (§5) and
    ``CL_NOL = fm·V_NOL·ln2/t½`` (Gibaldi & Perrier, ch. 1) at ``fm = 1``.  ``fm = 1`` is the largest CL_NOL
    compatible with the fit, hence the smallest ρ: the most potent 6β-naltrexol, the conservative choice
    for how long blockade lasts.
    """
    cl_nol = model.v_nol_l * math.log(2) / model.t_half_nol_h
    rho = MONKEY_DOSE_POTENCY_RATIO * NTX_IV_CLEARANCE_L_PER_H / cl_nol
    return {"rho": rho, "monkey_dose_ratio": MONKEY_DOSE_POTENCY_RATIO, "cl_ntx_iv_l_per_h": NTX_IV_CLEARANCE_L_PER_H,
            "cl_nol_l_per_h_fm1": cl_nol, "formula": "rho = 100 * CL_NTX,IV / CL_NOL(fm=1)"}


def naltrexone_problem(hysteresis: str, rabiner_mode: str = "mean_1_8", held: dict | None = None) -> Problem:
    """The naltrexone least-squares problem of one hysteresis variant.

    Parameters
    ----------
    hysteresis : {"effect_compartment", "binding_kinetics"}
    rabiner_mode : str
        How Rabiner 2011's unknown scan times are modelled (:data:`~occupancy.calibration.pkpd_targets.RABINER_MODES`).
    held : dict, optional
        Held values replacing :data:`NTX_HELD` (e.g. the derived ``nol_potency_ratio``).

    Notes
    -----
    The other variant's kinetic constant is set to its start value: the model needs a valid number for
    it but does not use it, so it cannot affect the fit.
    """
    fixed = {k: v for k, (v, _s) in NTX_HELD.items()}
    fixed.update(held or {})
    fixed["hysteresis"] = hysteresis
    fixed[KINETIC[_other(hysteresis)]] = NTX_KINETIC[_other(hysteresis)].start
    params = list(NTX_FITTED) + [NTX_KINETIC[hysteresis]]
    return Problem(params, fixed, make_naltrexone, lambda m: T.naltrexone_quantities(m, rabiner_mode),
                   T.naltrexone_targets(rabiner_mode))


def naltrexone_starts(hysteresis: str) -> list[dict]:
    """Extra starts of the naltrexone fit (a grid over the weakly identified K, kinetic constant and tail).

    Notes
    -----
    The effect-compartment fit is cheap, so it gets 12 starts; binding kinetics (about ten times slower
    per evaluation) gets 3 covering the same regions.  The set is fixed, so the fit is reproducible.
    """
    kin = KINETIC[hysteresis]
    if hysteresis == "effect_compartment":
        return [{"k_mor_ng_ml": k, kin: r, "terminal_auc_fraction": f}
                for k in (0.02, 0.3) for r in (0.005, 0.05, 0.5) for f in (0.001, 0.1)]
    return [{"k_mor_ng_ml": k, kin: r, "terminal_auc_fraction": f}
            for k, r, f in ((0.3, 0.05, 0.02), (0.05, 0.005, 0.001), (0.05, 0.01, 0.1))]


def profile_grid(name: str, centre: float) -> list[float]:
    """The profile grid of a naltrexone parameter around its estimate ``centre``."""
    kind, g = NTX_PROFILE_GRIDS[name]
    return [centre * x for x in g] if kind == "relative" else list(g)


def ntx_key_predictions(model) -> dict:
    """Typical-subject MOR (and KOR, DOR) at 2 h, 49 h and 15 d after 50 mg, and Lee's half-time.

    Notes
    -----
    The times are those of the review's claims (full blockade within 2 h, > 90 % for 49 h) and Trøstheim
    2023's 15-day washout; the half-time is the log-linear fit at Lee 1988's scan times (§1), as in the
    ``lee_half_time`` target.
    """
    s50 = T.single(50.0)
    b = model.blockade_all(s50, np.array([2.0, 49.0, 360.0]))
    lee = model.blockade(s50, np.array(LEE_SCAN_TIMES_H))
    return {"mor_2h": float(b["MOR"][0]), "mor_49h": float(b["MOR"][1]), "mor_15d": float(b["MOR"][2]),
            "kor_2h": float(b["KOR"][0]), "dor_2h": float(b["DOR"][0]),
            "lee_half_time_h": T.lee_half_time(LEE_SCAN_TIMES_H, lee)}


def iv_naltrexol_peak_mor(model, dose_mg: float = 20.0, fm: float = 1.0, infusion_min: float = 0.0) -> float:
    """Peak MOR occupancy (%) from IV 6β-naltrexol alone (human check: no central effect up to 20 mg).

    Parameters
    ----------
    model : NaltrexonePKPD
    dose_mg : float
        IV 6β-naltrexol dose (20 mg: the highest dose without a central effect, pkpd_sources.md §5).
    fm : float
        Fraction of naltrexone metabolised to 6β-naltrexol; the model's ``v_nol_l`` is ``V_NOL/fm``.
    infusion_min : float
        Infusion duration (0: bolus).

    Notes
    -----
    Plasma ``C = 1000·D/(fm·V_NOL)·e^(−kNOL·t)`` (one-compartment IV bolus, Gibaldi & Perrier ch. 1);
    ``fm = 1`` gives the *lowest* concentration consistent with the fit, so the result is a lower bound on
    the occupancy.  The effect site follows the model's hysteresis variant (effect compartment,
    Sheiner 1979; or mass-action binding, Motulsky & Mahan 1984) and occupancy is ``X/(1+X)``, ``X = Ce/K``.
    """
    k = math.log(2) / model.t_half_nol_h
    v = model.v_nol_l * fm
    t = np.concatenate([np.linspace(0.0, 2.0, 241)[1:], np.linspace(2.0, 96.0, 471)[1:]])
    lam = np.array([[-k]])
    W = np.array([[[1000.0 / v]]])
    K = model.dissociation_constants()["6b-naltrexol"]["MOR"]
    dur = infusion_min / 60.0
    if model.hysteresis == "effect_compartment":
        lam2, W2 = lk.first_order_filter(lam, W, model.ke0_per_h)
        ce = lk.superpose(t, [0.0], [dur], [dose_mg], lam2, W2)[0, 0]
        x = ce / K
        return float(np.max(100.0 * x / (1.0 + x)))
    nodes, out_idx = binding.step_grid(t, [0.0] + ([dur] if dur > 0 else []))

    def conc(times):
        return lk.superpose(times, [0.0], [dur], [dose_mg], lam, W)

    kon = np.array([[[model.koff_per_h / K]]])
    occ = binding.integrate(nodes, conc, kon, np.array([[[model.koff_per_h]]]), t, out_idx, 1)
    return float(100.0 * occ.max())


# ----------------------------------------------------------------------------------------- naloxone
#: The kinetic constant fitted by each naloxone variant (Kim 1997's half-time informs it).
NLX_KINETIC = {
    "effect_compartment": Param("ke0_per_h", 2.0, 1e-3, 1e3, "1/h", "effect-compartment rate; Kim half-time"),
    "binding_kinetics": Param("koff_per_h", 2.0, 1e-3, 1e3, "1/h", "receptor off-rate; Kim half-time"),
}
#: The naloxone MOR dissociation constant (PET dose-occupancy points).
NLX_K = Param("k_mor_ng_ml", 1.0, 1e-4, 1e4, "ng/mL", "NLX MOR K; PET dose-occupancy")


def naloxone_problem(hysteresis: str, include_kim: bool = True) -> Problem:
    """The naloxone least-squares problem of one variant (``include_kim=False``: Kim 1997 as a check only).

    Notes
    -----
    Only ``K`` and the kinetic constant are fitted: the PK is Dowling 2008's (pkpd_sources.md §6) and the
    PET points constrain nothing else.  The unused kinetic constant is set to 2/h (a valid, unused number).
    """
    other = KINETIC[_other(hysteresis)]
    return Problem([NLX_K, NLX_KINETIC[hysteresis]], {"hysteresis": hysteresis, other: 2.0}, make_naloxone,
                   T.naloxone_quantities, T.naloxone_targets(include_kim))


def naloxone_starts(hysteresis: str) -> list[dict]:
    """Extra starts of the naloxone fit: K and the kinetic constant two decades apart each."""
    kin = KINETIC[hysteresis]
    return [{"k_mor_ng_ml": k, kin: r} for k in (0.1, 10.0) for r in (0.2, 20.0)]


def nlx_key_predictions(model) -> dict:
    """Kim 1997's half-time, the time to half the 5-min occupancy after 2 mg IV, and Kim's scan values.

    Notes
    -----
    The subject weighs 70 kg (not reported; the same assumption as the targets).  The time to half of the
    5-min occupancy is read on a 30-s grid up to 24 h (``None`` when occupancy never halves).
    """
    q = T.naloxone_quantities(model)
    sched = T.single(2.0, weight_kg=NALOXONE_PET_WEIGHT_KG)
    t = np.linspace(5 / 60, 24.0, 2875)
    mor = model.blockade(sched, t)
    half = float(t[np.argmax(mor <= mor[0] / 2)]) if np.any(mor <= mor[0] / 2) else float("nan")
    return {"kim_half_time_h": q["kim_half_time"], "kim_time_to_half_of_5min_h": half,
            "kim_occupancy": q["kim_occupancy"]}
