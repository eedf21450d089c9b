"""The Bayesian calibration routine: MAP start, emcee sampling, diagnostics, LOO by source, stacking, checks, record.

:func:`calibrate_bayes` runs every structure of a drug with the same routine (:func:`~.bayes.sampler_settings`) and
returns ``(summary, posterior)``: the JSON-ready summary stored in the calibration record
(``occupancy/data/pkpd_<drug>_calibration.json``: ``sampler``, ``diagnostics``, ``structures``,
``default_structure``, ``checks``, ``priors``) and the thinned posterior draws
(``occupancy/data/pkpd_<drug>_posterior.json``) that :meth:`~occupancy.models.pkpd_base.PKPDModel.parameter_draws`
resamples at run time.  See :mod:`occupancy.calibration.pkpd.bayes` for the priors, likelihood and comparison.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from occupancy.calibration.pkpd import bayes as B
from occupancy.calibration.pkpd import forward as F
from occupancy.models.pkpd_base import STRUCTURES


# ------------------------------------------------------------------------------------------ starting point
def _start_values(prob: B.Problem) -> np.ndarray:
    """Prior medians (a deterministic start for the MAP search)."""
    v = {k: prob.priors[k].centre for k in prob.names}
    if prob.drug == "naltrexone" and "koff_per_h" in v:
        v["koff_per_h"] = 0.05  # start the off-rate search inside the range that the Lee ratios can reach
    return prob.unconstrained(v)


def find_map(prob: B.Problem, start: np.ndarray | None = None, restarts: int = 2) -> np.ndarray:
    """Maximum a posteriori point: L-BFGS-B with vectorised central-difference gradients (deterministic).

    Each gradient is one vectorised call of ``2d + 1`` points (the same call the sampler makes for its walkers).
    Restarts from deterministic perturbations of the start (a seeded generator) keep the best optimum.
    """
    u0 = _start_values(prob) if start is None else np.asarray(start, dtype=float)
    d = u0.size
    h = 1e-5
    eye = np.eye(d) * h

    def fg(u):
        pts = np.vstack([u[None], u + eye, u - eye])
        lp = prob.log_posterior(pts)
        if not np.isfinite(lp[0]):
            return 1e12, np.zeros(d)
        g = (lp[1:d + 1] - lp[d + 1:]) / (2 * h)
        g = np.where(np.isfinite(g), g, 0.0)
        return -float(lp[0]), -g

    rng = np.random.default_rng(7)
    best = None
    for i in range(restarts):
        x0 = u0 if i == 0 else (best.x if best is not None else u0) + 0.5 * rng.standard_normal(d)
        r = optimize.minimize(fg, x0, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
        if best is None or r.fun < best.fun:
            best = r
    return best.x


# ------------------------------------------------------------------------------------------ sampling
def sample(prob: B.Problem, settings: dict | None = None, progress: bool = False, start=None) -> dict:
    """emcee ensemble around the MAP point; returns the chain, log-probabilities and thinned draws.

    Returns ``{"map": u, "chain": (steps, walkers, d) after burn-in, "draws": (S, d) thinned unconstrained,
    "acceptance": mean acceptance}``.  Seeded by ``settings["seed"]`` (walker ball and moves): reproducible.
    """
    import emcee

    s = B.sampler_settings(prob.drug, prob.structure, settings)
    u_map = find_map(prob, start)
    rng = np.random.default_rng(s["seed"])
    d = u_map.size
    p0 = u_map + 1e-3 * rng.standard_normal((s["walkers"], d))
    lp0 = prob.log_posterior(p0)
    while not np.all(np.isfinite(lp0)):  # re-draw invalid starting walkers (deterministic: same rng)
        bad = ~np.isfinite(lp0)
        p0[bad] = u_map + 1e-4 * rng.standard_normal((int(bad.sum()), d))
        lp0 = prob.log_posterior(p0)
    sampler = emcee.EnsembleSampler(s["walkers"], d, prob.log_posterior, vectorize=True,
                                    moves=[(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)])
    sampler._random = np.random.mtrand.RandomState(s["seed"])  # emcee's own stream, seeded
    sampler.run_mcmc(p0, s["burn_in"] + s["steps"], progress=progress,
                     progress_kwargs={"desc": f"{prob.drug} {prob.structure}", "leave": False})
    chain = sampler.get_chain()[s["burn_in"]:]  # (steps, walkers, d)
    return {"map": u_map, "chain": chain, "acceptance": float(np.mean(sampler.acceptance_fraction))}


def diagnostics(prob: B.Problem, chain: np.ndarray) -> dict:
    """ArviZ rank-normalised split R-hat and bulk ESS per parameter (walkers as chains)."""
    import arviz as az

    post = {k: np.swapaxes(chain[:, :, i], 0, 1) for i, k in enumerate(prob.names)}  # (chain, draw)
    idata = az.from_dict(posterior=post)
    rhat = az.rhat(idata)
    ess = az.ess(idata, method="bulk")
    per = {k: {"rhat": float(rhat[k].values), "ess_bulk": float(ess[k].values)} for k in prob.names}
    return {"rhat_max": max(v["rhat"] for v in per.values()), "ess_bulk_min": min(v["ess_bulk"] for v in per.values()),
            "per_parameter": per}


def thin(chain: np.ndarray, n_keep: int) -> np.ndarray:
    """``n_keep`` draws spread evenly over the post-burn-in chain (all walkers), deterministic."""
    flat = chain.reshape(-1, chain.shape[-1])  # step-major
    idx = np.linspace(0, flat.shape[0] - 1, n_keep).round().astype(int)
    return flat[idx]


def loo_by_source(prob: B.Problem, draws: np.ndarray) -> dict:
    """PSIS-LOO with one "observation" per source (ArviZ): elpd, SE, p_loo, Pareto k per source."""
    import arviz as az

    values = prob.natural(draws)
    ll = prob.loglik_by_source(values)
    sources = list(ll)
    mat = np.stack([ll[k] for k in sources], axis=1)  # (S, sources)
    idata = az.from_dict(posterior={"x": draws[None, :, 0]}, log_likelihood={"ll": mat[None]},
                         dims={"ll": ["source"]}, coords={"source": sources})
    res = az.loo(idata, pointwise=True)
    return {"elpd_loo": float(res.elpd_loo), "se": float(res.se), "p_loo": float(res.p_loo),
            "pareto_k": dict(zip(sources, map(float, np.asarray(res.pareto_k)))),
            "elpd_by_source": dict(zip(sources, map(float, np.asarray(res.loo_i)))), "idata": idata}


def stacking_weights(loos: dict) -> dict:
    """Stacking weights (ArviZ ``compare``, method ``stacking``) over the given structures."""
    import arviz as az

    if len(loos) == 1:
        return {next(iter(loos)): 1.0}
    cmp = az.compare({k: v["idata"] for k, v in loos.items()}, ic="loo", method="stacking")
    return {k: float(cmp.loc[k, "weight"]) for k in loos}


# ------------------------------------------------------------------------------------------ admissibility
def admissibility(prob: B.Problem, medians: dict) -> dict:
    """Every model parameter's posterior median inside its documented physiological range."""
    out = {}
    for k in B.model_parameter_names(prob):
        pr = prob.priors[k]
        out[k] = {"median": medians[k], "range": [pr.lo, pr.hi], "inside": bool(pr.lo <= medians[k] <= pr.hi)}
    return {"admissible": all(v["inside"] for v in out.values()), "parameters": out}


# ------------------------------------------------------------------------------------------ predictive checks
def _pct(x, q):
    return float(np.percentile(x, q))


def _row(source, target, observed, pred, covered=None, unit="", literal=None, observed_sd=None):
    lo, med, hi = _pct(pred, 2.5), _pct(pred, 50), _pct(pred, 97.5)
    sd = float(np.std(pred))
    cov = bool(lo <= observed <= hi) if covered is None else bool(covered)
    return {"source": source, "target": target, "observed": float(observed), "predicted_median": med,
            "predicted_lo": lo, "predicted_hi": hi, "covered": cov, "unit": unit,
            "within_one_sd": bool(abs(observed - med) <= sd) if sd > 0 else bool(observed == med),
            "literal": literal, "observed_sd": observed_sd}


def naltrexone_checks(prob: B.Problem, draws: np.ndarray, seed: int = 11) -> list[dict]:
    """Posterior predictive check per observation: observed vs the 95 % posterior predictive band."""
    rng = np.random.default_rng(seed)
    v = prob.natural(draws)
    pred = prob.predictions(v)
    S = draws.shape[0]
    sp, wa, tau = v["sigma_pet"], v["omega_aff"], v["tau_pk"]
    rows = []
    for i, (dose, obs) in enumerate(B.RABINER_2011):
        mu_grid = pred["rabiner"][float(dose)]
        j = rng.integers(0, mu_grid.shape[1], S)
        mu = mu_grid[np.arange(S), j]
        y = mu + rng.standard_normal(S) * B._occ_sd(mu, sp, wa)
        rows.append(_row("Rabiner 2011", f"{dose:g} mg, scan 1-8 h (#{i + 1})", obs, y, unit="%"))
    w = pred["weerts"]
    m, sd, n = B.WEERTS_MOR
    s = np.sqrt(sd**2 / n + w.var(axis=1) + B.WEERTS_DELTA_PP**2)
    rows.append(_row("Weerts 2008", "MOR day 4 of 50 mg/day (group mean)", m, w.mean(axis=1) + rng.standard_normal(S) * s,
                     unit="%", observed_sd=sd / math.sqrt(n)))
    o50 = pred["occ"][50.0]
    for h, (r, sem, _n) in B.LEE_RATIOS.items():
        ratio = 100.0 * o50[:, list(F.NTX_POINTS).index(h)] / o50[:, 0]
        rows.append(_row("Lee 1988", f"ratio to 1 h at {h:g} h", r, ratio + rng.standard_normal(S) * sem, unit="%",
                         literal=f"typical ratio {np.median(ratio):.1f} vs mean {r:g} +/- 2 SEM "
                                 f"[{r - 2 * sem:g}, {r + 2 * sem:g}]", observed_sd=sem))
    th = B._lee_half_time(o50)
    ind = np.exp(np.log(th) + rng.standard_normal(S) * v["omega_t"])
    lo, hi = B.LEE_RANGE_H
    rows.append(_row("Lee 1988", "blockade half-time 72-108 h (individual)", math.sqrt(lo * hi), ind, unit="h",
                     covered=bool(np.percentile(ind, 2.5) <= hi and np.percentile(ind, 97.5) >= lo),
                     literal=f"typical {np.median(th):.0f} h; inside 72-108 h: {bool(lo <= np.median(th) <= hi)}"))
    m48 = o50[:, list(F.NTX_POINTS).index(48.0)]
    rows.append(_row("Swiss label 48 h", "70-80 % blocked at 48 h (50 mg)", 75.0, m48, unit="%",
                     covered=bool(np.percentile(m48, 2.5) <= 80 and np.percentile(m48, 97.5) >= 70),
                     literal=f"typical {np.median(m48):.1f} %, inside 70-80: {bool(70 <= np.median(m48) <= 80)}"))
    pts = list(F.NTX_POINTS)
    ll_all = prob.loglik_by_source(v)
    ll_c = {k: ll_all[k] for k in B.CENSORED_TERMS}
    shown = {"Lee 1988 saturation": ("MOR at 1 h after 50 mg near saturation (>= 90 %, soft 5 pp)",
                                     o50[:, pts.index(1.0)]),
             "Trøstheim 2023 session": ("MOR > 90 % over a ~60 min session 1-3 h after 50 mg (soft 10 pp)",
                                        np.minimum(o50[:, pts.index(1.0)], o50[:, pts.index(3.0)])),
             "Lee 1988 1 h >= 48 h": ("MOR at 1 h >= MOR at 48 h (mean, 50 mg)",
                                      o50[:, pts.index(1.0)] - o50[:, pts.index(48.0)])}
    for key, (target, val) in shown.items():
        p = np.exp(ll_c[key])
        rows.append(_row(key, target + "; probability of the statement", 1.0, p,
                         covered=bool(np.median(p) >= 0.05),
                         literal=f"typical value median {np.median(val):.1f} "
                                 f"(2.5-97.5 %: {np.percentile(val, 2.5):.1f}-{np.percentile(val, 97.5):.1f}); "
                                 f"P(statement) median {np.median(p):.2f}"))
    for (dose, h, sig, alpha), lp in B._cpt_terms(pred, lambda mu: B._occ_sd(mu, sp, wa)):
        p = np.exp(lp)
        rows.append(_row("CPT 2005", f"{dose:g} mg at {h:g} h: {'significant' if sig else 'not significant'} "
                         f"(alpha {alpha:g}); probability of the reported outcome", 1.0, p,
                         covered=bool(np.median(p) >= 0.05),
                         literal=f"P(reported outcome) median {np.median(p):.2f}"))
    for src, items in B.PK_STUDIES.items():
        for key, (obs, sd_, n_) in items.items():
            k = key.strip()
            rel = (sd_ / obs) / math.sqrt(n_) if sd_ is not None else B.PK_REL_SE_NO_SD
            y = pred[k] * np.exp(rng.standard_normal(S) * np.sqrt(rel**2 + tau**2))
            rows.append(_row(src, k, obs, y, unit={"ntx_cmax": "ng/mL", "nol_cmax": "ng/mL",
                                                   "ntx_auc_0_24": "ng.h/mL"}.get(k, "h"), observed_sd=rel * obs))
    return rows


def naloxone_checks(prob: B.Problem, draws: np.ndarray, seed: int = 11) -> list[dict]:
    rng = np.random.default_rng(seed)
    v = prob.natural(draws)
    pred = prob.predictions(v)
    S = draws.shape[0]
    rows = []
    for i, (study, dose, obs, _w) in enumerate(B.NALOXONE_PET_WINDOWED):
        mu = pred["pet"][:, i]
        y = mu + rng.standard_normal(S) * B._occ_sd(mu, v["sigma_pet"], v["omega_aff"])
        rows.append(_row(study, f"{dose:g} mg/kg IV, MOR at ~55 min", obs, y, unit="%"))
    mean, sd, n = B.KIM
    omega = math.sqrt(math.log(1 + (sd / mean) ** 2))
    ind = pred["kim_half_time"] * np.exp(rng.standard_normal(S) * omega)
    rows.append(_row("Kim 1997 half-time", "receptor clearance half-time after 2 mg (individual)", mean, ind,
                     unit="h", literal=f"typical {np.median(pred['kim_half_time']):.2f} h", observed_sd=sd))
    return rows


# ------------------------------------------------------------------------------------------ the routine
def _summaries(prob: B.Problem, draws: np.ndarray) -> list[dict]:
    v = prob.natural(draws)
    return [{"name": k, "median": float(np.median(v[k])), "ci_lo": float(np.percentile(v[k], 2.5)),
             "ci_hi": float(np.percentile(v[k], 97.5)), "prior": prob.priors[k].text(),
             "unit": prob.priors[k].unit} for k in prob.names]


def sample_structure(drug: str, name: str, settings: dict | None = None, progress: bool = False) -> dict:
    """Sample one structure: ``{"name", "map", "chain", "acceptance"}`` (see :func:`sample`)."""
    s = B.sampler_settings(drug, name, settings)
    res = sample(B.problem(drug, name), s, progress=progress)
    return {"name": name, **res}


def assemble(drug: str, raws: list[dict], settings: dict | None = None) -> tuple[dict, dict]:
    """Diagnostics, draws, LOO by source, checks, admissibility, stacking weights and the default structure."""
    s = {**B.SAMPLER_BY_DRUG[drug], **(settings or {})}
    out, post, loos = {}, {}, {}
    names = [r["name"] for r in raws]
    for raw in raws:
        name = raw["name"]
        prob = B.problem(drug, name)
        chain = raw["chain"]
        diag = diagnostics(prob, chain)
        draws = thin(chain, min(B.STORED_DRAWS, chain.shape[0] * chain.shape[1]))
        loo = loo_by_source(prob, draws)
        loos[name] = loo
        params = _summaries(prob, draws)
        med = {p["name"]: p["median"] for p in params}
        adm = admissibility(prob, med)
        checks = (naltrexone_checks if drug == "naltrexone" else naloxone_checks)(prob, draws)
        nat = prob.natural(draws)
        mnames = B.model_parameter_names(prob)
        post[name] = {"parameter_names": mnames + list(prob.fixed),
                      "draws": [[float(f"{nat[k][i]:.8g}") for k in mnames + list(prob.fixed)]
                                for i in range(draws.shape[0])]}
        out[name] = {"meaning": STRUCTURES.get(name, {}).get("meaning", name) if drug == "naltrexone" else name,
                     "medians": med, "fixed": dict(prob.fixed), "parameters_summary": params,
                     "diagnostics": {k: diag[k] for k in ("rhat_max", "ess_bulk_min")},
                     "diagnostics_per_parameter": diag["per_parameter"], "acceptance": raw["acceptance"],
                     "sampler_steps": B.sampler_settings(drug, name)["steps"],
                     "map": {k: float(x[0]) for k, x in prob.natural(np.asarray(raw["map"])[None]).items()},
                     "elpd_loo_source": loo["elpd_loo"], "elpd_loo_se": loo["se"], "p_loo": loo["p_loo"],
                     "pareto_k": loo["pareto_k"], "elpd_by_source": loo["elpd_by_source"],
                     "admissible": adm["admissible"], "admissibility": adm["parameters"],
                     "checks": checks,
                     "covered_fraction": float(np.mean([c["covered"] for c in checks]))}
    admissible = [k for k in names if out[k]["admissible"]] or list(names)
    w_adm = stacking_weights({k: loos[k] for k in admissible})
    w_all = stacking_weights(loos)
    for k in names:
        out[k]["weight"] = float(w_adm.get(k, 0.0))
        out[k]["weight_all_structures"] = float(w_all[k])
    default = max(admissible, key=lambda k: out[k]["elpd_loo_source"])
    summary = {"sampler": {**s, "package": "emcee", "moves": "DEMove 0.8 + DESnookerMove 0.2",
                           "start": "MAP (L-BFGS-B, vectorised gradients) + 1e-3 ball",
                           "stored_draws": B.STORED_DRAWS,
                           "steps_by_structure": {n: B.sampler_settings(drug, n)["steps"] for n in names}},
               "default_structure": default, "structures": out,
               "selection": {"rule": "default = admissible structure (every parameter's posterior median inside its "
                                     "physiological range) with the highest PSIS-LOO elpd by source; weights = "
                                     "stacking over the admissible structures",
                             "admissible": admissible}}
    return summary, {"drug": drug, "structures": post}


def calibrate_bayes(drug: str, settings: dict | None = None, progress: bool = False,
                    structures: tuple | None = None) -> tuple[dict, dict]:
    """Sample every structure of ``drug`` with the same settings, then :func:`assemble`; ``(summary, posterior)``."""
    names = structures or B.structures_of(drug)
    raws = [sample_structure(drug, name, settings, progress) for name in names]
    return assemble(drug, raws, settings)


# ------------------------------------------------------------------------------------------ variability
#: Plasma between-subject log-SDs (PK data, not occupancy): CL/F from the AUC CVs (9.4/64.7, 8.4/66.2) and ka
#: from the tmax SDs (0.81 ± 0.09, 1.09 ± 0.25), pkpd_sources.md §5 (derived by the least-squares routine).
NTX_PK_LOG_SD = {"cl": 0.13575841510825182, "ka": 0.253439917577171}
#: Naloxone CL log-SD from the serum half-life 64 ± 12 min (FDA label, §6).
NLX_CL_LOG_SD = 0.18588270900398385


def naltrexone_variability(prob: B.Problem, medians: dict) -> dict:
    """Between-subject log-SDs of a naltrexone structure, from MOR data only (healthy volunteers).

    ``affinity``: the posterior median of ``omega_aff`` (Rabiner 2011's scatter beyond the PET measurement
    error ``sigma_pet``, estimated jointly).  Kinetic constant: Lee 1988's between-subject log-SD of the
    blockade half-time ``omega_t`` divided by the elasticity of the typical half-time to the constant
    (numerical, at the posterior median), capped at 1.5.  CL and ka: plasma PK (:data:`NTX_PK_LOG_SD`).
    """
    kin = "ke0_per_h" if STRUCTURES[prob.structure]["hysteresis"] == "effect_compartment" else "koff_per_h"
    base = {k: np.array([v]) for k, v in medians.items()}
    base.update({k: np.array([v]) for k, v in prob.fixed.items()})
    lo, hi = dict(base), dict(base)
    lo[kin] = base[kin] * 0.99
    hi[kin] = base[kin] * 1.01
    t_lo = B._lee_half_time(F.naltrexone_predictions(lo, prob.structure)["occ"][50.0])[0]
    t_hi = B._lee_half_time(F.naltrexone_predictions(hi, prob.structure)["occ"][50.0])[0]
    elasticity = float((math.log(t_hi) - math.log(t_lo)) / (math.log(1.01) - math.log(0.99)))
    # Lee's spread is attributed to the kinetic constant only where the half-time depends on it (|e| >= 0.5);
    # otherwise (three-phase binding: the plasma phases set the half-time, e ~ -0.1) dividing by e would invent
    # a several-fold BSV of koff that changes the early occupancy instead, so it is 0 and the spread of the
    # half-time comes from the affinity and plasma terms.
    k_sd = min(1.5, medians["omega_t"] / abs(elasticity)) if abs(elasticity) >= 0.5 else 0.0
    name = kin.replace("_per_h", "")
    return {"cl_log_sd": NTX_PK_LOG_SD["cl"], "ka_log_sd": NTX_PK_LOG_SD["ka"],
            "affinity_log_sd": float(medians["omega_aff"]), f"{name}_log_sd": float(k_sd),
            "source": "healthy volunteers, MOR data only: affinity BSV estimated jointly with the PET measurement "
                      "error (Rabiner 2011, Lee 1988); kinetic BSV from Lee 1988's 72-108 h range; CL/ka from "
                      "plasma PK CVs (pkpd_sources.md §5)",
            "derivation": {"sigma_pet": float(medians["sigma_pet"]), "omega_t": float(medians["omega_t"]),
                           "elasticity_lee_half_time": elasticity, "kinetic_cap": 1.5,
                           "kinetic_rule": "omega_t/|elasticity| when |elasticity| >= 0.5, else 0"}}


def naltrexone_patient_variability(prob: B.Problem, medians: dict, healthy: dict) -> dict:
    """Patient alternative (documented, not the default): affinity BSV widened to Weerts 2008's MOR SD.

    Weerts' 21 recently abstinent alcohol-dependent subjects scatter by 4.9 pp at ~95 %; net of the PET
    measurement error, the affinity log-SD that reproduces it at the predicted day-4 occupancy μ is
    ``sqrt(4.9² − σ_PET²) / (μ(100 − μ)/100)`` (delta method), never below the healthy value.
    """
    base = {k: np.array([v]) for k, v in {**medians, **prob.fixed}.items()}
    mu = float(F.naltrexone_predictions(base, prob.structure)["weerts"].mean())
    net = math.sqrt(max(B.WEERTS_MOR[1] ** 2 - medians["sigma_pet"] ** 2, 0.0))
    slope = mu * (100 - mu) / 100
    aff = max(healthy["affinity_log_sd"], net / slope if slope > 0 else healthy["affinity_log_sd"])
    return {**healthy, "affinity_log_sd": float(aff),
            "source": "patients (alternative): affinity BSV matched to Weerts 2008's MOR SD 4.9 pp net of PET error",
            "derivation": {"weerts_predicted_mean": mu, "net_sd_pp": net}}


def naloxone_variability(medians: dict, structure: str, n_sim: int = 4000, seed: int = 7) -> dict:
    """Naloxone BSV: affinity = ``omega_aff``; CL from the serum t½ SD; the kinetic log-SD chosen (Brent) so that
    the simulated Kim 1997 half-times (2 mg IV, log-linear fit at 5 min–8 h) have SD 1.6 h on the natural scale
    (Kim: 2.0 ± 1.6 h); the simulated mean is reported next to Kim's 2.0 h."""
    from scipy import optimize as opt

    from occupancy.calibration.pkpd_targets import single
    from occupancy.calibration.sources import KIM_SCAN_TIMES_H
    from occupancy.models.pkpd_naloxone import NaloxonePKPD

    kin = "ke0_per_h" if structure == "effect_compartment" else "koff_per_h"
    model = NaloxonePKPD(hysteresis=structure, k_mor_ng_ml=medians["k_mor_ng_ml"], **{kin: medians[kin]})
    z = np.random.default_rng(seed).standard_normal((n_sim, 3))
    t = np.array(KIM_SCAN_TIMES_H)
    tc = t - t.mean()

    def half_times(sd_k):
        sc = {"cl_scale": np.exp(NLX_CL_LOG_SD * z[:, :1]), "affinity_scale": np.exp(medians["omega_aff"] * z[:, 1:2]),
              f"{kin.replace('_per_h', '')}_scale": np.exp(sd_k * z[:, 2:3])}
        occ = model.blockade_all(single(2.0, weight_kg=70.0), t, ("MOR",), **sc)["MOR"]
        y = np.log(np.clip(occ, 1e-9, None))
        slope = ((y - y.mean(axis=1, keepdims=True)) * tc).sum(axis=1) / (tc**2).sum()
        return np.where(slope < 0, math.log(2) / -np.where(slope < 0, slope, -1.0), np.nan)

    target = B.KIM[1]
    f = lambda s: float(np.nanstd(half_times(s))) - target  # noqa: E731
    lo, hi = 0.0, 2.0
    if f(lo) >= 0:
        sd_k = 0.0
    elif f(hi) <= 0:
        sd_k = hi
    else:
        sd_k = float(opt.brentq(f, lo, hi, xtol=1e-4))
    th = half_times(sd_k)
    name = kin.replace("_per_h", "")
    return {"cl_log_sd": NLX_CL_LOG_SD, "ka_log_sd": 0.0, "affinity_log_sd": float(medians["omega_aff"]),
            f"{name}_log_sd": sd_k,
            "source": "affinity BSV estimated jointly with PET measurement error (naloxone PET table); kinetic BSV "
                      "matched by simulation to Kim 1997's SD 1.6 h (natural scale); CL from the serum t1/2 SD",
            "derivation": {"kim_simulated_mean_h": float(np.nanmean(th)), "kim_simulated_sd_h": float(np.nanstd(th)),
                           "kim_observed": list(B.KIM), "n_sim": n_sim, "seed": seed}}


def build_record(drug: str, summary: dict, legacy: dict) -> dict:
    """The calibration record: the legacy least-squares sections kept, the Bayesian calibration added on top."""
    rec = dict(legacy)
    held = NTX_HELD_VALUES if drug == "naltrexone" else {"kor_ratio": 8.0, "dor_ratio": 41.0}
    structures = {}
    for name, s in summary["structures"].items():
        prob = B.problem(drug, name)
        med = s["medians"]
        params = {k: med[k] for k in B.model_parameter_names(prob)}
        params.update(prob.fixed)
        if drug == "naloxone":
            legacy_p = legacy["variants"][name]["parameters"]
            params = {**{k: v for k, v in legacy_p.items() if k in ("cl_l_per_h", "v1_l", "v2_l", "v3_l",
                                                                    "q2_l_per_h", "q3_l_per_h")}, **params}
            var = naloxone_variability(med, name)
        else:
            var = naltrexone_variability(prob, med)
            s["variability_patient"] = naltrexone_patient_variability(prob, med, var)
        params.update(held)
        structures[name] = {**s, "parameters": params, "variability": var}
    rec["structures"] = structures
    rec["default_structure"] = summary["default_structure"]
    # ``default_hysteresis`` and ``variants`` stay the legacy least-squares fit's (kept for comparison); the models
    # read ``default_structure`` (PKPDModel.default_hysteresis() is the hysteresis of the default structure).
    if all("sum_z2" in v for v in legacy.get("variants", {}).values()) and legacy.get("variants"):
        rec["default_hysteresis"] = min(legacy["variants"], key=lambda h: legacy["variants"][h]["sum_z2"])
    rec["sampler"] = summary["sampler"]
    adm = [k for k, v in structures.items() if v["admissible"]]
    rec["diagnostics"] = {"rhat_max": max(structures[k]["diagnostics"]["rhat_max"] for k in adm),
                          "ess_bulk_min": min(structures[k]["diagnostics"]["ess_bulk_min"] for k in adm),
                          "over": "admissible structures"}
    rec["selection_bayes"] = summary["selection"]
    priors = {}
    for name in structures:
        for k, p in B.problem(drug, name).priors.items():
            priors.setdefault(f"{k} ({name})" if k == "ke0_per_h" and drug == "naltrexone" else k, p.to_dict())
    rec["priors"] = priors
    if drug == "naltrexone":
        rec["censored_terms"] = B.CENSORED_TERMS
    return rec


NTX_HELD_VALUES = {k: v for k, (v, _src) in B.NTX_HELD.items()}
