"""The ``[explore]`` scenario section: the design space, the constraints, the objective, and the grid.

An explore scenario is a planning scenario (``[drug]``, ``[model]``, ``[[doses]]``, ``[[assessments]]``,
``[population]``, ``[design]``) plus an ``[explore]`` section (:class:`ExploreSection`).  ``[design]`` holds
what every candidate design shares (effect, correlation, alpha, tablet size and price, thresholds);
``[explore]`` lists the values to try for what varies (dose, assessment time after the last dose, ISI,
sessions, within/between, N) and the criteria a design must meet.

Every axis is a list (``isi_days = [7, 10, 14]``) or a bounded range (``isi_days = {from = 7, to = 21,
step = 1}``).  :func:`design_grid` enumerates the cross product in a fixed order (dose outermost, N
innermost), so a design's ``design_id`` — its position in the grid — depends on the scenario only, never
on the chunking or the workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from occupancy.errors import InputError
from occupancy.simulation.scenario import Scenario
from occupancy.workflows.planning.design import DesignSection

#: Designs a search may hold without ``--force`` (``explore.max_designs`` changes it).
DEFAULT_MAX_DESIGNS = 200_000
#: Values one axis may hold (a finer range is almost certainly a typo).
MAX_AXIS_VALUES = 100_000
#: Objectives a search can minimise (ties broken by N, then tablets, then the grid position).
OBJECTIVES = ("participant_days", "participants", "tablets", "cost")
#: The constraints, in report order.
CONSTRAINTS = ("blockade_at_task", "residual_at_next_session", "power_attenuated")
#: What each constraint means (for messages, reports and docs).
CONSTRAINT_TEXT = {
    "blockade_at_task": "P(MOR >= 90 %) at the task across the virtual population >= {:g}",
    "residual_at_next_session": "residual MOR at the next session's task in the 95th-percentile person <= {:g} %",
    "power_attenuated": "power for the blockade-attenuated effect >= {:g}",
}
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class AxisRange(BaseModel):
    """A bounded range ``{from = a, to = b, step = s}`` (both ends included when they fall on the grid)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    start: float = Field(alias="from", allow_inf_nan=False)
    to: Optional[float] = Field(None, allow_inf_nan=False)
    step: Optional[float] = Field(None, allow_inf_nan=False)

    def values(self, name: str) -> list[float]:
        if self.to is None or self.step is None:
            missing = "to" if self.to is None else "step"
            raise InputError(f"explore.{name}: a range needs from, to and step (no '{missing}': an unbounded "
                             "range cannot be searched)")
        if self.step <= 0:
            raise InputError(f"explore.{name}.step: must be > 0 (got {self.step:g}); an unbounded range cannot be "
                             "searched")
        if self.to < self.start:
            raise InputError(f"explore.{name}: empty range (to = {self.to:g} is below from = {self.start:g})")
        count = math.floor((self.to - self.start) / self.step + 1e-9) + 1
        if count > MAX_AXIS_VALUES:
            raise InputError(f"explore.{name}: {count} values in the range (at most {MAX_AXIS_VALUES}); "
                             "use a coarser step")
        return [round(self.start + k * self.step, 10) for k in range(count)]


Axis = Union[list[float], AxisRange]
IntAxis = Union[list[int], AxisRange]


class ConstraintsSection(BaseModel):
    """``[explore.constraints]``: the thresholds; a constraint left out is not applied.

    Attributes
    ----------
    blockade_at_task : float (probability)
        P(MOR >= 90 %) at the task across the virtual population must reach this (0.95 in ``blockade plan``'s
        minimum delay).
    residual_at_next_session : float (% MOR)
        Residual MOR blockade left by a drug session at the next session's task, 95th-percentile person, at
        most this (within designs; a between design has no next session and always meets it).
    power_attenuated : float (power)
        Exact power for the effect attenuated by the drug − placebo blockade contrast at least this.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    blockade_at_task: Optional[float] = Field(None, gt=0, lt=1)
    residual_at_next_session: Optional[float] = Field(None, gt=0, lt=100)
    power_attenuated: Optional[float] = Field(None, gt=0, lt=1)

    def active(self) -> dict[str, float]:
        """``{constraint: threshold}`` of the constraints given, in :data:`CONSTRAINTS` order."""
        return {k: float(getattr(self, k)) for k in CONSTRAINTS if getattr(self, k) is not None}


def _default_constraints() -> ConstraintsSection:
    return ConstraintsSection(blockade_at_task=0.95, residual_at_next_session=5.0, power_attenuated=0.8)


class ExploreSection(BaseModel):
    """The ``[explore]`` section (unknown keys are errors); every axis defaults to the ``[design]``/scenario value.

    Attributes (unit; default)
    --------------------------
    dose_mg : list or range (mg; the scenario's doses)
        Amount of every ``[[doses]]`` entry of a drug session (a single-dose schedule: the dose).
    delay_h : list or range (h; the primary assessment's time after the last dose)
        When the task is done, counted from the last dose of the session.
    isi_days : list or range (days; ``design.isi_days``)
        Within only: days between session starts.
    sessions : list or range (sessions; ``design.sessions``)
        Within only: sessions per participant (one of them a drug session).
    kind : list of "within"/"between" (``design.kind``)
    participants : list or range (people; ``design.participants``)
        Total N.
    constraints : table (all three: 0.95, 5 %, 0.8)
        See :class:`ConstraintsSection`.
    level : float (probability; 0.9)
        A design passes when each constraint holds with at least this probability over the model draws.
    objective : str ("participant_days")
        Minimised among the passing designs: ``participant_days`` (N × days from first to last session,
        inclusive), ``participants``, ``tablets`` or ``cost``.
    draws : int (draws; 50)
        Posterior (or bootstrap) draws of the model per structure; 0: only the fitted model (probabilities are
        then 0 or 1).
    seed : int (1)
        Seed of the model draws (the virtual population uses ``[population]``'s seed).
    max_designs : int (200000)
        Refuse a larger grid unless ``--force``.
    chunk_size : int (designs; 200)
        Designs per task (one Dask task, one resumable Parquet part).
    best : int (3)
        How many of the best designs get a full ``plan`` summary.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    dose_mg: Optional[Axis] = None
    delay_h: Optional[Axis] = None
    isi_days: Optional[Axis] = None
    sessions: Optional[IntAxis] = None
    kind: Optional[list[Literal["within", "between"]]] = None
    participants: Optional[IntAxis] = None
    constraints: ConstraintsSection = Field(default_factory=_default_constraints)
    level: float = Field(0.9, gt=0, le=1)
    objective: Literal["participant_days", "participants", "tablets", "cost"] = "participant_days"
    draws: int = Field(50, ge=0, le=10_000)
    seed: int = Field(1, ge=0, le=2**32 - 1)
    max_designs: int = Field(DEFAULT_MAX_DESIGNS, ge=1, le=10**9)
    chunk_size: int = Field(200, ge=1, le=1_000_000)
    best: int = Field(3, ge=0, le=20)


class ExploreScenario(Scenario):
    """A planning scenario whose ``[design]`` gives the shared settings plus an ``[explore]`` section."""

    task: Literal["explore", "plan"] = "explore"
    design: DesignSection
    explore: ExploreSection = Field(default_factory=ExploreSection)

    @model_validator(mode="after")
    def _check(self) -> "ExploreScenario":
        labels = [a.label for a in self.assessments]
        if not labels:
            raise ValueError("assessments: explore needs an [[assessments]] entry (the task)")
        if len(set(labels)) != len(labels):
            raise ValueError("assessments: labels must be unique")
        if self.design.primary_assessment is not None and self.design.primary_assessment not in labels:
            raise ValueError(f"design.primary_assessment: no assessment is labelled "
                             f"{self.design.primary_assessment!r} (labels: {', '.join(labels)})")
        if self.design.drug_sessions != 1:
            raise ValueError("design.drug_sessions: explore searches designs with one drug session per "
                             "participant (set 1 or leave it out)")
        if not self.explore.constraints.active():
            raise ValueError("explore.constraints: no constraint given (give at least one of "
                             f"{', '.join(CONSTRAINTS)})")
        if self.explore.objective == "cost" and self.design.price_per_tablet is None:
            raise ValueError("explore.objective: \"cost\" needs design.price_per_tablet")
        if self.explore.dose_mg is not None and any(d.per_kg for d in self.doses):
            raise ValueError("explore.dose_mg: the [[doses]] are per kg; give them in mg to vary the dose")
        return self

    def plan_part(self):
        """The scenario without its ``[explore]`` section, as the ``blockade plan`` scenario it is built on
        (``[design]`` as written: the shared settings plus the design's own defaults)."""
        from occupancy.workflows.planning.design import PlanScenario

        data = self.model_dump(mode="python", exclude_unset=True, by_alias=True)
        data.pop("explore", None)
        data["task"] = "plan"
        return PlanScenario.model_validate(data)

    def primary(self):
        """The assessment the search moves (``design.primary_assessment``, else the first)."""
        label = self.design.primary_assessment
        return next((a for a in self.assessments if a.label == label), self.assessments[0])


def load_explore_scenario(path, overrides: dict | None = None) -> ExploreScenario:
    """Read and validate an explore scenario (TOML), with ``overrides`` replacing ``[explore]`` keys.

    A planning scenario without ``[explore]`` works too (the CLI's quick form gives the axes); its ``task =
    "plan"`` is accepted.  Every problem is a one-line :class:`InputError` naming the file and field.
    """
    from occupancy.simulation.scenario import read_scenario_toml, scenario_from_dict

    data, _ = read_scenario_toml(path)
    name = Path(path).name
    if "design" not in data:
        raise InputError(f"{name}: design: required section missing (an explore scenario is a planning scenario "
                         "plus an [explore] section; see explore_crossover.toml from `blockade examples`)")
    if overrides:
        section = dict(data.get("explore") or {})
        section.update(overrides)
        data = {**data, "explore": section}
    return scenario_from_dict(data, name, ExploreScenario)


# ----------------------------------------------------------------------------------------------------
# The grid
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DesignGrid:
    """Every candidate design as columns (one entry per design, ``design_id`` = position).

    ``isi_days`` is NaN and ``sessions`` 1 for a between design (one session, no interval).
    """

    kind: np.ndarray          # str
    dose_mg: np.ndarray       # float
    delay_h: np.ndarray       # float
    isi_days: np.ndarray      # float
    sessions: np.ndarray      # int
    participants: np.ndarray  # int

    def __len__(self) -> int:
        return int(self.kind.size)

    def take(self, index) -> "DesignGrid":
        """The designs at ``index`` (a slice or index array)."""
        return DesignGrid(*(getattr(self, k)[index] for k in DESIGN_COLUMNS[1:]))


DESIGN_COLUMNS = ("design_id", "kind", "dose_mg", "delay_h", "isi_days", "sessions", "participants")


def _axis(value, name: str, fallback, integer: bool = False) -> list:
    if value is None:
        if fallback is None:
            raise InputError(f"explore.{name}: not given and no default in [design]; give a list or a range")
        values = [fallback]
    elif isinstance(value, AxisRange):
        values = value.values(name)
    else:
        values = list(value)
    if not values:
        raise InputError(f"explore.{name}: empty list (the design space would be empty)")
    if integer:
        bad = [v for v in values if float(v) != int(v)]
        if bad:
            raise InputError(f"explore.{name}: must be whole numbers (got {bad[0]:g})")
        values = [int(v) for v in values]
    else:
        values = [float(v) for v in values]
    if len(set(values)) != len(values):
        raise InputError(f"explore.{name}: values repeat ({', '.join(f'{v:g}' for v in values)})")
    return values


def axes(scenario: ExploreScenario) -> dict[str, list]:
    """The values of every axis (lists), checked: non-empty, bounded, inside each field's range."""
    ex, design = scenario.explore, scenario.design
    schedule = scenario.schedule()
    last = schedule.last_dose_h
    doses = [float(d.amount_mg) for d in scenario.doses if d.amount_mg is not None]
    out = {
        "dose_mg": _axis(ex.dose_mg, "dose_mg", doses[0] if doses and len(set(doses)) == 1 else None),
        "delay_h": _axis(ex.delay_h, "delay_h", scenario.primary().time_h - last),
        "kind": list(ex.kind) if ex.kind is not None else [design.kind],
        "sessions": _axis(ex.sessions, "sessions", design.sessions, integer=True),
        "isi_days": None,
        "participants": _axis(ex.participants, "participants", design.participants, integer=True),
    }
    if not out["kind"]:
        raise InputError("explore.kind: empty list (the design space would be empty)")
    if len(set(out["kind"])) != len(out["kind"]):
        raise InputError("explore.kind: values repeat")
    if "within" in out["kind"]:
        out["isi_days"] = _axis(ex.isi_days, "isi_days", design.isi_days)
    checks = [("dose_mg", 0.0, 1000.0, False), ("delay_h", 0.0, 24.0 * 14, True), ("isi_days", 0.0, 365.0, False),
              ("sessions", 2, 6, True), ("participants", 4, 100_000, True)]
    for name, lo, hi, closed_low in checks:
        for v in out[name] or []:
            if not ((lo <= v) if closed_low else (lo < v)) or v > hi:
                where = "[" if closed_low else "("
                raise InputError(f"explore.{name}: {v:g} is outside {where}{lo:g}, {hi:g}]")
    if out["isi_days"]:
        session_h = last + max(out["delay_h"])
        short = [v for v in out["isi_days"] if v * 24.0 <= session_h]
        if short:
            raise InputError(f"explore.isi_days: {short[0]:g} days is not longer than one session ({session_h:g} h "
                             "from the session start to the latest task)")
    return out


def count_designs(values: dict[str, list]) -> int:
    """Number of designs of the grid (without building it)."""
    per_kind = 0
    base = len(values["dose_mg"]) * len(values["delay_h"]) * len(values["participants"])
    for kind in values["kind"]:
        per_kind += base * (len(values["sessions"]) * len(values["isi_days"]) if kind == "within" else 1)
    return per_kind


def design_grid(values: dict[str, list]) -> DesignGrid:
    """The cross product in a fixed order: dose, kind, sessions, delay, ISI, N (N varies fastest).

    Designs that share the pharmacology (dose, kind, sessions) are neighbours, so a chunk evaluates few
    dose schedules and reuses them for every delay, ISI and N.
    """
    rows = {k: [] for k in DESIGN_COLUMNS[1:]}
    n_values = values["participants"]
    for dose in values["dose_mg"]:
        for kind in values["kind"]:
            sessions = values["sessions"] if kind == "within" else [1]
            isis = values["isi_days"] if kind == "within" else [float("nan")]
            for s in sessions:
                for delay in values["delay_h"]:
                    for isi in isis:
                        k = len(n_values)
                        rows["kind"] += [kind] * k
                        rows["dose_mg"] += [dose] * k
                        rows["delay_h"] += [delay] * k
                        rows["isi_days"] += [isi] * k
                        rows["sessions"] += [s] * k
                        rows["participants"] += list(n_values)
    return DesignGrid(kind=np.array(rows["kind"], dtype=object), dose_mg=np.array(rows["dose_mg"], float),
                      delay_h=np.array(rows["delay_h"], float), isi_days=np.array(rows["isi_days"], float),
                      sessions=np.array(rows["sessions"], np.int64),
                      participants=np.array(rows["participants"], np.int64))


def design_inputs(grid: DesignGrid, i: int) -> dict:
    """Design ``i`` as a plain dict (the ``design`` of the JSON output)."""
    kind = str(grid.kind[i])
    out = {"kind": kind, "dose_mg": float(grid.dose_mg[i]), "delay_h": float(grid.delay_h[i]),
           "isi_days": None if kind == "between" else float(grid.isi_days[i]),
           "sessions": int(grid.sessions[i]), "participants": int(grid.participants[i])}
    return out


def plan_scenario_for(scenario: ExploreScenario, design: dict):
    """The ``blockade plan`` scenario of one design: the doses at ``dose_mg``, one assessment (the task) at
    ``delay_h`` after the last dose, ``[design]`` with the design's kind, ISI, sessions and N.

    Running :func:`occupancy.workflows.planning.plan.plan_study` on it gives the numbers the search reports
    for the fitted model (the ``*_nominal`` columns).
    """
    from occupancy.workflows.planning.design import PlanScenario

    data = scenario.model_dump(mode="python", exclude_unset=True, by_alias=True)
    data.pop("explore", None)
    data["task"] = "plan"
    doses = []
    for d in scenario.doses:
        dd = d.model_dump(exclude_unset=True)
        if scenario.explore.dose_mg is not None:
            dd["amount_mg"] = float(design["dose_mg"])
        doses.append(dd)
    data["doses"] = doses
    last = scenario.schedule().last_dose_h
    primary = scenario.primary()
    data["assessments"] = [{"label": primary.label, "time_h": last + float(design["delay_h"])}]
    dsg = scenario.design.model_dump(exclude_unset=True)
    for key in ("sessions", "isi_days", "participants", "n_drug", "n_placebo", "primary_assessment"):
        dsg.pop(key, None)
    dsg["kind"] = design["kind"]
    dsg["participants"] = int(design["participants"])
    if design["kind"] == "within":
        dsg["sessions"] = int(design["sessions"])
        dsg["isi_days"] = float(design["isi_days"])
    else:
        for key in ("drug_sessions", "correlation"):
            dsg.pop(key, None)
    data["design"] = dsg
    return PlanScenario.model_validate(data)
