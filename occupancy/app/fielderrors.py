"""Errors at the field: which input a one-line scenario error is about, and the message in words.

The library names a field by its scenario path (``doses[1].time_h``, ``design.participants``); the forms
know which input writes each path.  :func:`field_error` turns an app error line into the input's id and a
sentence for under the field ("Dose 2 – time (h): required"), which the page shows with
``aria-invalid``/``aria-describedby``.  Plain Python, no Shiny.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from occupancy.app.forms import MAX_ASSESSMENTS, MAX_DOSES, PlanForm, ReanalyseForm, SimulateForm, default_model

_LINE = re.compile(r"^(?:blockade: error: )?(?:(?:Simulate|Plan|Reanalyse) tab: )?"
                   r"(?P<path>[a-z][a-z_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z_0-9]*)*): (?P<text>.+)$")
_ROW = re.compile(r"^(?P<section>doses|assessments)\[(?P<i>\d+)\](?:\.(?P<key>\w+))?$")
_WORDS = (("required key missing", "required (left blank)"), ("Input should be", "should be"))


@dataclass(frozen=True)
class FieldError:
    """An error shown under input ``id``."""

    id: str
    text: str


def _words(text: str) -> str:
    for old, new in _WORDS:
        text = text.replace(old, new)
    return text


def _simulate_paths(form: SimulateForm, values: Mapping) -> dict[str, tuple[str, str]]:
    drug = values.get("drug") if isinstance(values.get("drug"), str) else form.drug_input().default
    model = values.get(f"model_{drug}")
    model = model if isinstance(model, str) and model else default_model(drug)
    paths = {"drug.name": ("drug", "Drug"), "model.name": (f"model_{drug}", "Model"),
             "subject.weight_kg": ("weight_kg", "Body weight (kg)"), "population.n": ("pop_n", "Subjects (n)"),
             "population.seed": ("pop_seed", "Seed"), "doses": ("dose_rows", "Doses"),
             "assessments": ("assess_rows", "Assessments")}
    try:
        params = form.parameter_inputs(drug, model)
    except Exception:  # noqa: BLE001 - an unknown drug or model: its own error names the select
        params = []
    for f in params:
        paths[f"model.{f.key}"] = (f.input.id, f.input.label)
    for section, fields in (("population", form.population_fields()), ("subject", form.subject_fields()),
                            ("summary", form.summary_fields())):
        for f in fields:
            paths.setdefault(f"{section}.{f.key}", (f.input.id, f.input.label))
    for section in form.other_sections():
        for f in section.fields:
            paths[f"{section.name}.{f.key}"] = (f.input.id, f.input.label)
    return paths


def _row(form: SimulateForm, section: str, i: int, key: str | None) -> tuple[str, str] | None:
    if section == "doses":
        if i >= MAX_DOSES:
            return None
        row = form.dose_row(i)
        name = "amount" if key is None or key.startswith(("amount_", "rate_")) else key
        d = row.get(name) or row["amount"]
        return d.id, f"Dose {i + 1} – {d.label.lower()}"
    if i >= MAX_ASSESSMENTS:
        return None
    row = form.assessment_row(i)
    d = row.get(key or "time_h") or row["time_h"]
    return d.id, f"Assessment {i + 1} – {d.label.lower()}"


def field_error(line: str, tab: str, simulate_values: Mapping | None = None,
                tab_values: Mapping | None = None) -> FieldError | None:
    """The input an error line is about, with the message in words; None when it names no input."""
    m = _LINE.match(line or "")
    if not m:
        return None
    path, text = m.group("path"), _words(m.group("text"))
    sim_form = SimulateForm()
    simulate_values = simulate_values or {}
    target: tuple[str, str] | None = None
    if tab == "reanalyse":
        form = ReanalyseForm()
        values = tab_values or {}
        model = values.get("rea_model") if isinstance(values.get("rea_model"), str) else None
        model = model or default_model("naltrexone")
        paths = {"model.name": ("rea_model", "Model")}
        for f in form.parameter_inputs(model):
            paths[f"model.{f.key}"] = (f.input.id, f.input.label)
        for f in form.population_fields():
            paths[f"population.{f.key}"] = (f.input.id, f.input.label)
        for f in form.reanalysis_fields():
            paths[f"reanalysis.{f.key}"] = (f.input.id, f.input.label)
        target = paths.get(path)
    elif "weight_kg" in text:  # e.g. "a per-kg dose needs [subject] weight_kg": the weight is what is missing
        target = ("weight_kg", "Body weight (kg)")
        text = "needed for this dose (" + text.replace("[subject] weight_kg", "a body weight") + ")"
    else:
        row = _ROW.match(path)
        if row:
            key = row.group("key")
            if key is None and text.startswith("route: "):  # a row's check about its route ("doses[0]: route: ...")
                key, text = "route", text[len("route: "):]
            target = _row(sim_form, row.group("section"), int(row.group("i")), key)
        else:
            target = _simulate_paths(sim_form, simulate_values).get(path)
        if target is None and tab == "plan":
            plan = PlanForm()
            for f in plan.design_fields() + plan.advanced_fields():
                if path == f"design.{f.key}":
                    target = (f.input.id, f.input.label)
    if target is None:
        return None
    return FieldError(target[0], f"{target[1]}: {text}")
