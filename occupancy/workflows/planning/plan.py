"""Study-design planner: blockade per session, safe delay and washout, power, N, tablets and cost.

A planning scenario is a ``blockade simulate`` scenario (``[drug]``, ``[model]``, ``[[doses]]``,
``[[assessments]]``, optional ``[population]``/``[subject]``) plus a ``[design]`` section
(:class:`DesignSection`).  Doses and assessments are relative to the start of each *drug* session.
:func:`plan_study` runs the whole workflow and returns a frozen :class:`PlanResult`; the CLI
(``blockade plan``) only parses, calls and writes.

What is computed
----------------
* **Blockade per session and order.**  ``between``: a drug group (the schedule) and a placebo group (no
  drug).  ``within``: a counterbalanced crossover; every distinct order of the conditions (for 2 sessions
  drug→placebo and placebo→drug) gets an equal share of participants.  The doses of every drug session of
  an order are put on one protocol time axis (session ``s`` starts at ``s × isi_days``) and the model
  combines them, so the blockade in a later session includes the residual of earlier drug sessions.  The
  population (virtual subjects, same seed, i.e. the same people in every order) gives the 5/50/95th
  percentiles and P(MOR ≥ 90 %) at every assessment.
* **Blockade contrast and attenuation.**  The contrast at an assessment is the mean MOR blockade in the
  drug condition minus that in the placebo condition (percentage points), averaged over orders (weighted
  by the participants per order).  Assumption: the behavioural effect is proportional to the MOR
  contrast, ``g_eff = g × contrast / 100`` at the primary assessment (the first one unless
  ``design.primary_assessment`` names another).  With full, residual-free blockade ``g_eff = g``.
* **Minimum delay** after the last dose of a drug session at which P(MOR ≥ 90 %) ≥ 0.95 across the
  population: first crossing on a 1-minute grid, refined by bisection to 0.001 h.
* **Minimum intersession interval (ISI)** at which the residual MOR blockade left by one drug session at
  the first assessment of the next session is at or below ``residual_threshold_pct`` (default 5 %) for the
  **95th-percentile participant** (the conservative choice: 19 of 20 people are below it; the median-based
  ISI is reported too).  Grid of 0.05 days refined by bisection to 1e-4 days.
* **Power** (exact, noncentral t; two-sided): ``between`` two-sample t with the planned group sizes;
  ``within`` paired t with ``dz = g / √(2(1 − r))``.  N for the target power with and without the
  attenuation (between: equal groups; within: total N, also rounded up to a multiple of the number of
  orders for full counterbalancing).  Hedges' g is used as Cohen's d (the small-sample correction is
  below 1 % for the N in question).
* **Naltrexone and cost.**  Tablets are counted per dose, ``ceil(dose / tablet_mg)`` (a tablet is never
  shared between doses or participants).  plantrexone instead pools everything: ``ceil(dose × participants
  × sessions / 50)``; that count is reported as ``tablets_pooled``.  Placebo tablets are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from occupancy.errors import InputError
from occupancy.workflows.planning.design import (
    DEFAULT_POPULATION_N, DEFAULT_POPULATION_SEED, DRUG, PLACEBO, RECEPTORS, SOURCES, DesignSection, PlanScenario,
    condition_orders, min_delay_caveat, split_evenly, tablets_per_session, tablets_pooled,
)
from occupancy.workflows.planning.power import (
    n_between, n_within, paired_dz, power_between, power_curve, power_within,
)
from occupancy.workflows.planning.result import (
    AssessmentBlockade, ContrastAtAssessment, PlanResult, PowerCurve, SessionBlockade, TimelineTrace,
)
from occupancy.workflows.planning.searches import (
    VirtualPopulation, find_min_delay, find_min_isi, population_summaries, residual_at,
)

#: The [design] keys that only the closed-form part of the plan uses (power, N, tablets, cost): a change of these
#: alone leaves a :class:`PlanSchedule` valid, so :func:`plan_power` alone gives the new plan.
POWER_ONLY_DESIGN_KEYS = frozenset({"participants", "n_drug", "n_placebo", "effect", "correlation", "alpha", "power",
                                    "tablet_mg", "price_per_tablet", "currency"})


def schedule_design_key(design: DesignSection) -> str:
    """The design's keys other than :data:`POWER_ONLY_DESIGN_KEYS`, as canonical JSON (equal keys, equal schedule)."""
    import json

    return json.dumps({k: v for k, v in design.model_dump().items() if k not in POWER_ONLY_DESIGN_KEYS},
                      sort_keys=True, default=str)


def schedule_key(scenario: PlanScenario, *, source: str | Path = "", model_draws: int | None = None,
                 model_seed: int = 1) -> str:
    """A cache key for :func:`plan_schedule`: the whole scenario (and options) minus the power-only design keys.

    Notes
    -----
    Two scenarios with the same key give the same :class:`PlanSchedule`, so an app can keep one per key and
    re-run only :func:`plan_power` when N, effect, α or target power change.
    """
    import json

    data = scenario.model_dump(mode="json")
    data["design"] = {k: v for k, v in data.get("design", {}).items() if k not in POWER_ONLY_DESIGN_KEYS}
    return json.dumps({"scenario": data, "source": str(source), "model_draws": model_draws,
                       "model_seed": model_seed}, sort_keys=True, default=str)


@dataclass(frozen=True, eq=False)
class PlanSchedule:
    """The schedule and population part of a plan (everything but the closed-form power): see :func:`plan_power`.

    Holds the built model and schedule, the virtual population, blockade per order/session/assessment, the
    contrasts, the delay and ISI searches, the timelines and the model-uncertainty draws.  ``design`` is the
    design it was made with (only its keys outside :data:`POWER_ONLY_DESIGN_KEYS` matter here).

    Notes
    -----
    Split from :class:`PlanResult` so that an edit of N, effect, α or target power costs only the closed form
    (issue 21: under 300 ms per Plan edit in the app) while ``blockade plan`` gives the same numbers.
    """

    model: Any
    schedule: Any
    assessments: tuple
    design: DesignSection
    primary: str
    session_len_h: float
    kind: str
    isi_h: float | None
    time_course: bool
    population: VirtualPopulation
    seed: Any
    orders: tuple
    order_names: tuple
    sessions_raw: tuple
    session_rows: dict
    conditions: tuple
    contrasts: tuple
    primary_contrast: float
    timeline: tuple
    min_delay: float | None
    prob_delay: float | None
    until: float | None
    min_isi: float | None
    min_isi_med: float | None
    res95: float | None
    res50: float | None
    model_uncertainty_draws: dict | None
    model_uncertainty_note: str | None
    scenario_name: str
    source: str
    #: The variability the population was made with as given (None: the engine's default per model), and the
    #: model-uncertainty settings ``(draws, seed)`` while the draws are deferred (see
    #: :func:`complete_model_uncertainty`); None once they are computed or when none were asked for.
    variability: Any = None
    deferred_model_draws: tuple | None = None

    @property
    def model_uncertainty_pending(self) -> bool:
        """True while the model-uncertainty draws were deferred and not yet computed."""
        return self.deferred_model_draws is not None

    def summary(self) -> str:
        """One line per headline number that does not depend on the power keys."""
        def fmt(x, unit):
            return "not reached" if x is None else f"{x:.3g}{unit}"
        return (f"plan schedule ({self.model.drug}, {self.model.name}, {self.kind}, {self.population.n} subjects): "
                f"contrast {self.primary_contrast:.1f} pp at '{self.primary}', minimum delay "
                f"{fmt(self.min_delay, ' h')}, minimum ISI {fmt(self.min_isi, ' days')}")

    def to_frame(self):
        """The contrasts at every assessment (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame([c.to_dict() for c in self.contrasts]).drop(columns="per_order")


def _order_name(order: tuple[str, ...], kind: str) -> str:
    if kind == "between":
        return f"{order[0]} group"
    return "→".join(order)


def _protocol_schedule(schedule, starts_h: Sequence[float]):
    """All doses of the drug sessions starting at ``starts_h`` on one axis (None if there are none)."""
    from dataclasses import replace

    if not starts_h:
        return None
    doses = tuple(d for s in starts_h for d in schedule.shifted(s).doses)
    return replace(schedule, doses=doses)


def _timeline_grid(drug_starts: Sequence[float], end_h: float) -> np.ndarray:
    base = np.linspace(0.0, end_h, 1501)
    dense = [s + np.arange(0.0, 12.0, 5.0 / 60.0) for s in drug_starts]
    grid = np.unique(np.concatenate([base, *dense]))
    return grid[(grid >= 0.0) & (grid <= end_h)]


def plan_design(model, schedule, assessments: Sequence[tuple[str, float]], design: DesignSection, *,
                n: int = DEFAULT_POPULATION_N, seed=DEFAULT_POPULATION_SEED, variability=None,
                scenario_name: str = "plan", source: str = "", model_draws: int | None = None,
                model_seed=1, progress: bool = False) -> PlanResult:
    """Run the planning workflow on already-built parts (see :func:`plan_study` for a scenario).

    :func:`plan_schedule_design` (blockade, delay, washout, model uncertainty) followed by :func:`plan_power`
    (closed-form power and N); the parameters are those of :func:`plan_schedule_design`.
    """
    return plan_power(plan_schedule_design(model, schedule, assessments, design, n=n, seed=seed,
                                           variability=variability, scenario_name=scenario_name, source=source,
                                           model_draws=model_draws, model_seed=model_seed, progress=progress))


def plan_schedule_design(model, schedule, assessments: Sequence[tuple[str, float]], design: DesignSection, *,
                n: int = DEFAULT_POPULATION_N, seed=DEFAULT_POPULATION_SEED, variability=None,
                scenario_name: str = "plan", source: str = "", model_draws: int | None = None,
                model_seed=1, progress: bool = False, defer_model_uncertainty: bool = False) -> "PlanSchedule":
    """The schedule part of the plan on already-built parts: everything but the power (see :func:`plan_power`).

    Blockade at the assessments of every session and order, the contrasts, the minimum delay and intersession
    interval, the timelines and the model-uncertainty draws: nothing here depends on the [design] keys in
    :data:`POWER_ONLY_DESIGN_KEYS`.

    Parameters
    ----------
    model : BlockadeModel
        From :func:`occupancy.models.get_model`.
    schedule : occupancy.dosing.schedule.Schedule
        The doses of one drug session, relative to the session start (h).
    assessments : sequence of (label, time_h)
        Assessments of every session, relative to the session start (h).
    design : DesignSection
    n, seed, variability
        The virtual population (``variability`` defaults to the engine's data-derived spreads).
    scenario_name, source
        Shown in outputs.
    model_draws, model_seed
        Model uncertainty (``pkpd`` models): the headline numbers re-computed for ``model_draws`` seeded
        typical-subject models drawn from the posterior of every admissible structure, weighted
        (:mod:`occupancy.workflows.planning.uncertainty`); ``None`` takes
        :data:`~occupancy.workflows.planning.uncertainty.DEFAULT_PLAN_MODEL_DRAWS`, 0 switches it off.
    progress
        A progress bar on stderr over the draws.
    defer_model_uncertainty
        Check the work of the draws (as without it) but leave them out: ``model_uncertainty_pending`` is then
        True and :func:`complete_model_uncertainty` computes them later, with the same numbers (the app shows
        the plan at once and its model uncertainty a second later).
    """
    problem = design.problem()
    if problem:
        raise InputError(problem)
    if not assessments:
        raise InputError("assessments: the planner needs at least one [[assessments]] entry")
    assessments = sorted(((str(lbl), float(t)) for lbl, t in assessments), key=lambda a: a[1])
    labels = [a[0] for a in assessments]
    primary = design.primary_assessment if design.primary_assessment is not None else labels[0]
    if primary not in labels:
        raise InputError(f"design.primary_assessment: no assessment is labelled {primary!r} "
                         f"(labels: {', '.join(labels)})")
    session_len_h = max(schedule.last_dose_end_h, assessments[-1][1])
    kind = design.kind
    isi_h = None
    if kind == "within":
        isi_h = float(design.isi_days) * 24.0
        if isi_h <= session_len_h:
            raise InputError(f"design.isi_days: {design.isi_days:g} days is not longer than one session "
                             f"({session_len_h:g} h from the session start to its last dose or assessment)")

    # A model defined only near a dose (emax) gives no blockade elsewhere: an assessment there has no number
    # (an error, named), and days later the blockade is taken as 0 (residual; the warnings say so).
    typical = np.asarray(model.blockade(schedule, [t for _, t in assessments]), dtype=float)
    for (label, t), value in zip(assessments, typical):
        if np.isnan(value):
            raise InputError(f"assessments: '{label}' at {t:g} h: the {model.name} model gives no blockade there "
                             f"({t - schedule.last_dose_h:g} h after the last dose, outside its range); assess "
                             "within its range or choose a model with a time course")
    from occupancy.simulation.summaries import search_span_h

    late = schedule.last_dose_end_h + search_span_h(model, 5.0)
    time_course = not np.isnan(np.asarray(model.blockade(schedule, [late]), dtype=float)).any()

    orders = condition_orders(kind, design.sessions, design.drug_sessions)
    check_plan_work(model, schedule, len(assessments), design, kind=kind, n=int(n), n_orders=len(orders),
                    time_course=time_course, model_draws=model_draws)
    pop = VirtualPopulation(model, n, seed, variability)
    order_names = [_order_name(o, kind) for o in orders]

    # -- blockade per order and session (population summaries in bounded blocks) -----------------------
    assess_t = np.array([t for _, t in assessments])
    sessions_raw = []  # (order_index, session, condition, start_h, protocol schedule, residual summary)
    timeline = []
    for oi, order in enumerate(orders):
        starts = [s * isi_h if isi_h is not None else 0.0 for s in range(len(order))]
        drug_starts = [st for st, c in zip(starts, order) if c == DRUG]
        sched = _protocol_schedule(schedule, drug_starts)
        for si, (start, cond) in enumerate(zip(starts, order)):
            earlier = _protocol_schedule(schedule, [s for s in drug_starts if s < start])
            residual = pop.values(earlier, [start], "MOR")[:, 0]
            res = (float(residual.mean()), float(np.percentile(residual, 50)), float(np.percentile(residual, 95)))
            sessions_raw.append((oi, si + 1, cond, start, sched, res))
        if kind == "within":
            end_h = len(order) * isi_h
        else:
            end_h = max(72.0, session_len_h + 48.0)
        grid = _timeline_grid(drug_starts, end_h)
        s = pop.summaries(sched, grid, "MOR")
        timeline.append(TimelineTrace(order_names[oi], grid, s["p05"], s["p50"], s["p95"], s["mean"]))

    def assessment_rows(sources, start: float) -> tuple[AssessmentBlockade, ...]:
        summ = {r: pop.pooled_summaries(sources, r) for r in RECEPTORS}
        rows = []
        for j, (label, t) in enumerate(assessments):
            rows.append(AssessmentBlockade(
                label=label, time_h=t, protocol_time_h=start + t if start == start else float("nan"),
                MOR=float(summ["MOR"]["mean"][j]), KOR=float(summ["KOR"]["mean"][j]),
                DOR=float(summ["DOR"]["mean"][j]), MOR_p05=float(summ["MOR"]["p05"][j]),
                MOR_p50=float(summ["MOR"]["p50"][j]), MOR_p95=float(summ["MOR"]["p95"][j]),
                MOR_prob_ge_90=float(summ["MOR"]["prob_ge_90"][j])))
        return tuple(rows)

    session_rows = {(oi, si): assessment_rows([(sched, start + assess_t)], start)
                    for (oi, si, _, start, sched, _) in sessions_raw}

    # -- conditions pooled over orders (equal weight per order), and the contrasts ----------------------
    conditions = []
    for cond in (DRUG, PLACEBO):
        parts = [(sched, start + assess_t) for (_, _, c, start, sched, _) in sessions_raw if c == cond]
        conditions.append((cond, assessment_rows(parts, float("nan"))))
    cond_rows = dict(conditions)

    contrasts = []
    for j, (label, t) in enumerate(assessments):
        per_order = []
        for oi in range(len(orders)):
            d = [session_rows[(o, si)][j].MOR for (o, si, c, _, _, _) in sessions_raw if o == oi and c == DRUG]
            p = [session_rows[(o, si)][j].MOR for (o, si, c, _, _, _) in sessions_raw if o == oi and c == PLACEBO]
            if kind == "within":
                per_order.append((order_names[oi], float(np.mean(d) - np.mean(p))))
        if kind == "between":
            per_order = [("between groups", cond_rows[DRUG][j].MOR - cond_rows[PLACEBO][j].MOR)]
        contrast = float(np.mean([c for _, c in per_order]))
        contrasts.append(ContrastAtAssessment(label, t, contrast, cond_rows[DRUG][j].MOR,
                                              cond_rows[PLACEBO][j].MOR, tuple(per_order)))
    primary_contrast = next(c.contrast_pp for c in contrasts if c.label == primary)

    # -- delay and washout ----------------------------------------------------------------------------
    min_delay, prob_delay, until = find_min_delay(
        pop, schedule, threshold_pct=design.delay_threshold_pct, probability=design.delay_probability,
        horizon_h=design.max_delay_h)
    first_assess_h = assessments[0][1]
    min_isi = min_isi_med = res95 = res50 = None
    if kind == "within" and time_course:  # between subjects: no second session, so no intersession interval
        isi_kw = dict(offset_h=first_assess_h, threshold_pct=design.residual_threshold_pct,
                      min_days=session_len_h / 24.0, horizon_days=design.max_isi_days)
        min_isi = find_min_isi(pop, schedule, q=95.0, **isi_kw)
        min_isi_med = find_min_isi(pop, schedule, q=50.0, **isi_kw)
    if isi_h is not None:
        res95 = float(residual_at(pop, schedule, [design.isi_days], first_assess_h, 95.0)[0])
        res50 = float(residual_at(pop, schedule, [design.isi_days], first_assess_h, 50.0)[0])

    # -- model uncertainty: posterior draws × admissible structures (the power per draw comes later) -------
    planned = PlanSchedule(
        model=model, schedule=schedule, assessments=tuple(assessments), design=design, primary=primary,
        session_len_h=session_len_h, kind=kind, isi_h=isi_h, time_course=time_course, population=pop, seed=seed,
        orders=tuple(orders), order_names=tuple(order_names), sessions_raw=tuple(sessions_raw),
        session_rows=session_rows, conditions=tuple(conditions), contrasts=tuple(contrasts),
        primary_contrast=primary_contrast, timeline=tuple(timeline), min_delay=min_delay, prob_delay=prob_delay,
        until=until, min_isi=min_isi, min_isi_med=min_isi_med, res95=res95, res50=res50,
        model_uncertainty_draws=None, model_uncertainty_note=None, scenario_name=scenario_name,
        source=str(source), variability=variability, deferred_model_draws=(model_draws, model_seed))
    return planned if defer_model_uncertainty else complete_model_uncertainty(planned, progress=progress)


def complete_model_uncertainty(planned: "PlanSchedule", *, progress: bool = False) -> "PlanSchedule":
    """``planned`` with its deferred model-uncertainty draws computed (itself when none are pending).

    Notes
    -----
    The draws depend only on the schedule part (model, doses, assessments, design outside the power keys,
    population), all held by ``planned``, so computing them later gives the same numbers as
    :func:`plan_schedule_design` without ``defer_model_uncertainty``; they take most of a plan's time (about
    1 s of 1.4 s for the app's opening plan), which is why the app defers them.
    """
    import dataclasses

    if planned.deferred_model_draws is None:
        return planned
    model_draws, model_seed = planned.deferred_model_draws
    assessments = planned.assessments
    unc_draws, unc_note = _model_uncertainty_draws(
        planned.model, planned.schedule, planned.design, kind=planned.kind,
        sources=[(oi, cond, sched, start) for (oi, _si, cond, start, sched, _r) in planned.sessions_raw],
        primary_t=dict(assessments)[planned.primary], first_assess_h=assessments[0][1],
        session_len_h=planned.session_len_h, time_course=planned.time_course, model_draws=model_draws,
        model_seed=model_seed, pop_n=planned.population.n, pop_seed=planned.seed, variability=planned.variability,
        progress=progress)
    return dataclasses.replace(planned, model_uncertainty_draws=unc_draws, model_uncertainty_note=unc_note,
                               deferred_model_draws=None)


def plan_power(planned: "PlanSchedule", design: DesignSection | None = None, *,
               blank_n: str = "unattenuated") -> PlanResult:
    """The whole :class:`PlanResult` from a :class:`PlanSchedule` and a design: power, N, tablets and words.

    Parameters
    ----------
    planned : PlanSchedule
        From :func:`plan_schedule` or :func:`plan_schedule_design`.
    design : DesignSection, optional
        The design whose power-only keys (:data:`POWER_ONLY_DESIGN_KEYS`: N, effect, α, target power,
        correlation, tablets, price) are to be used; its other keys must equal those ``planned`` was made
        with.  ``None`` takes ``planned.design``.
    blank_n : {"unattenuated", "attenuated"}
        The planned N when the design names none: the N for the target power with full blockade (``blockade
        plan``'s convention, the default) or for the blockade-attenuated effect ``g × contrast / 100`` (the
        app's, issue 21.5: the N a researcher should recruit).  When the attenuated effect is 0 (no finite N)
        the unattenuated N is taken and ``n_planned_source`` says so.

    Notes
    -----
    Everything here is closed form (exact noncentral-t power, :mod:`occupancy.workflows.planning.power`), so
    an edit of N, effect, α or target power re-runs only this function on a cached :class:`PlanSchedule`
    (the app's Plan tab).  ``plan_design`` is this function applied to :func:`plan_schedule_design`, so the
    CLI's numbers do not depend on the split.
    """
    if blank_n not in ("unattenuated", "attenuated"):
        raise ValueError(f"plan_power: blank_n must be 'unattenuated' or 'attenuated' (got {blank_n!r})")
    if design is None:
        design = planned.design
    elif schedule_design_key(design) != schedule_design_key(planned.design):
        raise ValueError("plan_power: the design differs from the schedule's in a key other than "
                         + ", ".join(sorted(POWER_ONLY_DESIGN_KEYS)))
    problem = design.problem()
    if problem:
        raise InputError(problem)
    model, schedule, assessments, primary = planned.model, planned.schedule, list(planned.assessments), planned.primary
    kind, isi_h, pop, seed, orders = planned.kind, planned.isi_h, planned.population, planned.seed, planned.orders
    order_names, sessions_raw, session_rows = planned.order_names, planned.sessions_raw, planned.session_rows
    conditions, contrasts, primary_contrast = planned.conditions, planned.contrasts, planned.primary_contrast
    cond_rows = dict(conditions)
    timeline, min_delay, prob_delay, until = planned.timeline, planned.min_delay, planned.prob_delay, planned.until
    min_isi, min_isi_med, res95, res50 = planned.min_isi, planned.min_isi_med, planned.res95, planned.res50
    scenario_name, source = planned.scenario_name, planned.source
    g = float(design.effect)
    alpha, target = float(design.alpha), float(design.power)
    g_eff = g * min(max(primary_contrast, 0.0), 100.0) / 100.0

    # -- power and N ----------------------------------------------------------------------------------
    if kind == "between":
        dz = dz_eff = None
        n_grp = n_between(g, alpha, target)
        n_grp_att = n_between(g_eff, alpha, target)
        n_req, n_req_att = (2 * n_grp if n_grp else None), (2 * n_grp_att if n_grp_att else None)
        n_req_bal, n_req_att_bal = n_req, n_req_att
        if design.n_drug is not None:
            groups, n_source = (design.n_drug, design.n_placebo), "design.n_drug/n_placebo"
        elif design.participants is not None:
            groups, n_source = tuple(split_evenly(design.participants, 2)), "design.participants"
        else:
            groups, n_source = (n_grp, n_grp), "N required for the target power (no attenuation)"
            if blank_n == "attenuated":
                if n_grp_att:
                    groups, n_source = (n_grp_att, n_grp_att), "N required for the target power with the blockade attenuation"
                else:
                    n_source += "; the attenuated effect is 0, so no finite N reaches the target"
        n_planned = int(sum(groups))
        pw = power_between(g, groups[0], groups[1], alpha)
        pw_att = power_between(g_eff, groups[0], groups[1], alpha) if g_eff != 0 else alpha
    else:
        k = len(orders)
        dz, dz_eff = paired_dz(g, design.correlation), paired_dz(g_eff, design.correlation)
        n_req, n_req_att = n_within(dz, alpha, target), n_within(dz_eff, alpha, target)
        n_grp = n_grp_att = None
        n_req_bal = None if n_req is None else int(math.ceil(n_req / k) * k)
        n_req_att_bal = None if n_req_att is None else int(math.ceil(n_req_att / k) * k)
        if design.participants is not None:
            n_planned, n_source = int(design.participants), "design.participants"
        else:
            n_planned = n_req_bal
            n_source = f"N required for the target power (no attenuation), rounded up to a multiple of {k} orders"
            if blank_n == "attenuated":
                if n_req_att_bal:
                    n_planned = n_req_att_bal
                    n_source = (f"N required for the target power with the blockade attenuation, rounded up to a "
                                f"multiple of {k} orders")
                else:
                    n_source += "; the attenuated effect is 0, so no finite N reaches the target"
        groups = tuple(split_evenly(n_planned, k))
        pw = power_within(dz, n_planned, alpha)
        pw_att = power_within(dz_eff, n_planned, alpha) if dz_eff != 0 else alpha

    curve = _power_curve(kind, g, g_eff, design, n_planned, n_req, n_req_att)

    if planned.model_uncertainty_draws is not None:
        from occupancy.workflows.planning.uncertainty import model_uncertainty_power

        model_unc = model_uncertainty_power(planned.model_uncertainty_draws, design, groups=groups, n_planned=n_planned)
        unc_note = model_unc["_ensemble"].describe()
    else:
        model_unc, unc_note = None, planned.model_uncertainty_note or ""  # "": still pending

    # -- naltrexone, tablets, cost --------------------------------------------------------------------
    drug_sessions_total = int(groups[0]) if kind == "between" else int(n_planned * design.drug_sessions)
    try:
        amounts = schedule.amounts_mg()
    except InputError:
        amounts = None
    total_mg = None if amounts is None else float(sum(amounts) * drug_sessions_total)
    tabs_session = tabs = tabs_pooled = cost = None
    if amounts is not None and model.drug == "naltrexone":
        tabs_session = tablets_per_session(amounts, design.tablet_mg)
        tabs = tabs_session * drug_sessions_total
        tabs_pooled = tablets_pooled(total_mg, design.tablet_mg)
        if design.price_per_tablet is not None:
            cost = float(tabs * design.price_per_tablet)

    # -- sessions as result objects -------------------------------------------------------------------
    per_order_n = list(groups)  # participants per order (within) or per group (between)
    sessions = tuple(
        SessionBlockade(order=order_names[oi], order_index=oi + 1, participants=int(per_order_n[oi]),
                        session=si, condition=cond, start_h=float(start),
                        residual_MOR=res[0], residual_MOR_p50=res[1], residual_MOR_p95=res[2],
                        assessments=session_rows[(oi, si)])
        for (oi, si, cond, start, _, res) in sessions_raw)

    tagged = _warnings(model.name, design, kind, assessments, schedule, min_delay, min_isi, res95, cond_rows,
                       primary, pw, pw_att, target, n_planned, n_req_att_bal if kind == "within" else n_req_att)
    warnings = [text for _, text in tagged]
    from occupancy.workflows.planning.design import validated_from_h

    validated_h = validated_from_h(model.name, model.drug)
    last_dose = schedule.last_dose_h
    # counted from the end of the last dose: an infusion's validated time starts when it ends (a negative value is
    # an assessment during the infusion)
    last_end = max(last_dose, schedule.last_dose_end_h)
    early = [(label, t - last_end) for label, t in assessments
             if validated_h is not None and t >= last_dose and t - last_end < validated_h]
    note = min_delay_caveat(model.name, early, time_course=model.name != "emax", drug=model.drug,
                            infusion=last_end > last_dose)
    assumptions = _assumptions(design, kind, model)
    sds = ", ".join(f"{name} {sd:.3g}" for name, sd in pop.variability.log_sds.items())
    assumptions = tuple(assumptions) + ((f"Between-subject variability (log-normal, median at the model's value), log-SDs: {sds}; "
                        "it gives the percentiles and P(MOR >= 90 %), and is set in [population] (<name>_log_sd).",
                        pop.variability.source or "documented defaults of the model"),)
    design_dict = design.model_dump()
    return PlanResult(
        scenario_name=scenario_name, source=str(source), drug=model.drug, model_name=model.name,
        model_parameters=dict(model.parameters()), kind=kind, design=design_dict, population_n=pop.n,
        population_seed=seed if isinstance(seed, int) else str(seed),
        population_variability=pop.variability.to_dict(),
        doses=tuple((float(d.time_h), float("nan") if amounts is None else float(mg))
                    for d, mg in zip(schedule.doses, amounts or [None] * len(schedule.doses))),
        isi_days=None if isi_h is None else float(design.isi_days), orders=tuple(order_names),
        sessions=sessions, conditions=tuple(conditions), contrasts=tuple(contrasts), primary_assessment=primary,
        contrast_pp=primary_contrast, effect=g, effect_attenuated=g_eff, dz=dz, dz_attenuated=dz_eff,
        min_delay_h=min_delay, min_delay_note=note, prob_at_min_delay=prob_delay, reliable_until_h=until, min_isi_days=min_isi,
        min_isi_days_median=min_isi_med, residual_at_isi_p95=res95, residual_at_isi_p50=res50,
        n_planned=int(n_planned), n_planned_source=n_source, group_sizes=tuple(int(x) for x in groups),
        power=float(pw), power_attenuated=float(pw_att), n_required=n_req, n_required_per_group=n_grp,
        n_required_attenuated=n_req_att, n_required_attenuated_per_group=n_grp_att,
        n_required_balanced=n_req_bal, n_required_attenuated_balanced=n_req_att_bal, total_mg=total_mg,
        drug_sessions_total=drug_sessions_total, tablets_per_session=tabs_session, tablets=tabs,
        tablets_pooled=tabs_pooled, cost=cost, timeline=tuple(timeline), power_curve=curve,
        assumptions=assumptions, warnings=tuple(warnings), warning_topics=tuple(t for t, _ in tagged),
        model_uncertainty=model_unc, model_uncertainty_note=unc_note)


#: Cost of one plan subject-time point in simulate's units: the plan summarises populations (percentiles,
#: P(MOR >= 90 %)) at every point of its searches; measured once (2 cores, loaded machine): n = 100,000 with
#: the default 24 h delay and 60-day ISI searches (7.2e8 subject-points) took 85 s of CPU, where simulate
#: computes 2e9 subject-points in 31–43 s (issue 18, item 8) — about 5 times as much per point.
PLAN_POINT_COST = 5


def check_plan_work(model, schedule, n_assessments: int, design: DesignSection, *, kind: str, n: int, n_orders: int,
                    time_course: bool, model_draws: int | None) -> None:
    """Refuse, before the population is drawn, a plan whose population work exceeds ``simulate``'s limits.

    Notes
    -----
    The limits are those of :func:`occupancy.simulation.simulate.check_population_work` (issue 18, item 8):
    memory grows with subjects × doses of the protocol schedule, time with subjects × evaluated time points.
    The points per subject are counted from the grids :func:`plan_design` evaluates: the minimum-delay search
    (1-minute grid over ``design.max_delay_h`` and its bisection), the two intersession-interval searches
    (0.05-day grid up to ``design.max_isi_days``, within-subject designs), and per condition order the
    residual at each session start, the timeline (≤ 1501 points plus 12 h at 5 min after each drug session)
    and the assessments of every session (twice: per session and pooled).  The model-uncertainty draws add
    ``min(n, 500)`` subjects per draw over their coarser searches
    (:mod:`occupancy.workflows.planning.uncertainty`).
    """
    from occupancy.simulation.simulate import MAX_SUBJECT_POINTS, check_population_work
    from occupancy.workflows.planning.uncertainty import (
        DEFAULT_PLAN_MODEL_DRAWS, DELAY_STEP_H, ISI_STEP_DAYS, MAX_SUBJECTS_PER_DRAW,
    )

    bisection = 25  # at most ~log2(grid step / tolerance) + 1 single-time evaluations per search
    within = kind == "within" and time_course
    delay = int(float(design.max_delay_h) * 60.0) + 1 + bisection
    isi = 2 * (int(float(design.max_isi_days) / 0.05) + 1 + bisection) + 2 if within else 0
    sessions = int(design.sessions) if kind == "within" else 1
    drug_sessions = int(design.drug_sessions) if kind == "within" else 1
    per_order = sessions + 1501 + drug_sessions * 144 + 2 * sessions * n_assessments
    points = delay + isi + n_orders * per_order
    doses = len(schedule.doses) * drug_sessions
    check_population_work(n, doses, 0, field="population.n")
    draws = DEFAULT_PLAN_MODEL_DRAWS if model_draws is None else int(model_draws)
    if not (hasattr(model, "parameter_draws") or hasattr(model, "structure_draws")):
        draws = 0
    n_sub = min(n, MAX_SUBJECTS_PER_DRAW)
    draw_points = (int(float(design.max_delay_h) / DELAY_STEP_H) + 1 + bisection
                   + (int(float(design.max_isi_days) / ISI_STEP_DAYS) + 1 + bisection if within else 0)
                   + n_orders * sessions)
    total = PLAN_POINT_COST * (n * points + draws * n_sub * draw_points)
    if total > MAX_SUBJECT_POINTS:
        budget = MAX_SUBJECT_POINTS // PLAN_POINT_COST - draws * MAX_SUBJECTS_PER_DRAW * draw_points
        fits = max(2, budget // points)
        raise InputError(f"population.n: {n} virtual subjects × {points} evaluated time points (delay and "
                         f"intersession-interval searches, {n_orders} condition orders)"
                         + (f" and {draws} model draws × {n_sub} subjects × {draw_points} points" if draws else "")
                         + f" costs as much as {total:,} of simulate's subject-time points (a plan point costs "
                         f"{PLAN_POINT_COST}), more than one run computes in about a minute ({MAX_SUBJECT_POINTS:,}); "
                         f"use [population] n <= {fits}, a "
                         "shorter design.max_delay_h or design.max_isi_days, or fewer --model-draws")


def _model_uncertainty_draws(model, schedule, design, *, model_draws, model_seed, **kw):
    """``(draws, None)`` (:func:`~occupancy.workflows.planning.uncertainty.model_uncertainty_draws`); ``(None, why
    not)`` for a model without parameter uncertainty or 0 draws."""
    from occupancy.workflows.planning.uncertainty import DEFAULT_PLAN_MODEL_DRAWS, model_uncertainty_draws

    n_draws = DEFAULT_PLAN_MODEL_DRAWS if model_draws is None else int(model_draws)
    if n_draws == 0:
        return None, "not computed (0 draws)"
    if not hasattr(model, "parameter_draws") and not hasattr(model, "structure_draws"):
        return None, (f"not available: the {model.name} model has no posterior or parameter-"
                      "uncertainty estimate (use the pkpd model)")
    try:
        draws = model_uncertainty_draws(model, schedule, design, n_draws=n_draws, seed=model_seed, **kw)
    except InputError as exc:  # e.g. no parameter uncertainty for this hysteresis variant
        return None, f"not available: {exc}"
    return draws, None


def _power_curve(kind, g, g_eff, design, n_planned, n_req, n_req_att) -> PowerCurve:
    cap = 2000
    top = max([n_planned, n_req or 0] + ([n_req_att] if n_req_att and n_req_att <= cap else []))
    top = int(min(cap, max(40, math.ceil(1.25 * top))))
    # one vectorised call per line (power_curve: equal to power_between/power_within at every N, bit for bit)
    if kind == "between":
        n_total = np.arange(4, top + 2, 2)
        pw = power_curve(g, n_total, design.alpha, kind)
        pa = power_curve(g_eff, n_total, design.alpha, kind) if g_eff else np.full(len(n_total), design.alpha)
    else:
        n_total = np.arange(4, top + 1)
        dz, dze = paired_dz(g, design.correlation), paired_dz(g_eff, design.correlation)
        pw = power_curve(dz, n_total, design.alpha, kind)
        pa = power_curve(dze, n_total, design.alpha, kind) if dze else np.full(len(n_total), design.alpha)
    return PowerCurve(n_total=n_total, power=np.asarray(pw, float), power_attenuated=np.asarray(pa, float))


def _warnings(model_name, design, kind, assessments, schedule, min_delay, min_isi, res95, cond_rows, primary, pw, pw_att,
              target, n_planned, n_req_att) -> list[tuple[str, str]]:
    """The plan's warnings as ``(topic, text)``: topic ``model``, ``delay``, ``isi`` or ``power`` says which
    number each one qualifies (the report and the summary print it next to that number)."""
    out = []
    if model_name == "emax":
        out.append(("model", "the emax model has no time course beyond its validity window, so residual blockade and "
                             "the minimum intersession interval are not meaningful; use a model with a time course"))
    if min_delay is None:
        out.append(("delay", f"P(MOR >= {design.delay_threshold_pct:g} %) never reaches {design.delay_probability:g} "
                             f"within {design.max_delay_h:g} h after the last dose: the dose is too low for reliable "
                             "blockade"))
    else:
        last = schedule.last_dose_h
        for label, t in assessments:
            if t >= last and t - last < min_delay:
                prob = next(a.MOR_prob_ge_90 for a in cond_rows[DRUG] if a.label == label)
                out.append(("delay", f"assessment '{label}' is {t - last:g} h after the last dose, before the minimum "
                                     f"delay of {min_delay:.2f} h (P(MOR >= 90 %) = {prob:.2f})"))
    if kind == "within":
        if min_isi is None or design.isi_days < min_isi:
            placebo = next(a for a in cond_rows[PLACEBO] if a.label == primary)
            limit = "beyond the search horizon" if min_isi is None else f"{min_isi:.1f} days"
            out.append(("isi", f"isi_days = {design.isi_days:g} is shorter than the minimum intersession interval "
                               f"({limit}): placebo sessions after a drug session carry residual MOR blockade (95th "
                               f"percentile {res95:.1f} % at the first assessment; mean over orders at '{primary}' "
                               f"{placebo.MOR:.1f} %)"))
    need = "no finite N" if n_req_att is None else f"{n_req_att} participants in total"
    if pw < target:
        att = f" ({pw_att:.2f} with the blockade attenuation)" if pw_att < pw - 5e-4 else ""
        out.append(("power", f"the planned N = {n_planned} has power {pw:.2f}{att} < {target:g} even with full "
                             f"blockade; {need} would be needed"))
    elif pw_att < target:
        out.append(("power", f"with the blockade attenuation the planned N = {n_planned} has power {pw_att:.2f} < "
                             f"{target:g}; {need} would be needed"))
    return out


def _delay_basis(model) -> str:
    """What the model's early rise rests on and from when it is validated (empty when not documented)."""
    from occupancy.workflows.planning.design import early_data

    entry = early_data(model.name, model.drug)
    if entry is None:
        return ""
    hours, basis = entry
    when = f"{hours:g} h" if hours >= 1 else f"{hours * 60:.3g} min"
    return (f" The {model.drug} {model.name} model: {basis}, so a delay below {when} is a model extrapolation, "
            "not a validated recommendation.")


def _assumptions(design, kind, model) -> tuple[tuple[str, str], ...]:
    items = [
        ("The behavioural effect is proportional to the drug − placebo contrast in mean MOR blockade at the "
         "primary assessment: g_eff = g × contrast / 100 (full, residual-free blockade gives g).",
         "planner assumption; the review's g = −0.20 comes from studies that assumed near-full blockade"),
        (f"Expected effect g = {design.effect:g} (Hedges' g used as Cohen's d).", SOURCES["review"]),
        ("Minimum delay: first time after the last dose at which P(MOR >= "
         f"{design.delay_threshold_pct:g} %) >= {design.delay_probability:g} across virtual subjects "
         "(model time course, 1-min grid + bisection); plantrexone recommends 1–2 h." + _delay_basis(model),
         SOURCES["plantrexone"] + "; " + SOURCES["rabiner"]),
        (f"Minimum intersession interval: residual MOR blockade left by one drug session at the next session's "
         f"first assessment <= {design.residual_threshold_pct:g} % for the 95th-percentile person (conservative: "
         "slow eliminators); plantrexone recommends 15 days (5 × 72 h).", SOURCES["lee"] + "; " + SOURCES["plantrexone"]),
        ("Power: two-sided exact t-tests via the noncentral t; " +
         ("two-sample t with pooled variance." if kind == "between" else
          f"paired t with dz = g / √(2(1 − r)), r = {design.correlation:g}; orders counterbalanced with equal "
          "weight."), SOURCES["power"]),
        (f"Tablets: per dose ceil(dose / {design.tablet_mg:g} mg), never shared between doses or people; "
         "plantrexone's pooled count ceil(total mg / 50) is shown for comparison. Placebo tablets not counted.",
         SOURCES["plantrexone"]),
    ]
    from occupancy.models.pkpd_naltrexone import version_note

    note = version_note(model)
    return tuple(items) + ((note,) if note else ())


def plan_study(scenario: PlanScenario, *, source: str | Path = "", model_draws: int | None = None,
               model_seed: int = 1, progress: bool = False) -> PlanResult:
    """Plan the study described by a validated :class:`PlanScenario` (see :func:`load_plan_scenario`).

    Without a ``[population]`` section the planner uses 1000 virtual subjects with seed 1 (the
    probabilities behind the minimum delay need a population).  ``model_draws`` (``--model-draws``) overrides
    the ``[uncertainty]`` section's ``n`` (the model-uncertainty draws; default
    :data:`~occupancy.workflows.planning.uncertainty.DEFAULT_PLAN_MODEL_DRAWS`).

    Notes
    -----
    :func:`plan_schedule` then :func:`plan_power`: the app caches the first and re-runs only the second when
    only N, effect, α or target power change.
    """
    return plan_power(plan_schedule(scenario, source=source, model_draws=model_draws, model_seed=model_seed,
                                    progress=progress))


def plan_schedule(scenario: PlanScenario, *, source: str | Path = "", model_draws: int | None = None,
                  model_seed: int = 1, progress: bool = False, defer_model_uncertainty: bool = False) -> PlanSchedule:
    """The schedule part of :func:`plan_study` (cache it under :func:`schedule_key`; :func:`plan_power` finishes).

    Parameters are those of :func:`plan_study`; errors are the same one-line :class:`InputError`.
    ``defer_model_uncertainty`` leaves the model-uncertainty draws to :func:`complete_model_uncertainty`
    (see :func:`plan_schedule_design`).
    """
    pop = scenario.population
    n = pop.n if pop is not None else DEFAULT_POPULATION_N
    seed = pop.seed if pop is not None else DEFAULT_POPULATION_SEED
    variability = scenario.variability() if pop is not None else None
    name = Path(source).stem if source else "plan"
    if model_draws is None and scenario.uncertainty is not None:
        model_draws, model_seed = scenario.uncertainty.n, scenario.uncertainty.seed
    try:
        return plan_schedule_design(scenario.build_model(), scenario.schedule(),
                                    [(a.label, a.time_h) for a in scenario.assessments], scenario.design,
                                    n=n, seed=seed, variability=variability, scenario_name=name,
                                    source=str(source), model_draws=model_draws, model_seed=model_seed,
                                    progress=progress, defer_model_uncertainty=defer_model_uncertainty)
    except InputError as exc:
        prefix = f"{Path(source).name}: " if source else ""
        if prefix and str(exc).startswith(prefix):
            raise
        raise InputError(f"{prefix}{exc}") from None


def plan(scenario: PlanScenario | str | Path) -> PlanResult:
    """Plan a study from a scenario file (path) or a validated :class:`PlanScenario`.

    The notebook form of ``blockade plan SCENARIO.toml``: a path is read and validated with
    :func:`~occupancy.workflows.planning.design.load_plan_scenario`, then :func:`plan_study` runs.

    Examples
    --------
    >>> result = plan("plan_crossover_15d.toml")          # doctest: +SKIP
    >>> result.min_isi_days, result.power                 # doctest: +SKIP
    """
    from occupancy.workflows.planning.design import load_plan_scenario

    if isinstance(scenario, (str, Path)):
        return plan_study(load_plan_scenario(scenario), source=str(scenario))
    return plan_study(scenario)
