"""The ``[design]`` section of a planning scenario, the counterbalanced orders and the tablet count.

A planning scenario is a ``blockade simulate`` scenario (``[drug]``, ``[model]``, ``[[doses]]``,
``[[assessments]]``, optional ``[population]``/``[subject]``) plus a ``[design]`` section
(:class:`DesignSection`).  Doses and assessments are relative to the start of each *drug* session.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from occupancy.errors import InputError
from occupancy.simulation.scenario import FiniteFields, Scenario

RECEPTORS = ("MOR", "KOR", "DOR")
REVIEW_EFFECT_G = -0.20
"""Pooled Hedges' g of naltrexone on social connectedness (Løseth, Trøstheim & Leknes 2024)."""
DEFAULT_POPULATION_N = 1000
DEFAULT_POPULATION_SEED = 1
DRUG, PLACEBO = "drug", "placebo"
_MAX_ORDERS = 24

SOURCES = {
    "review": "Løseth, Trøstheim & Leknes (2024) Transl Psychiatry 14:379 (pooled g = −0.20)",
    "plantrexone": "Trøstheim et al. plantrexone app (apps/plantrexone/app.R): tablets = ceil(mg total / 50); "
    "recommended delay 1–2 h, intersession interval 15 days",
    "lee": "Lee et al. (1988) J Nucl Med 29:1207 (blockade half-time 72–108 h)",
    "rabiner": "Rabiner et al. (2011) Mol Psychiatry 16:826 (dose–occupancy < 8 h)",
    "power": "Exact power of the t-test via the noncentral t distribution (Cohen 1988)",
}


#: Per (drug, model): the earliest time after a dose (h) with stable PET blockade data, and what the model's rise is
#: fitted to.  Before that time the model's blockade is an extrapolation.  A model not listed gets a generic caveat.
EARLY_DATA = {
    ("naltrexone", "pkpd"): (2.0, "the rise follows the absorption rate ka, fitted to the plasma tmax (0.8–1.1 h), "
                                  "and the receptor binding rate koff/K (fitted to Rabiner's PET scans at unknown "
                                  "times within 8 h and Lee's 48–168 h decline); before 2 h the only occupancy "
                                  "information is qualitative (Lee 1988: near saturation at 1 h), so stable PET "
                                  "data start 2 h after the dose"),
    ("naltrexone", "washout"): (2.0, "the rise is fitted only to the plasma tmax (~1 h); there are no PET data before "
                                     "~1 h and stable PET data only from 2 h after the dose"),
    ("naloxone", "pkpd"): (35.0 / 60.0, "the rise follows Dowling 2008's IV plasma kinetics and the effect "
                                        "compartment, whose ke0 is fitted to PET scans taken 35–65 min after "
                                        "injection and to Kim 1997's receptor-clearance half-time (scans from 5 min "
                                        "to 8 h); no dose–occupancy scan is earlier than 35 min"),
    ("naloxone", "bateman"): (35.0 / 60.0, "planoxone's rise (tmax 25 min) is not fitted to early data; the naloxone "
                                           "PET scans behind its ED50 were taken 35–65 min after injection"),
}
#: Backwards-compatible view of :data:`EARLY_DATA`: (drug, model) → earliest validated time (h).
PET_VALIDATED_FROM_H = {key: hours for key, (hours, _) in EARLY_DATA.items()}


def early_data(model_name: str, drug: str | None = None) -> tuple[float, str] | None:
    """``(earliest validated time (h), what the rise is fitted to)`` of a model, or None when not documented.

    ``drug`` None: the first drug (naltrexone, then naloxone) that has a model of that name.
    """
    from occupancy.models import DRUGS

    for d in (drug,) if drug is not None else DRUGS:
        if (d, model_name) in EARLY_DATA:
            return EARLY_DATA[(d, model_name)]
    return None


def validated_from_h(model_name: str, drug: str | None = None) -> float | None:
    """The earliest time after a dose (h) with stable PET data for this model (None when not documented)."""
    entry = early_data(model_name, drug)
    return None if entry is None else entry[0]


def min_delay_caveat(model_name: str, early: Sequence[tuple[str, float]] = (), *, time_course: bool = True,
                     drug: str | None = None, infusion: bool = False) -> str:
    """Plain-language limits of the computed minimum delay for ``model_name`` (printed next to the number).

    ``early`` lists the user's assessments (label, hours after the last dose) that fall before the model's
    validated time; the caveat names them instead of giving generic advice.  With ``infusion`` (the last dose is
    an infusion) the hours count from the *end* of the infusion, and a negative value is an assessment during it.
    ``time_course`` is False for a model without a time course (the delay is then not informative).  ``drug``
    picks the entry of a model name both drugs have (``pkpd``; default naltrexone).
    """
    def format_time_h(hours: float) -> str:
        return f"{hours:g} h" if hours >= 1 else f"{hours * 60:.3g} min"

    if not time_course:
        return (f"not informative: the {model_name} model has no time course (the same blockade at any time within "
                "its window after a dose); plantrexone recommends waiting 1–2 h")
    entry = early_data(model_name, drug)
    if entry is None:
        return f"model estimate of the {model_name} model"
    hours, basis = entry
    text = f"model estimate, not validated before {format_time_h(hours)}: {basis}"
    if early and infusion:
        after = [(label, t) for label, t in early if t >= 0]
        during = [label for label, t in early if t < 0]
        parts = []
        if after:
            named = ", ".join(f"'{label}' at {format_time_h(t)}" for label, t in after)
            parts.append(f"your {named} after the end of the last infusion {'is' if len(after) == 1 else 'are'} "
                         f"before {format_time_h(hours)}")
        if during:
            named = ", ".join(f"'{label}'" for label in during)
            parts.append(f"your {named} {'is' if len(during) == 1 else 'are'} during the last infusion, before it "
                         "ends")
        text += "; " + " and ".join(parts) + ", so the blockade shown there is a model extrapolation"
    elif early:
        named = ", ".join(f"'{label}' at {format_time_h(t)}" for label, t in early)
        text += (f"; your {named} after the last dose "
                 f"{'is' if len(early) == 1 else 'are'} before {format_time_h(hours)}, so the blockade shown there is "
                 "a model extrapolation")
    else:
        text += f"; every assessment of this plan is at least {format_time_h(hours)} after the last dose"
    return text


# ----------------------------------------------------------------------------------------------------
# [design] section
# ----------------------------------------------------------------------------------------------------


class DesignSection(FiniteFields, BaseModel):
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
        Within only: time between the starts of consecutive sessions.  Like every time field it also takes a
        text with units (``"7d"``, ``"168h"``, ``"1w"``).
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
    drug_sessions: int = Field(1, ge=1, le=5)
    isi_days: float | None = Field(None, gt=0, le=365, allow_inf_nan=False)
    participants: int | None = Field(None, ge=4, le=100_000)
    n_drug: int | None = Field(None, ge=2, le=50_000)
    n_placebo: int | None = Field(None, ge=2, le=50_000)
    effect: float = Field(REVIEW_EFFECT_G, ge=-5, le=5, allow_inf_nan=False)
    correlation: float = Field(0.5, gt=-1, lt=1)
    alpha: float = Field(0.05, gt=0, le=0.5)
    power: float = Field(0.8, ge=0.5, le=0.99)
    tablet_mg: float = Field(50.0, gt=0, le=1000, allow_inf_nan=False)
    price_per_tablet: float | None = Field(None, ge=0, le=10_000, allow_inf_nan=False)
    currency: str = Field("", max_length=10)
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
    from occupancy.simulation.scenario import read_scenario_toml, scenario_from_dict

    data, _ = read_scenario_toml(path)
    name = Path(path).name
    if "design" not in data:
        raise InputError(f"{name}: design: required section missing (a planning scenario is a simulate scenario "
                         "plus a [design] section with at least kind = \"between\" or \"within\"; see "
                         "the bundled plan_*.toml written by `blockade examples`)")
    return scenario_from_dict(data, name, PlanScenario)


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
