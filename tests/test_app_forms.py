"""The web app without a browser: inputs ↔ scenarios, model discovery, uploads, formatting, background runs.

Everything here is plain Python (occupancy.app.forms/views/uploads/server's library calls); the page
itself is tested in a real browser by tests/test_app_browser.py.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict, Field

from occupancy.bundled import examples_dir
from occupancy.app import forms, views
from occupancy.app.forms import MAX_DOSES, PlanForm, ReanalyseForm, SimulateForm, row_id
from occupancy.app.server import (
    RunControl,
    plan_scenario,
    reanalysis_scenario,
    run_plan,
    run_reanalysis,
    scenario_toml,
    simulate_from_values,
)
from occupancy.app.uploads import (
    MAX_UPLOAD_BYTES,
    UploadLimit,
    error_line,
    read_outcomes_upload,
    read_scenario_upload,
    restore_target,
    safe_name,
    upload_bytes,
)
from occupancy.cli import main
from occupancy.errors import InputError
from occupancy.models import DEFAULT_MODEL, MODELS
from occupancy.simulation.scenario import Scenario, read_scenario_toml, scenario_from_dict
from occupancy.simulation.simulate import simulate
from occupancy.workflows.run import validate_scenario

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted(p.name for p in examples_dir().glob("*.toml"))


def _cli_json(*args):
    out = CliRunner().invoke(main, list(args))
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


# -- defaults: the Simulate tab opens as the CLI's quick form ----------------------------------------------


def test_simulate_tab_opens_as_the_quick_form():
    form = SimulateForm()
    values = form.defaults()
    assert values["drug"] == "naltrexone" and values["model_naltrexone"] == DEFAULT_MODEL["naltrexone"]
    assert values["dose_mg"] == 50.0 and values["dose_time_h"] == 0.0 and values["dose_unit"] == "amount_mg"
    assert values["assess_h"] == 2.0 and values["assess_end_h"] is None and values["pop_on"] is False
    out = simulate_from_values(form, {"dose_mg": 37.5, "assess_h": 49.0})
    assert not out.error and out.scenario.population is None
    cli = _cli_json("simulate", "--drug", "naltrexone", "--dose", "37.5mg@0h", "--assess", "49h", "--json")
    assert out.value.assessments[0]["MOR"] == cli["assessments"][0]["MOR"]
    assert views.mor_at_first_assessment(out.value) == f"{cli['assessments'][0]['MOR']:.1f}"


def test_plan_tab_opens_as_a_counterbalanced_two_session_crossover():
    plan = PlanForm()
    out = plan_scenario(plan, {}, {})
    assert not out.error
    design = out.scenario.design
    assert (design.kind, design.sessions, design.drug_sessions) == ("within", 2, 1)
    assert [(a.label, a.time_h) for a in out.scenario.assessments] == [("task", 2.0)]
    assert out.scenario.doses[0].amount_mg == 50.0


def test_every_row_has_its_own_ids():
    form = SimulateForm()
    ids = [d.id for d in form.all_inputs()]
    assert len(ids) == len(set(ids))
    assert row_id("dose_mg", 0) == "dose_mg" and row_id("dose_mg", 2) == "dose_mg_3"
    for stable in ("drug", "dose_mg", "assess_h"):
        assert stable in ids
    plan_ids = [d.id for d in PlanForm().all_inputs()]
    assert "isi_days" in plan_ids and "participants" in plan_ids
    assert not set(plan_ids) & set(ids) and not set(ReanalyseForm().defaults()) & set(ids)


# -- upload ↔ inputs: every bundled scenario is restored to the same computation ---------------------------


def _same_simulation(a, b):
    assert a.build_model() == b.build_model()
    assert a.schedule() == b.schedule()
    assert [(x.label, x.time_h, x.end_h) for x in a.assessments] == [(x.label, x.time_h, x.end_h) for x in b.assessments]
    assert (a.population is None) == (b.population is None)
    if a.population is not None:
        assert (a.population.n, a.population.seed) == (b.population.n, b.population.seed)
        assert a.variability() == b.variability()


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenarios_restore_into_the_inputs(name):
    data, _ = read_scenario_toml(examples_dir() / name)
    task, scenario = validate_scenario(data, name)
    if task == "explore":
        # no Explore tab: the plan part is restored into the Plan tab, with a note naming `blockade explore`
        tab, restored, note = restore_target(task, scenario, name)
        assert tab == "plan" and restored.task == "plan" and not hasattr(restored, "explore")
        assert f"blockade explore {name}" in note and "[explore]" in note
        assert restored.design == scenario.design and restored.doses == scenario.doses
        task, scenario = tab, restored
    else:
        assert restore_target(task, scenario, name) == (task, scenario, "")
    if task == "simulate":
        values = SimulateForm().values_from_scenario(scenario)
        again = scenario_from_dict(SimulateForm().scenario_data(values))
        _same_simulation(scenario, again)
        assert again.summary == scenario.summary
    elif task == "plan":
        sim_values, plan_values = PlanForm().values_from_scenario(scenario)
        out = plan_scenario(PlanForm(), sim_values, plan_values)
        assert not out.error, out.error
        _same_simulation(scenario, out.scenario)
        assert out.scenario.design.model_dump() == scenario.design.model_dump()
    else:
        from occupancy.workflows.reanalysis.settings import settings_from_scenario

        values = ReanalyseForm().values_from_scenario(scenario)
        out = reanalysis_scenario(ReanalyseForm(), values, None)
        assert not out.error, out.error
        assert settings_from_scenario(out.scenario) == settings_from_scenario(scenario)


def test_every_dose_unit_round_trips():
    units = forms.dose_units()
    assert units["amount_mg"] == "mg" and units["amount_ug"] == "µg" and units["rate_mg_per_kg_per_h"] == "mg/kg/h"
    form = SimulateForm()
    values = {"drug": "naloxone", "weight_kg": 70.0, "dose_rows": len(units), "assess_h": 0.5}
    for i, key in enumerate(units):
        values.update({row_id("dose_time_h", i): 0.1 * i, row_id("dose_mg", i): 0.01 * (i + 1),
                       row_id("dose_unit", i): key, row_id("dose_duration_min", i): 10.0 if "rate" in key else 0.0})
    out = simulate_from_values(form, values)
    assert not out.error, out.error
    again = scenario_from_dict(form.scenario_data(form.values_from_scenario(out.scenario)))
    _same_simulation(out.scenario, again)


def test_too_many_rows_is_a_one_line_error():
    scenario = scenario_from_dict({"drug": {"name": "naltrexone"},
                                   "doses": [{"time_h": 24.0 * i, "amount_mg": 50.0} for i in range(MAX_DOSES + 1)]})
    with pytest.raises(InputError, match=f"up to {MAX_DOSES} doses"):
        SimulateForm().values_from_scenario(scenario)


def test_bad_input_gives_the_schema_message():
    out = simulate_from_values(SimulateForm(), {"dose_mg": -5.0})
    assert out.error == "blockade: error: Simulate tab: doses[0].amount_mg: must be > 0 (got -5)"
    # planoxone's per-kg ED50: bateman needs a weight for mg doses (pkpd assumes 70 kg and runs)
    assert simulate_from_values(SimulateForm(), {"drug": "naloxone", "dose_mg": 0.4}).error == ""
    out = simulate_from_values(SimulateForm(), {"drug": "naloxone", "model_naloxone": "bateman", "dose_mg": 0.4})
    assert "naloxone doses in mg need [subject] weight_kg" in out.error
    text = scenario_toml(out, "simulate")  # an invalid tab is saved as entered, with its error
    assert "does not validate" in text and "amount_mg = 0.4" in text


# -- models and optional sections come from the registry and the schema -------------------------------------


def test_models_and_parameters_come_from_the_registry():
    from dataclasses import fields

    from occupancy.models import model_class
    from occupancy.simulation.scenario import ModelSection

    form = SimulateForm()
    for drug in forms.drugs():
        select = form.model_input(drug)
        assert list(select.choices) == list(MODELS[drug]) and select.default == DEFAULT_MODEL[drug]
        for model in MODELS[drug]:
            keys = [f.key for f in form.parameter_inputs(drug, model)]
            assert keys == [f.name for f in fields(model_class(drug, model)) if f.name in ModelSection.model_fields]
    assert list(ReanalyseForm().model_input().choices) == list(MODELS["naltrexone"])


class _FakeUncertainty(BaseModel):
    """Parameter uncertainty of the typical subject."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    n: int = Field(default=200, ge=2)
    seed: int = Field(default=1, ge=0)


def test_a_new_model_and_a_new_section_appear_without_app_changes(monkeypatch):
    """What the PK/PD merge brings (a new default model with a text option, an [uncertainty] section)."""
    import occupancy.models as registry
    from occupancy.simulation import scenario as scenario_module

    @dataclass(frozen=True)
    class FakePkpd:
        """Fake mechanistic model for this test."""

        ed50_mg: float = 3.0
        hysteresis: str = "effect_compartment"
        drug = "naltrexone"
        name = "pkpd"

    class ModelSection(scenario_module.ModelSection):
        hysteresis: Optional[Literal["effect_compartment", "binding_kinetics"]] = None

    class WithUncertainty(Scenario):
        uncertainty: Optional[_FakeUncertainty] = None

    original = registry.model_class
    monkeypatch.setitem(registry.MODELS, "naltrexone", ("pkpd", "washout", "emax"))
    monkeypatch.setitem(registry.DEFAULT_MODEL, "naltrexone", "pkpd")
    monkeypatch.setattr(registry, "model_class", lambda d, n=None: FakePkpd if (n or "pkpd") == "pkpd" else original(d, n))
    monkeypatch.setattr(registry, "get_model", lambda d, n=None, **kw: FakePkpd(**kw))
    monkeypatch.setattr(scenario_module, "ModelSection", ModelSection)
    form = SimulateForm(schema=WithUncertainty)
    assert form.model_input("naltrexone").default == "pkpd"
    params = {f.key: f.input for f in form.parameter_inputs("naltrexone", "pkpd")}
    assert params["ed50_mg"].default == 3.0 and params["hysteresis"].kind == "choice"
    assert params["hysteresis"].choices == ("effect_compartment", "binding_kinetics")
    assert params["hysteresis"].default == "effect_compartment"
    (section,) = form.other_sections()
    assert section.name == "uncertainty" and section.switch is not None
    assert [f.key for f in section.fields] == ["n", "seed"]
    data = form.scenario_data({"p__naltrexone__pkpd__hysteresis": "binding_kinetics", "x_on__uncertainty": True,
                               "x__uncertainty__n": 50})
    assert data["model"] == {"name": "pkpd", "hysteresis": "binding_kinetics"}
    assert data["uncertainty"] == {"n": 50}
    assert "uncertainty" not in form.scenario_data({})


# -- what the app shows is what the result carries ------------------------------------------------------------


def _result_with_extras():
    out = simulate_from_values(SimulateForm(), {"pop_on": True, "pop_n": 200})
    r = out.value
    t = np.asarray(r.timecourse_arrays["time_h"])
    arrays = dict(r.timecourse_arrays)
    arrays["C_naltrexone_ng_ml"] = 15.0 * np.exp(-t / 4.0)
    arrays["C_6b_naltrexol_ng_ml"] = 100.0 * np.exp(-t / 12.0)
    arrays["MOR_ci_lo"], arrays["MOR_ci_hi"] = arrays["MOR"] * 0.9, np.minimum(arrays["MOR"] * 1.05, 100)
    rows = tuple({**a, "C_naltrexone_ng_ml": 3.2, "MOR_ci_lo": 88.1, "MOR_ci_hi": 95.0} for a in r.assessments)
    return replace(r, timecourse_arrays=arrays, assessments=rows)


def test_concentrations_and_uncertainty_are_shown_when_present():
    # a model without concentrations (washout; the default pkpd model reports them): one panel, no interval
    form = SimulateForm()
    plain = simulate_from_values(form, {form.model_input("naltrexone").id: "washout"}).value
    assert plain.model.name == "washout"
    fig = views.timecourse_figure(plain)
    assert len(fig.axes) == 1 and views.mor_interval(plain) == "" and views.population_line(plain) == ""
    default = simulate_from_values(SimulateForm(), {}).value
    assert default.model.name == "pkpd" and len(views.timecourse_figure(default).axes) == 2
    rich = _result_with_extras()
    fig = views.timecourse_figure(rich)
    assert len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert labels == ["Naltrexone (ng/mL)", "6β-naltrexol (ng/mL)"]
    assert views.mor_interval(rich) == "95 % interval (parameter uncertainty) 88.1–95.0 %"
    assert "C_naltrexone_ng_ml" in views.assessment_frame(rich).columns
    assert views.population_line(rich).startswith("population: 5–95th percentile")


def test_plan_key_numbers_have_the_stable_ids():
    out = run_plan(plan_scenario(PlanForm(), {}, {"isi_days": 7.0, "participants": 30}).scenario)
    assert not out.error
    numbers = {k.output_id: k for k in views.plan_key_numbers(out.value)}
    cli = out.value.to_dict()
    assert numbers["plan_min_isi_days"].value == f"{cli['min_isi_days']:.1f}"
    assert numbers["plan_power"].value == f"{cli['power_attenuated']:.3f}"
    assert any("isi_days = 7" in w for w in numbers["plan_min_isi_days"].warnings)


# -- background reanalysis: progress and cancellation ---------------------------------------------------------


def test_reanalysis_reports_progress_and_stops_when_cancelled():
    values = {**ReanalyseForm().defaults(), "ra__draws": 6, "ra__uncertainty_draws": 2, "rea_pop_n": 50}
    request = reanalysis_scenario(ReanalyseForm(), values, None)
    assert not request.error
    assert request.scenario.reanalysis.uncertainty_draws == 2
    seen = []

    class Recorder(RunControl):
        def update(self, done, total):
            seen.append((done, total))
            super().update(done, total)

        def report_partial(self, partial):
            seen.append(("partial", self.done, self.total))
            super().report_partial(partial)

    recorder = Recorder()
    out = run_reanalysis(request.scenario, None, recorder)
    # the early pooled estimate comes first (no draw done, all 8 to come), then the progress counts the pkpd
    # parameter-uncertainty draws (2) and the Monte Carlo draws (6)
    assert not out.error and seen == [("partial", 0, 0)] + [(i, 8) for i in range(1, 9)]
    assert recorder.partial.draws_total == 8
    assert recorder.partial.pooled["estimate"] == out.value.pooled_dict()["estimate"]
    assert out.value.uncertainty["n"] == 2 and out.value.mc["n"] == 6
    assert out.value.pooled_dict()["estimate"] == pytest.approx(-0.1965, abs=5e-5)
    control = RunControl()
    control.cancelled.set()
    stopped = run_reanalysis(request.scenario, None, control)
    assert stopped.value is None and stopped.error == ""


def test_reanalysis_without_an_uploaded_file_says_so():
    out = reanalysis_scenario(ReanalyseForm(), {"rea_source": "upload"}, None)
    assert "upload an outcome CSV first" in out.error


# -- uploads -------------------------------------------------------------------------------------------------


def _cli_error(path: Path) -> str:
    out = CliRunner().invoke(main, ["run", str(path), "--out", str(path.parent / "out"), "--quiet"])
    assert out.exit_code == 2
    (line,) = out.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("text", ["[drug\nname = 'naltrexone'\n", "[drug]\nname = 'aspirin'\n[[doses]]\ntime_h = 0\n",
                                  "task = 'plan'\n[drug]\nname = 'naltrexone'\n[[doses]]\ntime_h = 0\namount_mg = 50\n",
                                  "\xff\xfe garbage"])
def test_a_malformed_upload_gives_the_cli_line(tmp_path, text):
    content = text.encode("latin-1")
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_scenario_upload("bad.toml", content)
    assert error_line(caught.value) == _cli_error(path)


def test_uploads_are_size_limited_and_stay_in_a_temporary_folder(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_UPLOAD_BYTES + 1))
    with pytest.raises(InputError, match="big.toml: the file is 5.0 MB; uploads are limited to 5.0 MB"):
        upload_bytes({"name": "big.toml", "size": 10, "datapath": str(big)}, folder=str(tmp_path))
    small = tmp_path / "s.toml"
    small.write_text("[drug]\nname = 'naltrexone'\n[[doses]]\ntime_h = 0\namount_mg = 50\n")
    name, content = upload_bytes({"name": "../../etc/s.toml", "size": small.stat().st_size, "datapath": str(small)},
                                 folder=str(tmp_path))
    assert name == "s.toml"
    task, scenario = read_scenario_upload(name, content)
    assert task == "simulate" and scenario.doses[0].amount_mg == 50.0
    assert safe_name("..\\..\\x.csv") == "x.csv" and safe_name("") == "upload" and safe_name("\x00") == "upload"


def test_uploads_are_read_only_from_the_sessions_upload_folder(tmp_path):
    """Issue 18: a client that names any other path (or a symlink out of the folder) is refused, unread."""
    folder = tmp_path / "fileupload-x"
    (folder / "job").mkdir(parents=True)
    secret = tmp_path / "secret.toml"
    secret.write_text("[drug]\nname = 'naloxone'\n")
    inside = folder / "job" / "0.toml"
    inside.write_text("[drug]\nname = 'naltrexone'\n")
    assert upload_bytes({"name": "0.toml", "size": 5, "datapath": str(inside)}, folder=str(folder))[0] == "0.toml"
    (folder / "job" / "link.toml").symlink_to(secret)
    forged = [str(secret), str(folder / "job" / ".." / ".." / "secret.toml"), str(folder / "job" / "link.toml"),
              str(folder), str(folder / "job"), "", "relative.toml", 42, None, "/dev/zero"]
    for path in forged:
        with pytest.raises(InputError, match="not an upload this app received"):
            upload_bytes({"name": "secret.toml", "size": 5, "datapath": path}, folder=str(folder))
    with pytest.raises(InputError, match="not an upload this app received"):
        upload_bytes({"name": "0.toml", "size": 5, "datapath": str(inside)}, folder=None)  # folder unknown
    with pytest.raises(InputError, match="malformed file size"):
        upload_bytes({"name": "0.toml", "size": "abc", "datapath": str(inside)}, folder=str(folder))
    with pytest.raises(InputError, match="malformed file information"):
        upload_bytes(["0.toml"], folder=str(folder))


def test_outcome_csv_upload_gives_the_cli_line(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("study_id,design,dose_mg,assess_min_h,assess_max_h\nA,within,50,1,2\n")
    with pytest.raises(InputError) as caught:
        read_outcomes_upload("mine.csv", path.read_bytes())
    out = CliRunner().invoke(main, ["annotate", str(path)])
    assert out.exit_code == 2 and error_line(caught.value) == out.stderr.strip()


def _asgi(path: str, body: bytes, declared: int | None = None):
    sent, seen = [], {}

    async def app(scope, receive, send):
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                seen["disconnected"] = True
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        seen["body"] = b"".join(chunks)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"OK"})

    parts = [body[i:i + 1000] for i in range(0, len(body), 1000)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    headers = [(b"content-length", str(len(body) if declared is None else declared).encode())]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(UploadLimit(app, 5000)(scope, receive, send))
    return sent[0]["status"], seen


def test_the_server_refuses_large_upload_bodies():
    status, seen = _asgi("/session/abc/upload/def", b"x" * 6000)
    assert status == 413 and seen == {}
    status, seen = _asgi("/session/abc/upload/def", b"x" * 6000, declared=10)  # a client that lies
    assert seen.get("disconnected") and len(seen["body"]) <= 5000
    status, seen = _asgi("/session/abc/upload/def", b"x" * 4000)
    assert status == 200 and len(seen["body"]) == 4000
    status, seen = _asgi("/other", b"x" * 6000)
    assert status == 200 and len(seen["body"]) == 6000


# -- the command ------------------------------------------------------------------------------------------


def test_app_command_without_the_extra_is_one_line(monkeypatch):
    import occupancy.app as app_module

    monkeypatch.setattr(app_module, "shiny_available", lambda: False)
    out = CliRunner().invoke(main, ["app", "--no-browser"])
    assert out.exit_code == 2
    assert out.stderr.strip() == f"blockade: error: {app_module.MISSING_EXTRA}"


def test_app_command_refuses_a_busy_port():
    import socket

    pytest.importorskip("shiny")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = CliRunner().invoke(main, ["app", "--no-browser", "--port", str(port)])
    assert out.exit_code == 2 and out.stderr.startswith(f"blockade: error: --port: cannot listen on 127.0.0.1:{port}")


def test_the_page_has_the_stable_ids():
    pytest.importorskip("shiny")
    from occupancy.app.ui import build_ui

    html = str(build_ui())
    for oid in ("drug", "dose_mg", "assess_h", "isi_days", "participants", "scenario_upload", "mor_at_assessment",
                "timecourse_plot", "plan_min_isi_days", "plan_power", "scenario_download", "app_error"):
        assert f'id="{oid}"' in html, oid


def test_live_chart_escapes_labels_and_breaks_lines_at_gaps():
    values = {"model_naltrexone": "emax", "assess_label": "<script>alert(1)</script>", "assess_h": 2.0,
              "assess_rows": 2, "assess_label_2": "late", "assess_h_2": 30.0}
    out = simulate_from_values(SimulateForm(), values)
    assert not out.error and out.value.warnings  # emax is undefined 8 h after a dose: NaN, with a warning
    svg = views.timecourse_svg(out.value)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<polyline") >= 3 and "NaN" not in svg and "nan" not in svg
    assert views.mor_at_first_assessment(out.value) == f"{out.value.assessments[0]['MOR']:.1f}"
    from occupancy.models.dose_response import dose_curve

    curve_svg = views.dose_curve_svg(dose_curve("naltrexone"), 50.0)
    assert "50 mg: MOR 89.9 %" in curve_svg


def test_live_chart_shows_concentrations_below_the_blockade():
    svg = views.timecourse_svg(_result_with_extras())
    assert svg.count("<svg") == 2 and "6β-naltrexol (ng/mL)" in svg and "parameter uncertainty" in svg


def test_the_live_population_is_capped():
    out = simulate_from_values(SimulateForm(), {"pop_on": True, "pop_n": forms.MAX_LIVE_POPULATION + 1})
    assert out.error.startswith("blockade: error: Simulate tab: population.n: the app simulates up to 100000")
    assert "up to 100000" in plan_scenario(PlanForm(), {"pop_on": True, "pop_n": 10**6}, {}).error


def _contrast_on_white(colour: str) -> float:
    from matplotlib.colors import to_rgb

    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in to_rgb(colour))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def test_chart_lines_have_3_to_1_contrast_and_differ_by_style():
    from occupancy.app import views

    colours = [*views.COLORS.values(), *views._SERIES, views.DOSE_COLOR]
    assert min(_contrast_on_white(c) for c in colours) >= 3.0
    assert _contrast_on_white("#ff7f0e") < 3.0  # the old orange, for the record: the check can fail
    assert len(set(views.DASHES.values())) == len(views.DASHES)
    assert len(set(views._SERIES_DASHES)) == len(views._SERIES_DASHES)


def test_an_infusion_is_drawn_on_the_time_course():
    from occupancy.app import views
    from occupancy.app.forms import SimulateForm
    from occupancy.app.server import simulate_from_values

    iv = {"drug": "naloxone", "dose_mg": 2.0, "weight_kg": 70.0}
    out = simulate_from_values(SimulateForm(), {**iv, "dose_duration_min": 120.0})
    assert not out.error, out.error
    bolus = simulate_from_values(SimulateForm(), iv)
    assert not bolus.error, bolus.error
    assert views.timecourse_svg(out.value).count("<rect") > views.timecourse_svg(bolus.value).count("<rect")


def test_parameter_labels_are_words_with_correct_units():
    from occupancy.app.forms import SimulateForm, drugs, label_for, model_names

    assert label_for("cl_l_per_h") == "Clearance CL (L/h)"
    assert label_for("ka_per_h") == "Absorption rate constant ka (1/h)"
    assert label_for("v_nol_l") == "6β-naltrexol volume of distribution (L)"
    assert label_for("q2_l_per_h") == "Intercompartmental clearance Q2 (L/h)"
    assert label_for("half_life_h") == "Half-life (h)" and label_for("ed50_mg") == "ED50 (mg)"
    form = SimulateForm()
    for drug in drugs():
        for model in model_names(drug):
            for f in form.parameter_inputs(drug, model):
                label = f.input.label
                assert " per (" not in label and not label.endswith((" l", " per")) and "_" not in label, label


def test_the_url_holds_the_inputs_that_differ_from_their_defaults():
    from occupancy.app.forms import PlanForm, SimulateForm
    from occupancy.app.urlstate import query_from_values, values_from_query

    defs = SimulateForm().all_inputs() + PlanForm().all_inputs()
    values = {d.id: d.default for d in defs}
    assert query_from_values(defs, values) == ""
    values.update({"drug": "naloxone", "dose_mg": 0.1, "dose_unit": "amount_mg_per_kg", "weight_kg": 70.0,
                   "pop_on": True, "participants": 24, "dose_rows": 2})
    query = query_from_values(defs, values, "plan")
    assert "drug=naloxone" in query and "dose_mg=0.1" in query and query.endswith("tab=plan")
    back, tab = values_from_query(defs, query)
    assert tab == "plan"
    assert back == {"drug": "naloxone", "dose_mg": 0.1, "dose_unit": "amount_mg_per_kg", "weight_kg": 70.0,
                    "pop_on": True, "participants": 24, "dose_rows": 2}
    odd, tab = values_from_query(defs, "dose_mg=abc&drug=heroin&nonsense=1&tab=admin")
    assert odd == {"dose_mg": "abc"} and tab is None  # text stays text: the field shows the error


def test_the_plan_recommendations_word_the_librarys_numbers():
    from occupancy.app import views
    from occupancy.app.forms import PlanForm
    from occupancy.app.server import plan_scenario, run_plan

    request = plan_scenario(PlanForm(), {}, {"participants": 20})
    assert not request.error, request.error
    result = run_plan(request.scenario).value
    words = views.plan_recommendations(result)
    text = " ".join(words)
    assert "0.95 × 90 % criterion" in text
    if result.min_delay_h is None:
        assert "never meets" in words[0]
    else:
        assert views.fmt(result.min_delay_h, 2) in words[0]
    assert f"Recruit {result.n_required_attenuated} participants" in text
    if result.n_required_attenuated is not None and result.n_required_attenuated > 20:
        assert f"Your planned N = 20 gives power {views.plan_power(result)} only" in text


def test_the_time_axis_opens_on_the_task_and_has_a_washout_view():
    import re

    from occupancy.app import views
    from occupancy.app.forms import SimulateForm
    from occupancy.app.server import simulate_from_values

    result = simulate_from_values(SimulateForm(), {}).value
    task, washout = views.timecourse_svg(result), views.timecourse_svg(result, "washout")
    assert "time (h)" in task and "time (days)" in washout
    ticks = lambda svg: [float(t) for t in re.findall(r'text-anchor="middle">([0-9.]+)</text>', svg)]  # noqa: E731
    assert max(ticks(task)) <= 24.0 + 1e-9 < float(result.timecourse_arrays["time_h"][-1])
    assert views.task_window_h(result) == (0.0, 24.0)
    late = simulate_from_values(SimulateForm(), {"assess_h": 30.0, "assess_end_h": 36.0}).value
    assert views.task_window_h(late) == (0.0, 37.0)  # the sessions decide when they are later


@pytest.mark.parametrize("rows", [0, None, "", 2.5, MAX_DOSES + 1])
def test_a_dose_count_of_0_or_blank_is_refused_at_the_field_never_made_1(rows):
    from occupancy.app.fielderrors import field_error
    from occupancy.errors import InputError

    values = {"dose_rows": rows}
    with pytest.raises(InputError) as err:
        SimulateForm().scenario_data(values)
    fe = field_error(f"blockade: error: Simulate tab: {err.value}", "simulate", values, values)
    assert fe is not None and fe.id == "dose_rows" and "Doses" in fe.text


def test_a_dose_at_a_negative_time_is_refused_at_its_row():
    from occupancy.app.fielderrors import field_error
    from occupancy.errors import InputError

    form = SimulateForm()
    values = {"dose_rows": 2, form.dose_row(1)["time_h"].id: -24.0, form.dose_row(1)["amount"].id: 50.0}
    with pytest.raises(InputError, match="0 h or later"):
        form.scenario_data(values)
    with pytest.raises(InputError) as err:
        form.scenario_data(values)
    fe = field_error(f"blockade: error: Simulate tab: {err.value}", "simulate", values, values)
    assert fe is not None and fe.id == form.dose_row(1)["time_h"].id and "Dose 2" in fe.text
    values[form.dose_row(1)["time_h"].id] = 0.0
    assert form.scenario_data(values)["doses"][1]["time_h"] == 0.0


def test_the_plan_shows_at_once_and_its_model_uncertainty_follows_in_the_librarys_words():
    """Issue 21, item 1: the Plan tab runs the plan without the model-uncertainty draws (pending), computes them
    per schedule afterwards, and shows the library's sentences (those of ``blockade plan``'s summary); a later
    edit of N reuses them from the session's cache."""
    from occupancy.app.server import ScheduleCache, complete_plan_uncertainty, plan_is_complete
    from occupancy.workflows.planning.plan import plan_study

    cache = ScheduleCache()
    request = plan_scenario(PlanForm(), {}, {"participants": 20})
    first = run_plan(request.scenario, cache, defer_uncertainty=True)
    assert not first.error and first.pending and not plan_is_complete(request.scenario, cache)
    assert views.plan_uncertainty_lines(first.value, pending=True)[0].startswith("Model uncertainty: re-computing")
    done = complete_plan_uncertainty(request.scenario, cache)
    assert not done.error and not done.pending and plan_is_complete(request.scenario, cache)
    cli = plan_study(request.scenario)  # blockade plan on the same scenario
    words = cli.model_uncertainty_sentences()
    assert words and done.value.model_uncertainty_sentences() == words
    lines = views.plan_uncertainty_lines(done.value)
    assert cli.model_uncertainty_note in lines[0]
    assert [line.split(": ", 1)[1] for line in lines[1:]] == list(words.values())
    assert lines[1].startswith("Minimum delay: ")
    assert first.value.min_delay_h == done.value.min_delay_h  # the fitted model's numbers do not wait
    edited = plan_scenario(PlanForm(), {}, {"participants": 30})
    again = run_plan(edited.scenario, cache, defer_uncertainty=True)
    assert not again.pending and again.value.model_uncertainty_json()["power_attenuated"]["median"] != \
        done.value.model_uncertainty_json()["power_attenuated"]["median"]


def test_the_dose_curve_and_the_time_course_numbers_say_what_each_is():
    """Issue 21.5: 85 % at 2 h and the dose curve's 89.9 % for the same 50 mg, side by side, each with what it
    is (the curve: a published single-dose hyperbola at one reference time; the time course: the model's typical
    subject at the chosen time)."""
    from occupancy.models.dose_response import dose_curve

    result = simulate_from_values(SimulateForm(), {}).value
    curve = dose_curve("naltrexone")
    items = views.dose_curve_comparison(curve, 50.0, result)
    assert [k.output_id for k in items] == ["dose_curve_mor", "time_course_mor"]
    assert items[0].value == f"{100 * 50 / (50 + 5.592841):.1f} %" == "89.9 %"
    assert items[1].value == f"{result.assessments[0]['MOR']:.1f} %" != items[0].value
    assert "8 h" in items[0].note and "no time course" in items[0].note
    assert "'task' (2h)" in items[1].label and "typical subject" in items[1].note
    assert "55 min" in dose_curve("naloxone").basis
    assert [k.output_id for k in views.dose_curve_comparison(curve, None, result)] == ["time_course_mor"]


def test_long_defaults_show_rounded_while_the_exact_default_is_used():
    """Issue 21.5: a fitted parameter's default (e.g. 2.852291831966985) shows as 2.852; left as shown, the scenario
    leaves the key out, so the model's exact value is used (the same numbers as the CLI); an edit is used as
    typed, and a scenario giving the exact default restores as the rounded display."""
    from occupancy.app.forms import DISPLAY_DIGITS
    from occupancy.models import get_model

    form = SimulateForm()
    fields = {f.key: f for f in form.parameter_inputs("naltrexone", "pkpd")}
    exact = get_model("naltrexone", "pkpd").ka_per_h
    ka = fields["ka_per_h"]
    assert len(repr(exact)) > 12 and ka.omit == exact
    assert ka.input.default == float(f"{exact:.4g}") != exact and repr(ka.input.default) == f"{exact:.4g}"
    for f in (f for form_ in (SimulateForm(), PlanForm(), ReanalyseForm()) for f in [
            *[d for d in form_.all_inputs()]]):
        if f.kind == "number" and isinstance(f.default, float) and f.default:
            digits = len(f"{abs(f.default):e}".split("e")[0].replace(".", "").rstrip("0"))
            assert digits <= DISPLAY_DIGITS, (f.id, f.default)
    shown = form.defaults()
    data = form.scenario_data(shown)
    assert "ka_per_h" not in data["model"]  # the exact default, not its rounded display
    assert simulate_from_values(form, shown).value.assessments[0]["MOR"] == \
        simulate_from_values(form, {}).value.assessments[0]["MOR"]
    edited = form.scenario_data({**shown, ka.input.id: 2.5})
    assert edited["model"]["ka_per_h"] == 2.5
    from occupancy.simulation.scenario import scenario_from_dict

    scenario = scenario_from_dict({**data, "model": {"name": "pkpd", "ka_per_h": exact, "cl_l_per_h": 700.0}}, "t")
    back = form.values_from_scenario(scenario)
    assert back[ka.input.id] == float(f"{exact:.4g}") and back[fields["cl_l_per_h"].input.id] == 700.0


@pytest.mark.parametrize("kind", ["within", "between"])
def test_a_downloaded_plan_with_a_blank_n_gives_the_apps_n_in_the_cli(kind, tmp_path):
    """Issue 21, item 4: a blank N is the N for the attenuated effect in the app; the downloaded scenario names
    that N, so blockade plan on the file (the library function the CLI calls) gives the app's N and power."""
    from occupancy.app.server import PLANNED_N_NOTE, ScheduleCache, plan_with_planned_n
    from occupancy.workflows.planning.plan import plan

    cache = ScheduleCache()
    request = plan_scenario(PlanForm(), {}, {"participants": None, "design_kind": kind})
    assert not request.error and request.scenario.design.kind == kind, request.error
    app = run_plan(request.scenario, cache, defer_uncertainty=True).value
    assert "attenuation" in app.n_planned_source
    out, note = plan_with_planned_n(request, cache)
    assert note == PLANNED_N_NOTE
    path = tmp_path / "blockade-plan.toml"
    path.write_text(scenario_toml(out, "plan", note), encoding="utf-8")
    assert f"participants = {app.n_planned}" in path.read_text(encoding="utf-8")
    cli = plan(path)
    assert (cli.n_planned, cli.group_sizes, cli.power, cli.power_attenuated) == \
        (app.n_planned, app.group_sizes, app.power, app.power_attenuated)
    bare = tmp_path / "bare.toml"
    bare.write_text(scenario_toml(request, "plan"), encoding="utf-8")
    assert plan(bare).n_planned != app.n_planned  # what the download gave before: the CLI's own N
    given = plan_scenario(PlanForm(), {}, {"participants": 30, "design_kind": kind})
    assert plan_with_planned_n(given, cache) == (given, "")


def test_naloxone_doses_have_a_route_that_round_trips_and_is_checked_at_its_row():
    """Issue 21, item 5: the dose table's Route (naloxone; naltrexone is oral only) reaches the scenario, comes
    back from an uploaded scenario and a link, and a route the model cannot give is an error at its row."""
    from occupancy.app.fielderrors import field_error
    from occupancy.app.forms import route_drugs
    from occupancy.app.urlstate import query_from_values, values_from_query
    from occupancy.simulation.scenario import scenario_from_dict

    assert route_drugs() == ("naloxone",)
    form = SimulateForm()
    route = form.dose_row(1)["route"].id
    assert route == "dose_route_2" and form.dose_row(0)["route"].default == ""
    values = {"drug": "naloxone", "weight_kg": 70.0, "dose_rows": 2, "dose_mg": 0.4, "dose_unit": "amount_mg",
              form.dose_row(1)["time_h"].id: 1.0, form.dose_row(1)["amount"].id: 4.0,
              form.dose_row(1)["unit"].id: "amount_mg", route: "intranasal"}
    out = simulate_from_values(form, values)
    assert not out.error, out.error
    assert [d.get("route") for d in out.data["doses"]] == [None, "intranasal"]
    cli = CliRunner().invoke(main, ["simulate", "--drug", "naloxone", "--dose", "4mg@0h", "--route",
                                        "intranasal", "--assess", "2h", "--weight", "70", "--json"])
    single = simulate_from_values(form, {"drug": "naloxone", "weight_kg": 70.0, "dose_mg": 4.0,
                                         "dose_unit": "amount_mg", "dose_route": "intranasal"})
    assert single.value.assessments[0]["MOR"] == json.loads(cli.stdout)["assessments"][0]["MOR"]
    back = form.values_from_scenario(scenario_from_dict(out.data, "t"))  # an uploaded scenario
    assert back[route] == "intranasal" and back["dose_route"] == ""
    defs = form.all_inputs()
    query = query_from_values(defs, {**form.defaults(), **values})
    assert "dose_route_2=intranasal" in query
    assert values_from_query(defs, query)[0][route] == "intranasal"
    naltrexone = simulate_from_values(form, {"dose_route": "intranasal"})  # hidden column: not read
    assert not naltrexone.error and "route" not in naltrexone.data["doses"][0]
    for bad, expected in (({form.dose_row(1)["duration_min"].id: 10.0}, "cannot be an infusion"),
                          ({route: "oral"}, "must be 'iv', 'intranasal' or 'intramuscular'"),
                          ({"model_naloxone": "bateman", route: "intramuscular"}, "IV only")):
        wrong = {**values, **bad}
        line = simulate_from_values(form, wrong).error
        fe = field_error(line, "simulate", wrong, wrong)
        assert fe is not None and fe.id == route and fe.text.startswith("Dose 2 – route: ") and expected in fe.text, \
            (line, fe)
