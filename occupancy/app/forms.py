"""The web app's inputs and how their values become a scenario (and back); plain Python, no Shiny.

Every input of the three tabs is an :class:`InputDef` (id, kind, label, default, choices, bounds).  The UI
(:mod:`occupancy.app.ui`) draws widgets from them, the server (:mod:`occupancy.app.server`) reads their
values into a plain ``{id: value}`` dict, and the forms here turn that dict into the scenario dict that
:func:`occupancy.simulation.scenario.scenario_from_dict` validates, exactly as a TOML file would be.  The
way back (:meth:`SimulateForm.values_from_scenario` etc.) restores an uploaded scenario into the inputs.

Nothing about the models is written here: the drugs, models and default models come from the registry
(:data:`occupancy.models.DRUGS`, :data:`~occupancy.models.MODELS`, :data:`~occupancy.models.DEFAULT_MODEL`),
a model's editable parameters are its dataclass fields that ``[model]`` accepts (with the model's own
defaults), and any scenario section the forms do not know by name (e.g. a future ``[uncertainty]``) gets
inputs built from its pydantic fields.  The dose units are the ``amount_*``/``rate_*`` keys of ``[[doses]]``.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field, fields as dc_fields
from typing import Any, Iterable, Literal, Mapping

from occupancy.errors import InputError

MAX_DOSES = 60
MAX_ASSESSMENTS = 20
#: Largest virtual population the Simulate tab recomputes on every edit (in the request; larger runs belong
#: to ``blockade simulate``, which has no such limit).
MAX_LIVE_POPULATION = 100_000

KINDS = ("number", "integer", "text", "choice", "radio", "bool", "choices", "numbers")

#: Words shown in capitals in generated labels.
_ACRONYMS = {"ed50": "ED50", "kor": "KOR", "dor": "DOR", "mor": "MOR", "isi": "ISI", "tmax": "tmax", "n": "N",
             "ke0": "ke0", "koff": "koff", "kon": "kon", "ci": "CI", "pp": "pp"}
_UNIT_SUFFIXES = (("_mg_per_kg_per_min", "mg/kg/min"), ("_mg_per_kg_per_h", "mg/kg/h"), ("_mg_per_kg", "mg/kg"),
                  ("_mg_per_min", "mg/min"), ("_mg_per_h", "mg/h"), ("_l_per_h", "L/h"), ("_per_h", "1/h"),
                  ("_per_min", "1/min"), ("_ng_ml", "ng/mL"), ("_days", "days"), ("_min", "min"), ("_pct", "%"),
                  ("_kg", "kg"), ("_mg", "mg"), ("_ug", "µg"), ("_l", "L"), ("_h", "h"))
#: Words for parameter names whose letters alone read badly (the unit still comes from the suffix).
_WORDS = {"ka": "Absorption rate constant ka", "cl": "Clearance CL", "t_half_alpha": "Half-life, distribution (α)",
          "t_half_beta": "Half-life, terminal (β)", "t_half_nol": "6β-naltrexol half-life",
          "v_nol": "6β-naltrexol volume of distribution", "nol_potency_ratio": "Naltrexone : 6β-naltrexol potency",
          "f_systemic": "Oral bioavailability F (fraction)", "terminal_auc_fraction": "Terminal share of the AUC",
          "ke0": "Effect-site rate constant ke0", "koff": "Receptor dissociation rate koff",
          "kor_ratio": "KOR : MOR affinity ratio", "dor_ratio": "DOR : MOR affinity ratio", "smax": "Smax (fraction)",
          "v1": "Central volume V1", "v2": "Peripheral volume V2", "v3": "Peripheral volume V3",
          "q2": "Intercompartmental clearance Q2", "q3": "Intercompartmental clearance Q3",
          "tmax": "Time to peak", "t_ref": "Reference time", "half_life": "Half-life", "window": "Window",
          "ed50_log_sd": "ED50 variability (log SD)", "half_life_log_sd": "Half-life variability (log SD)",
          "absorption_log_sd": "Absorption variability (log SD)", "cl_log_sd": "Clearance variability (log SD)",
          "ka_log_sd": "ka variability (log SD)", "affinity_log_sd": "Affinity variability (log SD)",
          "ke0_log_sd": "ke0 variability (log SD)", "koff_log_sd": "koff variability (log SD)"}


#: The dose a drug's first dose row opens with when the drug is chosen: ``(amount, dose unit key, why)``.
#: Sources (/work/shared/reference/pkpd_sources.md): 50 mg oral naltrexone and 0.10–0.15 mg/kg IV naloxone
#: give > 90 % MOR blockade for a ~60 min session (the Trøstheim review's summary).
OPENING_DOSES = {
    "naltrexone": (50.0, "amount_mg", "50 mg oral, the usual research dose"),
    "naloxone": (0.1, "amount_mg_per_kg", "0.1 mg/kg IV, the low end of the 0.10–0.15 mg/kg that blocks "
                 "> 90 % of MOR for a ~60 min session; enter the body weight"),
}


def label_for(name: str) -> str:
    """A readable label from a field name: ``half_life_h`` → ``Half-life (h)``, ``cl_l_per_h`` →
    ``Clearance CL (L/h)``, ``ed50_mg`` → ``ED50 (mg)``."""
    if name in _WORDS:
        return _WORDS[name]
    unit = ""
    for suffix, u in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name, unit = name[: -len(suffix)], u
            break
    if name in _WORDS:
        return f"{_WORDS[name]} ({unit})" if unit else _WORDS[name]
    words = [_ACRONYMS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words)
    text = text[:1].upper() + text[1:] if text[:1].islower() else text
    return f"{text} ({unit})" if unit else text


@dataclass(frozen=True)
class InputDef:
    """One input widget: ``kind`` is one of :data:`KINDS` (``numbers`` is a comma-separated list)."""

    id: str
    kind: str
    label: str
    default: Any = None
    choices: Any = ()  # sequence of values, or {value: label}
    min: float | None = None
    max: float | None = None
    step: float | None = None
    placeholder: str = ""
    help: str = ""

    def choice_values(self) -> list:
        return list(self.choices.keys()) if isinstance(self.choices, Mapping) else list(self.choices)


@dataclass(frozen=True)
class FieldInput:
    """An input bound to one key of a scenario section; the key is left out when the value is ``omit``."""

    key: str
    input: InputDef
    omit: Any = None
    #: The rounded value the widget shows for an ``omit`` default with more digits (:func:`display_number`): a
    #: value equal to it is the unchanged default, so the exact ``omit`` value is used (the key is left out).
    shown: Any = None

    def unchanged(self, value) -> bool:
        """True when ``value`` (a scenario value) is the default: ``omit`` itself or the rounded value shown."""
        return self.omit is not None and (_equal(value, self.omit) or (self.shown is not None
                                                                       and _equal(value, self.shown)))


# --------------------------------------------------------------------------------------------------
# Values: UI value <-> TOML value
# --------------------------------------------------------------------------------------------------


#: Significant digits of a default shown in a number input (fitted parameters carry 16 digits of float noise, e.g.
#: 3.6735828654796694; four are what the sources give and what a reader compares).
DISPLAY_DIGITS = 4


def display_number(value):
    """``value`` rounded to :data:`DISPLAY_DIGITS` significant digits for display (other values unchanged)."""
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{DISPLAY_DIGITS}g}")
    return value


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def _number_text(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def parse_numbers(text) -> list:
    """``"72, 108"`` → ``[72.0, 108.0]``; an item that is not a number stays text (the schema names it)."""
    if isinstance(text, (list, tuple)):
        return list(text)
    out = []
    for item in str(text or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(float(item))
        except ValueError:
            out.append(item)
    return out


def to_toml_value(kind: str, value):
    """The scenario value of a UI value (``None`` = leave the key out)."""
    if kind in ("number",):
        return None if _blank(value) else (float(value) if isinstance(value, (int, float)) else value)
    if kind == "integer":
        if _blank(value):
            return None
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if kind == "bool":
        return bool(value)
    if kind in ("text", "choice", "radio"):
        return None if _blank(value) else str(value)
    if kind == "choices":
        return list(value or ())
    if kind == "numbers":
        return None if _blank(value) else parse_numbers(value)
    raise ValueError(f"unknown input kind {kind!r}")


def to_ui_value(kind: str, value):
    """The widget value for a scenario value (inverse of :func:`to_toml_value`)."""
    if value is None:
        return "" if kind in ("text", "numbers") else (() if kind == "choices" else None)
    if kind == "numbers":
        return ", ".join(_number_text(v) for v in value)
    if kind == "choices":
        return tuple(value)
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    return value


def _equal(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    return a == b


# --------------------------------------------------------------------------------------------------
# Inputs from pydantic fields
# --------------------------------------------------------------------------------------------------


def _unwrap_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _bounds(info) -> dict:
    out = {}
    for m in getattr(info, "metadata", ()):
        for attr, key in (("ge", "min"), ("gt", "min"), ("le", "max"), ("lt", "max")):
            v = getattr(m, attr, None)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[key] = v
    return out


def field_kind(annotation) -> tuple[str, tuple] | None:
    """``(kind, choices)`` for a pydantic annotation, or None when the app has no widget for it."""
    ann, _ = _unwrap_optional(annotation)
    origin = typing.get_origin(ann)
    if ann is bool:
        return "bool", ()
    if ann is int:
        return "integer", ()
    if ann is float:
        return "number", ()
    if ann is str:
        return "text", ()
    if origin is Literal:
        return "choice", tuple(typing.get_args(ann))
    if origin is list:
        inner = (typing.get_args(ann) or (None,))[0]
        if typing.get_origin(inner) is Literal:
            return "choices", tuple(typing.get_args(inner))
        if inner in (float, int):
            return "numbers", ()
    return None


def _schema_default(info):
    if info.is_required():
        return None
    return info.get_default(call_default_factory=True)


def pydantic_inputs(model_cls, prefix: str, *, exclude: Iterable[str] = (), defaults: Mapping | None = None,
                    labels: Mapping[str, str] | None = None, ids: Mapping[str, str] | None = None,
                    only: Iterable[str] | None = None) -> list[FieldInput]:
    """Inputs for the fields of a pydantic section (ids ``{prefix}{field}`` unless ``ids`` names one).

    ``defaults`` replaces the schema default shown (and left out of the scenario) for some fields, e.g. a
    model's own parameter values for ``[model]``'s ``None`` ("model default") fields.
    """
    exclude = set(exclude)
    out = []
    names = list(model_cls.model_fields) if only is None else [n for n in only if n in model_cls.model_fields]
    for name in names:
        if name in exclude:
            continue
        info = model_cls.model_fields[name]
        kind = field_kind(info.annotation)
        if kind is None:
            continue
        default = (defaults or {}).get(name, _schema_default(info))
        kind_name, choices = kind
        ui_default = to_ui_value(kind_name, default)
        shown = None
        if kind_name == "number" and display_number(ui_default) != ui_default:
            ui_default = shown = display_number(ui_default)  # the exact default is kept as ``omit``
        bounds = _bounds(info)
        label = (labels or {}).get(name) or label_for(name)
        out.append(FieldInput(name, InputDef((ids or {}).get(name, f"{prefix}{name}"), kind_name, label, ui_default,
                                             choices, step=None, **bounds), omit=default, shown=shown))
    return out


def read_fields(fields: Iterable[FieldInput], values: Mapping[str, Any], *, always: Iterable[str] = ()) -> dict:
    """The section dict: every value that is set and differs from its ``omit`` value (``always`` keys kept)."""
    always = set(always)
    out = {}
    for f in fields:
        value = to_toml_value(f.input.kind, values.get(f.input.id, f.input.default))
        if value is None:
            continue
        if f.key not in always and f.unchanged(value):
            continue
        out[f.key] = value
    return out


def field_values(fields: Iterable[FieldInput], section) -> dict[str, Any]:
    """Widget values for a validated section (keys it was not given show their defaults)."""
    given = set(getattr(section, "model_fields_set", ())) if section is not None else set()
    out = {}
    for f in fields:
        if f.key in given and not f.unchanged(getattr(section, f.key)):
            out[f.input.id] = to_ui_value(f.input.kind, getattr(section, f.key))
        else:
            out[f.input.id] = f.input.default
    return out


# --------------------------------------------------------------------------------------------------
# Models and dose units from the registry and the schema
# --------------------------------------------------------------------------------------------------


def drugs() -> tuple[str, ...]:
    from occupancy.models import DRUGS

    return tuple(DRUGS)


def model_names(drug: str) -> tuple[str, ...]:
    from occupancy.models import MODELS

    return tuple(MODELS[drug])


def default_model(drug: str) -> str:
    from occupancy.models import DEFAULT_MODEL

    return DEFAULT_MODEL[drug]


def model_description(drug: str, name: str) -> str:
    """First line of the model class's docstring."""
    from occupancy.models import model_class

    doc = (model_class(drug, name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def model_parameter_inputs(drug: str, name: str, prefix: str) -> list[FieldInput]:
    """The parameters a scenario may override for this model: its dataclass fields that ``[model]`` accepts,
    shown with the model's own default values (left out of the scenario while unchanged)."""
    from occupancy.models import get_model, model_class
    from occupancy.simulation.scenario import ModelSection

    cls = model_class(drug, name)
    params = [f.name for f in dc_fields(cls) if f.name in ModelSection.model_fields and f.name != "name"]
    try:
        instance = get_model(drug, name)
        defaults = {p: getattr(instance, p) for p in params}
    except Exception:  # noqa: BLE001 - a model that cannot be built with defaults shows blank inputs
        defaults = {}
    return pydantic_inputs(ModelSection, prefix, only=params, defaults=defaults)


def dose_units() -> dict[str, str]:
    """``{[[doses]] key: unit label}``: ``amount_mg`` → ``mg``, ``rate_mg_per_kg_per_h`` → ``mg/kg/h``."""
    from occupancy.simulation.scenario import DoseSection

    out = {}
    for key in DoseSection.model_fields:
        for prefix in ("amount_", "rate_"):
            if key.startswith(prefix):
                out[key] = key[len(prefix):].replace("_per_", "/").replace("ug", "µg")
    return out


#: Labels of the dose table's Route select ("" = the drug's usual route, IV for naloxone: the key is left out).
ROUTE_LABELS = {"": "IV (default)", "intranasal": "Intranasal", "intramuscular": "Intramuscular"}


def route_choices() -> dict[str, str]:
    """``{route: label}`` of the dose table's Route select: the blank default, then every other route
    ``[[doses]] route`` accepts (from the schema)."""
    from occupancy.dosing.schedule import ROUTES

    return {"": ROUTE_LABELS[""], **{r: ROUTE_LABELS.get(r, r) for r in ROUTES if r != ROUTES[0]}}


def route_drugs() -> tuple[str, ...]:
    """The drugs with a model that takes a dose route (``supports_routes``, from the registry): the dose table
    shows its Route column for these only (naltrexone is oral only)."""
    from occupancy.models import model_class

    return tuple(d for d in drugs() if any(getattr(model_class(d, m), "supports_routes", False)
                                           for m in model_names(d)))


def row_id(base: str, i: int) -> str:
    """Id of row ``i`` (0-based) of a table of inputs: ``dose_mg``, ``dose_mg_2``, ``dose_mg_3``, ..."""
    return base if i == 0 else f"{base}_{i + 1}"


# --------------------------------------------------------------------------------------------------
# Simulate tab
# --------------------------------------------------------------------------------------------------

#: Sections of a simulate scenario with inputs placed by hand; every other section gets generated inputs.
_SIMULATE_SECTIONS = ("task", "drug", "model", "doses", "assessments", "population", "subject", "summary")
_SUMMARY_LABELS = {"threshold": "Washout threshold (% MOR)",
                   "residual_at_h": "Residual blockade at (h; blank = last dose + recommended interval)"}


@dataclass(frozen=True)
class OptionalSection:
    """A scenario section without hand-made inputs: a switch (for optional sections) and its fields."""

    name: str
    switch: InputDef | None
    fields: tuple[FieldInput, ...]


def _section_class(annotation):
    from pydantic import BaseModel

    ann, optional = _unwrap_optional(annotation)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann, optional
    return None, False


@dataclass(frozen=True)
class SimulateForm:
    """The Simulate tab: drug, model and its parameters, dosing table, assessments, subject, population."""

    schema: Any = None

    def __post_init__(self):
        if self.schema is None:
            from occupancy.simulation.scenario import Scenario

            object.__setattr__(self, "schema", Scenario)

    # -- inputs ---------------------------------------------------------------------------------------
    def drug_input(self) -> InputDef:
        choices = drugs()
        return InputDef("drug", "choice", "Drug", "naltrexone" if "naltrexone" in choices else choices[0], choices)

    def model_input(self, drug: str) -> InputDef:
        default = default_model(drug)
        choices = {m: f"{m} (default)" if m == default else m for m in model_names(drug)}
        return InputDef(f"model_{drug}", "choice", "Model", default, choices)

    def parameter_inputs(self, drug: str, model: str) -> list[FieldInput]:
        return model_parameter_inputs(drug, model, f"p__{drug}__{model}__")

    def dose_row(self, i: int) -> dict[str, InputDef]:
        return {
            "time_h": InputDef(row_id("dose_time_h", i), "number", "Time (h)", 0.0 if i == 0 else None, min=0,
                             step=0.5),
            "amount": InputDef(row_id("dose_mg", i), "number", "Amount", 50.0 if i == 0 else None, min=0, step=1),
            "unit": InputDef(row_id("dose_unit", i), "choice", "Unit", "amount_mg", dose_units()),
            "duration_min": InputDef(row_id("dose_duration_min", i), "number", "Infusion (min)", 0.0, min=0, step=1),
            "route": InputDef(row_id("dose_route", i), "choice", "Route", "", route_choices()),
        }

    def assessment_row(self, i: int) -> dict[str, InputDef]:
        return {
            "label": InputDef(row_id("assess_label", i), "text", "Label", "task" if i == 0 else ""),
            "time_h": InputDef(row_id("assess_h", i), "number", "Start (h)", 2.0 if i == 0 else None, min=0,
                               step=0.5),
            "end_h": InputDef(row_id("assess_end_h", i), "number", "End (h)", None, min=0, step=0.5,
                              placeholder="point"),
        }

    def counts(self) -> tuple[InputDef, InputDef]:
        return (InputDef("dose_rows", "integer", "Doses", 1, min=1, max=MAX_DOSES, step=1),
                InputDef("assess_rows", "integer", "Assessments", 1, min=1, max=MAX_ASSESSMENTS, step=1))

    def weight_input(self) -> InputDef:
        return InputDef("weight_kg", "number", "Body weight (kg)", None, min=0, step=1,
                        placeholder="not given (needed for per-kg and naloxone doses)")

    def population_inputs(self) -> tuple[InputDef, InputDef, InputDef]:
        from occupancy.simulation.scenario import PopulationSection

        n = PopulationSection.model_fields["n"].default
        seed = PopulationSection.model_fields["seed"].default
        return (InputDef("pop_on", "bool", "Virtual population (percentiles, P(MOR ≥ 90 %))", False),
                InputDef("pop_n", "integer", "Subjects (n)", n, min=2, max=MAX_LIVE_POPULATION, step=100),
                InputDef("pop_seed", "integer", "Seed", seed, min=0, step=1))

    def population_fields(self) -> list[FieldInput]:
        from occupancy.simulation.scenario import PopulationSection

        return pydantic_inputs(PopulationSection, "population__", exclude=("n", "seed"))

    def subject_fields(self) -> list[FieldInput]:
        cls, _ = _section_class(self.schema.model_fields["subject"].annotation)
        return pydantic_inputs(cls, "subject__", exclude=("weight_kg",)) if cls else []

    def summary_fields(self) -> list[FieldInput]:
        cls, _ = _section_class(self.schema.model_fields["summary"].annotation)
        return pydantic_inputs(cls, "summary__", labels=_SUMMARY_LABELS) if cls else []

    def other_sections(self) -> list[OptionalSection]:
        """Sections of the schema without hand-made inputs (e.g. a future ``[uncertainty]``)."""
        out = []
        for name, info in self.schema.model_fields.items():
            if name in _SIMULATE_SECTIONS:
                continue
            cls, optional = _section_class(info.annotation)
            if cls is None:
                continue
            switch = None
            if optional and info.default is None:
                doc = (cls.__doc__ or "").strip().splitlines()
                switch = InputDef(f"x_on__{name}", "bool", f"[{name}]" + (f": {doc[0]}" if doc else ""), False)
            out.append(OptionalSection(name, switch, tuple(pydantic_inputs(cls, f"x__{name}__"))))
        return out

    def all_inputs(self) -> list[InputDef]:
        """Every input of the tab (for restoring values by kind)."""
        out = [self.drug_input(), *self.counts(), self.weight_input(), *self.population_inputs()]
        for drug in drugs():
            out.append(self.model_input(drug))
            for model in model_names(drug):
                out += [f.input for f in self.parameter_inputs(drug, model)]
        for i in range(MAX_DOSES):
            out += list(self.dose_row(i).values())
        for i in range(MAX_ASSESSMENTS):
            out += list(self.assessment_row(i).values())
        out += [f.input for f in self.population_fields() + self.subject_fields() + self.summary_fields()]
        for section in self.other_sections():
            out += ([section.switch] if section.switch else []) + [f.input for f in section.fields]
        return out

    def defaults(self) -> dict[str, Any]:
        return {d.id: d.default for d in self.all_inputs()}

    def ids_in_use(self, values: Mapping[str, Any]) -> list[str]:
        """The inputs the current scenario reads (visible rows only, the chosen model's parameters)."""
        drug = values.get("drug") or self.drug_input().default
        model = values.get(f"model_{drug}") or default_model(drug)
        ids = ["drug", f"model_{drug}", "dose_rows", "assess_rows", "weight_kg", "pop_on", "pop_n", "pop_seed"]
        ids += [f.input.id for f in self.parameter_inputs(drug, model)]
        for i in range(_count(values.get("dose_rows"), MAX_DOSES)):
            ids += [d.id for d in self.dose_row(i).values()]
        for i in range(_count(values.get("assess_rows"), MAX_ASSESSMENTS)):
            ids += [d.id for d in self.assessment_row(i).values()]
        ids += [f.input.id for f in self.population_fields() + self.subject_fields() + self.summary_fields()]
        for section in self.other_sections():
            ids += ([section.switch.id] if section.switch else []) + [f.input.id for f in section.fields]
        return ids

    # -- values -> scenario ---------------------------------------------------------------------------
    def chosen_model(self, values: Mapping[str, Any]) -> tuple[str, str]:
        drug = values.get("drug") or self.drug_input().default
        if drug not in drugs():
            raise InputError(f"drug.name: unknown drug {drug!r}")
        model = values.get(f"model_{drug}") or default_model(drug)
        return drug, model

    def scenario_data(self, values: Mapping[str, Any], *, points_only: bool = False,
                      with_summary: bool = True) -> dict:
        """The scenario dict (as a TOML file would give it) of the tab's input values.

        ``points_only`` gives each assessment as its start time (the planner's point assessments).
        """
        v = {**self.defaults(), **values}
        drug, model = self.chosen_model(v)
        data: dict[str, Any] = {"drug": {"name": drug},
                                "model": {"name": model, **read_fields(self.parameter_inputs(drug, model), v)}}
        doses = []
        for i in range(_strict_count(v.get("dose_rows"), MAX_DOSES, "doses", "doses")):
            row = self.dose_row(i)
            dose: dict[str, Any] = {}
            t = to_toml_value("number", v.get(row["time_h"].id))
            if isinstance(t, (int, float)) and t < 0:
                raise InputError(f"doses[{i}].time_h: must be 0 h or later, counted from the first dose of the "
                                 f"session (got {t:g} h)")
            if t is not None:
                dose["time_h"] = t
            amount = to_toml_value("number", v.get(row["amount"].id))
            if amount is not None:
                dose[v.get(row["unit"].id) or "amount_mg"] = amount
            duration = to_toml_value("number", v.get(row["duration_min"].id))
            if duration is not None and duration != 0:
                dose["duration_min"] = duration
            route = to_toml_value("choice", v.get(row["route"].id))
            if route is not None and drug in route_drugs():  # the column is shown for these drugs only
                dose["route"] = route
            doses.append(dose)
        data["doses"] = doses
        assessments = []
        for i in range(_strict_count(v.get("assess_rows"), MAX_ASSESSMENTS, "assessments", "assessments")):
            row = self.assessment_row(i)
            a: dict[str, Any] = {}
            t = to_toml_value("number", v.get(row["time_h"].id))
            label = to_toml_value("text", v.get(row["label"].id))
            a["label"] = label if label is not None else (f"{t:g} h" if isinstance(t, float) else f"assessment {i + 1}")
            if t is not None:
                a["time_h"] = t
            end = to_toml_value("number", v.get(row["end_h"].id))
            if end is not None and not points_only:
                a["end_h"] = end
            assessments.append(a)
        data["assessments"] = assessments
        weight = to_toml_value("number", v.get("weight_kg"))
        subject = read_fields(self.subject_fields(), v)
        if weight is not None:
            subject = {"weight_kg": weight, **subject}
        if subject:
            data["subject"] = subject
        if v.get("pop_on"):
            n = to_toml_value("integer", v.get("pop_n"))
            if isinstance(n, int) and n > MAX_LIVE_POPULATION:
                raise InputError(f"population.n: the app simulates up to {MAX_LIVE_POPULATION} virtual subjects "
                                 f"(got {n}); run larger populations with `blockade simulate` or `blockade run`")
            data["population"] = {"n": n,
                                  "seed": to_toml_value("integer", v.get("pop_seed")),
                                  **read_fields(self.population_fields(), v)}
            data["population"] = {k: x for k, x in data["population"].items() if x is not None}
        if with_summary:
            summary = read_fields(self.summary_fields(), v)
            if summary:
                data["summary"] = summary
        for section in self.other_sections():
            if section.switch is not None and not v.get(section.switch.id):
                continue
            body = read_fields(section.fields, v)
            if body or section.switch is not None:
                data[section.name] = body
        return data

    # -- scenario -> values ---------------------------------------------------------------------------
    def values_from_scenario(self, scenario) -> dict[str, Any]:
        """Input values that rebuild ``scenario`` (a simulate or plan scenario); the rest keep defaults."""
        v = self.defaults()
        drug = scenario.drug.name
        model = scenario.model.name.strip().lower() if scenario.model.name else default_model(drug)
        v["drug"] = drug
        v[f"model_{drug}"] = model
        v.update(field_values(self.parameter_inputs(drug, model), scenario.model))
        if len(scenario.doses) > MAX_DOSES:
            raise InputError(f"doses: the app edits up to {MAX_DOSES} doses (got {len(scenario.doses)}); "
                             "run this scenario with `blockade run`")
        if len(scenario.assessments) > MAX_ASSESSMENTS:
            raise InputError(f"assessments: the app edits up to {MAX_ASSESSMENTS} assessments "
                             f"(got {len(scenario.assessments)}); run this scenario with `blockade run`")
        v["dose_rows"] = len(scenario.doses)
        for i, d in enumerate(scenario.doses):
            row = self.dose_row(i)
            key = d.field_name()
            v[row["time_h"].id] = float(d.time_h)
            v[row["amount"].id] = float(getattr(d, key))
            v[row["unit"].id] = key
            v[row["duration_min"].id] = float(d.duration_min)
            v[row["route"].id] = "" if d.route in (None, "iv") else d.route  # "iv" is the default (blank)
        v["assess_rows"] = max(1, len(scenario.assessments))
        for i, a in enumerate(scenario.assessments):
            row = self.assessment_row(i)
            v[row["label"].id] = a.label
            v[row["time_h"].id] = float(a.time_h)
            v[row["end_h"].id] = None if a.end_h is None else float(a.end_h)
        if not scenario.assessments:
            v[self.assessment_row(0)["label"].id] = ""
            v[self.assessment_row(0)["time_h"].id] = None
        v["weight_kg"] = scenario.subject.weight_kg if scenario.subject is not None else None
        v.update(field_values(self.subject_fields(), scenario.subject))
        v["pop_on"] = scenario.population is not None
        if scenario.population is not None:
            v["pop_n"] = scenario.population.n
            v["pop_seed"] = scenario.population.seed
            v.update(field_values(self.population_fields(), scenario.population))
        if "summary" in scenario.model_fields_set:
            v.update(field_values(self.summary_fields(), scenario.summary))
        for section in self.other_sections():
            value = getattr(scenario, section.name, None)
            if section.switch is not None:
                v[section.switch.id] = value is not None and section.name in scenario.model_fields_set
            v.update(field_values(section.fields, value if section.name in scenario.model_fields_set else None))
        return v


def _strict_count(value, limit: int, path: str, what: str) -> int:
    """A row count typed by the user: a whole number from 1 to ``limit``, else an error at the field (a 0 or blank
    count never silently becomes 1)."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{path}: the number of {what} is required (left blank); enter 1 to {limit}") from None
    if not math.isfinite(n) or n != int(n) or not 1 <= n <= limit:
        raise InputError(f"{path}: the number of {what} must be a whole number from 1 to {limit} (got {value!r})")
    return int(n)


def _count(value, limit: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 1
    return max(1, min(limit, n))


# --------------------------------------------------------------------------------------------------
# Plan tab
# --------------------------------------------------------------------------------------------------

_DESIGN_HAND = ("kind", "sessions", "drug_sessions", "isi_days", "participants", "n_drug", "n_placebo", "effect",
                "correlation", "alpha", "power", "tablet_mg", "price_per_tablet", "currency")
_WITHIN_ONLY = ("sessions", "drug_sessions", "isi_days", "correlation")
_BETWEEN_ONLY = ("n_drug", "n_placebo")
_DESIGN_IDS = {"kind": "design_kind", "power": "target_power"}
_DESIGN_LABELS = {"kind": "Design", "sessions": "Sessions per participant", "drug_sessions": "Drug sessions",
                  "isi_days": "Intersession interval (days)",
                  "participants": "Participants (N; blank = N for the target power with the blockade attenuation)",
                  "n_drug": "Drug group (n; instead of N)", "n_placebo": "Placebo group (n)",
                  "effect": "Effect under full blockade (Hedges' g)", "correlation": "Correlation between sessions (r)",
                  "alpha": "α (two-sided)", "power": "Target power", "tablet_mg": "Tablet size (mg)",
                  "price_per_tablet": "Price per tablet", "currency": "Currency"}
#: Values the Plan tab opens with where the schema has none (a counterbalanced two-session crossover).
PLAN_OPENING = {"kind": "within", "isi_days": 15.0, "participants": 40}


@dataclass(frozen=True)
class PlanForm:
    """The Plan tab: the ``[design]`` section; drug, dosing and assessments come from the Simulate tab."""

    simulate: SimulateForm = field(default_factory=SimulateForm)

    def design_fields(self) -> list[FieldInput]:
        from occupancy.workflows.planning.design import DesignSection

        hand = pydantic_inputs(DesignSection, "", only=_DESIGN_HAND, ids=_DESIGN_IDS, labels=_DESIGN_LABELS)
        out = []
        for f in hand:
            if f.key in PLAN_OPENING:
                value = PLAN_OPENING[f.key]
                inp = f.input
                f = FieldInput(f.key, InputDef(inp.id, "radio" if f.key == "kind" else inp.kind, inp.label,
                                               to_ui_value(inp.kind, value), inp.choices, inp.min, inp.max),
                               omit=None)
            out.append(f)
        return out

    def advanced_fields(self) -> list[FieldInput]:
        from occupancy.workflows.planning.design import DesignSection

        return pydantic_inputs(DesignSection, "design__", exclude=_DESIGN_HAND)

    def all_inputs(self) -> list[InputDef]:
        return [f.input for f in self.design_fields() + self.advanced_fields()]

    def defaults(self) -> dict[str, Any]:
        return {d.id: d.default for d in self.all_inputs()}

    def design_data(self, values: Mapping[str, Any]) -> dict:
        v = {**self.defaults(), **values}
        kind = v.get("design_kind") or "within"
        skip = _BETWEEN_ONLY if kind == "within" else _WITHIN_ONLY
        hand = [f for f in self.design_fields() if f.key not in skip]
        design = read_fields(hand, v, always=[f.key for f in hand])  # the visible design, written out in full
        design.update(read_fields(self.advanced_fields(), v))
        return design

    def scenario_data(self, simulate_values: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
        """The planning scenario: the Simulate tab's drug, model, doses, assessments (their start times),
        subject and population, plus ``[design]``."""
        data = self.simulate.scenario_data(simulate_values, points_only=True, with_summary=False)
        data = {"task": "plan", **data, "design": self.design_data(values)}
        return data

    def values_from_scenario(self, scenario) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(simulate values, plan values)`` that rebuild a planning scenario."""
        sim = self.simulate.values_from_scenario(scenario)
        plan = self.defaults()
        plan.update(field_values(self.design_fields() + self.advanced_fields(), scenario.design))
        for f in self.design_fields():  # keys the file left out hold their schema default, not the opening value
            if f.key not in scenario.design.model_fields_set and f.key in PLAN_OPENING:
                plan[f.input.id] = to_ui_value(f.input.kind, getattr(scenario.design, f.key))
        return sim, plan


# --------------------------------------------------------------------------------------------------
# Reanalyse tab
# --------------------------------------------------------------------------------------------------

_REANALYSIS_LABELS = {"default_window_h": "Default window (h; min, max)", "window_point": "Blockade over the window",
                      "grid_points": "Time points per window", "isi_from": "ISI measured from",
                      "full_contrast": "Full contrast (pp)", "min_contrast": "Minimum contrast (pp)",
                      "power_effect": "Effect for per-study power (g)", "aggregate_rho": "Within-study correlation",
                      "sensitivity_models": "Sensitivity: models", "sensitivity_half_lives_h":
                      "Sensitivity: half-lives (h)", "sensitivity_windows": "Sensitivity: window ends",
                      "draws": "Monte Carlo draws", "draws_seed": "Monte Carlo seed"}
REANALYSIS_DRUG = "naltrexone"


@dataclass(frozen=True)
class ReanalyseForm:
    """The Reanalyse tab: data source, model and its parameters, population and ``[reanalysis]`` settings."""

    def source_input(self) -> InputDef:
        return InputDef("rea_source", "radio", "Outcomes",
                        "bundled", {"bundled": "bundled review (Løseth et al. 2024)", "upload": "uploaded CSV"})

    def model_input(self) -> InputDef:
        default = default_model(REANALYSIS_DRUG)
        return InputDef("rea_model", "choice", "Model", default,
                        {m: f"{m} (default)" if m == default else m for m in model_names(REANALYSIS_DRUG)})

    def parameter_inputs(self, model: str) -> list[FieldInput]:
        return model_parameter_inputs(REANALYSIS_DRUG, model, f"rp__{model}__")

    def population_fields(self) -> list[FieldInput]:
        from occupancy.simulation.scenario import PopulationSection

        return pydantic_inputs(PopulationSection, "rea_population__", ids={"n": "rea_pop_n", "seed": "rea_pop_seed"})

    def reanalysis_fields(self) -> list[FieldInput]:
        from occupancy.workflows.reanalysis.settings import ReanalysisSection

        return pydantic_inputs(ReanalysisSection, "ra__", exclude=("data",), labels=_REANALYSIS_LABELS)

    def all_inputs(self) -> list[InputDef]:
        out = [self.source_input(), self.model_input()]
        for model in model_names(REANALYSIS_DRUG):
            out += [f.input for f in self.parameter_inputs(model)]
        out += [f.input for f in self.population_fields() + self.reanalysis_fields()]
        return out

    def defaults(self) -> dict[str, Any]:
        return {d.id: d.default for d in self.all_inputs()}

    def scenario_data(self, values: Mapping[str, Any], data_name: str | None = None) -> dict:
        """The reanalysis scenario; ``data_name`` (an uploaded CSV's name) becomes ``[reanalysis] data``."""
        v = {**self.defaults(), **values}
        model = v.get("rea_model") or default_model(REANALYSIS_DRUG)
        data: dict[str, Any] = {"task": "reanalyse",
                                "model": {"name": model, **read_fields(self.parameter_inputs(model), v)}}
        population = read_fields(self.population_fields(), v, always=("n", "seed"))
        data["population"] = population
        section = read_fields(self.reanalysis_fields(), v)
        if data_name:
            section = {"data": data_name, **section}
        if section:
            data["reanalysis"] = section
        return data

    def values_from_scenario(self, scenario) -> dict[str, Any]:
        v = self.defaults()
        model = scenario.model.name.strip().lower() if scenario.model.name else default_model(REANALYSIS_DRUG)
        v["rea_model"] = model
        v.update(field_values(self.parameter_inputs(model), scenario.model))
        v.update(field_values(self.population_fields(), scenario.population))
        if scenario.population is not None:
            v["rea_pop_n"], v["rea_pop_seed"] = scenario.population.n, scenario.population.seed
        v.update(field_values(self.reanalysis_fields(), scenario.reanalysis))
        return v


# --------------------------------------------------------------------------------------------------
# Plan tab: "Find the best design" (a coarse design search around the current inputs)
# --------------------------------------------------------------------------------------------------

#: The coarse grid the Plan tab's "Find the best design" searches around the current inputs: the dose times these
#: factors, the task's delay after the last dose plus these hours, the ISI times these factors (within only).
EXPLORE_DOSE_FACTORS = (0.5, 1.0, 2.0, 4.0)
EXPLORE_DELAY_STEPS_H = (0.0, 2.0)
EXPLORE_ISI_FACTORS = (1.0, 2.0, 3.0)
#: Model draws of the app's search (``blockade explore`` uses 50; the app's search must take seconds).
EXPLORE_DRAWS = 10


def explore_scenario(plan_scenario, participants: int | None, *, min_delay_h: float | None = None,
                     min_isi_days: float | None = None, dose_factors=EXPLORE_DOSE_FACTORS,
                     delay_steps_h=EXPLORE_DELAY_STEPS_H, isi_factors=EXPLORE_ISI_FACTORS, draws: int = EXPLORE_DRAWS):
    """The explore scenario of the Plan tab's "Find the best design": the validated planning scenario plus an
    ``[explore]`` section with a few doses × delays × ISIs around its own and N fixed at ``participants`` (the N
    for the target power with the blockade-attenuated effect).  ``min_delay_h`` and ``min_isi_days`` (the current
    plan's minimum delay and ISI, rounded up to half an hour and a whole day) join the delays and ISIs tried.

    Notes
    -----
    The app only builds the scenario; :func:`occupancy.workflows.explore.workflow.explore_study` does the search.
    The constraints are ``blockade explore``'s defaults, with the power threshold at the Plan tab's target power.
    The dose is varied only for a schedule of equal doses given in mg (per-kg doses keep their amount).  ISIs
    not longer than one session (the latest task) are left out.  ``best = 0``: the app shows the ranked table and
    the current Plan recomputes on "Use this design", so no full plans are run here.
    """
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.explore.space import ExploreScenario

    if participants is None:
        raise InputError("Plan tab: Find the best design: no finite N reaches the target power with the "
                         "blockade-attenuated effect; raise the effect or lower the target power first")
    if plan_scenario.design.drug_sessions != 1:
        raise InputError("Plan tab: Find the best design: searches designs with one drug session per participant "
                         "(set Drug sessions to 1)")
    data = plan_scenario.model_dump(mode="python", exclude_unset=True, by_alias=True)
    data["task"] = "explore"
    design = plan_scenario.design
    labels = [a.label for a in plan_scenario.assessments]
    primary = next((a for a in plan_scenario.assessments if a.label == design.primary_assessment),
                   plan_scenario.assessments[0])
    last = plan_scenario.schedule().last_dose_h
    delay0 = float(primary.time_h) - last
    starts = [delay0] + ([math.ceil(min_delay_h * 2) / 2] if min_delay_h is not None and math.isfinite(min_delay_h)
                         and min_delay_h <= 24 * 14 else [])
    delays = sorted({round(max(0.0, d + s), 6) for d in starts for s in delay_steps_h})
    section: dict[str, Any] = {"kind": [design.kind], "delay_h": delays, "participants": [int(participants)],
                               "draws": int(draws), "best": 0,
                               "constraints": {"blockade_at_task": 0.95, "residual_at_next_session": 5.0,
                                               "power_attenuated": float(design.power)}}
    amounts = {d.amount_mg for d in plan_scenario.doses}
    if len(amounts) == 1 and None not in amounts and not any(d.per_kg for d in plan_scenario.doses):
        dose = float(next(iter(amounts)))
        section["dose_mg"] = sorted({round(dose * f, 6) for f in dose_factors if 0 < dose * f <= 1000})
    if design.kind == "within":
        session_h = last + max(delays)
        isis = {round(float(design.isi_days) * f, 6) for f in isi_factors}
        if min_isi_days is not None and math.isfinite(min_isi_days):
            isis.add(float(math.ceil(min_isi_days)))
        isis = sorted(isis)
        isis = [v for v in isis if v * 24.0 > session_h and v <= 365]
        if not isis:
            raise InputError(f"Plan tab: Find the best design: the intersession interval is not longer than one "
                             f"session ({session_h:g} h to the latest task)")
        section["isi_days"] = isis
    data["explore"] = section
    if len(set(labels)) != len(labels):
        raise InputError("Plan tab: Find the best design: the assessments' labels must be unique")
    return scenario_from_dict(data, "Plan tab", ExploreScenario)
