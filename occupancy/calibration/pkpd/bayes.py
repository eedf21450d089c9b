"""Bayesian calibration of the ``pkpd`` models (issue 19): priors with sources, a likelihood per source, emcee, LOO.

What is sampled
---------------
Each candidate structure (:data:`occupancy.models.pkpd_base.STRUCTURES`) is calibrated by the same routine
(:func:`sample_structure`): the affine-invariant ensemble sampler of emcee (Foreman-Mackey et al. 2013, PASP
125:306) on the unconstrained scale (log for positive parameters, logit for fractions), walkers evaluated in one
vectorised call (:mod:`occupancy.calibration.pkpd.forward`), started in a small ball around the maximum a
posteriori point, seeded.  Diagnostics are ArviZ's rank-normalised split R-hat and bulk ESS (Vehtari et al.
2021, Bayesian Analysis 16:667) with the walkers as chains.

Priors (every one with its source; :data:`NTX_PRIORS`, :data:`NLX_PRIORS`) are normal on the transformed
scale; each has a *physiological range* (its documented plausible range) that decides admissibility: a structure
is admissible when the posterior median of every parameter lies inside its range.

Likelihood (one term per observation, grouped by source; :func:`naltrexone_loglik`, :func:`naloxone_loglik`)
---------------------------------------------------------------------------------------------------------------
* Rabiner 2011 (7 single scans, scan time < 8 h unknown): the scan time is marginalised over a uniform
  distribution on 1–8 h (assumption: no scan in the first hour of absorption), each scan ~ N(μ(τ), σ²) with
  ``σ² = σ_PET² + (ω_aff·μ(100 − μ)/100)²`` — measurement error plus between-subject variability of affinity
  (delta method on the occupancy curve: the BSV contribution vanishes near 0 and 100 %, measurement error does
  not, which is what separates the two).
* Weerts 2008 (MOR 94.9 ± 4.9 %, n = 21, alcohol-dependent, time after the 4th dose unknown): the mean over the
  24 h after the 4th daily 50 mg dose, ``σ² = 4.9²/21 + Var_window(μ) + δ²`` with ``δ = 2`` pp for the
  population/protocol difference (assumption) — wider than the standard error.
* Lee 1988 Table 2 (§7): ratios to the 1 h scan at 48/72/120/168 h, ~ N(100·μ(t)/μ(1 h), SEM²); and the
  half-time range 72–108 h across 5 subjects: the log-range ~ N(2.326·ω_T, (0.864·ω_T)²) and the log-midrange
  ~ N(ln T_typ, (0.445·ω_T)²) (moments of the range and midrange of 5 normals), ``T_typ`` the half-life of the
  log-linear fit at 48–168 h and ``ω_T`` the between-subject log-SD of the blockade half-time.
* Swiss label, 70–80 % at 48 h (wording ambiguous, low weight): ``Φ((80 − μ)/10) − Φ((70 − μ)/10)``.
* Early saturation (censored, soft; :data:`LEE_SATURATION`, :data:`TROSTHEIM_SESSION`, :data:`LEE_1H_GE_48H`):
  Lee 1988's abstract ("plasma levels in excess of that needed to saturate opiate receptors") as
  ``log Φ((μ(1 h) − 90)/5)``; Trøstheim 2023's abstract (> 90 % for a ~60 min session after the 1-2 h delay,
  "presumably due to initial super saturation", a statement about their model) as
  ``log Φ((min(μ(1 h), μ(3 h)) − 90)/10)``; Lee §7 ("at 1 h at least as high as at 48 h in the mean") as
  ``log Φ((μ(1 h) − μ(48 h))/(σ_PET·√2/√3))``.  Thresholds and softness from the wording, stated there.
* CPT 2005 abstract (qualitative): "significant" / "not significant" as the probability that a group mean of n
  PET changes exceeds the t-test threshold, ``P = Φ((μ − thr)/(s/√n))`` (or its complement), ``s`` the total
  per-subject SD.
* Plasma PK: each study mean on the log scale, ``σ² = (SD/mean)²/n + τ²`` with ``τ`` a between-study CV
  (estimated): Cmax, tmax, AUC0–24, the early apparent half-life (2–8 h: the 2-compartment t½β ≈ 3 h of the
  short-sampling studies), the 8–24 h apparent half-life (8.9 h DMD 1981, 9.5 h Licko 1981; σ 0.15 assumed),
  6β-naltrexol Cmax and half-life.
* Naloxone: the PET table (window means, same σ model) and Kim 1997's half-time, whose median for a
  log-normal with mean 2.0 and SD 1.6 h is 1.56 h: ``ln 1.56 ~ N(ln T_typ, ω_T²/8)``, ``ω_T = √ln(1 + 0.8²)``.

Comparison
----------
The log-likelihood of each *source* per posterior draw gives PSIS-LOO by source (Vehtari, Gelman & Gabry
2017, Stat Comput 27:1413; ArviZ ``loo``): the predictive density of one source's data when it is left out.
Stacking weights (Yao et al. 2018, Bayesian Analysis 13:917; ArviZ ``compare``) combine the admissible
structures; the default is the admissible structure with the highest ``elpd_loo``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from occupancy.calibration.pkpd import forward as F
from occupancy.calibration.sources import (
    CPT2005,
    NALOXONE_PET_WEIGHT_KG,
    NALOXONE_PET_WINDOWED,
    RABINER_2011,
)
from occupancy.models.pkpd_base import STRUCTURES

#: Sampler settings (small enough that ``blockade calibrate --refit`` takes minutes on one core).
SAMPLER = {"name": "emcee", "walkers": 40, "burn_in": 1500, "steps": 6000, "seed": 20261207}
#: Per drug: naloxone's 4-parameter posterior mixes fast (R-hat 1.009, bulk ESS > 4000 with these).
SAMPLER_BY_DRUG = {"naltrexone": SAMPLER, "naloxone": {**SAMPLER, "burn_in": 600, "steps": 2000}}
#: Longer chains where the walkers mix more slowly (three-phase binding: R-hat 1.022 after 6000 steps, 1.013 after 13000).
STEPS_BY_STRUCTURE = {("naltrexone", "three_phase_binding"): 22000}


def sampler_settings(drug: str, structure: str, settings: dict | None = None) -> dict:
    """The sampler settings of one structure (drug defaults, structure-specific chain length, overrides)."""
    s = dict(SAMPLER_BY_DRUG[drug])
    if (drug, structure) in STEPS_BY_STRUCTURE:
        s["steps"] = STEPS_BY_STRUCTURE[(drug, structure)]
    return {**s, **(settings or {})}
#: Draws stored per structure (thinned, from all walkers; ``occupancy/data/pkpd_<drug>_posterior.json``).
STORED_DRAWS = 600


@dataclass(frozen=True)
class Prior:
    """Normal prior on the transformed scale (``log`` or ``logit``) with its source and physiological range."""

    name: str
    transform: str
    centre: float
    sd: float
    source: str
    lo: float
    hi: float
    unit: str = ""

    def to_unconstrained(self, x):
        x = np.asarray(x, dtype=float)
        return np.log(x) if self.transform == "log" else special.logit(x)

    def to_natural(self, u):
        u = np.asarray(u, dtype=float)
        return np.exp(u) if self.transform == "log" else special.expit(u)

    def logpdf(self, u):
        """Log density of the unconstrained value (the Jacobian is implied: the prior is on this scale)."""
        m = float(self.to_unconstrained(self.centre))
        return -0.5 * ((u - m) / self.sd) ** 2 - math.log(self.sd * math.sqrt(2 * math.pi))

    def text(self) -> str:
        lo95 = float(self.to_natural(self.to_unconstrained(self.centre) - 1.96 * self.sd))
        hi95 = float(self.to_natural(self.to_unconstrained(self.centre) + 1.96 * self.sd))
        return (f"{self.transform}-normal, median {self.centre:.4g}, 95% {lo95:.3g}-{hi95:.3g}; "
                f"physiological range {self.lo:.3g}-{self.hi:.3g}; {self.source}")

    def to_dict(self) -> dict:
        return {"name": self.name, "transform": self.transform, "median": self.centre, "sd": self.sd,
                "source": self.source, "range": [self.lo, self.hi], "unit": self.unit, "text": self.text()}


_KE0_SOURCE = ("small lipophilic molecule: brain entry within tens of minutes (naloxone occupancy tmax 25 min, "
               "Trøstheim 2023; follows plasma within tens of minutes, Kim 1997; pkpd_sources.md §7); "
               "range = half-time 1 min to 2 h")
_KOFF_SOURCE = ("in-vitro naltrexone koff 0.35/min = 21/h (Cassel et al. 2005, pkpd_sources.md §7); in vivo, "
                "rebinding in receptor-dense tissue slows apparent dissociation by up to orders of magnitude "
                "(Vauquelin & Charlton 2010, Br J Pharmacol 161:488): SD one decade; range in vitro/1000 to ×10")

#: Naltrexone priors (natural-scale median, SD on the transformed scale, source, physiological range).
NTX_PRIORS = {
    "ka_per_h": Prior("ka_per_h", "log", 1.5, 0.7, "tmax 0.8-1.1 h with t1/2 3 h (§5); Licko oral absorption "
                      "t1/2 ~1 h (§5)", 0.3, 10.0, "1/h"),
    "cl_l_per_h": Prior("cl_l_per_h", "log", 760.0, 0.3, "CL/F = 50 mg / AUC 64.7-66.2 ng.h/mL = 755-773 L/h "
                        "(§5)", 200.0, 3000.0, "L/h"),
    "t_half_alpha_h": Prior("t_half_alpha_h", "log", 3.2, 0.3, "2.97 +/- 0.61, 3.34 +/- 1.49 h, ~4 h (§5)",
                            1.0, 8.0, "h"),
    "t_half_gamma_h": Prior("t_half_gamma_h", "log", 9.2, 0.25, "oral apparent t1/2 8.9 h (Drug Metab Dispos "
                            "1981) and 9.5 h (Licko 1981) (§5, §7)", 5.0, 20.0, "h"),
    "t_half_beta_h": Prior("t_half_beta_h", "log", 96.0, 0.3, "terminal plasma half-time 96 h (Lee 1988, §1)",
                           40.0, 240.0, "h"),
    "intermediate_auc_fraction": Prior("intermediate_auc_fraction", "logit", 0.2, 1.5,
                                       "weakly informative: no published AUC share (§5 gaps)", 0.01, 0.9),
    "terminal_auc_fraction": Prior("terminal_auc_fraction", "logit", 0.02, 1.5,
                                   "weakly informative: no published AUC share (§5 gaps)", 1e-4, 0.5),
    "f_systemic": Prior("f_systemic", "logit", 0.05, 0.5, "systemic availability ~5 %, first-pass 95 % (§5)",
                        0.01, 0.4),
    "t_half_nol_h": Prior("t_half_nol_h", "log", 11.0, 0.25, "9.9 +/- 1.8, 7.6, 12-13 h; IV 11.1 +/- 2.4 h (§5)",
                          5.0, 25.0, "h"),
    "v_nol_l": Prior("v_nol_l", "log", 400.0, 1.0, "weakly informative (V_NOL/fm; the 6b-naltrexol Cmax pins "
                     "it)", 50.0, 5000.0, "L"),
    "k_mor_ng_ml": Prior("k_mor_ng_ml", "log", 0.15, 1.5, "in-vitro Ki 0.11-1.1 nM = 0.04-0.4 ng/mL (MW 341; "
                         "§7), wide for in vivo", 0.005, 5.0, "ng/mL"),
    "nol_potency_ratio": Prior("nol_potency_ratio", "log", 20.0, 1.2, "K_NOL/K_NTX: in vitro 2-19 (§7), in "
                               "vivo (monkey) ~100 (§5)", 1.0, 1000.0),
    "ke0_fast": Prior("ke0_per_h", "log", math.log(2) / 0.5, 0.8, _KE0_SOURCE, math.log(2) / 2.0,
                      math.log(2) * 60.0, "1/h"),
    "ke0_vague": Prior("ke0_per_h", "log", 0.1, 3.0, "vague (the legacy structure lets the data set ke0); "
                       "physiological range as for brain entry: " + _KE0_SOURCE, math.log(2) / 2.0,
                       math.log(2) * 60.0, "1/h"),
    "koff_per_h": Prior("koff_per_h", "log", 21.0, math.log(10.0), _KOFF_SOURCE, 0.021, 210.0, "1/h"),
}
#: Noise and variability parameters (shared by the structures).
NOISE_PRIORS = {
    "sigma_pet": Prior("sigma_pet", "log", 5.0, 0.5, "PET measurement error of one occupancy scan, a few pp "
                       "([11C]carfentanil test-retest; assumption)", 1.0, 15.0, "pp"),
    "omega_aff": Prior("omega_aff", "log", 0.3, 0.7, "weakly informative between-subject log-SD of affinity "
                       "(healthy volunteers)", 0.02, 1.5),
    "omega_t": Prior("omega_t", "log", 0.17, 0.7, "between-subject log-SD of the blockade half-time; centred "
                     "on Lee's range ln(108/72)/2.326", 0.02, 1.5),
    "tau_pk": Prior("tau_pk", "log", 0.1, 0.7, "between-study CV of plasma PK summaries (weakly informative)",
                    0.01, 1.0),
}
#: Held naltrexone parameters (value, source).
NTX_HELD = {"kor_ratio": (2.0, "Trøstheim 2023 MOR:KOR 1:2"), "dor_ratio": (79.0, "Trøstheim 2023 MOR:DOR 1:79")}


def naltrexone_parameters(structure: str) -> list[str]:
    """Sampled names (model parameters then noise parameters) of a naltrexone structure."""
    phases = STRUCTURES[structure]["phases"]
    hyst = STRUCTURES[structure]["hysteresis"]
    names = ["ka_per_h", "cl_l_per_h", "t_half_alpha_h"] + (["t_half_gamma_h"] if phases == 3 else []) + [
        "t_half_beta_h"] + (["intermediate_auc_fraction"] if phases == 3 else []) + [
        "terminal_auc_fraction", "f_systemic", "t_half_nol_h", "v_nol_l", "k_mor_ng_ml", "nol_potency_ratio",
        "ke0_per_h" if hyst == "effect_compartment" else "koff_per_h"]
    return names + ["sigma_pet", "omega_aff", "omega_t", "tau_pk"]


def naltrexone_priors(structure: str) -> dict:
    """``{name: Prior}`` of a structure (the legacy effect compartment keeps a vague ke0 prior)."""
    out = {}
    for name in naltrexone_parameters(structure):
        if name == "ke0_per_h":
            out[name] = NTX_PRIORS["ke0_vague" if structure == "effect_compartment" else "ke0_fast"]
        else:
            out[name] = NTX_PRIORS.get(name) or NOISE_PRIORS[name]
    return out


def naltrexone_fixed(structure: str) -> dict:
    """Values held for a structure (two-phase: no intermediate phase)."""
    if STRUCTURES[structure]["phases"] == 2:
        return {"t_half_gamma_h": 9.2, "intermediate_auc_fraction": 0.0}
    return {}


# ------------------------------------------------------------------------------------------ likelihood pieces
def _norm_logpdf(y, mu, sd):
    return -0.5 * ((y - mu) / sd) ** 2 - np.log(sd * math.sqrt(2 * math.pi))


def _occ_sd(mu, sigma_pet, omega_aff):
    """Per-scan SD: measurement error ⊕ BSV of affinity through the occupancy curve (delta method)."""
    m = np.clip(mu, 0.0, 100.0)
    return np.sqrt(sigma_pet**2 + (omega_aff * m * (100.0 - m) / 100.0) ** 2)


def _interval_logp(mu, lo, hi, s):
    return np.log(np.clip(stats.norm.cdf((hi - mu) / s) - stats.norm.cdf((lo - mu) / s), 1e-300, None))


def _log_study(obs, pred, rel_se, tau):
    """Log-scale study-mean term: ln obs ~ N(ln pred, rel_se² + τ²)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(np.where(pred > 0, pred, np.nan))
    s = np.sqrt(rel_se**2 + tau**2)
    out = _norm_logpdf(math.log(obs), lp, s)
    return np.where(np.isfinite(out), out, -1e10)


#: Naltrexone plasma PK study means (value, SD, n) per source; SD None: no SD (σ from τ and 0.15).
PK_STUDIES = {
    "PK study A (§5)": {"ntx_cmax": (17.2, 2.6, 10), "ntx_tmax": (0.81, 0.09, 10), "ntx_auc_0_24": (64.7, 9.4, 10),
                        "t_half_2_8": (2.97, 0.61, 10), "nol_t_half": (9.9, 1.8, 10)},
    "PK study B (§5)": {"ntx_cmax": (16.6, 1.6, 10), "ntx_tmax": (1.09, 0.25, 10), "ntx_auc_0_24": (66.2, 8.4, 10),
                        "t_half_2_8": (3.34, 1.49, 10), "nol_t_half": (7.6, None, 10)},
    "Swiss label PK (§5)": {"ntx_cmax": (13.3, None, 1), "nol_cmax": (108.0, None, 1), "t_half_2_8": (4.0, None, 1),
                            "nol_t_half": (13.0, None, 1)},
    "Oral t1/2 8-24 h (DMD 1981, Licko 1981)": {"t_half_8_24": (8.9, None, 1), "t_half_8_24 ": (9.5, None, 1)},
}
#: Relative SE assumed for a PK summary without an SD (a rounded single value).
PK_REL_SE_NO_SD = 0.15
#: Lee 1988 Table 2 (§7): time (h) -> (ratio to the 1 h scan %, SEM, n).
LEE_RATIOS = {48.0: (91.0, 6.4, 3), 72.0: (80.0, 6.3, 3), 120.0: (46.0, 7.4, 5), 168.0: (30.0, 13.8, 4)}
LEE_RANGE_H = (72.0, 108.0)
WEERTS_MOR = (94.9, 4.9, 21)
WEERTS_DELTA_PP = 2.0
LABEL_48H = (70.0, 80.0, 10.0)
#: Lee 1988 abstract (§1): 50 mg gives "plasma levels in excess of that needed to saturate opiate receptors";
#: Lee's 1 h scan is the reference of Table 2 (§7). Read as: the typical subject's MOR at 1 h is near
#: saturation, a one-sided (censored) statement ``log Φ((μ(1 h) − thr)/s)``. thr = 90 %: "saturate" names no
#: number; 90 % is the level the field calls near-saturating (Trøstheim's "> 90 %", §2b). s = 5 pp: the
#: statement is qualitative and rests on 5 subjects scanned with a non-tomographic dual detector, so a typical
#: value of 85 % is still plausible (z = −1), 80 % unlikely (z = −2). (threshold %, softness pp, time h)
LEE_SATURATION = (90.0, 5.0, 1.0)
#: Trøstheim 2023 abstract (§2b): 50 mg oral gives "> 90 % MOR blockade for a ~60 min session, presumably due to
#: initial super saturation", with the app's minimum delay of 1-2 h (§2b recommendations): the session spans
#: about 1-3 h after the dose. One-sided on the *lowest* of μ(1 h) and μ(3 h) (the model's points bracketing the
#: session). Softer than Lee (s = 10 pp): it is a statement about their own model (which predicts 89.9 % at
#: < 8 h, §2b), fitted to the same kind of PET data, and hedged ("presumably"); a weak, partly redundant prior
#: belief, not a measurement. (threshold %, softness pp, session times h)
TROSTHEIM_SESSION = (90.0, 10.0, (1.0, 3.0))
#: Lee 1988 §7: "at 1 h it is at least as high as at 48 h in the mean" (Lee expresses blockade relative to each
#: subject's 1 h scan). One-sided: μ(1 h) − μ(48 h) ≥ 0 for the typical subject, ``log Φ(Δ/s)`` with
#: s = σ_PET·√2/√3 — the SE of the mean over Lee's n = 3 subjects at 48 h of a difference of two scans, each
#: with the estimated PET measurement error (the statement is about a mean of noisy scan pairs). This overlaps
#: Table 2's 48 h ratio (91 ± 6.4 %, the same 3 subjects), which already makes a ratio above 100 unlikely; it
#: adds the sign of the difference in absolute pp, which bites where the ratio term is flat.
LEE_1H_GE_48H = (1.0, 48.0, 3)
#: The censored (qualitative) naltrexone terms as stored in the record: source, wording, encoding.
CENSORED_TERMS = {
    "Lee 1988 saturation": {
        "source": "Lee MC et al. 1988, J Nucl Med 29:1207-11, abstract (pkpd_sources.md §1, §7)",
        "wording": "50 mg/day of oral naltrexone results in plasma levels in excess of that needed to saturate "
                   "opiate receptors",
        "term": "log Phi((MOR_typ(1 h, 50 mg) - 90) / 5)",
        "why": "'saturate' names no number: 90 % is the near-saturation level of the field (Trøstheim's > 90 %); "
               "softness 5 pp for a qualitative statement on 5 subjects with a dual-detector system"},
    "Trøstheim 2023 session": {
        "source": "Trøstheim M et al. 2023, Neuropsychopharmacology 48:299-307, abstract and app "
                  "recommendations (pkpd_sources.md §2b)",
        "wording": "50 mg oral NTX gives > 90 % MOR blockade for a ~60 min session, presumably due to initial "
                   "super saturation of receptors; minimum delay dose-assessment 1-2 h",
        "term": "log Phi((min(MOR_typ(1 h), MOR_typ(3 h)) - 90) / 10)",
        "why": "the session after a 1-2 h delay spans about 1-3 h; softness 10 pp because the statement is a "
               "prediction of their own model (89.9 % at < 8 h), hedged ('presumably'), not a measurement"},
    "Lee 1988 1 h >= 48 h": {
        "source": "Lee 1988 Table 2 as transcribed in pkpd_sources.md §7",
        "wording": "at 1 h it is at least as high as at 48 h in the mean",
        "term": "log Phi((MOR_typ(1 h) - MOR_typ(48 h)) / (sigma_pet * sqrt(2) / sqrt(3)))",
        "why": "a mean over Lee's 3 subjects at 48 h of a difference of two scans with PET measurement error; "
               "overlaps the 48 h ratio term (same subjects), adds the sign of the difference"},
}


def _lee_half_time(occ_pts):
    """Half-life (h) of the log-linear fit of occupancy at 48, 72, 120, 168 h (columns 3, 4, 5, 7 of NTX_POINTS)."""
    t = np.array([48.0, 72.0, 120.0, 168.0])
    y = np.log(np.clip(occ_pts[:, [3, 4, 5, 7]], 1e-9, None))
    tc = t - t.mean()
    slope = ((y - y.mean(axis=1, keepdims=True)) * tc).sum(axis=1) / (tc**2).sum()
    with np.errstate(divide="ignore"):
        return np.where(slope < 0, math.log(2) / -np.where(slope < 0, slope, -1.0), np.inf)


def _cpt_terms(pred, s_sub):
    """(label, dose, time, significant?, n, alpha) of the CPT 2005 abstract and their log-probabilities."""
    rows = []
    for h, lab in CPT2005["12.5"].items():
        rows.append((12.5, float(h), lab != "ns", 4, 0.05))
    for h, lab in CPT2005["50"].items():
        rows.append((50.0, float(h), True, 5, 0.001 if "0.001" in lab else 0.01))
    out = []
    for dose, h, sig, n, alpha in rows:
        mu = pred["occ"][dose][:, list(F.NTX_POINTS).index(h)]
        s = s_sub(mu)
        thr = stats.t.ppf(1 - alpha / 2, n - 1) * s / math.sqrt(n)
        z = (mu - thr) / (s / math.sqrt(n))
        lp = stats.norm.logcdf(z) if sig else stats.norm.logcdf(-z)
        out.append(((dose, h, sig, alpha), lp))
    return out


def naltrexone_loglik(pred: dict, q: dict) -> dict:
    """Per-source log-likelihood ``{source: (n,)}`` of the naltrexone data for predictions ``pred``.

    ``q`` holds the noise parameters (``sigma_pet``, ``omega_aff``, ``omega_t``, ``tau_pk``) as (n,) arrays.
    """
    sp, wa, wt, tau = q["sigma_pet"], q["omega_aff"], q["omega_t"], q["tau_pk"]
    ll = {}
    # Rabiner: marginalise the unknown scan time (uniform 1-8 h)
    tot = 0.0
    for dose, obs in RABINER_2011:
        mu = pred["rabiner"][float(dose)]  # (n, tau)
        sd = _occ_sd(mu, sp[:, None], wa[:, None])
        lp = _norm_logpdf(obs, mu, sd)
        tot = tot + special.logsumexp(lp, axis=1) - math.log(mu.shape[1])
    ll["Rabiner 2011"] = tot
    # Weerts
    w = pred["weerts"]
    m, sd, n = WEERTS_MOR
    s = np.sqrt(sd**2 / n + w.var(axis=1) + WEERTS_DELTA_PP**2)
    ll["Weerts 2008"] = _norm_logpdf(m, w.mean(axis=1), s)
    # Lee: ratios to the 1 h scan, and the half-time range of 5 subjects
    o50 = pred["occ"][50.0]
    lee = 0.0
    for h, (r, sem, _n) in LEE_RATIOS.items():
        ratio = 100.0 * o50[:, list(F.NTX_POINTS).index(h)] / np.clip(o50[:, 0], 1e-9, None)
        lee = lee + _norm_logpdf(r, ratio, sem)
    th = _lee_half_time(o50)
    mid = 0.5 * math.log(LEE_RANGE_H[0] * LEE_RANGE_H[1])
    rng = math.log(LEE_RANGE_H[1] / LEE_RANGE_H[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        lth = np.where(np.isfinite(th), np.log(th), 1e3)
    lee = lee + _norm_logpdf(mid, lth, 0.445 * wt) + _norm_logpdf(rng, 2.326 * wt, 0.864 * wt)
    ll["Lee 1988"] = lee
    # label 70-80 % at 48 h (low weight)
    lo, hi, soft = LABEL_48H
    ll["Swiss label 48 h"] = _interval_logp(o50[:, list(F.NTX_POINTS).index(48.0)], lo, hi, soft)
    # Lee 1988 abstract + Trøstheim 2023 abstract: near saturation early after 50 mg (censored, soft)
    pts = list(F.NTX_POINTS)
    thr, soft, h1 = LEE_SATURATION
    ll["Lee 1988 saturation"] = stats.norm.logcdf((o50[:, pts.index(h1)] - thr) / soft)
    thr, soft, hs = TROSTHEIM_SESSION
    low = np.min(np.stack([o50[:, pts.index(h)] for h in hs], axis=1), axis=1)
    ll["Trøstheim 2023 session"] = stats.norm.logcdf((low - thr) / soft)
    ha, hb, n_lee = LEE_1H_GE_48H
    s_diff = sp * math.sqrt(2.0) / math.sqrt(n_lee)
    ll["Lee 1988 1 h >= 48 h"] = stats.norm.logcdf((o50[:, pts.index(ha)] - o50[:, pts.index(hb)]) / s_diff)
    # CPT 2005 qualitative
    ll["CPT 2005"] = sum(lp for _k, lp in _cpt_terms(pred, lambda mu: _occ_sd(mu, sp, wa)))
    # plasma PK
    for src, items in PK_STUDIES.items():
        acc = 0.0
        for key, (obs, sd_, n_) in items.items():
            rel = (sd_ / obs) / math.sqrt(n_) if sd_ is not None else PK_REL_SE_NO_SD
            acc = acc + _log_study(obs, pred[key.strip()], rel, tau)
        ll[src] = acc
    return {k: np.where(np.isfinite(v), v, -1e10) for k, v in ll.items()}


# ------------------------------------------------------------------------------------------ naloxone
#: Kim 1997: 2.0 ± 1.6 h (n = 8) → log-normal median and log-SD of the individual half-times.
KIM = (2.0, 1.6, 8)
NLX_PRIORS = {
    "k_mor_ng_ml": Prior("k_mor_ng_ml", "log", 0.5, 1.5, "naloxone MOR Ki ~1 nM = 0.33 ng/mL (MW 327), wide for "
                         "in vivo (50 % occupancy near 13 µg/kg, Eur J Pharmacol 2003; §6)", 0.01, 20.0, "ng/mL"),
    "ke0_per_h": Prior("ke0_per_h", "log", math.log(2) / 0.5, 0.8, _KE0_SOURCE, math.log(2) / 2.0,
                       math.log(2) * 60.0, "1/h"),
    "koff_per_h": Prior("koff_per_h", "log", 21.0, math.log(10.0), "naloxone: as naltrexone (similar morphinan "
                        "antagonist; " + _KOFF_SOURCE + ")", 0.021, 210.0, "1/h"),
}


def naloxone_parameters(structure: str) -> list[str]:
    kin = "ke0_per_h" if structure == "effect_compartment" else "koff_per_h"
    return ["k_mor_ng_ml", kin, "sigma_pet", "omega_aff"]


def naloxone_priors(structure: str) -> dict:
    return {n: NLX_PRIORS.get(n) or NOISE_PRIORS[n] for n in naloxone_parameters(structure)}


def naloxone_predictions(values: dict, structure: str) -> dict:
    """PET window means (by table row) and Kim's half-time for ``n`` parameter sets (model scales, exact)."""
    from occupancy.calibration.pkpd_targets import single
    from occupancy.models.pkpd_naloxone import NaloxonePKPD
    from occupancy.calibration.sources import KIM_SCAN_TIMES_H

    base = NaloxonePKPD(hysteresis=structure)
    kin = base.kinetic_parameter
    kscale = _col(values[kin]) / getattr(base, kin)
    ascale = _col(values["k_mor_ng_ml"]) / base.k_mor_ng_ml
    n = kscale.shape[0]
    windows = sorted({w for *_, w in NALOXONE_PET_WINDOWED})
    grids = {w: np.linspace(w[0], w[1], 9) for w in windows}
    times = np.unique(np.concatenate(list(grids.values()) + [np.array(KIM_SCAN_TIMES_H)]))
    doses = sorted({d for _, d, _, _ in NALOXONE_PET_WINDOWED})
    nd = len(doses)
    ds = np.repeat(np.array(doses), n).reshape(-1, 1)
    sc = {f"{kin.replace('_per_h', '')}_scale": np.tile(kscale, (nd, 1)), "affinity_scale": np.tile(ascale, (nd, 1))}
    res = base.blockade_all(single(0.0, mg_per_kg=1.0, weight_kg=NALOXONE_PET_WEIGHT_KG), times, ("MOR",),
                            dose_scale=ds, **sc)["MOR"].reshape(nd, n, times.size)
    pet = []
    for _s, dose, _o, win in NALOXONE_PET_WINDOWED:
        g = grids[win]
        v = res[doses.index(dose)][:, np.searchsorted(times, g)]
        pet.append(np.trapezoid(v, g, axis=1) / (g[-1] - g[0]))
    sc1 = {f"{kin.replace('_per_h', '')}_scale": kscale, "affinity_scale": ascale}
    kim = base.blockade_all(single(2.0, weight_kg=NALOXONE_PET_WEIGHT_KG), np.array(KIM_SCAN_TIMES_H), ("MOR",),
                            dose_scale=np.ones((n, 1)), **sc1)["MOR"]
    t = np.array(KIM_SCAN_TIMES_H)
    y = np.log(np.clip(kim, 1e-9, None))
    tc = t - t.mean()
    slope = ((y - y.mean(axis=1, keepdims=True)) * tc).sum(axis=1) / (tc**2).sum()
    kim_t = np.where(slope < 0, math.log(2) / -np.where(slope < 0, slope, -1.0), 1e3)
    return {"pet": np.array(pet).T, "kim_half_time": kim_t}


def _col(x):
    return np.asarray(x, dtype=float).reshape(-1, 1)


def naloxone_loglik(pred: dict, q: dict) -> dict:
    """Per-source log-likelihood of the naloxone data (PET table by study, Kim's half-time)."""
    sp, wa = q["sigma_pet"], q["omega_aff"]
    ll: dict = {}
    for i, (study, _dose, obs, _win) in enumerate(NALOXONE_PET_WINDOWED):
        mu = pred["pet"][:, i]
        ll[study] = ll.get(study, 0.0) + _norm_logpdf(obs, mu, _occ_sd(mu, sp, wa))
    mean, sd, n = KIM
    omega = math.sqrt(math.log(1 + (sd / mean) ** 2))
    median = mean / math.sqrt(1 + (sd / mean) ** 2)
    ll["Kim 1997 half-time"] = _norm_logpdf(math.log(median), np.log(pred["kim_half_time"]), omega / math.sqrt(n))
    return {k: np.where(np.isfinite(v), v, -1e10) for k, v in ll.items()}


# ------------------------------------------------------------------------------------------ the problem
@dataclass(frozen=True)
class Problem:
    """One structure of one drug: priors, fixed values, and the vectorised log-likelihood by source."""

    drug: str
    structure: str
    priors: dict
    fixed: dict

    @property
    def names(self) -> list[str]:
        return list(self.priors)

    def natural(self, u: np.ndarray) -> dict:
        """Unconstrained (n, d) → ``{name: (n,)}`` natural values (fixed values appended)."""
        u = np.atleast_2d(u)
        out = {k: self.priors[k].to_natural(u[:, i]) for i, k in enumerate(self.names)}
        for k, v in self.fixed.items():
            out[k] = np.full(u.shape[0], v)
        return out

    def unconstrained(self, values: dict) -> np.ndarray:
        return np.array([float(self.priors[k].to_unconstrained(values[k])) for k in self.names])

    def log_prior(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        return sum(self.priors[k].logpdf(u[:, i]) for i, k in enumerate(self.names))

    def predictions(self, values: dict) -> dict:
        if self.drug == "naltrexone":
            return F.naltrexone_predictions(values, self.structure)
        return naloxone_predictions(values, self.structure)

    def loglik_by_source(self, values: dict) -> dict:
        pred = self.predictions(values)
        return naltrexone_loglik(pred, values) if self.drug == "naltrexone" else naloxone_loglik(pred, values)

    def log_posterior(self, u: np.ndarray) -> np.ndarray:
        """Vectorised log posterior of (n, d) unconstrained points (emcee ``vectorize=True``)."""
        u = np.atleast_2d(u)
        lp = self.log_prior(u)
        values = self.natural(u)
        bad = ~self._valid(values)
        if np.all(bad):
            return np.full(u.shape[0], -np.inf)
        ll = self.loglik_by_source(values)
        total = lp + sum(ll.values())
        total = np.where(bad | ~np.isfinite(total), -np.inf, total)
        return total

    def _valid(self, v: dict) -> np.ndarray:
        n = len(next(iter(v.values())))
        ok = np.ones(n, dtype=bool)
        if self.drug == "naltrexone":
            ok &= v["intermediate_auc_fraction"] + v["terminal_auc_fraction"] < 0.99
            ok &= v["t_half_alpha_h"] < v["t_half_beta_h"]
            if STRUCTURES[self.structure]["phases"] == 3:
                ok &= (v["t_half_alpha_h"] < v["t_half_gamma_h"]) & (v["t_half_gamma_h"] < v["t_half_beta_h"])
            ok &= v["ka_per_h"] < 50.0
        return ok


def problem(drug: str, structure: str) -> Problem:
    if drug == "naltrexone":
        return Problem(drug, structure, naltrexone_priors(structure), naltrexone_fixed(structure))
    return Problem(drug, structure, naloxone_priors(structure), {})


def structures_of(drug: str) -> tuple:
    """Structures sampled per drug.  Naloxone: the effect compartment only — its binding-kinetics variant needs
    0.1-min integration steps (the 0.9-min distribution phase) that make sampling far slower, and its fitted
    koff (~18 /h) makes it indistinguishable from the effect compartment at PET resolution; the variant keeps
    its least-squares parameters (``variants``) and is not weighted."""
    return tuple(STRUCTURES) if drug == "naltrexone" else ("effect_compartment",)


def model_parameter_names(prob: Problem) -> list[str]:
    """The names that are model parameters (not noise/variability)."""
    return [k for k in prob.names if k not in NOISE_PRIORS]
