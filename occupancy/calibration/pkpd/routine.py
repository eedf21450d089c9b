"""The calibration routine: point fits, then profiles, conflicts, sensitivity, variability and bootstrap.

:func:`calibrate` is what ``blockade calibrate --refit`` runs and what wrote the committed records;
:func:`point_fit` is its first stage alone (seconds to a minute), which the tests re-run to show that the
committed parameters are reproducible.

Naltrexone runs in two passes because the held 6β-naltrexol potency ratio ρ depends on the fitted
6β-naltrexol clearance (:func:`~occupancy.calibration.pkpd.problems.potency_ratio_from_pharmacology`):
pass 1 fits the effect-compartment variant with ρ = 100 (the raw monkey dose ratio), ρ is derived from
its clearance, and pass 2 fits both variants with that ρ.  The variant with the lower ``Σ z²`` becomes
the default.

Conflicts between targets are shown two ways: leave-one-out (dropping A lets B become met) and forcing
(A's weight × 10 makes B unmet, or its |z| grow by ≥ 0.5).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from occupancy.calibration import pkpd_targets as T
from occupancy.calibration import sources as S
from occupancy.calibration.fitting import Problem, parallel_map
from occupancy.calibration.pkpd import problems as P
from occupancy.calibration.pkpd.record import (
    MET,
    jsonable,
    profile_ci,
    residual_rows,
    sums,
    variability_dict,
)
from occupancy.dosing.schedule import Schedule

__all__ = ["SEED_BOOTSTRAP", "SEED_POPULATION", "POPULATION_N", "calibrate", "point_fit", "fit_record"]

#: Seed of the parametric bootstrap (any fixed value; stored in the record).
SEED_BOOTSTRAP = 20240601
#: Seed and size of the population summaries stored in the record.
SEED_POPULATION = 1
POPULATION_N = 2000


class _Steps:
    """Step-level progress: a tqdm bar on stderr naming the current step when ``progress`` is true."""

    def __init__(self, progress: bool, total: int, drug: str) -> None:
        self.bar = None
        self.started = False
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=f"calibrate {drug}", unit="step", file=sys.stderr, leave=False,
                   disable=None)  # disable=None: no bar unless stderr is a terminal

    def __call__(self, label: str) -> None:
        if self.bar is not None:
            if self.started:
                self.bar.update(1)
            self.started = True
            self.bar.set_description_str(label)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()


def fit_record(problem: Problem, fit, hysteresis: str, drug: str) -> dict:
    """The record of one fit: parameters, residual table, ``Σ z²``, optimiser status, Jacobian covariance.

    Notes
    -----
    The covariance is ``(JᵀJ)⁻¹`` on the log parameters
    (:meth:`~occupancy.calibration.fitting.Problem.jacobian_covariance`); it is reported with its
    singular values because satisfied inequality targets leave flat directions that only the profiles
    describe honestly.
    """
    model = problem.make_model(fit.values)
    rows = residual_rows(problem.targets, fit.quantities)
    unused = {"effect_compartment": "koff_per_h", "binding_kinetics": "ke0_per_h"}.get(hysteresis, "koff_per_h")
    rec = {
        "hysteresis": hysteresis,
        "parameters": {k: v for k, v in model.parameters().items() if k not in ("hysteresis", "weight_kg", unused)},
        "fitted": list(fit.free),
        "held": {k: v for k, v in problem.fixed.items() if k != "hysteresis" and k not in P.KINETIC.values()},
        "residuals": rows,
        **sums(rows),
        "optimizer": {"method": "scipy.optimize.least_squares (trf, log parameters, multi-start)",
                      "success": fit.success, "status": fit.status, "message": fit.message, "nfev": fit.nfev,
                      "cost": fit.cost,
                      "bounds": {p.name: [p.lower, p.upper] for p in problem.params},
                      "start": {p.name: p.start for p in problem.params}},
        "covariance_jacobian": Problem.jacobian_covariance(fit),
        "quantities": dict(fit.quantities),
    }
    if drug == "naltrexone":
        rec["micro_constants"] = model.micro_constants()
        rec["checks"] = T.naltrexone_checks(fit.quantities)
        rec["key_predictions"] = P.ntx_key_predictions(model)
    else:
        rec["key_predictions"] = P.nlx_key_predictions(model)
    return rec


# ----------------------------------------------------------------------------------------- point fits
def _ntx_rho(progress=None) -> dict:
    """Pass 1: effect compartment with ρ = 100; returns the derived ρ (:func:`potency_ratio_from_pharmacology`)."""
    if progress:
        progress("naltrexone pass 1 (rho = 100)")
    p0 = P.naltrexone_problem("effect_compartment", held={"nol_potency_ratio": S.MONKEY_DOSE_POTENCY_RATIO})
    f0 = p0.fit(extra_starts=P.naltrexone_starts("effect_compartment"))
    return P.potency_ratio_from_pharmacology(p0.make_model(f0.values))


def _fit_variants(drug: str, hysteresis, held: dict | None, progress=None) -> tuple[dict, dict]:
    problems, fits = {}, {}
    for hyst in hysteresis:
        if progress:
            progress(f"{drug} {hyst}: point fit")
        if drug == "naltrexone":
            prob = P.naltrexone_problem(hyst, held=held)
            fits[hyst] = prob.fit(extra_starts=P.naltrexone_starts(hyst))
        else:
            prob = P.naloxone_problem(hyst)
            fits[hyst] = prob.fit(extra_starts=P.naloxone_starts(hyst))
        problems[hyst] = prob
    return problems, fits


def point_fit(drug: str = "naltrexone", hysteresis=None) -> dict:
    """The first stage of :func:`calibrate` alone: the point fit of each requested variant.

    Parameters
    ----------
    drug : {"naltrexone", "naloxone"}
    hysteresis : str or sequence of str, optional
        Variant(s) to fit (default both).

    Returns
    -------
    dict
        ``{"rho": ... (naltrexone), "variants": {hysteresis: fit record}}`` — the same fit records
        :func:`calibrate` stores, from the same code path.

    Notes
    -----
    No profiles, leave-one-out, sensitivity, variability or bootstrap: a few seconds for naloxone and the
    naltrexone effect-compartment variant, about a minute more for naltrexone binding kinetics.
    """
    drug = _check_drug(drug)
    hyst = P.HYSTERESIS if hysteresis is None else ((hysteresis,) if isinstance(hysteresis, str) else tuple(hysteresis))
    for h in hyst:
        if h not in P.HYSTERESIS:
            raise ValueError(f"hysteresis: must be one of {', '.join(P.HYSTERESIS)} (got {h!r})")
    out: dict = {"drug": drug}
    held = None
    if drug == "naltrexone":
        rho = _ntx_rho()
        out["rho"] = rho
        held = {"nol_potency_ratio": rho["rho"]}
    problems, fits = _fit_variants(drug, hyst, held)
    out["variants"] = {h: fit_record(problems[h], fits[h], h, drug) for h in hyst}
    return jsonable(out)


def _check_drug(drug: str) -> str:
    name = str(drug).strip().lower()
    if name not in ("naltrexone", "naloxone"):
        raise ValueError(f"drug: must be naltrexone or naloxone (got {drug!r})")
    return name


# ----------------------------------------------------------------------------------------- calibrate
def calibrate(drug: str = "naltrexone", *, bootstrap_n: int = 200, seed: int = SEED_BOOTSTRAP,
              full: bool = True, progress: bool = False) -> dict:
    """Fit both hysteresis variants of ``drug`` and return the JSON-ready calibration record.

    Parameters
    ----------
    drug : {"naltrexone", "naloxone"}
    bootstrap_n : int
        Parametric bootstrap replicates for the default variant (0: none).  200 took ~20 min on 2 cores.
    seed : int
        Seed of the bootstrap.
    full : bool
        ``False``: point fits and the choice of the default only (no profiles, conflicts, sensitivity,
        variability, bootstrap, population, comparison).
    progress : bool
        A tqdm bar on stderr naming the current step.

    Returns
    -------
    dict
        The record (see :mod:`occupancy.calibration.pkpd`).

    Notes
    -----
    The default variant is the one with the lower total ``Σ z²`` (both are fitted to the same targets with
    the same number of parameters, so ``Σ z²`` compares them directly).  Independent refits run in
    :data:`~occupancy.calibration.fitting.WORKERS` forked processes; the results do not depend on it.
    """
    drug = _check_drug(drug)
    if int(bootstrap_n) != bootstrap_n or bootstrap_n < 0:
        raise ValueError(f"bootstrap_n: must be an integer >= 0 (got {bootstrap_n})")
    if drug == "naltrexone":
        total = 3 + (13 + bool(bootstrap_n) if full else 0)
    else:
        total = 2 + (2 + bool(bootstrap_n) + 1 if full else 0)
    steps = _Steps(progress, total, drug)
    try:
        if drug == "naltrexone":
            return _calibrate_naltrexone(int(bootstrap_n), seed, full, steps)
        return _calibrate_naloxone(int(bootstrap_n), seed, full, steps)
    finally:
        steps.close()


def _selection(record: dict, rule: str) -> None:
    default = min(P.HYSTERESIS, key=lambda h: record["variants"][h]["sum_z2"])
    record["default_hysteresis"] = default
    record["selection"] = {"rule": rule, "sum_z2": {h: record["variants"][h]["sum_z2"] for h in P.HYSTERESIS}}


def _calibrate_naltrexone(bootstrap_n, seed, full, step) -> dict:
    from occupancy.calibration.pkpd.compare import compare
    from occupancy.calibration.pkpd_variability import derive_naltrexone_variability

    record = {"drug": "naltrexone", "model": "pkpd", "created_by": "occupancy.calibration.pkpd.calibrate",
              "targets": [t.to_dict() for t in T.naltrexone_targets()],
              "scales": {"sigma_pet_pp": S.SIGMA_PET, "sigma_pet_df": S.SIGMA_PET_DF,
                         "sigma_log_lee": S.SIGMA_LOG_LEE, "sd_cmax": S.SD_CMAX, "cv_cmax": S.CV_CMAX,
                         "sd_auc": S.SD_AUC, "sd_tmax": S.SD_TMAX, "sd_thalf": S.SD_THALF,
                         "auc_target": S.AUC_TARGET},
              "assumptions": {"rabiner_scan_time": "mean MOR over 1-8 h after the dose (default)",
                              "weerts_scan_time": "mean over the 24 h after the 4th daily 50 mg dose",
                              "lee_half_time": "half-life of the LS log-linear fit of MOR at 48, 72, 120, 168 h",
                              "auc": "AUC 0-24 h", "met": "|z| <= 1"},
              "held": {k: {"value": v, "source": s} for k, (v, s) in P.NTX_HELD.items()},
              "variants": {}}
    rho_info = _ntx_rho(step)
    held = {"nol_potency_ratio": rho_info["rho"]}
    record["held"]["nol_potency_ratio"] = {
        "value": rho_info["rho"],
        "source": "monkey in vivo dose ratio 100 (pA2 6.5 vs 8.5) converted to a concentration ratio with the human "
                  "IV NTX clearance and the fitted 6b-naltrexol clearance; checked against 'no central effect of "
                  "20 mg IV' (peak MOR < 50 %)", "derivation": rho_info}
    problems, fits = _fit_variants("naltrexone", P.HYSTERESIS, held, step)
    for hyst in P.HYSTERESIS:
        record["variants"][hyst] = fit_record(problems[hyst], fits[hyst], hyst, "naltrexone")
    _selection(record, "the variant with the lower total sum of z^2 becomes the default")
    default = record["default_hysteresis"]
    if not full:
        return jsonable(record)

    # direct model (no hysteresis: ke0 -> 1000/h, i.e. plasma-driven Emax) as a reference point
    step("direct (no hysteresis) reference fit")
    direct = P.naltrexone_problem("effect_compartment", held=held)
    direct.params = [p for p in direct.params if p.name != "ke0_per_h"]
    direct.fixed["ke0_per_h"] = 1000.0
    dfit = direct.fit(extra_starts=[{"k_mor_ng_ml": k, "terminal_auc_fraction": f}
                                    for k in (0.3, 3.0) for f in (0.001, 0.1)])
    record["direct_reference"] = {"note": "effect compartment with ke0 = 1000/h (plasma-driven Emax), refitted",
                                  **fit_record(direct, dfit, "direct", "naltrexone")}

    for hyst in P.HYSTERESIS:
        prob, fit = problems[hyst], fits[hyst]
        vrec = record["variants"][hyst]
        primary = hyst == default
        # --- profiles: every parameter of the default, the weakly identified ones of the other variant
        names = list(fit.free) + list(P.NTX_HELD) if primary else \
            [n for n in P.NTX_PROFILES_SECONDARY if n in fit.free or n in P.NTX_HELD]
        step(f"{hyst}: profiles")
        all_rows = parallel_map(lambda nm: prob.profile(fit, nm, P.profile_grid(nm, fit.values[nm]),
                                                        predict=P.ntx_key_predictions), names)
        vrec["profiles"] = {}
        for name, rows in zip(names, all_rows):
            if name == "nol_potency_ratio":
                for r in rows:
                    vals = dict(fit.values)
                    vals.update(r["others"])
                    vals["nol_potency_ratio"] = r["value"]
                    r["iv_naltrexol_20mg_peak_mor_fm1"] = P.iv_naltrexol_peak_mor(P.make_naltrexone(vals))
            vrec["profiles"][name] = {"held": name in P.NTX_HELD, "estimate": fit.values[name], "rows": rows,
                                      "ci95": profile_ci(rows, fit.sum_z2)}
        # --- 6β-naltrexol check at the fitted parameters
        m = prob.make_model(fit.values)
        pk1, pk5 = P.iv_naltrexol_peak_mor(m), P.iv_naltrexol_peak_mor(m, fm=0.5)
        vrec["iv_naltrexol_check"] = {
            "claim": "no central effect of IV 6b-naltrexol up to 20 mg (Pain Med 2011)",
            "criterion": f"peak MOR < {P.NO_CENTRAL_EFFECT_MAX_MOR:g} % (Schild dose ratio < 2)",
            "peak_mor_20mg_bolus_fm1": pk1, "peak_mor_20mg_bolus_fm0.5": pk5,
            "consistent_fm1": bool(pk1 < P.NO_CENTRAL_EFFECT_MAX_MOR),
            "implied_rho_at_this_fit": P.potency_ratio_from_pharmacology(m)["rho"],
            "note": "fm = fraction of NTX metabolised to 6b-naltrexol; fm = 1 gives the lowest concentration"}
        # --- conflicts: leave-one-out and forcing
        step(f"{hyst}: leave-one-out")
        groups = {t.id: (t.id,) for t in prob.targets}
        groups["all_pk"] = tuple(t.id for t in prob.targets if t.group == "pk")
        groups["weerts_both"] = ("weerts_mor", "weerts_dor")
        groups["rabiner_50mg_both"] = ("rabiner_50mg_a", "rabiner_50mg_b")
        groups["review_49h+full_2h"] = ("review_49h", "full_2h")
        groups["label+lee+15d"] = ("label_48h", "lee_half_time", "washout_15d")
        vrec["leave_one_out"] = prob.leave_one_out(fit, groups, MET)
        step(f"{hyst}: forcing (weight x10)")
        fgroups = {t.id: (t.id,) for t in prob.targets if t.group == "occupancy"}
        fgroups["review_49h+full_2h"] = ("review_49h", "full_2h")
        fgroups["label+lee+15d"] = ("label_48h", "lee_half_time", "washout_15d")
        vrec["forcing"] = prob.force(fit, fgroups, factor=10.0, met_threshold=MET)
        vrec["conflicts"] = _conflict_pairs(vrec["leave_one_out"]) + _forcing_pairs(vrec["forcing"])
        # --- Rabiner scan-time sensitivity (the scan times are unknown, "< 8 h")
        step(f"{hyst}: Rabiner scan-time sensitivity")
        sens = {}
        for mode in T.RABINER_MODES:
            p2 = P.naltrexone_problem(hyst, rabiner_mode=mode, held=held)
            f2 = p2.fit(x0=fit.x) if mode != "mean_1_8" else fit
            rows = residual_rows(p2.targets, f2.quantities)
            same = residual_rows(p2.targets, T.naltrexone_quantities(prob.make_model(fit.values), mode))
            sens[mode] = {"sum_z2": sums(rows)["sum_z2"], "parameters": {k: f2.values[k] for k in f2.free},
                          "key_predictions": P.ntx_key_predictions(p2.make_model(f2.values)),
                          "rabiner_rows": [r for r in rows if r["target"].startswith("rabiner")],
                          "same_parameters_evaluated_with_mode": sums(same)["sum_z2"]}
        vrec["rabiner_scan_time"] = sens
        # --- between-subject variability
        step(f"{hyst}: variability derivation")
        vrec["variability"] = variability_dict(derive_naltrexone_variability(m))
        vrec["variability_healthy_volunteer"] = variability_dict(derive_naltrexone_variability(m, use_weerts=False))

    # --- parameter uncertainty of the default variant: parametric bootstrap
    prob, fit = problems[default], fits[default]
    if bootstrap_n:
        step(f"{default}: bootstrap n={bootstrap_n}")
        boot = prob.bootstrap(fit, bootstrap_n, seed, predict=P.ntx_key_predictions)
        record["uncertainty"] = _uncertainty_summary(boot, fit, ("mor_2h", "mor_49h", "mor_15d", "kor_2h",
                                                                 "dor_2h", "lee_half_time_h"))
        record["uncertainty"]["variant"] = default
    step("population summaries")
    model = prob.make_model(fit.values)
    record["population"] = _ntx_population(model, record["variants"][default]["variability"])
    record["population_healthy_volunteer_bsv"] = _ntx_population(
        model, record["variants"][default]["variability_healthy_volunteer"])
    step("comparison table")
    record["compare"] = compare("naltrexone", record=record)
    return jsonable(record)


def _conflict_pairs(loo) -> list[dict]:
    """(dropped target(s), target that becomes met) pairs from the leave-one-out refits."""
    out = []
    for row in loo:
        for tid, zz in row["became_met"].items():
            out.append({"dropped": row["dropped"], "becomes_met": tid, "z_full_fit": zz["z_full"],
                        "z_after_drop": zz["z_refit"], "sum_z2_rest_improvement": row["improvement"]})
    return out


def _forcing_pairs(forcing) -> list[dict]:
    """(forced target(s), target that becomes unmet or worsens by ≥ 0.5 in |z|) pairs."""
    out = []
    for row in forcing:
        for tid, zz in {**row["worsened"], **row["became_unmet"]}.items():
            out.append({"forced": row["forced"], "conflicts_with": tid, "z_full_fit": zz["z_full"],
                        "z_when_forced": zz["z_forced"], "became_unmet": tid in row["became_unmet"]})
    return out


def _uncertainty_summary(boot, fit, keys) -> dict:
    """Percentile intervals of the bootstrap parameters and predictions; log mean and covariance.

    Notes
    -----
    Percentile intervals (Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13) on the log
    parameters; the log mean and covariance feed
    :meth:`~occupancy.models.pkpd_base.PKPDModel.parameter_draws` (a multivariate normal on the log scale).
    Replicates whose optimiser did not converge are left out and counted.
    """
    reps = [r for r in boot["replicates"] if r["success"]]
    names = list(fit.free)
    logs = np.array([[math.log(r["values"][p]) for p in names] for r in reps])
    preds = {k: np.array([np.nan if r[k] is None else r[k] for r in reps], dtype=float) for k in keys}
    params = {p: {"estimate": fit.values[p], "median": float(np.exp(np.median(logs[:, i]))),
                  "ci95": [float(np.exp(np.percentile(logs[:, i], 2.5))),
                           float(np.exp(np.percentile(logs[:, i], 97.5)))],
                  "sd_log": float(np.std(logs[:, i], ddof=1))} for i, p in enumerate(names)}
    typical = {k: {"ci95": [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))],
                   "median": float(np.nanmedian(v))} for k, v in preds.items()}
    return {"method": "parametric bootstrap: every observation/bound shifted by N(0, (scale/weight)^2), refit",
            "n": boot["n"], "n_success": len(reps), "seed": boot["seed"], "parameters": params,
            "typical_subject": typical, "mean_log": logs.mean(axis=0).tolist(),
            "cov_log": np.cov(logs, rowvar=False).tolist(), "parameter_names": names,
            "replicates": boot["replicates"]}


def _ntx_population(model, vdict, n: int = POPULATION_N) -> dict:
    """5th/50th/95th percentiles of a virtual population after one 50 mg tablet and 7 daily tablets.

    Notes
    -----
    The times are the questions researchers ask (peak 1-3 h, within 8 h, 49 h, 15 d; trough and peak
    on days 2-7 of daily dosing); the percentiles use
    :func:`occupancy.simulation.population.simulate_population` with the variant's derived BSV.
    """
    from occupancy.simulation.population import Variability, simulate_population

    v = Variability.from_dict(vdict)
    out = {"n": n, "seed": SEED_POPULATION, "variability": {k: x for k, x in vdict.items() if k.endswith("_log_sd")}}
    single = simulate_population(model, T.single(50.0), np.array([1.0, 2.0, 3.0, 8.0, 49.0, 360.0]), n,
                                 SEED_POPULATION, v)
    out["single_50mg"] = {f"{t:g}h": {r: {s: float(getattr(single, s)[r][i]) for s in ("p05", "p50", "p95",
                                                                                        "prob_ge_90")}
                                      for r in ("MOR", "KOR", "DOR")} for i, t in enumerate(single.times_h)}
    daily = simulate_population(model, Schedule.daily([50.0] * 7), np.array([26.0, 47.99, 74.0, 98.0, 167.99, 170.0]),
                                n, SEED_POPULATION, v)
    out["daily_50mg_x7"] = {f"{t:g}h": {r: {s: float(getattr(daily, s)[r][i]) for s in ("p05", "p50", "p95")}
                                        for r in ("MOR", "KOR", "DOR")} for i, t in enumerate(daily.times_h)}
    return out


def _calibrate_naloxone(bootstrap_n, seed, full, step) -> dict:
    from occupancy.calibration.pkpd.compare import compare
    from occupancy.calibration.pkpd_variability import derive_naloxone_variability
    from occupancy.models.pkpd_naloxone import dowling_pairings

    record = {"drug": "naloxone", "model": "pkpd", "created_by": "occupancy.calibration.pkpd.calibrate",
              "targets": [t.to_dict() for t in T.naloxone_targets()],
              "scales": {"sigma_nlx_pet_pp": S.SIGMA_NLX_PET, "sigma_nlx_pet_df": S.SIGMA_NLX_PET_DF,
                         "sigma_log_kim": S.SIGMA_LOG_KIM},
              "assumptions": {"scan_time": "mean MOR over each study's window (Frost 35-65 min, others 45-65 min)",
                              "weight": f"{S.NALOXONE_PET_WEIGHT_KG:g} kg for the PET subjects and Kim's 2 mg",
                              "kim": "half-life of the LS log-linear fit of MOR at 5 min, 2, 4, 8 h after 2 mg IV; "
                                     "weak target (scale = between-subject log-SD 0.70)"},
              "dowling_pairings": dowling_pairings(), "variants": {}}
    problems, fits = _fit_variants("naloxone", P.HYSTERESIS, None, step)
    for hyst in P.HYSTERESIS:
        record["variants"][hyst] = fit_record(problems[hyst], fits[hyst], hyst, "naloxone")
    _selection(record, "lower total sum of z^2")
    default = record["default_hysteresis"]
    if not full:
        return jsonable(record)

    def kim(m):
        return {"kim_half_time_h": T.naloxone_quantities(m)["kim_half_time"]}

    for hyst in P.HYSTERESIS:
        prob, fit = problems[hyst], fits[hyst]
        vrec = record["variants"][hyst]
        step(f"{hyst}: profiles, fit without Kim, variability")
        vrec["profiles"] = {}
        for name in fit.free:
            grid = [fit.values[name] * x for x in (0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 3.0, 5.0, 10.0)]
            rows = prob.profile(fit, name, grid, predict=kim)
            vrec["profiles"][name] = {"held": False, "estimate": fit.values[name], "rows": rows,
                                      "ci95": profile_ci(rows, fit.sum_z2)}
        # Kim 1997 as a check: fit the PET points alone and predict Kim's half-time
        p2 = P.naloxone_problem(hyst, include_kim=False)
        f2 = p2.fit(x0=fit.x, extra_starts=P.naloxone_starts(hyst))
        q2 = T.naloxone_quantities(p2.make_model(f2.values))
        kin = P.KINETIC[hyst]
        grid = [f2.values[kin] * x for x in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)]
        rows = p2.profile(f2, kin, grid, predict=kim)
        vrec["without_kim"] = {"parameters": {k: f2.values[k] for k in f2.free},
                               "sum_z2_pet": f2.sum_z2, "kim_half_time_h": q2["kim_half_time"],
                               "kim_z": T.naloxone_targets()[-1].z(q2["kim_half_time"]),
                               "profile_kinetic": {"rows": rows, "ci95": profile_ci(rows, f2.sum_z2)}}
        vrec["variability"] = variability_dict(derive_naloxone_variability(prob.make_model(fit.values)))
    prob, fit = problems[default], fits[default]
    if bootstrap_n:
        step(f"naloxone {default}: bootstrap n={bootstrap_n}")
        s001 = T.single(None, mg_per_kg=0.01, weight_kg=S.NALOXONE_PET_WEIGHT_KG)
        boot = prob.bootstrap(fit, bootstrap_n, seed, predict=lambda m: {
            "mor_55min_0.01": float(m.blockade(s001, [55 / 60])[0]), **kim(m)})
        record["uncertainty"] = _uncertainty_summary(boot, fit, ("mor_55min_0.01", "kim_half_time_h"))
        record["uncertainty"]["variant"] = default
    step("comparison table")
    record["compare"] = compare("naloxone", record=record)
    return jsonable(record)
