"""Scenario files: a TOML description of a drug, a model, doses, assessments and an optional population.

One pydantic model per section (``extra="forbid"`` everywhere, so a misspelt key is an error); other
features add their own sections (e.g. ``[design]``, ``[reanalysis]``) by adding a field to
:class:`Scenario`.  Every problem is raised as :class:`~occupancy.errors.InputError` with one line naming
the file and the field, e.g. ``scenario.toml: doses[1].amount_mg: must be > 0 (got -5)``.

Example
-------
.. code-block:: toml

    task = "simulate"               # optional; the default
    [drug]
    name = "naltrexone"             # or "naloxone"
    [model]
    name = "pkpd"                   # the default for both drugs; naltrexone also washout | emax, naloxone bateman
    hysteresis = "effect_compartment"   # pkpd: or "binding_kinetics" (each with its own fitted parameters)
    k_mor_ng_ml = 0.1               # optional parameter overrides (the others keep their fitted values)
    [[doses]]
    time_h = 0.0
    amount_mg = 50.0                # or amount_mg_per_kg, amount_ug; infusions: duration_min and
                                    # rate_mg_per_h / rate_mg_per_kg_per_h / rate_mg_per_min / ...
    [[assessments]]
    label = "task"
    time_h = 2.0
    end_h = 3.0                     # optional: mean blockade over the window 2-3 h
    [population]                    # optional
    n = 1000
    seed = 1
    [subject]                       # needed for per-kg doses (pkpd: default 70 kg, allometric scaling)
    weight_kg = 70
    [uncertainty]                   # optional (pkpd): 95 % interval of the typical subject over parameter
    n = 200                         # uncertainty (MOR_ci_lo, MOR_ci_hi), from n seeded draws
    seed = 1
    [summary]                       # optional
    threshold = 10                  # "time until MOR blockade < 10 % after the last dose"
    residual_at_h = 360             # residual blockade at this time (default: last dose + recommended interval)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from occupancy.errors import InputError

# ---------------------------------------------------------------------------------------------------------
# Plausible ranges.  Every numeric field of every section (here, [design] and [reanalysis]) states its range
# as pydantic Field constraints; :func:`format_validation_error` turns a violation into one line, the CLI
# options that set the same quantities are checked against the same fields (:func:`check_value`), and the
# README's "Scenario file reference" shows each range (:func:`field_range`, checked by tests/test_readme.py).
# New fields follow the same pattern: give them ``Field(..., ge/gt=..., le/lt=...)``.
# ---------------------------------------------------------------------------------------------------------

#: Times (h) relative to the first dose: one year either way.
TIME_LIMIT_H = 8760.0
#: Largest dose (and infusion total) in mg; oral naltrexone studies use 25–100 mg, trials up to 800 mg/day.
MAX_DOSE_MG = 1000.0
#: Largest dose in mg/kg (naloxone; clinical doses are below 0.2 mg/kg).
MAX_DOSE_MG_PER_KG = 20.0
#: Most virtual subjects: percentiles are stable to ~0.1 pp from 10^4 subjects; more only cost time.
MAX_SUBJECTS = 100_000
#: Largest seed (numpy accepts any non-negative integer; 32 bits are plenty).
MAX_SEED = 2**32 - 1
#: Largest between-subject log-SD (a factor of e^3 = 20 for one SD).
MAX_LOG_SD = 3.0
#: Largest body weight (kg): heavier than any adult the models' allometric scaling was meant for.
MAX_WEIGHT_KG = 350.0
#: Most parameter-uncertainty draws ([uncertainty] n).
MAX_UNCERTAINTY_DRAWS = 10_000
#: Most doses and assessments in one scenario.
MAX_DOSES = 1000
MAX_ASSESSMENTS = 100

Hours = Annotated[float, Field(ge=-TIME_LIMIT_H, le=TIME_LIMIT_H)]

STRICT_CONFIG = ConfigDict(extra="forbid", frozen=True)
#: The sections' own config: also strict types, so ``amount_mg = true`` or ``amount_mg = "50"`` is an error
#: (pydantic would otherwise read them as 1.0 and 50.0); TOML integers still count as numbers.
_STRICT_TYPES = ConfigDict(extra="forbid", frozen=True, strict=True)

_AMOUNT_FIELDS = ("amount_mg", "amount_mg_per_kg", "amount_ug")
_RATE_FIELDS = ("rate_mg_per_h", "rate_mg_per_kg_per_h", "rate_mg_per_min", "rate_mg_per_kg_per_min")


#: The unit, in hours, of a field by the end of its name (``time_h``, ``duration_min``, ``isi_days``): such a field
#: also takes a text with units, read by the command line's parser (``"7d"``, ``"1h30min"``, ``"90min"``).
_TIME_SUFFIX_H = (("_days", 24.0), ("_min", 1.0 / 60.0), ("_h", 1.0))


def time_field_unit_h(name: str) -> float | None:
    """Hours per unit of the field ``name`` when it is a time (``..._h``, ``..._min``, ``..._days``), else None.

    Rates (``ka_per_h``, ``rate_mg_per_min``) are not times.
    """
    if "_per_" in name:
        return None
    for suffix, hours in _TIME_SUFFIX_H:
        if name.endswith(suffix):
            return hours
    return None


def time_text_to_unit(text: str, name: str):
    """A time text (``"7d"``, ``"1h30min"``) as a number in the unit of field ``name`` (ValueError if unreadable).

    Shares :func:`occupancy.dosing.quantities.parse_time_h` with the command line, so a scenario file accepts
    what the options accept.  A clock time is resolved earlier, by :meth:`Scenario._clock_times`; one left here
    (e.g. in ``[design]``) is an error saying where clock times are allowed.
    """
    from occupancy.dosing.quantities import is_clock_time, parse_time_h

    if is_clock_time(text):
        raise ValueError(f"the clock time {text!r} is only allowed for doses[].time_h, assessments[].time_h/end_h "
                         "and summary.residual_at_h, with the first dose at a clock time")
    try:
        hours = parse_time_h(text, what="\0")
    except InputError as exc:
        raise ValueError(str(exc).replace("\0: ", "")) from None
    return hours / time_field_unit_h(name)


#: Amount fields by the end of their name and mg per unit: they also take a text with a mass unit (``"400ug"``).
_MASS_SUFFIX_MG = (("_mg", 1.0), ("_ug", 1e-3))


def mass_text_to_unit(text: str, name: str):
    """An amount text (``"400ug"``, ``"0.05g"``) as a number in the unit of field ``name`` (``_mg`` or ``_ug``)."""
    from occupancy.dosing.quantities import parse_mass_mg

    per_unit = next(mg for suffix, mg in _MASS_SUFFIX_MG if name.endswith(suffix))
    try:
        return parse_mass_mg(text, what="\0") / per_unit
    except InputError:
        raise ValueError(f"must be a number (got {text!r}); a text needs a mass unit, e.g. \"50mg\" or "
                         "\"400ug\"") from None


class FiniteFields:
    @field_validator("*", mode="before")
    @classmethod
    def _units(cls, value, info):
        """A time or amount field given as text with units (``isi_days = "7d"``, ``amount_mg = "400ug"``) becomes
        a number in the field's own unit, read by the command line's parsers."""
        if not isinstance(value, str) or not info.field_name:
            return value
        if time_field_unit_h(info.field_name) is not None:
            return time_text_to_unit(value, info.field_name)
        if "_per_" not in info.field_name and info.field_name.endswith(tuple(s for s, _ in _MASS_SUFFIX_MG)):
            return mass_text_to_unit(value, info.field_name)
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number (got {value})")
        return value


class DrugSection(FiniteFields, BaseModel):
    """``[drug]``: ``name`` is ``"naltrexone"`` or ``"naloxone"``."""

    model_config = _STRICT_TYPES
    name: str

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        from occupancy.models import DRUGS

        v = value.strip().lower()
        if v not in DRUGS:
            raise ValueError(f"unknown drug {value!r} (choose naltrexone or naloxone)")
        return v


def _pkpd_parameter(name: str):
    """An optional ``[model]`` field of a ``pkpd`` parameter, constrained to its physical range (inclusive)."""
    from occupancy.models.pkpd_base import PARAMETER_RANGES

    lo, hi = PARAMETER_RANGES[name]
    return Field(default=None, ge=lo, le=hi)


class ModelSection(FiniteFields, BaseModel):
    """``[model]``: ``name`` plus optional parameter overrides of that model."""

    model_config = _STRICT_TYPES
    name: Optional[str] = None
    # washout
    ed50_mg: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG)
    smax: Optional[float] = Field(default=None, gt=0, le=10)
    tmax_h: Optional[float] = Field(default=None, gt=0, le=24)
    half_life_h: Optional[float] = Field(default=None, ge=1, le=1000)
    # emax
    window_h: Optional[float] = Field(default=None, gt=0, le=72)
    # bateman
    ed50_mg_per_kg: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG_PER_KG)
    tmax_min: Optional[float] = Field(default=None, gt=0, le=600)
    half_life_min: Optional[float] = Field(default=None, ge=1, le=6000)
    t_ref_min: Optional[float] = Field(default=None, ge=0, le=600)
    # pkpd (both drugs): the physical ranges of occupancy.models.pkpd_base.PARAMETER_RANGES (each with its reason)
    hysteresis: Optional[Literal["effect_compartment", "binding_kinetics"]] = None
    # naltrexone pkpd candidate structure (issue 19; occupancy.models.pkpd_base.STRUCTURES); default: the record's
    structure: Optional[Literal["effect_compartment", "binding_kinetics", "three_phase", "three_phase_binding"]] = None
    t_half_gamma_h: Optional[float] = _pkpd_parameter("t_half_gamma_h")
    intermediate_auc_fraction: Optional[float] = _pkpd_parameter("intermediate_auc_fraction")
    ka_per_h: Optional[float] = _pkpd_parameter("ka_per_h")
    cl_l_per_h: Optional[float] = _pkpd_parameter("cl_l_per_h")
    t_half_alpha_h: Optional[float] = _pkpd_parameter("t_half_alpha_h")
    t_half_beta_h: Optional[float] = _pkpd_parameter("t_half_beta_h")
    terminal_auc_fraction: Optional[float] = _pkpd_parameter("terminal_auc_fraction")
    f_systemic: Optional[float] = _pkpd_parameter("f_systemic")
    t_half_nol_h: Optional[float] = _pkpd_parameter("t_half_nol_h")
    v_nol_l: Optional[float] = _pkpd_parameter("v_nol_l")
    k_mor_ng_ml: Optional[float] = _pkpd_parameter("k_mor_ng_ml")
    nol_potency_ratio: Optional[float] = _pkpd_parameter("nol_potency_ratio")
    ke0_per_h: Optional[float] = _pkpd_parameter("ke0_per_h")
    koff_per_h: Optional[float] = _pkpd_parameter("koff_per_h")
    v1_l: Optional[float] = _pkpd_parameter("v1_l")
    v2_l: Optional[float] = _pkpd_parameter("v2_l")
    v3_l: Optional[float] = _pkpd_parameter("v3_l")
    q2_l_per_h: Optional[float] = _pkpd_parameter("q2_l_per_h")
    q3_l_per_h: Optional[float] = _pkpd_parameter("q3_l_per_h")
    # all
    kor_ratio: Optional[float] = Field(default=None, gt=0, le=10_000)
    dor_ratio: Optional[float] = Field(default=None, gt=0, le=10_000)
    cap: Optional[bool] = None

    def overrides(self) -> dict:
        """The parameters given in the file (``name`` excluded)."""
        return {k: v for k, v in self.model_dump().items() if k != "name" and v is not None}


class DoseSection(FiniteFields, BaseModel):
    """``[[doses]]``: one bolus/tablet or one infusion.

    Give exactly one of ``amount_mg``, ``amount_mg_per_kg``, ``amount_ug`` (total amount) or a rate
    ``rate_mg_per_h``, ``rate_mg_per_kg_per_h``, ``rate_mg_per_min``, ``rate_mg_per_kg_per_min`` (with
    ``duration_min``; total = rate × duration).  ``duration_min > 0`` makes an amount an infusion.
    """

    model_config = _STRICT_TYPES
    time_h: Hours
    amount_mg: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG)
    amount_mg_per_kg: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG_PER_KG)
    amount_ug: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG * 1000)
    rate_mg_per_h: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG)
    rate_mg_per_kg_per_h: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG_PER_KG)
    rate_mg_per_min: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG / 10)
    rate_mg_per_kg_per_min: Optional[float] = Field(default=None, gt=0, le=MAX_DOSE_MG_PER_KG / 10)
    duration_min: float = Field(default=0.0, ge=0, le=10_080)
    #: naloxone (pkpd model): "iv" (default), "intranasal" or "intramuscular" (Dowling 2008's first-order
    #: absorption and bioavailability; docs/how-to/model-uncertainty.md).  Naltrexone is oral only.
    route: Optional[Literal["iv", "intranasal", "intramuscular"]] = None

    @model_validator(mode="after")
    def _one_amount(self):
        given = [f for f in _AMOUNT_FIELDS + _RATE_FIELDS if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of " + ", ".join(_AMOUNT_FIELDS + _RATE_FIELDS)
                + (f" (got {', '.join(given)})" if given else "")
            )
        if given[0] in _RATE_FIELDS and self.duration_min <= 0:
            raise ValueError(f"{given[0]} needs duration_min > 0")
        if self.route in ("intranasal", "intramuscular") and self.duration_min > 0:
            raise ValueError(f"route: an {self.route} dose cannot be an infusion (duration_min must be 0)")
        dose = self.to_dose()
        if dose.amount_mg is not None and dose.amount_mg > MAX_DOSE_MG:
            raise ValueError(f"{given[0]}: the total of {dose.amount_mg:g} mg exceeds {MAX_DOSE_MG:g} mg")
        if dose.amount_mg_per_kg is not None and dose.amount_mg_per_kg > MAX_DOSE_MG_PER_KG:
            raise ValueError(f"{given[0]}: the total of {dose.amount_mg_per_kg:g} mg/kg exceeds "
                             f"{MAX_DOSE_MG_PER_KG:g} mg/kg")
        return self

    def to_dose(self):
        """The :class:`~occupancy.dosing.schedule.Dose` (amounts converted to mg or mg/kg totals)."""
        from occupancy.dosing.schedule import Dose

        hours = self.duration_min / 60.0
        mg = {
            "amount_mg": self.amount_mg,
            "amount_ug": None if self.amount_ug is None else self.amount_ug / 1000.0,
            "rate_mg_per_h": None if self.rate_mg_per_h is None else self.rate_mg_per_h * hours,
            "rate_mg_per_min": None if self.rate_mg_per_min is None else self.rate_mg_per_min * self.duration_min,
        }
        per_kg = {
            "amount_mg_per_kg": self.amount_mg_per_kg,
            "rate_mg_per_kg_per_h": None if self.rate_mg_per_kg_per_h is None else self.rate_mg_per_kg_per_h * hours,
            "rate_mg_per_kg_per_min": (None if self.rate_mg_per_kg_per_min is None
                                       else self.rate_mg_per_kg_per_min * self.duration_min),
        }
        for v in mg.values():
            if v is not None:
                return Dose(time_h=self.time_h, amount_mg=v, duration_min=self.duration_min, route=self.route)
        for v in per_kg.values():
            if v is not None:
                return Dose(time_h=self.time_h, amount_mg_per_kg=v, duration_min=self.duration_min,
                            route=self.route)
        raise AssertionError("unreachable: validated above")

    @property
    def per_kg(self) -> bool:
        """True when the dose is given per kg of body weight."""
        return self.amount_mg_per_kg is not None or self.rate_mg_per_kg_per_h is not None or (
            self.rate_mg_per_kg_per_min is not None)

    def field_name(self) -> str:
        """The amount/rate key used."""
        return next(f for f in _AMOUNT_FIELDS + _RATE_FIELDS if getattr(self, f) is not None)


class AssessmentSection(FiniteFields, BaseModel):
    """``[[assessments]]``: a named time (h) at which blockade is reported.

    With ``end_h`` the assessment is a window ``[time_h, end_h]`` and the reported blockade is the mean
    over the window (as planoxone reports its outcome-assessment rows).
    """

    model_config = _STRICT_TYPES
    label: str = Field(min_length=1, max_length=200)
    time_h: Hours
    end_h: Optional[Hours] = None

    @model_validator(mode="after")
    def _window(self):
        if self.end_h is not None and self.end_h <= self.time_h:
            raise ValueError(f"end_h must be after time_h (got {self.end_h:g} <= {self.time_h:g})")
        return self


class PopulationSection(FiniteFields, BaseModel):
    """``[population]``: number of virtual subjects, seed and optional log-SD overrides."""

    model_config = _STRICT_TYPES
    n: int = Field(default=1000, ge=2, le=MAX_SUBJECTS)
    seed: int = Field(default=1, ge=0, le=MAX_SEED)
    # washout, emax, bateman
    ed50_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)
    half_life_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)
    absorption_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)
    # pkpd (ka: naltrexone only; ke0 with the effect compartment, koff with binding kinetics)
    cl_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)
    ka_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)
    affinity_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)
    ke0_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)
    koff_log_sd: Optional[float] = Field(default=None, ge=0, le=MAX_LOG_SD)

    def log_sd_overrides(self) -> dict:
        """The log-SDs given in the file: ``{"cl_log_sd": 0.2, ...}``."""
        return {k: v for k, v in self.model_dump().items() if k.endswith("_log_sd") and v is not None}


class SubjectSection(FiniteFields, BaseModel):
    """``[subject]``: body weight (kg).

    Needed for per-kg doses and for naloxone doses in mg with the ``bateman`` model; the ``pkpd`` models
    assume 70 kg without it and scale clearances by ``(W/70)^0.75`` and volumes by ``W/70`` (an allometric
    assumption, not a fitted covariate).
    """

    model_config = _STRICT_TYPES
    weight_kg: float = Field(gt=0, le=MAX_WEIGHT_KG)


class UncertaintySection(FiniteFields, BaseModel):
    """``[uncertainty]``: the typical subject's 95 % interval over parameter uncertainty (``pkpd`` models).

    ``n`` parameter sets are drawn (seeded) from the calibration's bootstrap distribution of the fitted
    parameters; each assessment reports the 2.5th and 97.5th percentiles of MOR (``MOR_ci_lo``,
    ``MOR_ci_hi``).  Separate from ``[population]`` (between-subject variability).
    """

    model_config = _STRICT_TYPES
    n: int = Field(default=200, ge=2, le=MAX_UNCERTAINTY_DRAWS)
    seed: int = Field(default=1, ge=0, le=MAX_SEED)


class SummarySection(FiniteFields, BaseModel):
    """``[summary]``: threshold (%) for "time until below" and the time of the residual-blockade check."""

    model_config = _STRICT_TYPES
    threshold: float = Field(default=10.0, gt=0, lt=100)
    residual_at_h: Optional[float] = Field(default=None, ge=-TIME_LIMIT_H, le=2 * TIME_LIMIT_H)


class Scenario(FiniteFields, BaseModel):
    """A whole scenario file (see the module docstring)."""

    model_config = STRICT_CONFIG
    task: Literal["simulate"] = "simulate"
    drug: DrugSection
    model: ModelSection = Field(default_factory=ModelSection)
    doses: list[DoseSection] = Field(min_length=1, max_length=MAX_DOSES)
    assessments: list[AssessmentSection] = Field(default_factory=list, max_length=MAX_ASSESSMENTS)
    population: Optional[PopulationSection] = None
    subject: Optional[SubjectSection] = None
    summary: SummarySection = Field(default_factory=SummarySection)
    uncertainty: Optional[UncertaintySection] = None

    @model_validator(mode="before")
    @classmethod
    def _clock_times(cls, data):
        """Clock times (``time_h = "09:00"``, ``"d8 10:30"``) → hours from the first dose's clock time.

        The first ``[[doses]]`` entry sets the origin (see :mod:`occupancy.dosing.quantities`); a clock time
        when the first dose is not at a clock time is an error naming the field.
        """
        from occupancy.dosing.quantities import clock_to_h, is_clock_time, parse_clock

        if not isinstance(data, dict):
            return data
        doses = data.get("doses")
        if not isinstance(doses, list):
            return data
        first = doses[0].get("time_h") if doses and isinstance(doses[0], dict) else None
        origin = None
        if is_clock_time(first):
            try:
                origin = parse_clock(first)
            except InputError as exc:
                raise ValueError(f"doses[0].time_h: {str(exc).split(': ', 1)[-1]}") from None
        data = dict(data)

        def convert(rows, section, keys, indexed=True):
            out = []
            for i, row in enumerate(rows):
                i = i if indexed else None
                if isinstance(row, dict) and any(is_clock_time(row.get(k)) for k in keys):
                    row = dict(row)
                    for k in keys:
                        if is_clock_time(row.get(k)):
                            where = f"{section}[{i}].{k}" if i is not None else f"{section}.{k}"
                            if origin is None:
                                raise ValueError(f"{where}: the clock time {row[k]!r} needs the first dose at a "
                                                 "clock time too (doses[0].time_h = \"09:00\"); clock times "
                                                 "count from the first dose's clock time")
                            try:
                                row[k] = clock_to_h(row[k], origin)
                            except InputError as exc:
                                raise ValueError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
                out.append(row)
            return out

        data["doses"] = convert(doses, "doses", ("time_h",))
        if isinstance(data.get("assessments"), list):
            data["assessments"] = convert(data["assessments"], "assessments", ("time_h", "end_h"))
        if isinstance(data.get("summary"), dict):
            data["summary"] = convert([data["summary"]], "summary", ("residual_at_h",), indexed=False)[0]
        return data

    @model_validator(mode="after")
    def _consistent(self):
        from occupancy.models import MODELS, model_class
        from dataclasses import fields

        drug = self.drug.name
        if self.model.name is not None and self.model.name.strip().lower() not in MODELS[drug]:
            raise ValueError(f"model.name: unknown model {self.model.name!r} for {drug} "
                             f"(choose {' or '.join(MODELS[drug])})")
        cls = model_class(drug, self.model.name)
        check_model_section(drug, self.model, self.population, self.uncertainty)
        weight = self.subject.weight_kg if self.subject else None
        for i, d in enumerate(self.doses):
            if weight is None and d.per_kg:
                raise ValueError(f"doses[{i}].{d.field_name()}: a per-kg dose needs [subject] weight_kg")
            if weight is None and getattr(cls, "mg_doses_need_weight", False) and not d.per_kg:
                raise ValueError(f"doses[{i}].{d.field_name()}: naloxone doses in mg need [subject] weight_kg "
                                 f"with the {cls.name} model (its ED50 is per kg)")
            if drug == "naltrexone" and d.duration_min > 0:
                raise ValueError(f"doses[{i}].duration_min: oral naltrexone doses cannot be infusions")
            if drug == "naltrexone" and d.route is not None:
                raise ValueError(f"doses[{i}].route: naltrexone is oral only (route applies to naloxone doses; "
                                 f"got {d.route!r})")
            if d.route not in (None, "iv") and not getattr(cls, "supports_routes", False):
                raise ValueError(f"doses[{i}].route: the {cls.name} model is IV only; {d.route} naloxone needs "
                                 f"the pkpd model")
        first = min(d.time_h for d in self.doses)
        for i, a in enumerate(self.assessments):
            if a.time_h < first:
                raise ValueError(f"assessments[{i}].time_h: before the first dose at {first:g} h (got {a.time_h:g})")
        if self.summary.residual_at_h is not None and self.summary.residual_at_h < first:
            raise ValueError(f"summary.residual_at_h: before the first dose at {first:g} h "
                             f"(got {self.summary.residual_at_h:g})")
        return self

    def schedule(self):
        """The dosing :class:`~occupancy.dosing.schedule.Schedule`."""
        from occupancy.dosing.schedule import Schedule

        return Schedule(tuple(d.to_dose() for d in self.doses),
                        weight_kg=self.subject.weight_kg if self.subject else None)

    def build_model(self):
        """The blockade model with the file's overrides."""
        from occupancy.models import get_model

        return get_model(self.drug.name, self.model.name, **self.model.overrides())

    def variability(self):
        """The population's :class:`~occupancy.simulation.population.Variability` (the model's documented
        log-SDs with the ``[population]`` overrides), or None without a population."""
        if self.population is None:
            return None
        return scenario_variability(self.build_model(), self.population)


def check_model_section(drug: str, model: ModelSection, population: PopulationSection | None = None,
                        uncertainty: UncertaintySection | None = None) -> None:
    """Cross-field checks of ``[model]``, ``[population]`` and ``[uncertainty]`` for ``drug`` (ValueError, one line).

    Every ``[model]`` key must be a parameter of the chosen model; the model must build (e.g.
    ``t_half_beta_h`` longer than ``t_half_alpha_h``); ``[population]`` log-SDs must be multipliers of the
    model; ``[uncertainty]`` needs a model with a parameter-uncertainty record.
    """
    from dataclasses import fields

    from occupancy.models import get_model, model_class

    cls = model_class(drug, model.name)
    allowed = {f.name for f in fields(cls)}
    overrides = model.overrides()
    for key in overrides:
        if key not in allowed:
            raise ValueError(f"model.{key}: not a parameter of the {cls.name} model "
                             f"(parameters: {', '.join(sorted(a for a in allowed if a in ModelSection.model_fields))})")
    built = get_model(drug, model.name, **overrides)
    if population is not None:
        scales = tuple(built.variability_scales)
        for key in population.log_sd_overrides():
            if key[: -len("_log_sd")] not in scales:
                raise ValueError(f"population.{key}: not a variability of the {cls.name} model"
                                 + (f" with hysteresis = {built.hysteresis!r}" if hasattr(built, "hysteresis") else "")
                                 + f" (its keys: {', '.join(n + '_log_sd' for n in scales)})")
    if uncertainty is not None:
        if not hasattr(built, "parameter_draws"):
            raise ValueError(f"uncertainty: the {cls.name} model has no parameter-uncertainty estimate (use the "
                             "pkpd model)")
        unc = built.record().get("uncertainty") or {}
        post = built.posterior() if hasattr(built, "posterior") else None
        if post is not None and built.structure_name in post:
            pass  # posterior draws of this structure (issue 19)
        elif unc.get("variant") != built.hysteresis:
            raise ValueError(f"uncertainty: the parameter uncertainty of the {drug} pkpd model was estimated "
                             f"(bootstrap) for hysteresis = {unc.get('variant')!r} only, not for {built.hysteresis!r}")


def scenario_variability(model, population: PopulationSection):
    """``model``'s documented variability with the ``[population]`` log-SD overrides applied."""
    from occupancy.simulation.population import default_variability

    return default_variability(model).with_overrides(population.log_sd_overrides())


def _loc(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _num(x) -> str:
    """A bound or value for messages: whole numbers without an exponent (1000000), others with ``:g``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, int) or (math.isfinite(x) and float(x).is_integer() and abs(x) < 1e15):
        return str(int(x))
    return f"{x:g}"


def _message(err: dict) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key missing"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values())) if ctx else "?"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number (got {value})"
        return f"must be {op} {_num(bound)} (got {_num(value)})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number (got {value!r})"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number (got {value!r})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {value!r})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} entries are allowed (got {ctx.get('actual_length')})"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} entries are needed (got {ctx.get('actual_length')})"
    if kind == "string_type":
        return f"must be a text string in quotes (got {value!r})"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', '')} (got {value!r})"
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def _section_at(schema, loc) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of ``loc`` (walking lists and optionals), or None."""
    import typing

    model = schema
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        found = None
        stack = [field.annotation]
        while stack and found is None:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                found = ann
            else:
                stack.extend(typing.get_args(ann))
        if found is None:
            return None
        model = found
    return model


def did_you_mean(word: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` (difflib), or ``""`` when none is close."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_validation_error(exc: ValidationError, source: str, schema: type[BaseModel] | None = None) -> str:
    """One line ``source: field: problem`` for the first error (and a count of the others).

    With ``schema`` (the validated model class) an unknown key gets a did-you-mean suggestion from the keys of
    its section: ``design.participant: unknown key (did you mean 'participants'?)``.
    """
    errors = exc.errors()
    # a misspelt key also makes its correct spelling "missing": the unknown key is the more useful line
    errors = sorted(errors, key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0]
    loc = _loc(first.get("loc", ()))
    msg = _message(first)
    if first.get("type") == "extra_forbidden" and schema is not None and first.get("loc"):
        section = _section_at(schema, first["loc"])
        if section is not None:
            msg += did_you_mean(first["loc"][-1], section.model_fields)
    text = f"{source}: {loc}: {msg}" if loc and not msg.startswith(("model.", "doses[", "assessments[", "summary."))\
        else f"{source}: {msg}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return " ".join(text.split())


def _bounds(metadata) -> dict:
    out = {}
    for m in metadata:
        for key in ("gt", "ge", "lt", "le"):
            if getattr(m, key, None) is not None:
                out[key] = getattr(m, key)
    return out


def field_range(section: type[BaseModel], name: str) -> str | None:
    """The documented range of a numeric field as an interval, e.g. ``(0, 1000]`` (None if unbounded).

    List fields report the range of their items.  Used by the README's key reference test.
    """
    import typing

    field = section.model_fields[name]
    bounds = _bounds(field.metadata)
    if not bounds:
        for arg in typing.get_args(field.annotation):
            for inner in (arg, *typing.get_args(arg)):
                if typing.get_origin(inner) is Annotated:
                    bounds = _bounds(typing.get_args(inner)[1:])
                    for meta in typing.get_args(inner)[1:]:
                        bounds = bounds or _bounds(getattr(meta, "metadata", ()))
                if bounds:
                    break
            if bounds:
                break
    if not bounds:
        return None
    lo = f"[{_num(bounds['ge'])}" if "ge" in bounds else (f"({_num(bounds['gt'])}" if "gt" in bounds else "(−∞")
    hi = f"{_num(bounds['le'])}]" if "le" in bounds else (f"{_num(bounds['lt'])})" if "lt" in bounds else "∞)")
    return f"{lo}, {hi}".replace("-", "−")


def check_value(section: type[BaseModel], name: str, value, label: str):
    """Check one command-line value against the constraints of ``section.name`` (same range, same wording).

    Returns the validated value; raises :class:`InputError` ``"LABEL: must be <= 1000000 (got 10000000)"``.
    """
    from pydantic import TypeAdapter

    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{label}: must be a finite number (got {value})")
    field = section.model_fields[name]
    adapter = TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)
    try:
        value = adapter.validate_python(value)
    except ValidationError as exc:
        raise InputError(f"{label}: {_message(exc.errors()[0])}") from None
    return value


def scenario_from_dict(data: dict, source: str = "scenario", schema: type[Scenario] | None = None) -> Scenario:
    """Validate a parsed scenario; errors become one-line :class:`InputError`.

    ``schema`` is :class:`Scenario` or a subclass with extra sections (e.g. the planner's ``PlanScenario``).
    """
    try:
        return (schema or Scenario).model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, source, schema or Scenario)) from None
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def read_scenario_toml(path=None, *, text: str | None = None, source: str | None = None) -> tuple[dict, str]:
    """Parse a TOML scenario (from ``path``, or from ``text``) without validating it.

    Returns the parsed mapping and the file's text.  Used by :func:`load_scenario` and by ``blockade run``,
    which must look at the ``task`` key before choosing the schema.

    A leading byte-order mark is accepted (and dropped).

    Raises
    ------
    InputError
        Missing or unreadable file, non-UTF-8 text or malformed TOML (also nesting so deep that the parser
        would exhaust Python's recursion limit), with one line naming the file.
    """
    import tomllib

    if text is None:
        from occupancy.bundled import resolve_scenario

        path = resolve_scenario(path)
        source = source or path.name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path}: file not found") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, not a scenario file") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{source}: not UTF-8 text") from None
    source = source or "scenario"
    if text.startswith("\ufeff"):  # a byte-order mark (some Windows editors write one): not part of the TOML
        text = text[1:]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: malformed TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise InputError(f"{source}: malformed TOML: arrays or tables nested too deeply (a scenario needs a "
                         "few levels)") from None
    return data, text


def load_scenario(path, schema: type[Scenario] | None = None) -> Scenario:
    """Read and validate a TOML scenario file (against ``schema``, a :class:`Scenario` subclass, if given).

    Raises
    ------
    InputError
        Missing file, malformed TOML or an invalid field, with one line naming the file and field.
    """
    from occupancy.bundled import resolve_scenario

    path = resolve_scenario(path)
    data, _ = read_scenario_toml(path)
    return scenario_from_dict(data, path.name, schema)
