"""Evaluating a chunk of designs under model uncertainty: closed forms at the few times each criterion needs.

What one design needs (everything relative to the start of a drug session; ``t`` = last dose + delay):

* **P(MOR >= 90 %) at the task**: the population at ``t`` (a drug session of a crossover with one drug
  session never carries residual from an earlier drug session, so every order gives the same value, as in
  ``blockade plan``'s pooled drug condition).
* **Residual at the next session**: the 95th-percentile person at ``isi × 24 + t`` after one drug session
  (``blockade plan``'s ``residual_at_isi_p95``).
* **Blockade contrast** (drug − placebo mean MOR at the task, averaged over the counterbalanced orders):
  the placebo session ``l`` sessions after the drug session sees the drug session's tail at
  ``l × isi × 24 + t`` (the model's time-shift invariance: one drug session on the protocol axis is the
  session's schedule shifted by its start).  A between design's placebo group has no drug.
* **Power** for the attenuated effect ``g × contrast / 100``: the exact noncentral-t power, a closed form
  given the contrast, vectorised over designs × draws.

So a chunk evaluates each *dose schedule* once per model draw, at the union of these times for every delay,
ISI and session count of the chunk, on a population of ``n`` virtual subjects — ``(n, T)`` values with ``T``
the number of distinct times, not a time grid — and every design with that dose reads its numbers from them.
N changes only the power.  Nothing here is random: the draws and the population are fixed by the
:class:`SearchContext`, so a chunk's rows depend on its designs only (not on the worker or the chunking).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, replace

import numpy as np

from occupancy.workflows.explore.space import CONSTRAINTS, DesignGrid
from occupancy.workflows.planning.design import tablets_per_session

#: Per-design criteria (value for the fitted model ``<name>``, weighted median over the draws ``<name>_median``).
CRITERIA = ("prob_mor_ge_90_at_task", "residual_p95_at_next_session_pct", "contrast_pp", "power_attenuated")
#: The criterion each constraint is about.
CONSTRAINT_CRITERION = {"blockade_at_task": "prob_mor_ge_90_at_task",
                        "residual_at_next_session": "residual_p95_at_next_session_pct",
                        "power_attenuated": "power_attenuated"}


def structure_draws(model, n: int, seed):
    """INTERFACES.md's model-uncertainty contract: ``[(structure, weight, [models])]``.

    Uses ``model.structure_draws`` (posterior draws over the admissible structures) when the model has it,
    else the parameter draws of the model's own structure with weight 1.
    """
    if hasattr(model, "structure_draws"):
        return model.structure_draws(n, seed)
    return [(getattr(model, "hysteresis", model.name), 1.0, model.parameter_draws(n, seed))]


@dataclass(frozen=True, eq=False)
class DrawSet:
    """The draws of one model structure: ``models`` (equally likely), the structure's ``weight`` (the weights of
    all structures sum to 1) and the virtual population's multipliers for that structure (``scales``)."""

    structure: str
    weight: float
    models: tuple
    scales: dict


@dataclass(frozen=True, eq=False)
class SearchContext:
    """Everything a chunk needs besides its designs (small, picklable: sent once to every Dask worker).

    ``nominal`` is the scenario's model with ``nominal_scales`` (``[population]`` n and seed): the numbers
    ``blockade plan`` gives.  ``draw_sets`` are the model-uncertainty draws (empty with ``draws = 0``).
    """

    schedule: object
    vary_dose: bool
    nominal: object
    nominal_scales: dict
    draw_sets: tuple
    effect: float
    correlation: float
    alpha: float
    tablet_mg: float
    price_per_tablet: float | None
    drug: str
    constraints: dict
    level: float
    times: np.ndarray

    @property
    def n_draws(self) -> int:
        return sum(len(d.models) for d in self.draw_sets)

    def probability(self, holds: np.ndarray) -> np.ndarray:
        """Weighted share of the draws (rows of ``holds``) in which something holds, per design (column):
        ``Σ_structures weight × (draws that hold / draws)``.

        Counting within a structure first keeps the probability exact (1 when every draw holds, not 1 + 4e−16),
        and each column is summed on its own, so the value does not depend on the other designs of the chunk.
        """
        if not self.draw_sets:
            return holds[0].astype(float)
        out = np.zeros(holds.shape[1])
        start = 0
        for d in self.draw_sets:
            k = len(d.models)
            out = out + d.weight * (holds[start:start + k].sum(axis=0) / k)
            start += k
        return out

    def draw_weights(self) -> np.ndarray:
        """Weight of every draw (sums to 1); one weight 1 for the fitted model without draws."""
        if not self.draw_sets:
            return np.ones(1)
        return np.concatenate([np.full(len(d.models), d.weight / len(d.models)) for d in self.draw_sets])


def build_context(scenario, values: dict, *, draws: int | None = None) -> SearchContext:
    """The :class:`SearchContext` of an explore scenario (model, population, draws; seeded, reproducible)."""
    from occupancy.errors import InputError
    from occupancy.simulation.population import default_variability
    from occupancy.simulation.scenario import scenario_variability
    from occupancy.workflows.planning.design import DEFAULT_POPULATION_N, DEFAULT_POPULATION_SEED

    ex, design = scenario.explore, scenario.design
    model = scenario.build_model()
    pop = scenario.population
    n = pop.n if pop is not None else DEFAULT_POPULATION_N
    seed = pop.seed if pop is not None else DEFAULT_POPULATION_SEED

    def variability(m):
        if pop is None:
            return default_variability(m)
        if m is model:
            return scenario_variability(m, pop)
        # another structure (e.g. binding kinetics: koff instead of ke0) takes the [population] log-SDs it has
        base = default_variability(m)
        given = {k: v for k, v in pop.log_sd_overrides().items() if k[: -len("_log_sd")] in base.log_sds}
        return base.with_overrides(given)

    nominal_scales = variability(model).draw(n, seed)
    k = ex.draws if draws is None else int(draws)
    sets = []
    if k > 0:
        if not hasattr(model, "parameter_draws") and not hasattr(model, "structure_draws"):
            raise InputError(f"explore.draws: the {model.drug} {model.name} model has no parameter uncertainty; "
                             "set draws = 0 or use model pkpd")
        for structure, weight, models in structure_draws(model, k, ex.seed):
            models = tuple(models)
            if not models or weight <= 0:
                continue
            sets.append(DrawSet(str(structure), float(weight), models,
                                variability(models[0]).draw(n, seed)))
    return SearchContext(times=search_times(scenario.schedule(), values), schedule=scenario.schedule(), vary_dose=ex.dose_mg is not None, nominal=model,
                         nominal_scales=nominal_scales, draw_sets=tuple(sets), effect=float(design.effect),
                         correlation=float(design.correlation), alpha=float(design.alpha),
                         tablet_mg=float(design.tablet_mg), price_per_tablet=design.price_per_tablet,
                         drug=model.drug, constraints=dict(ex.constraints.active()), level=float(ex.level))


def schedule_at(schedule, dose_mg: float | None):
    """``schedule`` with every dose set to ``dose_mg`` (unchanged when None)."""
    if dose_mg is None:
        return schedule
    return replace(schedule, doses=tuple(replace(d, amount_mg=float(dose_mg)) for d in schedule.doses))


#: Times evaluated at once per model call (bounded memory: n subjects × this many values).
TIME_BLOCK = 256


def task_times(last_h: float, delay_h, isi_days, lags: int) -> np.ndarray:
    """``lag × isi × 24 + (last dose + delay)`` for every lag ``0..lags`` (rows) and design (columns).

    The one expression for these times: the search's time vector and each design's look-up use it, so they
    agree to the bit.
    """
    t_task = last_h + np.asarray(delay_h, dtype=float)
    isi_h = np.asarray(isi_days, dtype=float) * 24.0
    return np.stack([lag * isi_h + t_task for lag in range(lags + 1)])


def search_times(schedule, values: dict) -> np.ndarray:
    """Every time any design of the space needs (sorted, unique): the task and, within, the task of each later
    session (lags 1 … sessions − 1).  The same vector for every dose and every chunk, so a design's numbers do
    not depend on which designs share its chunk."""
    last = schedule.last_dose_h
    delay = np.asarray(values["delay_h"], dtype=float)
    parts = [task_times(last, delay, np.zeros_like(delay), 0).ravel()]
    if values.get("isi_days") and "within" in values["kind"]:
        d, i = np.meshgrid(delay, np.asarray(values["isi_days"], dtype=float), indexing="ij")
        parts.append(task_times(last, d.ravel(), i.ravel(), max(values["sessions"]) - 1).ravel())
    return np.unique(np.concatenate(parts))


def population_stats(model, schedule, times: np.ndarray, scales: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, P(MOR >= 90 %) and 95th percentile of MOR blockade over the population at ``times`` (each ``(T,)``).

    Evaluated in fixed blocks of :data:`TIME_BLOCK` times; each time's statistics are reduced over a contiguous
    row of subjects, so they do not depend on how many times are evaluated with it.  NaN (outside a model
    without a time course) counts as no blockade, as in the planner's population.
    """
    mean, p90, q95 = (np.empty(times.size) for _ in range(3))
    for a in range(0, times.size, TIME_BLOCK):
        sl = slice(a, min(times.size, a + TIME_BLOCK))
        v = np.asarray(model.blockade(schedule, times[sl], "MOR", **scales), dtype=float)
        v = np.ascontiguousarray(np.atleast_2d(v).T)  # (times, subjects)
        v[np.isnan(v)] = 0.0
        mean[sl] = v.mean(axis=1)
        p90[sl] = (v >= 90.0).mean(axis=1)
        q95[sl] = np.percentile(v, 95.0, axis=1)
    return mean, p90, q95


def _group_values(stats, times, last_h, grid: DesignGrid, rows: np.ndarray):
    """For the designs ``rows`` (one dose): P90 at the task, residual p95, contrast — each ``(len(rows),)``."""
    mean, p90, q95 = stats
    within = grid.kind[rows] == "within"
    sess = grid.sessions[rows]
    lag_max = int(sess.max()) - 1
    wanted = task_times(last_h, grid.delay_h[rows], np.where(within, grid.isi_days[rows], 0.0), lag_max)
    inverse = np.searchsorted(times, wanted)
    inverse = np.minimum(inverse, times.size - 1)
    needed = np.zeros(wanted.shape, dtype=bool)
    needed[0] = True
    for lag in range(1, lag_max + 1):
        needed[lag] = within & (sess > lag)
    if np.any(times[inverse][needed] != wanted[needed]):  # pragma: no cover - the time vector is built from the axes
        raise RuntimeError("a design needs a time the search did not evaluate")
    drug = mean[inverse[0]]
    prob90 = p90[inverse[0]]
    residual = np.where(within, q95[inverse[1]], np.nan) if lag_max >= 1 else np.full(rows.size, np.nan)
    # contrast, summed as blockade plan sums it: per order the drug session minus the mean of its placebo
    # sessions (those before the drug session carry nothing), then the mean over the orders
    contrast = drug.copy()  # between: the placebo group has no drug
    for s in np.unique(sess[within]):
        sel = within & (sess == s)
        per_order_sum = np.zeros(int(sel.sum()))
        for k in range(s):  # order k: the drug session is session k (0-based)
            placebo_sum = np.zeros(int(sel.sum()))
            for j in range(s):
                if j != k:
                    placebo_sum = placebo_sum + (mean[inverse[j - k][sel]] if j > k else 0.0)
            per_order_sum = per_order_sum + (drug[sel] - placebo_sum / (s - 1))
        contrast[sel] = per_order_sum / s
    return prob90, residual, contrast


def _power(effect, correlation, alpha, contrast, grid: DesignGrid) -> np.ndarray:
    """Exact two-sided t-test power for the attenuated effect, ``contrast`` shape ``(draws, designs)``.

    The formulas of :func:`meta.power.ttest_power` (noncentral t; two-sample with pooled variance, groups
    ``ceil(N/2)`` and ``floor(N/2)``; paired with ``dz = g / √(2(1 − r))``), vectorised.  An attenuated
    effect of 0 gives ``alpha``, as in ``blockade plan``.
    """
    from scipy import stats

    g_eff = effect * np.clip(contrast, 0.0, 100.0) / 100.0
    n = grid.participants.astype(float)
    within = grid.kind == "within"
    n1 = np.ceil(n / 2.0)
    n2 = n - n1
    ratio = n2 / n1
    df = np.where(within, n - 1.0, n1 + n1 * ratio - 2.0)
    d = np.abs(np.where(within, g_eff / math.sqrt(2.0 * (1.0 - correlation)), g_eff))
    nc = np.where(within, d * np.sqrt(n), d * np.sqrt(n1 * (n1 * ratio) / (n1 + n1 * ratio)))
    crit = stats.t.isf(alpha / 2.0, df)
    power = stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc)
    return np.where(g_eff != 0, power, alpha)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median over axis 0 (the lower median: the first value whose cumulative weight reaches 1/2)."""
    if values.shape[0] == 1:
        return values[0]
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    cw = np.cumsum(weights[order], axis=0)
    idx = np.argmax(cw >= 0.5 * cw[-1:] - 1e-12, axis=0)
    return v[idx, np.arange(values.shape[1])]


def objectives(ctx: SearchContext, grid: DesignGrid) -> dict[str, np.ndarray]:
    """Participant-days, tablets and cost of every design (deterministic: no model needed).

    ``participant_days`` = N × (days from the first to the last session, both counted) = N × ((sessions − 1)
    × ISI + 1) within, N between.  Tablets as in ``blockade plan``: per dose ``ceil(dose / tablet_mg)``,
    times the drug sessions (between: the drug group ``ceil(N/2)``; within: N).
    """
    n = grid.participants.astype(np.int64)
    within = grid.kind == "within"
    days = np.where(within, (grid.sessions - 1) * np.nan_to_num(grid.isi_days) + 1.0, 1.0)
    out = {"participant_days": n * days}
    drug_sessions = np.where(within, n, (n + 1) // 2)
    tablets = np.full(len(grid), np.nan)
    if ctx.drug == "naltrexone":
        doses, which = np.unique(grid.dose_mg, return_inverse=True)
        per_session = np.array([tablets_per_session(schedule_at(ctx.schedule, d if ctx.vary_dose else None)
                                                    .amounts_mg(), ctx.tablet_mg) for d in doses], dtype=float)
        tablets = per_session[which.ravel()] * drug_sessions
    out["tablets"] = tablets
    out["cost"] = tablets * ctx.price_per_tablet if ctx.price_per_tablet is not None else np.full(len(grid), np.nan)
    return out


#: Per context (one search), the population statistics of the last few doses: consecutive chunks of one
#: worker usually share a dose (the grid varies N, ISI and delay fastest), so they reuse them.
_STATS_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CACHED_DOSES = 4


def dose_stats(ctx: SearchContext, dose: float) -> list:
    """Mean, P(>= 90 %) and 95th percentile at ``ctx.times`` for the fitted model and every draw, for one dose
    (cached: the same numbers whichever chunk asks, computed once per process)."""
    cache = _STATS_CACHE.setdefault(ctx, {})
    if dose not in cache:
        schedule = schedule_at(ctx.schedule, dose if ctx.vary_dose else None)
        models = [(ctx.nominal, ctx.nominal_scales)] + [(m, d.scales) for d in ctx.draw_sets for m in d.models]
        while len(cache) >= _CACHED_DOSES:
            cache.pop(next(iter(cache)))
        cache[dose] = [population_stats(model, schedule, ctx.times, scales) for model, scales in models]
    return cache[dose]


def evaluate_chunk(ctx: SearchContext, grid: DesignGrid, design_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The result columns of the designs ``grid`` (ids ``design_ids``): inputs, criteria (fitted model and
    median over draws), the probability that each constraint holds, ``feasible``, objectives.

    Vectorised over subjects × designs for each (dose schedule, model draw); the draws are a loop of
    closed-form model calls (each draw is a different model).
    """
    n_designs = len(grid)
    last_h = ctx.schedule.last_dose_h
    models = [(ctx.nominal, ctx.nominal_scales)] + [(m, d.scales) for d in ctx.draw_sets for m in d.models]
    k = len(models)
    prob90 = np.empty((k, n_designs))
    residual = np.empty((k, n_designs))
    contrast = np.empty((k, n_designs))
    for dose in np.unique(grid.dose_mg):
        rows = np.nonzero(grid.dose_mg == dose)[0]
        for i, stats in enumerate(dose_stats(ctx, float(dose))):
            prob90[i, rows], residual[i, rows], contrast[i, rows] = _group_values(stats, ctx.times, last_h, grid, rows)
    power = _power(ctx.effect, ctx.correlation, ctx.alpha, contrast, grid)
    values = {"prob_mor_ge_90_at_task": prob90, "residual_p95_at_next_session_pct": residual,
              "contrast_pp": contrast, "power_attenuated": power}
    uncertain = slice(1, None) if k > 1 else slice(0, 1)
    weights = ctx.draw_weights()
    out = {"design_id": np.asarray(design_ids, dtype=np.int64), "kind": grid.kind.astype(str),
           "dose_mg": grid.dose_mg, "delay_h": grid.delay_h, "isi_days": grid.isi_days, "sessions": grid.sessions,
           "participants": grid.participants}
    for name in CRITERIA:
        out[name] = values[name][0]
        v = values[name][uncertain]
        out[f"{name}_median"] = _weighted_median(np.where(np.isnan(v), -np.inf, v), weights)
        out[f"{name}_median"] = np.where(np.isinf(out[f"{name}_median"]), np.nan, out[f"{name}_median"])
    feasible = np.ones(n_designs, dtype=bool)
    all_hold = np.ones((weights.size, n_designs), dtype=bool)
    for name in CONSTRAINTS:
        if name not in ctx.constraints:
            continue
        threshold = ctx.constraints[name]
        v = values[CONSTRAINT_CRITERION[name]][uncertain]
        if name == "residual_at_next_session":
            holds = np.isnan(v) | (v <= threshold)  # a between design has no next session
        else:
            holds = v >= threshold
        p = ctx.probability(holds)
        out[f"p_{name}"] = p
        feasible &= p >= ctx.level - 1e-12
        all_hold &= holds
    out["p_all_constraints"] = ctx.probability(all_hold)
    out["feasible"] = feasible
    out.update(objectives(ctx, grid))
    return out
