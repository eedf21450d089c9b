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

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from occupancy.errors import InputError
from occupancy.scenario import Scenario

RECEPTORS = ("MOR", "KOR", "DOR")
REVIEW_EFFECT_G = -0.20
"""Pooled Hedges' g of naltrexone on social connectedness (Løseth, Trøstheim & Leknes 2024)."""
DEFAULT_POPULATION_N = 1000
DEFAULT_POPULATION_SEED = 1
DRUG, PLACEBO = "drug", "placebo"
_MAX_ORDERS = 24
_MAX_N = 10_000_000

SOURCES = {
    "review": "Løseth, Trøstheim & Leknes (2024) Transl Psychiatry 14:379 (pooled g = −0.20)",
    "plantrexone": "Trøstheim et al. plantrexone app (apps/plantrexone/app.R): tablets = ceil(mg total / 50); "
    "recommended delay 1–2 h, intersession interval 15 days",
    "lee": "Lee et al. (1988) J Nucl Med 29:1207 (blockade half-time 72–108 h)",
    "rabiner": "Rabiner et al. (2011) Mol Psychiatry 16:826 (dose–occupancy < 8 h)",
    "power": "Exact power of the t-test via the noncentral t distribution (Cohen 1988)",
}


#: Earliest time after an oral naltrexone dose with stable PET blockade data (the review; Rabiner's scans
#: were "< 8 h", Lee's first at 1 h).  Before it the washout model's rise is an extrapolation.
PET_VALIDATED_FROM_H = {"washout": 2.0}


def min_delay_caveat(model_name: str) -> str:
    """Plain-language limits of the computed minimum delay for ``model_name`` (printed next to the number).

    The delay is read off the model's rise after the dose, and no model's rise is fitted to early PET data:
    the naltrexone ``washout`` rise is fitted only to the plasma tmax (~1 h) and predicts >= 90 % MOR from
    ~0.3 h after 50 mg, but there are no PET data before ~1 h and stable PET data only from 2 h.
    """
    if model_name == "washout":
        return ("model estimate, not validated before 2 h: the washout model's rise is fitted only to the plasma "
                "tmax (~1 h); there are no PET data before ~1 h and stable PET data only from 2 h after the dose, "
                "so plan assessments at least 2 h after dosing (plantrexone recommends 1–2 h)")
    if model_name == "emax":
        return ("not informative: the emax model has no time course (the same blockade at any time within 8 h "
                "of a dose); plantrexone recommends waiting 1–2 h")
    if model_name == "bateman":
        return ("model estimate: planoxone's rise (tmax 25 min) is not fitted to early data; the naloxone PET "
                "scans behind its ED50 were taken 35–65 min after injection")
    return "model estimate"


# ----------------------------------------------------------------------------------------------------
# [design] section
# ----------------------------------------------------------------------------------------------------


class DesignSection(BaseModel):
    """The ``[design]`` section of a planning scenario (unknown keys are errors).

    Attributes (unit; default)
    --------------------------
    kind : "between" | "within"
        Between-subjects (drug group vs placebo group) or a counterbalanced crossover.  Required.
    sessions : int (sessions per participant; 2)
        Within only: drug plus placebo sessions per participant.
    drug_sessions : int (sessions; 1)
        Within only: how many of the sessions are drug sessions (the others are placebo).
    isi_days : float (days; required for within)
        Within only: time between the starts of consecutive sessions.
    participants : int (people; none)
        Planned total N.  If given, the power of this N is reported; otherwise the N for ``power``.
        Between: split as evenly as possible, drug group first (``ceil(N/2)`` drug, rest placebo).
    n_drug, n_placebo : int (people; none)
        Between only: planned group sizes (e.g. 75 and 84); an alternative to ``participants``.
    effect : float (Hedges' g; −0.20, the review's pooled estimate)
        Expected standardised effect under full, residual-free blockade; the sign is only the direction.
    correlation : float (Pearson r; 0.5)
        Within only: correlation between a participant's outcomes in the two conditions.
    alpha : float (two-sided significance level; 0.05)
    power : float (target power; 0.8)
    tablet_mg : float (mg per tablet; 50)
    price_per_tablet : float (currency per tablet; none → no cost)
    currency : str (label for the cost; "")
    residual_threshold_pct : float (% MOR; 5)
        Residual blockade allowed at the next session's first assessment.
    delay_threshold_pct : float (% MOR; 90)
        Blockade level that the minimum delay must reach ...
    delay_probability : float (probability; 0.95)
        ... in at least this share of the virtual population.
    primary_assessment : str (assessment label; first assessment)
        Assessment whose blockade contrast attenuates the effect.
    max_delay_h : float (h; 24)
        Search horizon for the minimum delay after the last dose.
    max_isi_days : float (days; 60)
        Search horizon for the minimum intersession interval.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # strict: `participants = true` is an error

    kind: Literal["between", "within"]
    sessions: int = Field(2, ge=2, le=6)
    drug_sessions: int = Field(1, ge=1)
    isi_days: float | None = Field(None, gt=0, allow_inf_nan=False)
    participants: int | None = Field(None, ge=4)
    n_drug: int | None = Field(None, ge=2)
    n_placebo: int | None = Field(None, ge=2)
    effect: float = Field(REVIEW_EFFECT_G, allow_inf_nan=False)
    correlation: float = Field(0.5, gt=-1, lt=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    tablet_mg: float = Field(50.0, gt=0, allow_inf_nan=False)
    price_per_tablet: float | None = Field(None, ge=0, allow_inf_nan=False)
    currency: str = ""
    residual_threshold_pct: float = Field(5.0, gt=0, lt=100)
    delay_threshold_pct: float = Field(90.0, gt=0, lt=100)
    delay_probability: float = Field(0.95, gt=0, lt=1)
    primary_assessment: str | None = None
    max_delay_h: float = Field(24.0, gt=0, le=24.0 * 14, allow_inf_nan=False)
    max_isi_days: float = Field(60.0, gt=0, le=365, allow_inf_nan=False)

    def problem(self) -> str | None:
        """The first cross-field problem as ``design.<field>: <what is wrong>``, or None."""
        given = self.model_fields_set
        if self.effect == 0:
            return "design.effect: must not be 0 (give the expected Hedges' g, e.g. -0.2)"
        if self.kind == "within":
            if self.isi_days is None:
                return "design.isi_days: required for a within-subjects (crossover) design"
            for key in ("n_drug", "n_placebo"):
                if key in given:
                    return f"design.{key}: only for kind = \"between\" (use participants)"
            if self.drug_sessions >= self.sessions:
                return f"design.drug_sessions: must be less than sessions ({self.sessions})"
        else:
            for key in ("sessions", "drug_sessions", "isi_days", "correlation"):
                if key in given:
                    return f"design.{key}: only for kind = \"within\""
            if ("n_drug" in given) != ("n_placebo" in given):
                return "design.n_placebo: give both n_drug and n_placebo" if "n_drug" in given else \
                    "design.n_drug: give both n_drug and n_placebo"
            if "participants" in given and "n_drug" in given:
                return "design.participants: give either participants or n_drug/n_placebo, not both"
        return None


class PlanScenario(Scenario):
    """A ``blockade simulate`` scenario plus a required ``[design]`` section (``task = "plan"`` optional)."""

    task: Literal["simulate", "plan"] = "plan"
    design: DesignSection

    @model_validator(mode="after")
    def _check_design(self) -> "PlanScenario":
        problem = self.design.problem()
        if problem:
            raise ValueError(problem)
        labels = [a.label for a in self.assessments]
        if not labels:
            raise ValueError("assessments: the planner needs at least one [[assessments]] entry")
        for i, a in enumerate(self.assessments):
            if a.end_h is not None:
                raise ValueError(f"assessments[{i}].end_h: the planner uses point assessments; give the time "
                                 "of interest (e.g. the window's start) as time_h")
        if "summary" in self.model_fields_set:
            raise ValueError("summary: not used by blockade plan (the residual threshold is "
                             "design.residual_threshold_pct)")
        if len(set(labels)) != len(labels):
            raise ValueError("assessments: labels must be unique in a plan")
        if self.design.primary_assessment is not None and self.design.primary_assessment not in labels:
            raise ValueError(f"design.primary_assessment: no assessment is labelled "
                             f"{self.design.primary_assessment!r} (labels: {', '.join(labels)})")
        return self


def load_plan_scenario(path) -> PlanScenario:
    """Read and validate a planning scenario (TOML); every problem is a one-line :class:`InputError`."""
    from occupancy.scenario import read_scenario_toml, scenario_from_dict

    data, _ = read_scenario_toml(path)
    name = Path(path).name
    if "design" not in data:
        raise InputError(f"{name}: design: required section missing (a planning scenario is a simulate scenario "
                         "plus a [design] section with at least kind = \"between\" or \"within\"; see "
                         "scenarios/plan_*.toml)")
    return scenario_from_dict(data, name, PlanScenario)


# ----------------------------------------------------------------------------------------------------
# Arithmetic that needs no pharmacology: orders, tablets, power
# ----------------------------------------------------------------------------------------------------


def condition_orders(kind: str, sessions: int = 2, drug_sessions: int = 1) -> list[tuple[str, ...]]:
    """The counterbalanced orders of a design.

    ``between`` → ``[("drug",), ("placebo",)]`` (the two groups); ``within`` → every distinct order of
    ``drug_sessions`` drug and ``sessions − drug_sessions`` placebo sessions, drug-first orders first,
    e.g. ``[("drug", "placebo"), ("placebo", "drug")]``.
    """
    if kind == "between":
        return [(DRUG,), (PLACEBO,)]
    base = (DRUG,) * drug_sessions + (PLACEBO,) * (sessions - drug_sessions)
    orders = sorted(set(itertools.permutations(base)), key=lambda o: [c != DRUG for c in o])
    if len(orders) > _MAX_ORDERS:
        raise InputError(f"design.sessions: {len(orders)} orders are too many to counterbalance (max {_MAX_ORDERS})")
    return orders


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` participants over ``parts`` orders/groups as evenly as possible, earlier ones first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def tablets_per_session(doses_mg: Sequence[float], tablet_mg: float) -> int:
    """Tablets one participant needs for one drug session: ``Σ ceil(dose / tablet_mg)`` over the doses.

    A relative tolerance of 1e-9 keeps 50/50 at one tablet despite floating point.
    """
    return int(sum(math.ceil(d / tablet_mg - 1e-9) for d in doses_mg))


def tablets_pooled(total_mg: float, tablet_mg: float) -> int:
    """plantrexone's count: all naltrexone of the study pooled, ``ceil(total_mg / tablet_mg)``."""
    return int(math.ceil(total_mg / tablet_mg - 1e-9))


def paired_dz(effect: float, correlation: float) -> float:
    """Standardised mean difference of the paired differences, ``dz = g / √(2(1 − r))``."""
    return effect / math.sqrt(2.0 * (1.0 - correlation))


def _two_sided(d: float, n: int, alpha: float, **kw) -> float:
    """Two-sided exact power (:func:`meta.power.ttest_power`, noncentral t)."""
    from meta.power import ttest_power

    return ttest_power(d, n, alpha=alpha, alternative="two-sided", **kw)


def power_between(effect: float, n_drug: int, n_placebo: int, alpha: float) -> float:
    """Exact power of the two-sided two-sample t-test (pooled variance) for standardised effect ``effect``.

    Uses :func:`meta.power.ttest_power` (noncentral t); the sign of ``effect`` is only its direction.
    """
    return _two_sided(abs(effect), n_drug, alpha, design="between", ratio=n_placebo / n_drug)


def power_within(dz: float, n: int, alpha: float) -> float:
    """Exact power of the two-sided paired t-test with ``n`` participants for effect ``dz``."""
    return _two_sided(abs(dz), n, alpha, design="paired")


def _sample_size(effect: float, alpha: float, power: float, design: str) -> int | None:
    from meta.errors import MetaInputError
    from meta.power import ttest_sample_size

    if effect == 0:
        return None
    try:
        return int(ttest_sample_size(abs(effect), power, design=design, alpha=alpha, max_n=_MAX_N))
    except MetaInputError:  # not reachable below _MAX_N: report "no finite N"
        return None


def n_between(effect: float, alpha: float, power: float) -> int | None:
    """Smallest equal group size with power ≥ ``power`` (None when the effect is 0 or N > 10 million)."""
    return _sample_size(effect, alpha, power, "between")


def n_within(dz: float, alpha: float, power: float) -> int | None:
    """Smallest number of participants (pairs) with power ≥ ``power`` (None when dz is 0 or N > 10 million)."""
    return _sample_size(dz, alpha, power, "paired")


# ----------------------------------------------------------------------------------------------------
# Result objects
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssessmentBlockade:
    """Blockade at one assessment of one session (percent; population summaries over virtual subjects).

    ``time_h`` is relative to the start of the session, ``protocol_time_h`` to the start of session 1.
    ``MOR``/``KOR``/``DOR`` are population means.
    """

    label: str
    time_h: float
    protocol_time_h: float
    MOR: float
    KOR: float
    DOR: float
    MOR_p05: float
    MOR_p50: float
    MOR_p95: float
    MOR_prob_ge_90: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with the keys of ``blockade simulate --json`` plus ``protocol_time_h``."""
        return {k: _jsonable(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class SessionBlockade:
    """One session of one order (within) or one group (between).

    ``residual_*`` is the MOR blockade carried in from earlier drug sessions at the session's start,
    before any dose of this session (mean, median and 95th percentile; 0 for a first session).
    """

    order: str
    order_index: int
    participants: int
    session: int
    condition: str
    start_h: float
    residual_MOR: float
    residual_MOR_p50: float
    residual_MOR_p95: float
    assessments: tuple[AssessmentBlockade, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; ``assessments`` as in ``blockade simulate --json``."""
        out = {k: _jsonable(getattr(self, k)) for k in self.__dataclass_fields__ if k != "assessments"}
        out["assessments"] = [a.to_dict() for a in self.assessments]
        return out


@dataclass(frozen=True)
class ContrastAtAssessment:
    """Drug − placebo mean MOR blockade (percentage points) at one assessment label."""

    label: str
    time_h: float
    contrast_pp: float
    drug_MOR: float
    placebo_MOR: float
    per_order: tuple[tuple[str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        out = {k: _jsonable(getattr(self, k)) for k in ("label", "time_h", "contrast_pp", "drug_MOR", "placebo_MOR")}
        out["per_order"] = {name: _jsonable(v) for name, v in self.per_order}
        return out


@dataclass(frozen=True, eq=False)
class TimelineTrace:
    """MOR blockade over the whole protocol for one order/group (percentiles over the population)."""

    order: str
    times_h: np.ndarray
    p05: np.ndarray
    p50: np.ndarray
    p95: np.ndarray
    mean: np.ndarray


@dataclass(frozen=True, eq=False)
class PowerCurve:
    """Power against total N, without and with the blockade attenuation."""

    n_total: np.ndarray
    power: np.ndarray
    power_attenuated: np.ndarray


@dataclass(frozen=True)
class PlanResult:
    """Everything ``blockade plan`` reports (see the module docstring for the definitions).

    Numbers are percent for blockade, hours for ``*_h``, days for ``*_days``.  ``None`` means "not
    reached within the search horizon" (delay, ISI), "not applicable" (e.g. tablets for IV naloxone),
    or "no finite N" (attenuated effect 0).
    """

    scenario_name: str
    source: str
    drug: str
    model_name: str
    model_parameters: dict
    kind: str
    design: dict
    population_n: int
    population_seed: int
    doses: tuple[tuple[float, float], ...]
    isi_days: float | None
    orders: tuple[str, ...]
    sessions: tuple[SessionBlockade, ...]
    conditions: tuple[tuple[str, tuple[AssessmentBlockade, ...]], ...]
    contrasts: tuple[ContrastAtAssessment, ...]
    primary_assessment: str
    contrast_pp: float
    effect: float
    effect_attenuated: float
    dz: float | None
    dz_attenuated: float | None
    min_delay_h: float | None
    min_delay_note: str
    prob_at_min_delay: float | None
    reliable_until_h: float | None
    min_isi_days: float | None
    min_isi_days_median: float | None
    residual_at_isi_p95: float | None
    residual_at_isi_p50: float | None
    n_planned: int
    n_planned_source: str
    group_sizes: tuple[int, ...]
    power: float
    power_attenuated: float
    n_required: int | None
    n_required_per_group: int | None
    n_required_attenuated: int | None
    n_required_attenuated_per_group: int | None
    n_required_balanced: int | None
    n_required_attenuated_balanced: int | None
    total_mg: float | None
    drug_sessions_total: int
    tablets_per_session: int | None
    tablets: int | None
    tablets_pooled: int | None
    cost: float | None
    timeline: tuple[TimelineTrace, ...] = field(repr=False)
    power_curve: PowerCurve = field(repr=False)
    assumptions: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()

    # -- derived views ---------------------------------------------------------------------------------

    def residual_by_order(self) -> list[dict[str, Any]]:
        """Residual MOR blockade entering each later session, per order, and the average over orders."""
        rows = []
        for s in self.sessions:
            if s.session > 1:
                rows.append({"order": s.order, "session": s.session, "condition": s.condition,
                             "residual_MOR": s.residual_MOR, "residual_MOR_p50": s.residual_MOR_p50,
                             "residual_MOR_p95": s.residual_MOR_p95,
                             "first_assessment_MOR": s.assessments[0].MOR if s.assessments else None})
        return rows

    def residual_placebo(self) -> dict[str, float] | None:
        """Mean MOR blockade at the primary assessment of placebo sessions (over orders) — the residual."""
        for name, assessments in self.conditions:
            if name == PLACEBO:
                for a in assessments:
                    if a.label == self.primary_assessment:
                        return {"MOR": a.MOR, "MOR_p50": a.MOR_p50, "MOR_p95": a.MOR_p95}
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what ``blockade plan --json`` prints and ``plan.json`` holds)."""
        out: dict[str, Any] = {
            "scenario": self.scenario_name,
            "source": self.source,
            "drug": self.drug,
            "model": self.model_name,
            "model_parameters": {k: _jsonable(v) for k, v in self.model_parameters.items()},
            "kind": self.kind,
            "design": {k: _jsonable(v) for k, v in self.design.items()},
            "population": {"n": self.population_n, "seed": self.population_seed},
            "doses": [{"time_h": t, "amount_mg": a} for t, a in self.doses],
            "isi_days": self.isi_days,
            "orders": list(self.orders),
            "sessions": [s.to_dict() for s in self.sessions],
            "conditions": {name: [a.to_dict() for a in rows] for name, rows in self.conditions},
            "residual_per_order": [{k: _jsonable(v) for k, v in r.items()} for r in self.residual_by_order()],
            "residual_placebo": self.residual_placebo(),
            "contrasts": [c.to_dict() for c in self.contrasts],
            "primary_assessment": self.primary_assessment,
            "contrast_pp": _jsonable(self.contrast_pp),
            "effect": self.effect,
            "effect_attenuated": _jsonable(self.effect_attenuated),
            "dz": _jsonable(self.dz),
            "dz_attenuated": _jsonable(self.dz_attenuated),
            "min_delay_h": _jsonable(self.min_delay_h),
            "min_delay_note": self.min_delay_note,
            "prob_at_min_delay": _jsonable(self.prob_at_min_delay),
            "reliable_until_h": _jsonable(self.reliable_until_h),
            "min_isi_days": _jsonable(self.min_isi_days),
            "min_isi_days_median": _jsonable(self.min_isi_days_median),
            "residual_at_isi_p95": _jsonable(self.residual_at_isi_p95),
            "residual_at_isi_p50": _jsonable(self.residual_at_isi_p50),
            "n_planned": self.n_planned,
            "n_planned_source": self.n_planned_source,
            "group_sizes": list(self.group_sizes),
            "power": _jsonable(self.power),
            "power_attenuated": _jsonable(self.power_attenuated),
            "n_required": self.n_required,
            "n_required_per_group": self.n_required_per_group,
            "n_required_attenuated": self.n_required_attenuated,
            "n_required_attenuated_per_group": self.n_required_attenuated_per_group,
            "n_required_balanced": self.n_required_balanced,
            "n_required_attenuated_balanced": self.n_required_attenuated_balanced,
            "total_mg": _jsonable(self.total_mg),
            "drug_sessions_total": self.drug_sessions_total,
            "tablets_per_session": self.tablets_per_session,
            "tablets": self.tablets,
            "tablets_pooled": self.tablets_pooled,
            "cost": _jsonable(self.cost),
            "assumptions": [{"text": t, "source": s} for t, s in self.assumptions],
            "warnings": list(self.warnings),
        }
        return out

    def to_frame(self):
        """One row per order × session × assessment (pandas DataFrame)."""
        import pandas as pd

        rows = []
        for s in self.sessions:
            for a in s.assessments:
                row = {"order": s.order, "participants": s.participants, "session": s.session,
                       "condition": s.condition, "session_start_h": s.start_h,
                       "residual_MOR_at_start": s.residual_MOR}
                row.update(a.to_dict())
                rows.append(row)
        return pd.DataFrame(rows)

    def frames(self) -> dict[str, Any]:
        """All tables by file stem: assessments, contrasts, residuals, power curve, timeline, summary."""
        import pandas as pd

        contrasts = pd.DataFrame([{k: v for k, v in c.to_dict().items() if k != "per_order"}
                                  | {f"contrast_{o}": v for o, v in c.per_order} for c in self.contrasts])
        residuals = pd.DataFrame(self.residual_by_order(),
                                 columns=["order", "session", "condition", "residual_MOR", "residual_MOR_p50",
                                          "residual_MOR_p95", "first_assessment_MOR"])
        curve = pd.DataFrame({"n_total": self.power_curve.n_total, "power": self.power_curve.power,
                              "power_attenuated": self.power_curve.power_attenuated})
        timeline = pd.concat([pd.DataFrame({"order": tr.order, "time_h": tr.times_h, "MOR_mean": tr.mean,
                                            "MOR_p05": tr.p05, "MOR_p50": tr.p50, "MOR_p95": tr.p95})
                              for tr in self.timeline], ignore_index=True)
        summary = pd.DataFrame([{"quantity": k, "value": v} for k, v in self.key_values().items()])
        return {"plan_assessments": self.to_frame(), "plan_contrasts": contrasts, "plan_residuals": residuals,
                "plan_power_curve": curve, "plan_timeline": timeline, "plan_summary": summary}

    def key_values(self) -> dict[str, Any]:
        """The headline numbers as a flat dict (the summary CSV)."""
        return {
            "min_delay_h": self.min_delay_h, "min_delay_note": self.min_delay_note,
            "min_isi_days": self.min_isi_days,
            "min_isi_days_median": self.min_isi_days_median, "isi_days": self.isi_days,
            "contrast_pp": self.contrast_pp, "effect": self.effect, "effect_attenuated": self.effect_attenuated,
            "n_planned": self.n_planned, "power": self.power, "power_attenuated": self.power_attenuated,
            "n_required": self.n_required, "n_required_attenuated": self.n_required_attenuated,
            "total_mg": self.total_mg, "tablets": self.tablets, "tablets_pooled": self.tablets_pooled,
            "cost": self.cost,
        }

    def summary(self) -> str:
        """A plain-text summary for the terminal."""
        return _summary_text(self)


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _fmt(value, spec: str = ".1f", none: str = "not reached") -> str:
    return none if value is None else format(value, spec)


def _summary_text(r: PlanResult) -> str:
    lines = [f"Plan: {r.scenario_name} ({r.drug}, {r.model_name} model, {r.kind}-subjects; "
             f"population n = {r.population_n}, seed {r.population_seed})"]
    if r.kind == "within":
        lines.append(f"Crossover: {len(r.sessions) // max(len(r.orders), 1)} sessions every {r.isi_days:g} days, "
                     f"orders: {', '.join(r.orders)}")
    lines.append("")
    lines.append("Blockade at each assessment (MOR mean; 5–95th percentile; P(MOR >= 90 %)):")
    width = max([14] + [len(a.label) for s in r.sessions for a in s.assessments])
    for s in r.sessions:
        head = f"  {s.order} · session {s.session} ({s.condition})"
        if s.session > 1:
            head += f", residual MOR entering: {s.residual_MOR:.1f} % (95th pct {s.residual_MOR_p95:.1f} %)"
        lines.append(head)
        for a in s.assessments:
            lines.append(f"    {a.label:<{width}} {a.time_h:>7.2f} h   MOR {a.MOR:5.1f} % [{a.MOR_p05:5.1f}–{a.MOR_p95:5.1f}]"
                         f"  KOR {a.KOR:5.1f} %  DOR {a.DOR:5.1f} %  P(≥90) {a.MOR_prob_ge_90:.2f}")
    lines.append("")
    lines.append(f"Blockade contrast at '{r.primary_assessment}': {r.contrast_pp:.1f} percentage points "
                 f"→ effect g {r.effect:+.3f} attenuated to {r.effect_attenuated:+.3f} (g × contrast / 100)")
    thr = r.design.get("delay_threshold_pct", 90.0)
    prob = r.design.get("delay_probability", 0.95)
    delay = (f"not reached within {r.design.get('max_delay_h', 24.0):g} h" if r.min_delay_h is None
             else f"{r.min_delay_h:.2f} h")
    lines.append(f"Minimum delay after the last dose for P(MOR >= {thr:g} %) >= {prob:g}: {delay}")
    lines.append(f"  caveat: {r.min_delay_note}")
    horizon = f"beyond {r.design.get('max_isi_days', 60.0):g}"
    lines.append(f"Minimum intersession interval (residual MOR <= {r.design.get('residual_threshold_pct', 5.0):g} % "
                 f"for the 95th-percentile person): {_fmt(r.min_isi_days, '.1f', horizon)} days "
                 f"(median person: {_fmt(r.min_isi_days_median, '.1f', horizon)} days)")
    lines.append("")
    lines.append(f"Planned N = {r.n_planned} ({r.n_planned_source}; groups/orders {list(r.group_sizes)}): "
                 f"power {r.power:.3f} without, {r.power_attenuated:.3f} with the blockade attenuation")
    per_group = " per group" if r.kind == "between" else ""
    lines.append(f"N for {r.design.get('power', 0.8):g} power: {_fmt(r.n_required, 'd', 'none')} total"
                 + (f" ({r.n_required_per_group}{per_group})" if r.n_required_per_group else "")
                 + f"; with attenuation: {_fmt(r.n_required_attenuated, 'd', 'no finite N')} total"
                 + (f" ({r.n_required_attenuated_per_group}{per_group})" if r.n_required_attenuated_per_group else ""))
    if r.tablets is not None:
        cost = "" if r.cost is None else f", cost {r.cost:.2f} {r.design.get('currency', '')}".rstrip()
        lines.append(f"Naltrexone: {r.total_mg:g} mg over {r.drug_sessions_total} drug sessions; "
                     f"{r.tablets} tablets of {r.design.get('tablet_mg', 50):g} mg "
                     f"(plantrexone's pooled count: {r.tablets_pooled}){cost}")
    elif r.total_mg is not None:
        lines.append(f"Total drug: {r.total_mg:g} mg over {r.drug_sessions_total} drug sessions")
    if r.warnings:
        lines.append("")
        lines.extend(f"Warning: {w}" for w in r.warnings)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# The virtual population (the engine's draws, kept per subject so that orders can be pooled)
# ----------------------------------------------------------------------------------------------------


class _Population:
    """The engine's virtual subjects: :meth:`Variability.draw` multipliers applied to ``model.blockade``.

    The same draws (same seed) are used for every order and every search, exactly as
    :func:`occupancy.population.simulate_population` draws them, so the numbers agree with ``simulate``.
    """

    def __init__(self, model, n: int, seed, variability=None) -> None:
        from occupancy.population import default_variability

        self.model = model
        self.n = int(n)
        self.seed = seed
        self.variability = default_variability(model.drug) if variability is None else variability
        self.scales = self.variability.draw(self.n, seed)

    def values(self, schedule, times_h, receptor: str = "MOR") -> np.ndarray:
        """Per-subject blockade, shape ``(n, T)``; zeros when ``schedule`` is None (no drug)."""
        times = np.atleast_1d(np.asarray(times_h, dtype=float))
        if schedule is None:
            return np.zeros((self.n, times.size))
        out = np.asarray(self.model.blockade(schedule, times, receptor, **self.scales), dtype=float)
        return np.broadcast_to(out, (self.n, times.size))

    def prob_ge(self, schedule, times_h, threshold: float) -> np.ndarray:
        """Fraction of subjects with MOR blockade ≥ ``threshold`` at each time."""
        return (self.values(schedule, times_h) >= threshold).mean(axis=0)

    def percentile(self, schedule, times_h, q: float) -> np.ndarray:
        """``q``-th percentile (numpy's linear rule, as in ``simulate``) of MOR blockade at each time."""
        return np.percentile(self.values(schedule, times_h), q, axis=0)


def _summaries(values: np.ndarray) -> dict[str, np.ndarray]:
    q = np.percentile(values, [5.0, 50.0, 95.0], axis=0)
    return {"p05": q[0], "p50": q[1], "p95": q[2], "mean": values.mean(axis=0),
            "prob_ge_90": (values >= 90.0).mean(axis=0)}


# ----------------------------------------------------------------------------------------------------
# Searches: minimum delay and minimum intersession interval
# ----------------------------------------------------------------------------------------------------


def find_min_delay(pop: _Population, schedule, *, threshold_pct: float = 90.0, probability: float = 0.95,
                   horizon_h: float = 24.0, step_h: float = 1.0 / 60.0, tol_h: float = 1e-3
                   ) -> tuple[float | None, float | None, float | None]:
    """Earliest delay after the last dose with P(MOR ≥ ``threshold_pct``) ≥ ``probability``.

    A 1-minute grid finds the first crossing; bisection on the population probability narrows it to
    ``tol_h``.  The returned delay ``d`` satisfies P(d) ≥ probability and P(d − tol_h) < probability
    (``d = 0`` when the condition already holds at the last dose).

    Returns
    -------
    (delay_h, probability_at_delay, reliable_until_h)
        ``reliable_until_h`` is the last grid delay (within ``horizon_h``) before the probability drops
        below ``probability`` again (``None`` if it never drops within the horizon); all ``None`` when the
        target is never reached within ``horizon_h``.
    """
    t0 = schedule.last_dose_h
    grid = np.arange(0.0, horizon_h + step_h / 2, step_h)
    p = pop.prob_ge(schedule, t0 + grid, threshold_pct)
    ok = p >= probability
    if not ok.any():
        return None, None, None
    i = int(np.argmax(ok))
    if i == 0:
        delay = 0.0
    else:
        lo, hi = grid[i - 1], grid[i]
        while hi - lo > tol_h:
            mid = 0.5 * (lo + hi)
            if pop.prob_ge(schedule, [t0 + mid], threshold_pct)[0] >= probability:
                hi = mid
            else:
                lo = mid
        delay = float(hi)
    prob = float(pop.prob_ge(schedule, [t0 + delay], threshold_pct)[0])
    after = ~ok[i:]
    until = float(grid[i + int(np.argmax(after)) - 1]) if after.any() else None
    return delay, prob, until


def residual_at(pop: _Population, schedule, isi_days, offset_h: float, q: float) -> np.ndarray:
    """``q``-th percentile MOR blockade left by one drug session at ``isi_days × 24 + offset_h`` hours."""
    t = np.atleast_1d(np.asarray(isi_days, dtype=float)) * 24.0 + offset_h
    return pop.percentile(schedule, t, q)


def find_min_isi(pop: _Population, schedule, *, offset_h: float, threshold_pct: float = 5.0, q: float = 95.0,
                 min_days: float = 0.0, horizon_days: float = 60.0, step_days: float = 0.05,
                 tol_days: float = 1e-4) -> float | None:
    """Smallest ISI (days) from which on the residual (``q``-th percentile) stays ≤ ``threshold_pct``.

    The residual is the MOR blockade that one drug session (``schedule``, relative to its start) leaves at
    ``offset_h`` after the start of the next session (the next session's first assessment).  Grid of
    ``step_days`` from ``min_days`` (the session must be over) to ``horizon_days``, then bisection to
    ``tol_days``.  ``None`` when the residual is still above the threshold at the horizon.
    """
    grid = np.arange(min_days, horizon_days + step_days / 2, step_days)
    r = residual_at(pop, schedule, grid, offset_h, q)
    above = r > threshold_pct
    if above[-1]:
        return None
    if not above.any():
        return float(grid[0])
    i = int(np.nonzero(above)[0][-1]) + 1  # first grid point after the last one above the threshold
    lo, hi = grid[i - 1], grid[i]
    while hi - lo > tol_days:
        mid = 0.5 * (lo + hi)
        if residual_at(pop, schedule, [mid], offset_h, q)[0] > threshold_pct:
            lo = mid
        else:
            hi = mid
    return float(hi)


# ----------------------------------------------------------------------------------------------------
# The workflow
# ----------------------------------------------------------------------------------------------------


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
                scenario_name: str = "plan", source: str = "") -> PlanResult:
    """Run the planning workflow on already-built parts (see :func:`plan_study` for a scenario).

    Parameters
    ----------
    model : BlockadeModel
        From :func:`occupancy.models.get_model`.
    schedule : occupancy.schedule.Schedule
        The doses of one drug session, relative to the session start (h).
    assessments : sequence of (label, time_h)
        Assessments of every session, relative to the session start (h).
    design : DesignSection
    n, seed, variability
        The virtual population (``variability`` defaults to the engine's data-derived spreads).
    scenario_name, source
        Shown in outputs.
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

    pop = _Population(model, n, seed, variability)
    orders = condition_orders(kind, design.sessions, design.drug_sessions)
    order_names = [_order_name(o, kind) for o in orders]

    g = float(design.effect)
    alpha, target = float(design.alpha), float(design.power)

    # -- blockade per order and session ---------------------------------------------------------------
    sessions_raw = []  # (order_index, session, condition, start_h, {receptor: (n, A)}, residual (n,))
    timeline = []
    for oi, order in enumerate(orders):
        starts = [s * isi_h if isi_h is not None else 0.0 for s in range(len(order))]
        drug_starts = [st for st, c in zip(starts, order) if c == DRUG]
        sched = _protocol_schedule(schedule, drug_starts)
        for si, (start, cond) in enumerate(zip(starts, order)):
            times = np.array([start + t for _, t in assessments])
            values = {r: np.array(pop.values(sched, times, r)) for r in RECEPTORS}
            earlier = _protocol_schedule(schedule, [s for s in drug_starts if s < start])
            residual = pop.values(earlier, [start], "MOR")[:, 0]
            sessions_raw.append((oi, si + 1, cond, start, values, np.array(residual)))
        if kind == "within":
            end_h = len(order) * isi_h
        else:
            end_h = max(72.0, session_len_h + 48.0)
        grid = _timeline_grid(drug_starts, end_h)
        mor = pop.values(sched, grid, "MOR")
        s = _summaries(mor)
        timeline.append(TimelineTrace(order_names[oi], grid, s["p05"], s["p50"], s["p95"], s["mean"]))

    def assessment_rows(values: dict[str, np.ndarray], start: float) -> tuple[AssessmentBlockade, ...]:
        summ = {r: _summaries(values[r]) for r in RECEPTORS}
        rows = []
        for j, (label, t) in enumerate(assessments):
            rows.append(AssessmentBlockade(
                label=label, time_h=t, protocol_time_h=start + t if start == start else float("nan"),
                MOR=float(summ["MOR"]["mean"][j]), KOR=float(summ["KOR"]["mean"][j]),
                DOR=float(summ["DOR"]["mean"][j]), MOR_p05=float(summ["MOR"]["p05"][j]),
                MOR_p50=float(summ["MOR"]["p50"][j]), MOR_p95=float(summ["MOR"]["p95"][j]),
                MOR_prob_ge_90=float(summ["MOR"]["prob_ge_90"][j])))
        return tuple(rows)

    # -- conditions pooled over orders (equal weight per order), and the contrasts ----------------------
    conditions = []
    for cond in (DRUG, PLACEBO):
        parts = [v for (_, _, c, _, v, _) in sessions_raw if c == cond]
        pooled = {r: np.concatenate([p[r] for p in parts], axis=0) for r in RECEPTORS}
        conditions.append((cond, assessment_rows(pooled, float("nan"))))
    cond_rows = dict(conditions)

    contrasts = []
    for j, (label, t) in enumerate(assessments):
        per_order = []
        for oi in range(len(orders)):
            d = [v["MOR"][:, j].mean() for (o, _, c, _, v, _) in sessions_raw if o == oi and c == DRUG]
            p = [v["MOR"][:, j].mean() for (o, _, c, _, v, _) in sessions_raw if o == oi and c == PLACEBO]
            if kind == "within":
                per_order.append((order_names[oi], float(np.mean(d) - np.mean(p))))
        if kind == "between":
            per_order = [("between groups", cond_rows[DRUG][j].MOR - cond_rows[PLACEBO][j].MOR)]
        contrast = float(np.mean([c for _, c in per_order]))
        contrasts.append(ContrastAtAssessment(label, t, contrast, cond_rows[DRUG][j].MOR,
                                              cond_rows[PLACEBO][j].MOR, tuple(per_order)))
    primary_contrast = next(c.contrast_pp for c in contrasts if c.label == primary)
    g_eff = g * min(max(primary_contrast, 0.0), 100.0) / 100.0

    # -- delay and washout ----------------------------------------------------------------------------
    min_delay, prob_delay, until = find_min_delay(
        pop, schedule, threshold_pct=design.delay_threshold_pct, probability=design.delay_probability,
        horizon_h=design.max_delay_h)
    first_assess_h = assessments[0][1]
    isi_kw = dict(offset_h=first_assess_h, threshold_pct=design.residual_threshold_pct,
                  min_days=session_len_h / 24.0, horizon_days=design.max_isi_days)
    min_isi = find_min_isi(pop, schedule, q=95.0, **isi_kw)
    min_isi_med = find_min_isi(pop, schedule, q=50.0, **isi_kw)
    res95 = res50 = None
    if isi_h is not None:
        res95 = float(residual_at(pop, schedule, [design.isi_days], first_assess_h, 95.0)[0])
        res50 = float(residual_at(pop, schedule, [design.isi_days], first_assess_h, 50.0)[0])

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
        groups = tuple(split_evenly(n_planned, k))
        pw = power_within(dz, n_planned, alpha)
        pw_att = power_within(dz_eff, n_planned, alpha) if dz_eff != 0 else alpha

    curve = _power_curve(kind, g, g_eff, design, n_planned, n_req, n_req_att)

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
                        residual_MOR=float(res.mean()), residual_MOR_p50=float(np.percentile(res, 50)),
                        residual_MOR_p95=float(np.percentile(res, 95)),
                        assessments=assessment_rows(values, start))
        for (oi, si, cond, start, values, res) in sessions_raw)

    warnings = _warnings(model.name, design, kind, assessments, schedule, min_delay, min_isi, res95, cond_rows,
                         primary, pw, pw_att, target, n_planned, n_req_att)
    assumptions = _assumptions(design, kind)
    design_dict = design.model_dump()
    return PlanResult(
        scenario_name=scenario_name, source=str(source), drug=model.drug, model_name=model.name,
        model_parameters=dict(model.parameters()), kind=kind, design=design_dict, population_n=pop.n,
        population_seed=seed if isinstance(seed, int) else str(seed),
        doses=tuple((float(d.time_h), float("nan") if amounts is None else float(mg))
                    for d, mg in zip(schedule.doses, amounts or [None] * len(schedule.doses))),
        isi_days=None if isi_h is None else float(design.isi_days), orders=tuple(order_names),
        sessions=sessions, conditions=tuple(conditions), contrasts=tuple(contrasts), primary_assessment=primary,
        contrast_pp=primary_contrast, effect=g, effect_attenuated=g_eff, dz=dz, dz_attenuated=dz_eff,
        min_delay_h=min_delay, min_delay_note=min_delay_caveat(model.name), prob_at_min_delay=prob_delay, reliable_until_h=until, min_isi_days=min_isi,
        min_isi_days_median=min_isi_med, residual_at_isi_p95=res95, residual_at_isi_p50=res50,
        n_planned=int(n_planned), n_planned_source=n_source, group_sizes=tuple(int(x) for x in groups),
        power=float(pw), power_attenuated=float(pw_att), n_required=n_req, n_required_per_group=n_grp,
        n_required_attenuated=n_req_att, n_required_attenuated_per_group=n_grp_att,
        n_required_balanced=n_req_bal, n_required_attenuated_balanced=n_req_att_bal, total_mg=total_mg,
        drug_sessions_total=drug_sessions_total, tablets_per_session=tabs_session, tablets=tabs,
        tablets_pooled=tabs_pooled, cost=cost, timeline=tuple(timeline), power_curve=curve,
        assumptions=assumptions, warnings=tuple(warnings))


def _power_curve(kind, g, g_eff, design, n_planned, n_req, n_req_att) -> PowerCurve:
    cap = 2000
    top = max([n_planned, n_req or 0] + ([n_req_att] if n_req_att and n_req_att <= cap else []))
    top = int(min(cap, max(40, math.ceil(1.25 * top))))
    if kind == "between":
        n_total = np.arange(4, top + 2, 2)
        pw = [power_between(g, m // 2, m // 2, design.alpha) for m in n_total]
        pa = [power_between(g_eff, m // 2, m // 2, design.alpha) if g_eff else design.alpha for m in n_total]
    else:
        n_total = np.arange(4, top + 1)
        dz, dze = paired_dz(g, design.correlation), paired_dz(g_eff, design.correlation)
        pw = [power_within(dz, m, design.alpha) for m in n_total]
        pa = [power_within(dze, m, design.alpha) if dze else design.alpha for m in n_total]
    return PowerCurve(n_total=n_total, power=np.asarray(pw, float), power_attenuated=np.asarray(pa, float))


def _warnings(model_name, design, kind, assessments, schedule, min_delay, min_isi, res95, cond_rows, primary, pw, pw_att,
              target, n_planned, n_req_att) -> list[str]:
    out = []
    if model_name == "emax":
        out.append("the emax model has no time course beyond its validity window, so residual blockade and the "
                   "minimum intersession interval are not meaningful; use the washout model")
    if min_delay is None:
        out.append(f"P(MOR >= {design.delay_threshold_pct:g} %) never reaches {design.delay_probability:g} within "
                   f"{design.max_delay_h:g} h after the last dose: the dose is too low for reliable blockade")
    else:
        last = schedule.last_dose_h
        for label, t in assessments:
            if t >= last and t - last < min_delay:
                prob = next(a.MOR_prob_ge_90 for a in cond_rows[DRUG] if a.label == label)
                out.append(f"assessment '{label}' is {t - last:g} h after the last dose, before the minimum delay "
                           f"of {min_delay:.2f} h (P(MOR >= 90 %) = {prob:.2f})")
    if kind == "within":
        if min_isi is None or design.isi_days < min_isi:
            placebo = next(a for a in cond_rows[PLACEBO] if a.label == primary)
            limit = "beyond the search horizon" if min_isi is None else f"{min_isi:.1f} days"
            out.append(f"isi_days = {design.isi_days:g} is shorter than the minimum intersession interval ({limit}): "
                       f"placebo sessions after a drug session carry residual MOR blockade (95th percentile "
                       f"{res95:.1f} % at the first assessment; mean over orders at '{primary}' "
                       f"{placebo.MOR:.1f} %)")
    need = "no finite N" if n_req_att is None else f"{n_req_att} participants in total"
    if pw < target:
        att = f" ({pw_att:.2f} with the blockade attenuation)" if pw_att < pw - 5e-4 else ""
        out.append(f"the planned N = {n_planned} has power {pw:.2f}{att} < {target:g} even with full blockade; "
                   f"{need} would be needed")
    elif pw_att < target:
        out.append(f"with the blockade attenuation the planned N = {n_planned} has power {pw_att:.2f} < {target:g}; "
                   f"{need} would be needed")
    return out


def _assumptions(design, kind) -> tuple[tuple[str, str], ...]:
    items = [
        ("The behavioural effect is proportional to the drug − placebo contrast in mean MOR blockade at the "
         "primary assessment: g_eff = g × contrast / 100 (full, residual-free blockade gives g).",
         "planner assumption; the review's g = −0.20 comes from studies that assumed near-full blockade"),
        (f"Expected effect g = {design.effect:g} (Hedges' g used as Cohen's d).", SOURCES["review"]),
        ("Minimum delay: first time after the last dose at which P(MOR >= "
         f"{design.delay_threshold_pct:g} %) >= {design.delay_probability:g} across virtual subjects "
         "(model time course, 1-min grid + bisection); plantrexone recommends 1–2 h. The naltrexone washout "
         "model's rise is fitted only to the plasma tmax (no PET data before ~1 h, stable PET data only from "
         "2 h), so a delay below 2 h is a model extrapolation, not a validated recommendation.",
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
    return tuple(items)


def plan_study(scenario: PlanScenario, *, source: str | Path = "") -> PlanResult:
    """Plan the study described by a validated :class:`PlanScenario` (see :func:`load_plan_scenario`).

    Without a ``[population]`` section the planner uses 1000 virtual subjects with seed 1 (the
    probabilities behind the minimum delay need a population).
    """
    pop = scenario.population
    n = pop.n if pop is not None else DEFAULT_POPULATION_N
    seed = pop.seed if pop is not None else DEFAULT_POPULATION_SEED
    variability = scenario.variability() if pop is not None else None
    name = Path(source).stem if source else "plan"
    try:
        return plan_design(scenario.build_model(), scenario.schedule(),
                           [(a.label, a.time_h) for a in scenario.assessments], scenario.design,
                           n=n, seed=seed, variability=variability, scenario_name=name,
                           source=str(source))
    except InputError as exc:
        prefix = f"{Path(source).name}: " if source else ""
        if prefix and str(exc).startswith(prefix):
            raise
        raise InputError(f"{prefix}{exc}") from None


# ----------------------------------------------------------------------------------------------------
# Files and the HTML report section
# ----------------------------------------------------------------------------------------------------


def write_plan_outputs(result: PlanResult, directory: str | Path) -> list[Path]:
    """Write ``plan.json``, the ``plan_*.csv`` tables and the two figures (PNG + SVG) into ``directory``.

    ``directory`` should be a fresh staging folder (the CLI uses
    :func:`occupancy.atomic_output.atomic_directory`), so a failure never leaves a partial result.
    """
    import json

    from occupancy.atomic_output import write_text_atomic
    from occupancy.protocol_plot import power_curve_figure, save_figure, timeline_figure

    directory = Path(directory)
    written = [write_text_atomic(directory / "plan.json",
                                 json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")]
    for stem, frame in result.frames().items():
        written.append(write_text_atomic(directory / f"{stem}.csv", frame.to_csv(index=False)))
    written += save_figure(timeline_figure(result), directory / "plan_timeline")
    written += save_figure(power_curve_figure(result), directory / "plan_power_curve")
    return written


def plan_report_section(result: PlanResult, title: str | None = None):
    """The plan as an :class:`occupancy.report.ReportSection` for ``blockade run``'s HTML report."""
    from occupancy.protocol_plot import _pyplot, power_curve_figure, timeline_figure
    from occupancy.report import (Assumption, KeyNumber, ReportFigure, ReportSection, ReportTable,
                                  figure_to_svg, plain_percent)

    keys = []
    drug_rows = dict(result.conditions)[DRUG]
    for a in drug_rows:
        keys.append(KeyNumber(
            f"MOR blockade at '{a.label}' ({a.time_h:g} h)", plain_percent(a.MOR),
            f"MOR blockade at the {a.time_h:g} h {a.label}: {plain_percent(a.MOR)} (90 % of people above "
            f"{plain_percent(a.MOR_p05)}); {a.MOR_prob_ge_90:.0%} of people reach 90 %"))
    placebo = result.residual_placebo()
    if result.kind == "within" and placebo is not None:
        keys.append(KeyNumber(
            "Residual MOR blockade in placebo sessions", plain_percent(placebo["MOR"]),
            f"averaged over orders at '{result.primary_assessment}'; participants who had the drug one "
            f"{result.isi_days:g}-day interval earlier carry up to {plain_percent(placebo['MOR_p95'])} "
            "(95th percentile of all placebo sessions)"))
    keys.append(KeyNumber(
        "Blockade contrast (drug − placebo)", f"{result.contrast_pp:.0f} pp",
        f"the expected effect g = {result.effect:g} shrinks to {result.effect_attenuated:.3f} if the effect is "
        "proportional to the MOR contrast"))
    thr = result.design.get("delay_threshold_pct", 90.0)
    prob = result.design.get("delay_probability", 0.95)
    keys.append(KeyNumber(
        "Minimum delay after dosing", "not reached" if result.min_delay_h is None else f"{result.min_delay_h:.2f} h",
        f"from this delay on at least {prob:.0%} of people have MOR blockade ≥ {thr:g} % in the model; "
        f"caveat: {result.min_delay_note}"))
    keys.append(KeyNumber(
        "Minimum intersession interval",
        "beyond horizon" if result.min_isi_days is None else f"{result.min_isi_days:.1f} days",
        f"residual MOR ≤ {result.design.get('residual_threshold_pct', 5.0):g} % for 95 % of people "
        f"(median person: {_fmt(result.min_isi_days_median, '.1f')} days; plantrexone recommends 15 days)"))
    keys.append(KeyNumber(
        f"Power with N = {result.n_planned}", f"{result.power:.2f}",
        f"{result.power_attenuated:.2f} once the blockade contrast is accounted for"))
    keys.append(KeyNumber(
        f"N for {result.design.get('power', 0.8):.0%} power", _fmt(result.n_required, "d", "none"),
        f"{_fmt(result.n_required_attenuated, 'd', 'no finite N')} with the blockade attenuation"
        + (" (total of two equal groups)" if result.kind == "between" else " (participants)")))
    if result.tablets is not None:
        cost = "" if result.cost is None else f"; cost {result.cost:.2f} {result.design.get('currency', '')}"
        keys.append(KeyNumber("Naltrexone tablets", str(result.tablets),
                              f"{result.total_mg:g} mg in total for {result.drug_sessions_total} drug sessions"
                              f"{cost}".rstrip()))
    plt = _pyplot()
    figures = []
    for fig, fig_title, caption in (
            (timeline_figure(result), "Blockade over the protocol",
             "Median and 5–95th percentile of MOR blockade across virtual subjects; shaded: sessions; dashed: "
             "90 %; red triangles: residual blockade (95th percentile) in placebo sessions."),
            (power_curve_figure(result), "Power against N",
             "Exact t-test power with full blockade and with the effect attenuated by the blockade contrast.")):
        figures.append(ReportFigure(fig_title, figure_to_svg(fig), caption))
        plt.close(fig)
    frames = result.frames()
    tables = (ReportTable.from_frame("Blockade at each assessment", frames["plan_assessments"].drop(
                  columns=["protocol_time_h"])),
              ReportTable.from_frame("Blockade contrast per assessment", frames["plan_contrasts"]))
    intro = (f"{result.kind.capitalize()}-subjects design with {result.drug} "
             f"({', '.join(f'{a:g} mg at {t:g} h' for t, a in result.doses)} per drug session"
             + (f", sessions every {result.isi_days:g} days" if result.isi_days is not None else "")
             + f"), {result.model_name} model, {result.population_n} virtual subjects.")
    if result.warnings:
        intro += " Warnings: " + "; ".join(result.warnings) + "."
    return ReportSection(
        title=title or f"Study plan: {result.scenario_name}", intro=intro, key_numbers=tuple(keys),
        figures=tuple(figures), tables=tables,
        assumptions=tuple(Assumption(text, src) for text, src in result.assumptions))
