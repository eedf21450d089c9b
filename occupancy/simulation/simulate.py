"""Run a scenario: blockade at each assessment, a time course, optional population percentiles, summaries.

Only numpy is imported at module level; pandas is imported when ``SimulationResult.timecourse`` is first
used, matplotlib only by :mod:`occupancy.report.timecourse_figure`, so ``blockade simulate --json`` stays fast.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from meta.display import ResultDisplay
from typing import Sequence

import numpy as np

from occupancy.errors import InputError
from occupancy.models.base import RECEPTORS

#: Recommended minimum intersession intervals of the anchor apps, used as the default residual check:
#: naltrexone 15 days (plantrexone), naloxone 10 × 110 min (planoxone's upper recommendation).
RECOMMENDED_INTERVAL_H = {"naltrexone": 15 * 24.0, "naloxone": 10 * 110 / 60.0}

#: Most virtual subjects × doses of one population run: each subject keeps constants per dose segment and
#: receptor (measured: 9,200 subjects × 1000 doses with 100 windows reached the 2 GiB limit, ~200 bytes per
#: subject-dose), so this bounds them to about 0.5 GB (docs/explanation/safety.md, "Limits").
MAX_SUBJECT_DOSES = 2_000_000
#: Most virtual subjects × evaluated time points of one population run (window grids, assessments and the
#: time-course band): the issue 18 audit measured 10 windows × 2001 points × 100,000 subjects (2e9) in
#: 31–43 s, so half of that keeps a run near 20 s, inside the one-minute budget.
MAX_SUBJECT_POINTS = 1_000_000_000


def check_population_work(n: int, n_doses: int, n_points: int, *, field: str = "population.n",
                          subjects: str | None = None, point_advice: str | None = None) -> None:
    """One-line :class:`InputError` before any computation when a population run would exceed the limits.

    Parameters
    ----------
    n : int
        Virtual subjects evaluated (for work made of several runs, the sum over the runs).
    n_doses : int
        Most doses any one subject's schedule holds at once (memory: subjects × doses).
    n_points : int
        Time points evaluated per subject (time: subjects × points).
    field, subjects, point_advice : str, optional
        The field the message names, how it counts the subjects, and what to change when the time points are
        too many (defaults: ``simulate``'s wording; ``plan``, ``annotate`` and ``reanalyse`` name their own).

    Notes
    -----
    Every input inside the documented ranges (n <= 100,000, 1000 doses, 100 assessments or windows of up to
    2001 points) must finish inside the time and memory limits or be refused at once, not after ten minutes
    or at the memory limit.  The two products measure what the run costs: memory grows with subjects × doses
    (segment constants), time with subjects × time points.
    """
    who = subjects or f"{n} virtual subjects"
    if n_doses * n > MAX_SUBJECT_DOSES:
        raise InputError(f"{field}: {who} × {n_doses} doses is more than this run can hold "
                         f"({MAX_SUBJECT_DOSES:,} subject-doses, about 0.5 GB); "
                         f"use n <= {MAX_SUBJECT_DOSES // max(n_doses, 1)} or fewer doses")
    if n_points * n > MAX_SUBJECT_POINTS:
        if subjects is None and point_advice is None:
            raise InputError(f"{field}: {n} virtual subjects × {n_points} evaluated time points (window grids of "
                             f"up to 2001 points each, assessments and the time-course band) is more than one run "
                             f"computes in about a minute ({MAX_SUBJECT_POINTS:,}); use n <= "
                             f"{max(2, MAX_SUBJECT_POINTS // n_points)}, fewer or shorter windows")
        raise InputError(f"{field}: {who} × {n_points} evaluated time points is more than one run computes in "
                         f"about a minute ({MAX_SUBJECT_POINTS:,} subject-points); "
                         + (point_advice or f"use n <= {max(2, MAX_SUBJECT_POINTS // max(n_points, 1))}"))


@dataclass(frozen=True)
class Assessment:
    """A labelled time (h) at which blockade is reported; with ``end_h`` the mean over the window."""

    label: str
    time_h: float
    end_h: float | None = None

    def grid(self) -> np.ndarray:
        """Evaluation points: the time itself, or the window on a grid of at most 6 s (≤ 2001 points)."""
        if self.end_h is None:
            return np.array([self.time_h])
        n = int(min(2001, max(61, math.ceil((self.end_h - self.time_h) * 600) + 1)))
        return np.linspace(self.time_h, self.end_h, n)


def _window_mean(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Trapezoid mean over the last axis (the value itself for a single point)."""
    if grid.size == 1:
        return values[..., 0]
    return np.trapezoid(values, grid, axis=-1) / (grid[-1] - grid[0])


@dataclass(frozen=True)
class SimulationResult(ResultDisplay):
    """Everything ``blockade simulate`` reports.

    Attributes
    ----------
    model, schedule :
        What was simulated.
    assessments : tuple of dict
        ``{label, time_h, MOR, KOR, DOR}`` (percent) and, with a population, ``MOR_p05``, ``MOR_p50``,
        ``MOR_p95``, ``MOR_prob_ge_90`` (and the same for KOR/DOR).
    summaries : dict
        ``time_ge_90_MOR_h``, ``threshold``, ``time_until_below_h`` (after the last dose),
        ``residual_at_h`` and ``residual`` (per receptor).
    population : PopulationBlockade or None
        Percentiles at the assessments.
    timecourse_arrays : dict
        ``time_h`` and MOR/KOR/DOR arrays (plus population bands, the typical subject's plasma concentrations
        ``C_*`` and the parameter-uncertainty band ``MOR_ci_lo``/``MOR_ci_hi`` when computed); see
        :attr:`timecourse`.
    warnings : tuple of str
    uncertainty : dict or None
        ``n``, ``seed`` and the method of the parameter-uncertainty interval (``[uncertainty]``).
    """

    model: object
    schedule: object
    assessments: tuple
    summaries: dict
    population: object = None
    timecourse_arrays: dict = field(default_factory=dict, repr=False)
    warnings: tuple = ()
    uncertainty: dict | None = None

    @property
    def weight_kg(self):
        """The subject's body weight used (kg): the schedule's, else the model's default (pkpd: 70); None for a model
        without one and no ``[subject] weight_kg``.  The JSON's ``weight_kg`` and ``model.parameters.weight_kg`` agree."""
        w = getattr(self.schedule, "weight_kg", None)
        return getattr(self.model, "weight_kg", None) if w is None else w

    @functools.cached_property
    def timecourse(self):
        """Time course as a pandas DataFrame (``time_h``, ``MOR``, ``KOR``, ``DOR`` [, bands])."""
        import pandas as pd

        return pd.DataFrame(self.timecourse_arrays)

    def to_dict(self) -> dict:
        """JSON-ready dict (``NaN`` → ``None``)."""
        pop = None
        if self.population is not None:
            pop = {"n": self.population.n, "seed": self.population.seed,
                   "variability": self.population.variability.to_dict()}
        return _clean({
            "drug": self.model.drug,
            "model": {"name": self.model.name, "parameters": self.model.parameters()},
            "weight_kg": self.weight_kg,
            "doses": [{"time_h": d.time_h, "amount_mg": d.amount_mg, "amount_mg_per_kg": d.amount_mg_per_kg,
                       "duration_min": d.duration_min, **({"route": d.route} if d.route else {})}
                      for d in self.schedule.doses],
            "assessments": list(self.assessments),
            "summaries": self.summaries,
            "population": pop,
            "uncertainty": self.uncertainty,
            "warnings": list(self.warnings),
        })

    def structure_lines(self) -> list[str]:
        """Plain words on the admissible structures behind the interval (empty without ``[uncertainty]``)."""
        structures = (self.uncertainty or {}).get("structures") or []
        if len(structures) < 2:  # one structure: the parameter-uncertainty line says it all
            return []
        names = ", ".join(f"{s['name']} (weight {s['weight']:.2f})" for s in structures)
        lines = [f"model structures: {len(structures)} admissible: {names}"]
        if len(structures) > 1:
            for a in self.assessments:
                lo, hi = a.get("MOR_across_structures", (None, None))
                if lo is not None and hi - lo >= 1.0:
                    lines.append(f"  '{a['label']}' depends on the model structure: median MOR {format_value(lo)} "
                                 f"to {format_value(hi)} % across the {len(structures)} structures")
        return lines

    def to_frame(self):
        """One row per assessment (pandas DataFrame): label, time, MOR/KOR/DOR (typical subject, %), and the
        population percentiles, parameter-uncertainty interval and concentrations where computed."""
        import pandas as pd

        return pd.DataFrame([dict(a) for a in self.assessments])

    def key_numbers(self) -> list[tuple[str, str]]:
        """The schedule, MOR blockade of the typical subject at the first assessments, time at >= 90 %."""
        out = [("schedule", f"{self.model.drug} {self.schedule.describe()}")]
        for a in self.assessments[:3]:
            value = f"{format_value(a['MOR'])} % (typical subject)"
            if self.population is not None and a.get("MOR_p05") is not None:
                value += f", 5–95th percentile {format_value(a['MOR_p05'])}–{format_value(a['MOR_p95'])} %"
            out.append((f"MOR at {a['label']} ({_when(a['time_h'])})", value))
        if len(self.assessments) > 3:
            out.append(("more assessments", str(len(self.assessments) - 3)))
        s = self.summaries
        out.append(("time with MOR >= 90 %", f"{s['time_ge_90_MOR_h']:.4g} h"))
        out.append((f"MOR below {s['threshold']:g} % after the last dose", _fmt_h(s["time_until_below_h"])))
        return out

    def reading(self) -> str:
        """Which number is which: the typical subject, and the population's spread when simulated."""
        text = ("MOR % is the typical subject: one person with the model's median (fitted) parameters. ")
        if self.population is not None:
            text += (f"The percentiles come from {self.population.n} virtual subjects whose parameters vary between "
                     "people; their mean (what blockade plan reports) differs from the typical subject because "
                     "blockade is a non-linear, saturating function of the parameters.")
        return text

    def summary(self) -> str:
        """A short text report (the ``blockade simulate`` console output)."""
        name = getattr(self.model, "structure_name", None) or getattr(self.model, "hysteresis", None)
        variant = f", {name}" if name else ""
        lines = [f"{self.model.drug} ({self.model.name} model{variant}): {self.schedule.describe()}"]
        pop = self.population is not None
        unc = self.uncertainty is not None
        conc = [k for k in (self.assessments[0] if self.assessments else {}) if k.startswith("C_")]
        w = min(max([10] + [len(a["label"]) for a in self.assessments]), 60)
        whens = [_when(a["time_h"]) + ("" if a.get("end_h") is None else f"-{_when(a['end_h'])}")
                 for a in self.assessments]
        tw = max([10] + [len(x) for x in whens])
        head = f"{'assessment':<{w}} {'time':>{tw}} {'MOR %':>7} {'KOR %':>7} {'DOR %':>7}"
        if unc:
            head += f"  {'MOR 95% CI' if self.uncertainty.get('level') else 'MOR range':>11}"
        if pop:
            head += f"  {'MOR 5-95 %':>13} {'P(MOR>=90)':>10}"
        for k in conc:
            head += f" {CONCENTRATION_HEADERS.get(k, k):>9}"
        lines += ["", head, "-" * len(head)]
        for a, when in zip(self.assessments, whens):
            row = (f"{a['label'][:w]:<{w}} {when:>{tw}} {format_value(a['MOR']):>7} {format_value(a['KOR']):>7} "
                   f"{format_value(a['DOR']):>7}")
            if unc:
                row += f"  {format_value(a['MOR_ci_lo']):>5}-{format_value(a['MOR_ci_hi']):<5}"
            if pop:
                row += f"  {format_value(a['MOR_p05']):>6}-{format_value(a['MOR_p95']):<6} {format_value(a['MOR_prob_ge_90'], 2):>10}"
            for k in conc:
                row += f" {_conc(a[k]):>9}"
            lines.append(row)
        s = self.summaries
        lines += [
            "",
            f"time with MOR >= 90 %: {s['time_ge_90_MOR_h']:.4g} h",
            f"MOR below {s['threshold']:g} % after the last dose: {_fmt_h(s['time_until_below_h'])}",
            f"residual blockade at {s['residual_at_h']:.4g} h: MOR {format_value(s['residual']['MOR'])} %, "
            f"KOR {format_value(s['residual']['KOR'])} %, DOR {format_value(s['residual']['DOR'])} %",
        ]
        if conc:
            lines.append("concentrations: plasma, typical subject (ng/mL)")
        if unc:
            lines.append(f"parameter uncertainty: n = {self.uncertainty['n']} draws, seed = {self.uncertainty['seed']} "
                         + ("(95 % interval of the typical subject)" if self.uncertainty.get("level") else
                            f"(min-max of the typical subject over {self.uncertainty['n']} draws: fewer than "
                            f"{MIN_DRAWS_FOR_95} are too few for a 95 % interval)"))
            lines += self.structure_lines()
        if pop:
            lines.append(f"population: n = {self.population.n}, seed = {self.population.seed}")
        return "\n".join(lines)


#: Fewest parameter draws for a 2.5–97.5 % interval (one draw beyond each end); fewer give the min–max.
MIN_DRAWS_FOR_95 = 40

#: Column headers of the plasma concentrations in the text summary.
CONCENTRATION_HEADERS = {"C_naltrexone_ng_ml": "NTX ng/mL", "C_6b_naltrexol_ng_ml": "NOL ng/mL",
                         "C_naloxone_ng_ml": "NLX ng/mL"}


def _conc(v) -> str:
    """A concentration with 3 significant digits (``n/a`` for None/NaN)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.3g}" if abs(v) >= 0.001 or v == 0 else f"{v:.1e}"


def _when(hours: float) -> str:
    """Assessment time for the summary table: hours (``360h``), minutes below one hour (``10min``)."""
    if 0 < abs(hours) < 1:
        return f"{hours * 60:.4g}min"
    return f"{hours:.4g}h"


def format_value(v, digits: int = 1) -> str:
    """``v`` with ``digits`` decimals, or ``n/a`` for None and NaN (tables and readings)."""
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _fmt_h(h: float) -> str:
    if math.isinf(h):
        return "not within the simulated horizon"
    return f"{h:.4g} h ({h / 24:.3g} d)"


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) else (f if math.isfinite(f) else ("inf" if f > 0 else "-inf"))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def timecourse_grid(model, schedule, assessment_times: Sequence[float], extra_end_h: float | None = None,
                    points: int = 1000) -> np.ndarray:
    """Plot/CSV grid from the first dose to after the last assessment and the model's washout.

    Includes every dose, infusion end and assessment time exactly.
    """
    from occupancy.simulation.summaries import search_span_h

    start = schedule.first_dose_h
    end = schedule.last_dose_end_h + search_span_h(model, 5.0)  # at most a year: bounded even for a slow override
    if assessment_times:
        end = max(end, start + 1.05 * (max(assessment_times) - start))
    if extra_end_h is not None:
        end = max(end, extra_end_h)
    grid = np.linspace(start, end, points)
    extra = [d.time_h for d in schedule.doses] + [d.end_h for d in schedule.doses] + list(assessment_times)
    # the rise after each dose is short (minutes to ~1 h): 2-minute steps over the first 3 time-scale units
    rise = min(3.0, model.time_scale_h)
    dense = [d.time_h + np.arange(0.0, rise, 1.0 / 30.0) for d in schedule.doses]
    grid = np.concatenate([grid, np.asarray(extra, dtype=float), *dense])
    return np.unique(grid[(grid >= start) & (grid <= end)])


def simulate(scenario_or_model, schedule=None, assessments: Sequence | None = None, *, n: int | None = None,
             seed: int = 1, variability=None, threshold: float | None = None, residual_at_h: float | None = None,
             progress: bool = False, timecourse_points: int = 1000,
             population_timecourse: bool = True, uncertainty: tuple[int, int] | None = None) -> SimulationResult:
    """Simulate a scenario, or a model + schedule + assessments.

    Parameters
    ----------
    scenario_or_model : Scenario or BlockadeModel
        A validated :class:`~occupancy.simulation.scenario.Scenario` (its model, doses, assessments, population and
        summary settings are used; keyword arguments given here override them), or a model.
    schedule : Schedule, optional
        Needed with a model.
    assessments : sequence of Assessment, (label, time_h[, end_h]) tuples or numbers, optional
        A window (``end_h``) reports the mean blockade over the window; with a population, the
        percentiles are of each subject's window mean.
    n, seed, variability :
        A population of ``n`` virtual subjects (no population when ``n`` is None).
    threshold : float
        For "time until MOR below threshold after the last dose" (default 10 %).
    residual_at_h : float
        Time of the residual-blockade check (default: last dose + the anchor app's recommended interval).
    progress : bool
        tqdm progress bar on stderr for the population.
    timecourse_points : int
        Points of the uniform part of the time-course grid.
    population_timecourse : bool
        Also compute population percentile bands on the time-course grid (for CSV/plots).
    uncertainty : (n, seed), optional
        Parameter uncertainty of the typical subject (``pkpd`` models): ``n`` seeded draws of the fitted
        parameters (:meth:`~occupancy.models.pkpd_base.PKPDModel.parameter_draws`) give ``MOR_ci_lo`` and
        ``MOR_ci_hi`` (2.5th/97.5th percentiles) at each assessment and on the time-course grid.  Default: the
        scenario's ``[uncertainty]``.

    Returns
    -------
    SimulationResult
    """
    from occupancy.simulation.summaries import residual_blockade, time_above, time_until_below

    if hasattr(scenario_or_model, "build_model") and hasattr(scenario_or_model, "schedule"):
        sc = scenario_or_model
        model = sc.build_model()
        schedule = sc.schedule()
        if assessments is None:
            assessments = [Assessment(a.label, a.time_h, a.end_h) for a in sc.assessments]
        if n is None and sc.population is not None:
            n, seed = sc.population.n, sc.population.seed
            variability = sc.variability() if variability is None else variability
        threshold = sc.summary.threshold if threshold is None else threshold
        residual_at_h = sc.summary.residual_at_h if residual_at_h is None else residual_at_h
        if uncertainty is None and getattr(sc, "uncertainty", None) is not None:
            uncertainty = (sc.uncertainty.n, sc.uncertainty.seed)
    else:
        model = scenario_or_model
        if schedule is None:
            raise InputError("simulate: a schedule is needed with a model")
    if getattr(schedule, "weight_kg", None) is not None and hasattr(model, "weight_kg") and hasattr(model, "with_"):
        # the model's weight_kg is only the default for a schedule without one: carry the subject's weight, so the
        # result (JSON model.parameters, report) shows the weight actually used (the blockade is the same)
        model = model.with_(weight_kg=float(schedule.weight_kg))
    threshold = 10.0 if threshold is None else float(threshold)
    items = []
    for i, a in enumerate(assessments or []):
        if isinstance(a, Assessment):
            items.append(a)
        elif isinstance(a, (tuple, list)):
            items.append(Assessment(str(a[0]), float(a[1]), None if len(a) < 3 else float(a[2])))
        else:
            items.append(Assessment(f"{float(a):g} h", float(a)))
    for i, a in enumerate(items):
        if not math.isfinite(a.time_h):
            raise InputError(f"assessments[{i}].time_h: must be finite (got {a.time_h})")
        if a.time_h < schedule.first_dose_h:
            raise InputError(f"assessments[{i}].time_h: before the first dose at {schedule.first_dose_h:g} h "
                             f"(got {a.time_h:g})")
    if residual_at_h is None:
        residual_at_h = schedule.last_dose_h + RECOMMENDED_INTERVAL_H.get(model.drug, 5 * model.time_scale_h)
    residual_at_h = float(residual_at_h)
    marks = [a.time_h for a in items] + [a.end_h for a in items if a.end_h is not None]
    grid = timecourse_grid(model, schedule, marks, residual_at_h, timecourse_points)
    if n is not None:
        points = sum(a.grid().size for a in items) + (grid.size if population_timecourse else 0)
        check_population_work(int(n), len(schedule.doses), points)

    times = np.array([a.time_h for a in items], dtype=float)
    windowed = any(a.end_h is not None for a in items)
    if windowed:
        values = {r: np.empty(len(items)) for r in RECEPTORS}
        for i, a in enumerate(items):
            g = a.grid()
            for r, v in model.blockade_all(schedule, g).items():
                values[r][i] = float(_window_mean(v, g))
    else:
        values = model.blockade_all(schedule, times) if items else {r: np.array([]) for r in RECEPTORS}
    conc_values = _assessment_concentrations(model, schedule, items)
    draws = None
    if uncertainty is not None:
        if not hasattr(model, "parameter_draws"):
            raise InputError(f"uncertainty: the {model.name} model has no parameter-uncertainty estimate (use the "
                             "pkpd model)")
        n_unc, seed_unc = int(uncertainty[0]), uncertainty[1]
        if n_unc < 2:
            raise InputError(f"uncertainty.n: must be >= 2 (got {n_unc})")
        from occupancy.simulation.model_uncertainty import ensemble

        draws = ensemble(model, n_unc, seed_unc)  # posterior draws of every admissible structure, weighted
    population = None
    if n is not None:
        from occupancy.simulation.population import simulate_population, subject_window_summary

        if windowed:
            population = subject_window_summary(model, schedule, [a.grid() for a in items], n=n, seed=seed,
                                                variability=variability)
        else:
            population = simulate_population(model, schedule, times, n=n, seed=seed, variability=variability,
                                             progress=progress)
    records = []
    warnings = []
    for i, a in enumerate(items):
        rec = {"label": a.label, "time_h": a.time_h}
        if a.end_h is not None:
            rec["end_h"] = a.end_h
        for r in RECEPTORS:
            rec[r] = float(values[r][i])
        if population is not None:
            for r in RECEPTORS:
                rec[f"{r}_p05"] = float(population.p05[r][i])
                rec[f"{r}_p50"] = float(population.p50[r][i])
                rec[f"{r}_p95"] = float(population.p95[r][i])
                rec[f"{r}_prob_ge_90"] = float(population.prob_ge_90[r][i])
        for key, v in conc_values.items():
            rec[key] = float(v[i])
        if math.isnan(rec["MOR"]):
            warnings.append(f"assessment {a.label!r} at {a.time_h:g} h is outside the {model.name} model's range "
                            f"(more than {getattr(model, 'window_h', 8):g} h after any dose); use the washout model")
        records.append(rec)

    ta = time_above(model, schedule, 90.0)
    summaries = {
        "time_ge_90_MOR_h": ta.hours,
        "intervals_ge_90_MOR_h": [list(i) for i in ta.intervals],
        "threshold": threshold,
        "time_until_below_h": time_until_below(model, schedule, threshold),
        "time_until_below_after_h": schedule.last_dose_h,
        "residual_at_h": residual_at_h,
        "residual": residual_blockade(model, schedule, residual_at_h),
    }
    curves = model.blockade_all(schedule, grid)
    arrays = {"time_h": grid, **curves}
    if hasattr(model, "concentrations"):
        arrays.update(model.concentrations(schedule, grid))
    unc_info = None
    if draws is not None:
        lo_a, hi_a, lo_g, hi_g, across = _uncertainty_band(draws, schedule, items, grid, progress)
        for i, rec in enumerate(records):
            rec["MOR_ci_lo"], rec["MOR_ci_hi"] = float(lo_a[i]), float(hi_a[i])
            rec["MOR_across_structures"] = [float(across[0][i]), float(across[1][i])]
        arrays["MOR_ci_lo"], arrays["MOR_ci_hi"] = lo_g, hi_g
        n_pool = draws.n_pooled
        unc_info = {"n": n_pool, "seed": uncertainty[1], "level": 0.95 if n_pool >= MIN_DRAWS_FOR_95 else None,
                    "method": "typical subject with n parameter sets drawn from the calibration's parameter "
                              "uncertainty of every admissible structure, pooled by the structures' weights "
                              "(occupancy.simulation.model_uncertainty); "
                              + ("2.5th and 97.5th percentiles of MOR" if n_pool >= MIN_DRAWS_FOR_95 else
                                 f"minimum and maximum of MOR (fewer than {MIN_DRAWS_FOR_95} draws)")
                              + "; MOR_across_structures: smallest and largest of the structures' median MOR",
                    "hysteresis": getattr(model, "hysteresis", None),
                    "structures": draws.to_dict()["structures"]}
    if population is not None and population_timecourse:
        from occupancy.simulation.population import simulate_population

        band = simulate_population(model, schedule, grid, n=n, seed=seed, variability=population.variability)
        for r in RECEPTORS:
            arrays[f"{r}_p05"] = band.p05[r]
            arrays[f"{r}_p50"] = band.p50[r]
            arrays[f"{r}_p95"] = band.p95[r]
            arrays[f"{r}_prob_ge_90"] = band.prob_ge_90[r]
    return SimulationResult(model=model, schedule=schedule, assessments=tuple(records), summaries=summaries,
                            population=population, timecourse_arrays=arrays, warnings=tuple(warnings),
                            uncertainty=unc_info)


def _assessment_concentrations(model, schedule, items) -> dict:
    """The typical subject's plasma concentrations at each assessment (a window's mean); {} for models without."""
    if not hasattr(model, "concentrations") or not items:
        return {}
    grids = [a.grid() for a in items]
    allt = np.concatenate(grids)
    conc = model.concentrations(schedule, allt)
    out = {k: np.empty(len(items)) for k in conc}
    pos = 0
    for i, g in enumerate(grids):
        for k, v in conc.items():
            out[k][i] = float(_window_mean(v[pos:pos + g.size], g))
        pos += g.size
    return out


def _uncertainty_band(ens, schedule, items, grid, progress=False):
    """2.5th/97.5th percentiles of MOR over the pooled draws of an
    :class:`~occupancy.simulation.model_uncertainty.Ensemble`: at the assessments (window means) and on ``grid``;
    and the smallest and largest per-structure median at the assessments (the spread across structures)."""
    from occupancy.simulation.model_uncertainty import progress_bar

    models = [m for _s, m in ens.members]
    grids = [a.grid() for a in items]
    allt = np.concatenate(grids + [grid]) if grids else np.asarray(grid, dtype=float)
    at = np.empty((len(models), len(items)))
    on_grid = np.empty((len(models), len(grid)))
    # the draws are evaluated side by side, like a population's subjects, in batches (for the progress bar)
    from occupancy.models.pkpd_base import blockade_of_models

    batch = 25
    starts = range(0, len(models), batch)
    for d0 in progress_bar(starts, len(starts), f"model uncertainty ({batch} draws per step)", progress):
        block = models[d0:d0 + batch]
        vals = blockade_of_models(block, schedule, allt, ("MOR",))["MOR"]  # one by one if they cannot share a pass
        for j, v in enumerate(vals):
            d = d0 + j
            pos = 0
            for i, g in enumerate(grids):
                at[d, i] = float(_window_mean(v[pos:pos + g.size], g))
                pos += g.size
            on_grid[d] = v[pos:]
    pooled = np.asarray(ens.pooled, dtype=bool)
    q = [2.5, 97.5] if pooled.sum() >= MIN_DRAWS_FOR_95 else [0.0, 100.0]  # few draws: their min and max
    lo_a, hi_a = np.percentile(at[pooled], q, axis=0) if len(items) else (np.array([]), np.array([]))
    lo_g, hi_g = np.percentile(on_grid[pooled], q, axis=0)
    of = np.array([si for si, _m in ens.members])
    meds = np.array([np.median(at[of == si], axis=0) for si in range(len(ens.structures))]).reshape(
        len(ens.structures), len(items))
    return lo_a, hi_a, lo_g, hi_g, (meds.min(axis=0), meds.max(axis=0))
