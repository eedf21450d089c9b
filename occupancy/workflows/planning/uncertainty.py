"""The plan's headline numbers under model uncertainty (issue 19): posterior draws × admissible structures.

For every typical-subject model of the ensemble (:func:`occupancy.simulation.model_uncertainty.ensemble`) the
planner's own definitions are re-applied with the same virtual population (same seed, common random numbers,
so the spread is the model's and not Monte Carlo noise):

* ``min_delay_h`` — first delay after the last dose with P(MOR ≥ threshold) ≥ probability (the definition of
  :func:`~occupancy.workflows.planning.searches.find_min_delay`, on a :data:`DELAY_STEP_H` grid with the
  crossing linearly interpolated);
* ``min_isi_days`` — the 95th-percentile residual criterion of
  :func:`~occupancy.workflows.planning.searches.find_min_isi` (:data:`ISI_STEP_DAYS` grid, crossing linearly
  interpolated; within-subject designs with a time course only);
* ``prob_mor_ge_90_at_primary`` — P(MOR ≥ 90 %) at the primary assessment, pooled over the drug sessions;
* ``power_attenuated`` — power of the planned N with ``g_eff = g × contrast / 100`` (the drug − placebo MOR
  contrast at the primary assessment under that draw).

Only the times a criterion needs are evaluated, each search in one model evaluation (a binding-kinetics
structure integrates from the first dose at every call, so a bisection would repeat the integration) on
coarser grids than the plan's own, with a population of at most :data:`MAX_SUBJECTS_PER_DRAW` subjects per draw, so the
default plan stays within seconds.
"""

from __future__ import annotations

import math

import numpy as np

from occupancy.simulation.model_uncertainty import ensemble, progress_bar, uncertain
from occupancy.workflows.planning.design import DRUG, PLACEBO
from occupancy.workflows.planning.power import paired_dz, power_between, power_within
from occupancy.workflows.planning.searches import VirtualPopulation

#: Draws of the model ensemble when the scenario has no ``[uncertainty]`` section (``blockade plan
#: --model-draws``): 40 is the fewest with one draw beyond each end of a 2.5–97.5 % interval.
DEFAULT_PLAN_MODEL_DRAWS = 40
#: Virtual subjects per draw (the plan's population, capped): P(MOR ≥ 90 %) to about ±0.01 near 0.95.
MAX_SUBJECTS_PER_DRAW = 500
#: Grids of the per-draw searches (then bisection to the plan's tolerances).
DELAY_STEP_H = 5.0 / 60.0
ISI_STEP_DAYS = 0.1
#: What counts as "depends on the model" in the words (per headline number).
TOLERANCE = {"min_delay_h": 0.25, "min_isi_days": 1.0, "prob_mor_ge_90_at_primary": 0.05, "power_attenuated": 0.05}
LABELS = {"min_delay_h": ("minimum delay", " h", 2), "min_isi_days": ("minimum intersession interval", " days", 1),
          "prob_mor_ge_90_at_primary": ("P(MOR >= 90 %) at the primary assessment", "", 2),
          "power_attenuated": ("power with the blockade attenuation", "", 3)}


def plan_model_uncertainty(model, schedule, design, *, kind: str, sources, primary_t: float, first_assess_h: float,
                           session_len_h: float, time_course: bool, groups, n_planned: int, n_draws: int, seed,
                           pop_n: int, pop_seed, variability=None, progress: bool = False) -> dict:
    """The four headline numbers per ensemble member, as :class:`~occupancy.simulation.model_uncertainty.Uncertain`.

    ``sources`` lists ``(order index, condition, protocol schedule, session start)`` for every session (as
    :func:`~occupancy.workflows.planning.plan.plan_design` builds them).  Returns ``{name: Uncertain}`` and the
    ensemble under ``"_ensemble"``.  The same as :func:`model_uncertainty_draws` followed by
    :func:`model_uncertainty_power`.
    """
    draws = model_uncertainty_draws(model, schedule, design, kind=kind, sources=sources, primary_t=primary_t,
                                    first_assess_h=first_assess_h, session_len_h=session_len_h,
                                    time_course=time_course, n_draws=n_draws, seed=seed, pop_n=pop_n,
                                    pop_seed=pop_seed, variability=variability, progress=progress)
    return model_uncertainty_power(draws, design, groups=groups, n_planned=n_planned)


def model_uncertainty_draws(model, schedule, design, *, kind: str, sources, primary_t: float, first_assess_h: float,
                            session_len_h: float, time_course: bool, n_draws: int, seed, pop_n: int, pop_seed,
                            variability=None, progress: bool = False) -> dict:
    """The schedule part of :func:`plan_model_uncertainty`: per ensemble member the minimum delay, the minimum
    ISI, P(MOR >= 90 %) at the primary assessment and the drug − placebo MOR contrast (``"contrast"``).

    Notes
    -----
    None of these depends on the effect, α, the target power or the N, so a planner that changes only those
    (the app's Plan tab) keeps this dict and re-runs only :func:`model_uncertainty_power` (closed form).
    """
    ens = ensemble(model, n_draws, seed)
    n_sub = int(min(pop_n, MAX_SUBJECTS_PER_DRAW))
    values = {k: [] for k in LABELS if k != "power_attenuated"}
    values["contrast"] = []
    variabilities = {}
    for si, m in progress_bar(ens.members, len(ens.members), "model uncertainty (plan)", progress):
        if si not in variabilities:
            variabilities[si] = _variability_for(m, variability)
        pop = VirtualPopulation(m, n_sub, pop_seed, variabilities[si])
        values["min_delay_h"].append(_min_delay(pop, schedule, design))
        isi = math.nan
        if kind == "within" and time_course:
            isi = _min_isi(pop, schedule, design, first_assess_h, session_len_h / 24.0)
        values["min_isi_days"].append(isi)
        mean_by = {}
        prob_drug = []
        for oi, cond, sched, start in sources:
            v = pop.values(sched, [start + primary_t], "MOR")[:, 0]
            mean_by.setdefault((oi, cond), []).append(float(v.mean()))
            if cond == DRUG:
                prob_drug.append(float((v >= 90.0).mean()))
        values["prob_mor_ge_90_at_primary"].append(float(np.mean(prob_drug)))
        values["contrast"].append(_contrast(kind, mean_by))
    return {"kind": kind, "time_course": time_course, "values": values, "ensemble": ens}


def model_uncertainty_power(draws: dict, design, *, groups, n_planned: int) -> dict:
    """The power part of :func:`plan_model_uncertainty`: power with each member's attenuation
    ``g_eff = g × contrast / 100`` for the planned N (closed form), and every number as ``Uncertain``."""
    kind, time_course, ens = draws["kind"], draws["time_course"], draws["ensemble"]
    g, alpha = float(design.effect), float(design.alpha)
    values = {k: list(v) for k, v in draws["values"].items() if k != "contrast"}
    values["power_attenuated"] = []
    for contrast in draws["values"]["contrast"]:
        g_eff = g * min(max(contrast, 0.0), 100.0) / 100.0
        if kind == "between":
            pw = power_between(g_eff, groups[0], groups[1], alpha) if g_eff != 0 else alpha
        else:
            dz = paired_dz(g_eff, design.correlation)
            pw = power_within(dz, n_planned, alpha) if dz != 0 else alpha
        values["power_attenuated"].append(float(pw))
    out = {}
    for key, (label, unit, digits) in LABELS.items():
        if key == "min_isi_days" and not (kind == "within" and time_course):
            out[key] = None
            continue
        out[key] = uncertain(label, unit, values[key], ens, digits)
    out["_ensemble"] = ens
    return out


def _first_crossing(grid, values, target, rising: bool):
    """First grid interval where ``values`` reach ``target`` (rising) or fall to it for good (falling), linearly
    interpolated; ``None`` when never (rising) or still above at the end (falling); ``grid[0]`` when from the start."""
    if rising:
        ok = values >= target
        if not ok.any():
            return None
        i = int(np.argmax(ok))
    else:
        above = values > target
        if above[-1]:
            return None
        if not above.any():
            return float(grid[0])
        i = int(np.nonzero(above)[0][-1]) + 1
    if i == 0:
        return float(grid[0])
    g0, g1, v0, v1 = grid[i - 1], grid[i], values[i - 1], values[i]
    return float(g0 + (target - v0) / (v1 - v0) * (g1 - g0)) if v1 != v0 else float(g1)


def _min_delay(pop, schedule, design):
    """The plan's minimum delay for one draw: P(MOR ≥ threshold) on a :data:`DELAY_STEP_H` grid after the last dose,
    its first crossing of the probability linearly interpolated (one model evaluation; no bisection)."""
    grid = np.arange(0.0, design.max_delay_h + DELAY_STEP_H / 2, DELAY_STEP_H)
    p = pop.prob_ge(schedule, schedule.last_dose_h + grid, design.delay_threshold_pct)
    return _first_crossing(grid, p, design.delay_probability, rising=True)


def _min_isi(pop, schedule, design, offset_h, min_days):
    """The plan's minimum ISI for one draw: the 95th-percentile residual on an :data:`ISI_STEP_DAYS` grid, the last
    fall to the threshold linearly interpolated (one model evaluation; no bisection)."""
    grid = np.arange(min_days, design.max_isi_days + ISI_STEP_DAYS / 2, ISI_STEP_DAYS)
    r = pop.percentile(schedule, grid * 24.0 + offset_h, 95.0)
    return _first_crossing(grid, r, design.residual_threshold_pct, rising=False)


def _contrast(kind: str, mean_by: dict) -> float:
    """Drug − placebo mean MOR at the primary assessment, as the plan defines it (per order for a crossover)."""
    orders = sorted({oi for oi, _c in mean_by})
    if kind == "between":
        drug = np.mean([x for (oi, c), xs in mean_by.items() if c == DRUG for x in xs])
        plac = np.mean([x for (oi, c), xs in mean_by.items() if c == PLACEBO for x in xs])
        return float(drug - plac)
    per = [np.mean(mean_by[(oi, DRUG)]) - np.mean(mean_by[(oi, PLACEBO)]) for oi in orders
           if (oi, DRUG) in mean_by and (oi, PLACEBO) in mean_by]
    return float(np.mean(per))


def _variability_for(model, variability):
    """The plan's variability when it fits this member's multipliers, else the member's documented one (another
    structure has other multipliers, e.g. koff instead of ke0)."""
    from occupancy.simulation.population import default_variability

    if variability is not None and set(variability.log_sds) == set(getattr(model, "variability_scales", ())):
        return variability
    return default_variability(model)


def to_json(unc: dict | None) -> dict | None:
    """``{"min_delay_h": U, "min_isi_days": U, "prob_mor_ge_90_at_primary": U, "power_attenuated": U}``
    (U = ``{"median", "lo", "hi", "across_structures"}``; a number that does not apply has all four ``None``)."""
    if unc is None:
        return None
    empty = {"median": None, "lo": None, "hi": None, "across_structures": [None, None]}
    return {k: (unc[k].to_dict() if unc.get(k) is not None else dict(empty)) for k in LABELS}


def sentences(unc: dict | None) -> dict:
    """``{name: plain-words sentence}`` for the text and the report (numbers that do not apply left out)."""
    if unc is None:
        return {}
    return {k: unc[k].sentence(TOLERANCE[k]) for k in LABELS if unc.get(k) is not None}
