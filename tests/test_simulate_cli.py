"""`blockade simulate`, `dose-curve` and `calibrate` through click's CliRunner, including bad input."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from occupancy.cli import main
from occupancy.models import get_model
from occupancy.dosing.schedule import Schedule

ROOT = Path(__file__).resolve().parents[1]


def run(args):
    return CliRunner().invoke(main, args)


def test_quick_form_json_matches_library():
    r = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h,49h,15d", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    model = get_model("naltrexone")
    expected = model.blockade_all(Schedule.single(50), [2.0, 49.0, 360.0])
    assert [a["label"] for a in data["assessments"]] == ["2h", "49h", "15d"]
    for i, a in enumerate(data["assessments"]):
        assert set(a) >= {"label", "time_h", "MOR", "KOR", "DOR"}
        for rec in ("MOR", "KOR", "DOR"):
            assert a[rec] == pytest.approx(expected[rec][i])
    # the default model is pkpd: its name and hysteresis variant, and the typical subject's plasma
    # concentrations at each assessment (what the library computes)
    assert data["model"]["name"] == model.name == "pkpd" and "summaries" in data
    assert data["model"]["parameters"]["hysteresis"] == model.hysteresis
    conc = model.concentrations(Schedule.single(50), [2.0, 49.0, 360.0])
    assert set(conc) == {"C_naltrexone_ng_ml", "C_6b_naltrexol_ng_ml"}
    for i, a in enumerate(data["assessments"]):
        for key, values in conc.items():
            assert a[key] == pytest.approx(values[i], rel=1e-12)


def test_quick_form_weight_scales_the_pkpd_model():
    """--weight reaches the pkpd model (allometric): the same as the library with the schedule's weight."""
    r = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--weight", "100",
             "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["assessments"][0]
    sched = Schedule.single(50)
    heavy = Schedule(sched.doses, weight_kg=100.0)
    model = get_model("naltrexone")
    assert a["MOR"] == pytest.approx(float(model.blockade(heavy, [2.0])[0]), rel=1e-12)
    assert a["C_naltrexone_ng_ml"] < float(model.concentrations(sched, [2.0])["C_naltrexone_ng_ml"][0])


def test_scenario_json_with_population():
    r = run(["simulate", str(ROOT / "scenarios" / "single_dose_50mg.toml"), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    for a in data["assessments"]:
        assert {"MOR_p05", "MOR_p50", "MOR_p95", "MOR_prob_ge_90"} <= set(a)
        assert a["MOR_p05"] <= a["MOR_p50"] <= a["MOR_p95"]
    assert data["population"]["n"] == 1000


def test_population_flags_and_seed_reproducible():
    args = ["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "49h", "--n", "300", "--seed", "4",
            "--json"]
    a = json.loads(run(args).stdout)
    b = json.loads(run(args).stdout)
    assert a["assessments"] == b["assessments"] and "MOR_p95" in a["assessments"][0]


def test_naloxone_quick_form_infusion_and_weight():
    r = run(["simulate", "--drug", "naloxone", "--weight", "70", "--dose", "0.7mg@0h",
             "--dose", "0.1mg/kg/h@0h+60min", "--assess", "30min,2h", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["doses"][0]["amount_mg"] == 0.7 and data["doses"][1]["duration_min"] == 60.0
    from occupancy.dosing.schedule import Dose

    sched = Schedule((Dose(0, amount_mg=0.7), Dose(0, amount_mg_per_kg=0.1, duration_min=60)), weight_kg=70)
    assert data["assessments"][0]["MOR"] == pytest.approx(float(get_model("naloxone").blockade(sched, [0.5])[0]))


def test_model_and_half_life_overrides():
    r = run(["simulate", "--drug", "naltrexone", "--model", "washout", "--dose", "50mg@0h", "--assess", "49h",
             "--half-life", "108h", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["model"]["name"] == "washout"
    assert data["model"]["parameters"]["half_life_h"] == 108.0
    model = get_model("naltrexone", "washout", half_life_h=108)
    assert data["assessments"][0]["MOR"] == pytest.approx(float(model.blockade(Schedule.single(50), [49.0])[0]))
    r = run(["simulate", "--drug", "naltrexone", "--model", "emax", "--dose", "50mg@0h", "--assess", "2h,49h",
             "--json"])
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["assessments"][0]["MOR"] == pytest.approx(100 * 50 / (50 + 5.592841), abs=1e-9)
    assert data["assessments"][1]["MOR"] is None and "emax" in r.stderr


def test_out_writes_csv_png_svg(tmp_path):
    out = tmp_path / "res"
    r = run(["simulate", str(ROOT / "scenarios" / "naloxone_bolus_infusion.toml"), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(out)) == [".blockade-output", "report.html", "simulation.json", "timecourse.csv",
                                       "timecourse.png", "timecourse.svg"]
    import pandas as pd

    frame = pd.read_csv(out / "timecourse.csv")
    assert {"time_h", "MOR", "KOR", "DOR", "MOR_p05", "MOR_p95"} <= set(frame.columns)
    assert frame["MOR"].between(0, 100).all()
    assert (out / "timecourse.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (out / "timecourse.svg").read_bytes()[:2000]
    assert sorted(os.listdir(tmp_path)) == ["res"]  # no staging leftovers


def test_dose_curve_csv_matches_plantrexone(tmp_path):
    r = run(["dose-curve", "--points", "11"])
    assert r.exit_code == 0
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "dose_mg,MOR,KOR,DOR" and len(lines) == 12
    for line in lines[1:]:
        d, mor, kor, dor = map(float, line.split(","))
        assert mor == pytest.approx(100 * d / (d + 5.592841), abs=1e-5)
        assert dor == pytest.approx(100 * d / (d + 79 * 5.592841), abs=1e-5)
    for ext in ("csv", "png", "svg"):
        target = tmp_path / f"curve.{ext}"
        r = run(["dose-curve", "--receptor", "MOR", "--out", str(target)])
        assert r.exit_code == 0 and target.stat().st_size > 100
    r = run(["dose-curve", "--drug", "naloxone", "--receptor", "mor", "--points", "3"])
    assert r.stdout.splitlines()[0] == "dose_mg_per_kg,MOR"


def test_calibrate_prints_table_and_reproduces():
    """The washout refit (pinned: the default of `calibrate` is now the committed pkpd record)."""
    r = run(["calibrate", "--model", "washout"])
    assert r.exit_code == 0, r.output
    assert "review_49h" in r.stdout and "conflicting targets" in r.stdout and "reproduced" in r.stdout
    data = json.loads(run(["calibrate", "--model", "washout", "--json"]).stdout)
    assert {"parameters", "residuals", "targets", "optimizer", "conflicts"} <= set(data)


BAD = [
    (["simulate", "--drug", "naltrexone", "--dose", "-5mg@0h", "--assess", "2h"], "--dose"),
    (["simulate", "--drug", "naltrexone", "--dose", "fivemg@0h", "--assess", "2h"], "--dose"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@2h", "--assess", "1h"], "before the first dose"),
    (["simulate", "--drug", "aspirin", "--dose", "50mg@0h"], "unknown drug"),
    (["simulate", "--drug", "naltrexone", "--model", "bateman", "--dose", "50mg@0h"], "unknown model"),
    (["dose-curve", "--receptor", "NOP"], "unknown receptor"),
    (["simulate", "--drug", "naloxone", "--model", "bateman", "--dose", "0.4mg@0h", "--assess", "1h"], "weight"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--weight", "0"],
     "--weight: must be > 0 (got 0)"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--weight", "-70"],
     "--weight: must be > 0"),
    (["simulate", "--drug", "naloxone", "--dose", "0.4mg@0h", "--assess", "1h", "--weight", "351"],
     "--weight: must be <= 350 (got 351)"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--half-life", "100h"],
     "--half-life: the pkpd model has no half-life"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2"], "no unit"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--n", "1"], "--n"),
    (["simulate"], "SCENARIO"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@1d", "--assess", "30h,2h"], "--assess 2h: time_h"),
    (["simulate", "--drug", "naloxone", "--weight", "abc", "--dose", "0.4mg@0h"], "'--weight'"),  # click's parse
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--n", "many"], "'--n'"),
    (["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--bogus"], "--bogus"),
]


@pytest.mark.parametrize("args,fragment", BAD)
def test_bad_command_line_exit_2_one_line(tmp_path, args, fragment):
    out = tmp_path / "out"
    if args[0] == "simulate":
        args = args + ["--out", str(out)]
    r = run(args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blockade: error: ") and fragment in lines[0], r.stderr
    assert "Traceback" not in r.output
    assert not out.exists()


BAD_FILES = [
    ("amount_mg = 50.0", "amount_mg = -5", "doses[0].amount_mg: must be > 0 (got -5)"),
    ("amount_mg = 50.0", 'amount_mg = "x"', "doses[0].amount_mg: must be a number"),
    ("time_h = 2.0", "time_h = -3.0", "assessments[0].time_h: before the first dose"),
    ('name = "naltrexone"', 'name = "heroin"', "drug.name: unknown drug"),
    ('name = "pkpd"', 'name = "magic"', "model.name: unknown model"),
    ('name = "pkpd"', 'name = "pkpd"\nhysteresis = "instant"', "model.hysteresis"),
    ("[population]", "[population]\nnn = 3", "population.nn: unknown key"),
    ("[drug]", "[drug", "malformed TOML"),
    ("amount_mg = 50.0", "amount_mg = true", "doses[0].amount_mg: must be a number (got True)"),
    ("amount_mg = 50.0", 'amount_mg = "50"', "doses[0].amount_mg: must be a number (got '50')"),
    ("n = 1000", "n = 10.5", "population.n: must be a whole number"),
    ('label = "task (2 h after the tablet)"', 'label = ""', "assessments[0].label: must not be empty"),
]


@pytest.mark.parametrize("old,new,fragment", BAD_FILES)
def test_bad_scenario_files_exit_2_nothing_written(tmp_path, old, new, fragment):
    text = (ROOT / "scenarios" / "single_dose_50mg.toml").read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    out = tmp_path / "out"
    r = run(["simulate", str(path), "--out", str(out), "--json"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blockade: error: bad.toml: ") and fragment in lines[0], r.stderr
    assert r.stdout == "" and not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.toml"]


PKPD_SCENARIO = """[drug]
name = "naltrexone"

[model]
name = "pkpd"
hysteresis = "effect_compartment"

[[doses]]
time_h = 0.0
amount_mg = 50.0

[[assessments]]
label = "2 h"
time_h = 2.0

[subject]
weight_kg = 70

[uncertainty]
n = 20
seed = 1
"""

PKPD_BAD_FILES = [
    ("weight_kg = 70", "weight_kg = 0", "subject.weight_kg: must be > 0 (got 0)"),
    ("weight_kg = 70", "weight_kg = -3.5", "subject.weight_kg: must be > 0 (got -3.5)"),
    ("weight_kg = 70", "weight_kg = 351", "subject.weight_kg: must be <= 350 (got 351)"),
    ('hysteresis = "effect_compartment"', 'hysteresis = "slow_binding"',
     "model.hysteresis: must be 'effect_compartment' or 'binding_kinetics' (got 'slow_binding')"),
    ("n = 20", "n = 1", "uncertainty.n: must be >= 2 (got 1)"),
    ("n = 20", "n = 0", "uncertainty.n: must be >= 2 (got 0)"),
    ('hysteresis = "effect_compartment"', 'k_mor_ng_ml = -0.1', "model.k_mor_ng_ml: must be >= 0.0001 (got -0.1)"),
    ('hysteresis = "effect_compartment"', 'ke0_per_h = 0', "model.ke0_per_h: must be >= 0.0001 (got 0)"),
    ('hysteresis = "effect_compartment"', 'ke0_per_h = 1e9', "model.ke0_per_h: must be <= 1000"),
    ('hysteresis = "effect_compartment"', 'terminal_auc_fraction = 1.5',
     "model.terminal_auc_fraction: must be <= 0.99"),
    ('hysteresis = "effect_compartment"', 'f_systemic = 2.0', "model.f_systemic: must be <= 1 (got 2"),
    ('hysteresis = "effect_compartment"', 't_half_beta_h = 1.0', "model.t_half_beta_h: must be longer than"),
    ('hysteresis = "effect_compartment"', 'kor_ratio = 0.5', "model.kor_ratio: must be >= 1 (got 0.5)"),
    # review 11: physical lower bounds (a tiny value ran for > 10 min, crashed or gave NaN / exactly 100 %)
    ('hysteresis = "effect_compartment"', 'hysteresis = "binding_kinetics"\nkoff_per_h = 1e-6',
     "model.koff_per_h: must be >= 0.0001 (got 1e-06)"),
    ('hysteresis = "effect_compartment"', 'k_mor_ng_ml = 1e-310', "model.k_mor_ng_ml: must be >= 0.0001"),
    ('hysteresis = "effect_compartment"', 't_half_alpha_h = 1e-300', "model.t_half_alpha_h: must be >= 0.05"),
    ('hysteresis = "effect_compartment"', 'cl_l_per_h = 1e-300', "model.cl_l_per_h: must be >= 1"),
    ('hysteresis = "effect_compartment"', 'v_nol_l = 1e-300', "model.v_nol_l: must be >= 1"),
    # the receptor-order message names the ratio that was given (review 11: dor_ratio named kor_ratio)
    ('hysteresis = "effect_compartment"', 'dor_ratio = 1.5', "model.dor_ratio: must be >= kor_ratio = 2 (got 1.5)"),
    ('hysteresis = "effect_compartment"', 'kor_ratio = 100', "model.kor_ratio: must be <= dor_ratio = 79 (got 100)"),
    ('hysteresis = "effect_compartment"', 'hysteresis = "effect_compartment"\nkoff_per_h = 2.0',
     "model.koff_per_h: not used with hysteresis"),
    ('hysteresis = "effect_compartment"', "cap = true", "model.cap: not a parameter of the pkpd model"),
    ("[uncertainty]", "[model.extra]", "model.extra"),
]


@pytest.mark.parametrize("old,new,fragment", PKPD_BAD_FILES)
def test_bad_pkpd_scenarios_exit_2_one_line_nothing_written(tmp_path, old, new, fragment):
    """pkpd scenario keys out of range: one line naming the field, exit 2, no traceback, nothing written."""
    assert old in PKPD_SCENARIO
    path = tmp_path / "bad.toml"
    path.write_text(PKPD_SCENARIO.replace(old, new, 1))
    out = tmp_path / "out"
    for extra in (["--out", str(out)], ["--out", str(out), "--json"]):
        r = run(["simulate", str(path), *extra])
        assert r.exit_code == 2, r.output
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("blockade: error: bad.toml: ") and fragment in lines[0], r.stderr
        assert "Traceback" not in r.output and r.stdout == "" and not out.exists()
        assert sorted(os.listdir(tmp_path)) == ["bad.toml"]


def test_good_pkpd_scenario_runs(tmp_path):
    """The base of the bad-file cases is valid: concentrations and the uncertainty interval are reported."""
    path = tmp_path / "good.toml"
    path.write_text(PKPD_SCENARIO)
    r = run(["simulate", str(path), "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["assessments"][0]
    # (the typical subject has the posterior *medians* of the parameters, which need not lie inside the band of
    # 20 posterior draws of this non-default structure, whose parameters are strongly correlated)
    assert a["MOR_ci_lo"] < a["MOR_ci_hi"] < 100 and 0 < a["MOR"] < 100 and a["C_naltrexone_ng_ml"] > 0


def test_missing_file_exit_2(tmp_path):
    r = run(["simulate", str(tmp_path / "missing.toml")])
    assert r.exit_code == 2 and "file not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_help_documents_dose_syntax():
    r = run(["simulate", "--help"])
    assert "0.1mg/kg/h@0h+60min" in r.output and "--n" in r.output


def test_simulate_json_does_not_import_heavy_modules():
    """Start-up speed guard (not a timed test): the JSON path imports numpy only, never pandas/matplotlib/scipy."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from occupancy.cli import main\n"
        "r = CliRunner().invoke(main, ['simulate', '--drug', 'naltrexone', '--dose', '50mg@0h', '--assess', '2h', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_quick_form_window_assessment():
    r = run(["simulate", "--drug", "naloxone", "--weight", "70", "--dose", "0.01mg/kg@0h", "--assess",
             "10min-70min,30min", "--json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)["assessments"]
    assert a[0]["time_h"] == pytest.approx(1 / 6) and a[0]["end_h"] == pytest.approx(70 / 60)
    model = get_model("naloxone")
    from occupancy.dosing.schedule import Dose

    grid = np.linspace(1 / 6, 70 / 60, 20001)
    curve = model.blockade(Schedule((Dose(0, amount_mg_per_kg=0.01),), weight_kg=70), grid)
    assert a[0]["MOR"] == pytest.approx(np.trapezoid(curve, grid), abs=1e-4)
    bad = run(["simulate", "--drug", "naloxone", "--weight", "70", "--dose", "0.01mg/kg@0h", "--assess", "70min-10min"])
    assert bad.exit_code == 2 and "end_h must be after time_h" in bad.stderr


def test_dose_curve_figure_goes_through_meta_save_figure(tmp_path, monkeypatch):
    import meta.plots

    calls = []
    original = meta.plots.save_figure
    monkeypatch.setattr(meta.plots, "save_figure", lambda fig, path, **kw: calls.append(path) or original(fig, path))
    old_mask = os.umask(0o022)
    try:
        r = run(["dose-curve", "--out", str(tmp_path / "curve.svg")])
        csv = run(["dose-curve", "--out", str(tmp_path / "curve.csv")])
    finally:
        os.umask(old_mask)
    assert r.exit_code == 0 and csv.exit_code == 0, r.output + csv.output
    assert [Path(p).name for p in calls] == ["curve.svg"]
    assert (tmp_path / "curve.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "curve.csv").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.csv", "curve.svg"]


def test_summary_times_below_one_hour_are_in_minutes():
    r = run(["simulate", "--drug", "naloxone", "--weight", "70", "--dose", "0.01mg/kg@0h", "--assess",
             "10min,25min", "--n", "50"])
    assert r.exit_code == 0, r.output
    rows = [line for line in r.stdout.splitlines() if line.startswith(("10min", "25min"))]
    assert len(rows) == 2 and rows[0].split()[1] == "10min" and rows[1].split()[1] == "25min"
    r = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "15d"])
    assert r.stdout.splitlines()[4].split()[:2] == ["15d", "360h"]


def test_out_never_deletes_a_folder_that_is_not_a_blockade_output(tmp_path, monkeypatch):
    """`--out .` or `--out my_notes/` used to replace the folder as a whole, deleting the user's files."""
    scenario = ROOT / "scenarios" / "single_dose_50mg.toml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("precious\n")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("keep\n")
    for target, fragment in ((".", "current folder"), (str(tmp_path.parent), "containing it"),
                             ("notes", "was not written by blockade (it holds a.txt)")):
        r = run(["simulate", str(scenario), "--out", target, "--quiet"])
        assert r.exit_code == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["data.csv", "notes"] and os.listdir(notes) == ["a.txt"]
    # a previous output folder is replaced as a whole, but only while it holds nothing but blockade's files
    assert run(["simulate", str(scenario), "--out", "res", "--quiet"]).exit_code == 0
    (tmp_path / "res" / "mine.txt").write_text("keep")
    r = run(["simulate", str(scenario), "--out", "res", "--quiet"])
    assert r.exit_code == 2 and "holds files blockade did not write (mine.txt)" in r.stderr
    assert (tmp_path / "res" / "mine.txt").read_text() == "keep"
    (tmp_path / "res" / "mine.txt").unlink()
    assert run(["simulate", str(scenario), "--out", "res", "--quiet"]).exit_code == 0
    assert "simulation.json" in os.listdir(tmp_path / "res")


def test_a_plan_or_reanalysis_scenario_points_to_its_command():
    for name, command in (("plan_crossover_7d.toml", "blockade plan"),
                          ("reanalysis_default.toml", "blockade reanalyse --scenario")):
        r = run(["simulate", str(ROOT / "scenarios" / name)])
        assert r.exit_code == 2 and r.stdout == "", r.output
        assert len(r.stderr.strip().splitlines()) == 1 and f"`{command} " in r.stderr and "task:" in r.stderr


def test_report_section_states_the_early_rise_caveat_for_washout_only():
    from occupancy.simulation.simulate import simulate
    from occupancy.report.simulation import simulation_report_section

    washout = simulation_report_section(simulate(get_model("naltrexone", "washout"), Schedule.single(50),
                                                 [("task", 2.0)]))
    assert any("first 2 h after a dose is an extrapolation" in a.text for a in washout.assumptions)
    emax = simulation_report_section(simulate(get_model("naltrexone", "emax"), Schedule.single(50), [("task", 2.0)]))
    assert not any("extrapolation" in a.text for a in emax.assumptions)
    pkpd = simulation_report_section(simulate(get_model("naltrexone"), Schedule.single(50), [("task", 2.0)]))
    assert not any("extrapolation" in a.text for a in pkpd.assumptions)


def test_pkpd_report_section_names_its_calibration_and_unmet_targets():
    """The pkpd report cites its calibration record, lists the observations outside the posterior predictive
    band (from the record), the weight assumption, and captions the concentration panel."""
    from occupancy.report.simulation import simulation_report_section
    from occupancy.simulation.simulate import simulate

    model = get_model("naltrexone")
    section = simulation_report_section(simulate(model, Schedule.single(50), [("task", 2.0)], n=50))
    texts = " ".join(a.text for a in section.assumptions)
    sources = [a.source for a in section.assumptions]
    assert "pkpd_naltrexone_calibration.json" in sources
    checks = model.record()["structures"][model.structure_name]["checks"]  # the Bayesian calibration (issue 19)
    outside = [c["target"] for c in checks if not c["covered"]]
    assert f"{len(checks) - len(outside)} of {len(checks)} observations inside the 95 % posterior predictive band" \
        in texts
    assert all(t in texts for t in outside)
    assert "(W/70)^0.75" in texts and "70 kg (default)" in texts
    assert "cl " in texts  # the population line names the pkpd scales
    assert "plasma concentrations (ng/mL, log scale)" in section.figures[0].caption


def test_click_parse_errors_are_one_line_at_every_level():
    for args, fragment in ((["--bogus"], "'--bogus'"), (["simulate", "--n", "x", "--drug", "naltrexone"], "'--n'"),
                           (["meta", "pool", "--bogus"], "'--bogus'"), (["plan"], "Missing argument 'SCENARIO'")):
        r = run(args)
        lines = r.stderr.strip().splitlines()
        assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("blockade: error: "), (args, r.stderr)
        assert fragment in lines[0] and "--help" in lines[0]
    assert run([]).output.lstrip().startswith("Usage: ")  # no arguments still shows the help


def test_hysteresis_option_selects_the_pkpd_variant_and_matches_the_library():
    from occupancy import Schedule, get_model

    r = CliRunner().invoke(main, ["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "49h",
                                  "--hysteresis", "binding_kinetics", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["model"]["parameters"]["hysteresis"] == "binding_kinetics"
    model = get_model("naltrexone", "pkpd", hysteresis="binding_kinetics")
    assert data["assessments"][0]["MOR"] == pytest.approx(float(model.blockade(Schedule.single(50.0), [49.0])[0]),
                                                          rel=1e-12)
    default = json.loads(CliRunner().invoke(main, ["simulate", "--drug", "naltrexone", "--dose", "50mg@0h",
                                                   "--assess", "49h", "--json"]).stdout)
    assert default["assessments"][0]["MOR"] != pytest.approx(data["assessments"][0]["MOR"], abs=0.5)
    bad = CliRunner().invoke(main, ["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h",
                                    "--model", "washout", "--hysteresis", "binding_kinetics"])
    assert bad.exit_code == 2 and "--hysteresis: only the pkpd model" in bad.stderr


# --------------------------------------------------------------------------------- review 11
def test_json_weight_is_the_weight_used_in_both_places():
    """--weight 80: the top-level weight_kg and model.parameters.weight_kg agree (the subject's, not the 70 kg
    default); without a weight both are the pkpd model's 70 kg."""
    r = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--weight", "80", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["weight_kg"] == 80 and data["model"]["parameters"]["weight_kg"] == 80
    heavy = Schedule(Schedule.single(50).doses, weight_kg=80.0)
    assert data["assessments"][0]["MOR"] == pytest.approx(float(get_model("naltrexone").blockade(heavy, [2.0])[0]),
                                                          rel=1e-12)
    r = run(["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--json"])
    data = json.loads(r.stdout)
    assert data["weight_kg"] == 70 and data["model"]["parameters"]["weight_kg"] == 70


@pytest.mark.parametrize("drug,hyst,dose", [("naltrexone", "effect_compartment", "50mg@2h"),
                                            ("naltrexone", "binding_kinetics", "50mg@2h"),
                                            ("naloxone", "effect_compartment", "2mg@2h"),
                                            ("naloxone", "effect_compartment", "2mg@2h+30min")])
def test_occupancy_and_oral_concentrations_are_exactly_zero_up_to_the_first_dose(tmp_path, drug, hyst, dose):
    """Review 11: timecourse.csv showed MOR = 3.6e-13 at the dose time (rounding residue of the modal sum)."""
    r = run(["simulate", "--drug", drug, "--hysteresis", hyst, "--dose", dose, "--assess", "3h", "--out",
             str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    import pandas as pd

    tc = pd.read_csv(tmp_path / "o" / "timecourse.csv")
    first = tc[tc["time_h"] <= 2.0]
    assert len(first) >= 1 and first["time_h"].iloc[-1] == 2.0
    for col in ("MOR", "KOR", "DOR", "C_naltrexone_ng_ml", "C_6b_naltrexol_ng_ml"):
        if col in first:
            assert (first[col] == 0).all(), (col, first[col].tolist())
    if drug == "naloxone" and "+" not in dose:  # an IV bolus: the plasma concentration jumps at the dose
        assert first["C_naloxone_ng_ml"].iloc[-1] > 100
    assert (tc.loc[tc["time_h"] > 2.0, "MOR"] > 0).all()


def test_concentration_panel_shows_naltrexone_terminal_phase():
    """Review 11: the log axis stopped at 0.01 ng/mL and hid naltrexone's 96 h terminal phase (~0.007 ng/mL)."""
    import matplotlib

    matplotlib.use("Agg")
    from occupancy.report.timecourse_figure import timecourse_figure
    from occupancy.simulation.simulate import simulate

    res = simulate(get_model("naltrexone"), Schedule.single(50), [2.0])
    fig = timecourse_figure(res)
    ax = next(a for a in fig.axes if a.get_yscale() == "log")
    c = np.asarray(res.timecourse_arrays["C_naltrexone_ng_ml"])
    t = np.asarray(res.timecourse_arrays["time_h"])
    assert t[-1] > 240 and ax.get_ylim()[0] < c[-1]  # the terminal phase is on the axis to the end of the plot
    assert ax.get_ylim()[0] > 1e-6 * c.max()  # but the axis does not run down to rounding noise


def test_plan_caveat_counts_from_the_end_of_the_last_infusion(tmp_path):
    """Review 11: the naloxone caveat said 'task at 15 min after the last dose' for a task during an infusion."""
    scenario = tmp_path / "p.toml"
    scenario.write_text('task = "plan"\n[drug]\nname = "naloxone"\n[subject]\nweight_kg = 85\n'
                        "[[doses]]\ntime_h = 0.0\namount_mg_per_kg = 0.1\n"
                        "[[doses]]\ntime_h = 0.25\nrate_mg_per_kg_per_h = 0.1\nduration_min = 60.0\n"
                        '[[assessments]]\nlabel = "task"\ntime_h = 0.5\n'
                        '[[assessments]]\nlabel = "late"\ntime_h = 1.5\n'
                        "[population]\nn = 50\nseed = 1\n"
                        '[design]\nkind = "within"\nisi_days = 1\neffect = -0.2\n')
    r = run(["plan", str(scenario), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    note = json.loads(r.stdout)["min_delay_note"]
    assert "'task' is during the last infusion" in note
    assert "'late' at 15 min after the end of the last infusion is before 35 min" in note
    assert "after the last dose" not in note


def test_reanalysis_interval_over_few_draws_is_labelled_a_range():
    """Review 11: two parameter draws gave a '95 % range'; below 40 draws it is the min–max range, so labelled."""
    from occupancy.annotation.annotate import AnnotationSettings
    from occupancy.report.reanalysis import _sensitivity_table
    from occupancy.workflows.reanalysis.analysis import reanalyse
    from occupancy.workflows.reanalysis.settings import ReanalysisSettings

    res = reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=0, uncertainty_draws=2,
                                                sensitivity_models=(), sensitivity_windows=()))
    u = res.uncertainty
    assert u["rescaled_lo"] == np.min(u["rescaled"]) and u["rescaled_hi"] == np.max(u["rescaled"])
    assert u["rescaled_range_label"] == "range of the 2 draws"
    text = res.summary()
    assert "range of the 2 draws" in text and "95 % range" not in text
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["parameter_uncertainty"]["rescaled_range_label"] == "range of the 2 draws"
    row = res.sensitivity.iloc[-1]
    assert row["interval"] == "min–max of the 2 draws" and row["rescaled_ci_lb"] == u["rescaled_lo"]
    _frame, caption = _sensitivity_table(res)
    assert "min–max of the 2 draws" in caption and "2.5–97.5" not in caption


def test_few_uncertainty_draws_give_a_min_max_range_not_a_95_interval(tmp_path):
    from occupancy.simulation.simulate import MIN_DRAWS_FOR_95

    text = (ROOT / "scenarios" / "single_dose_50mg.toml").read_text(encoding="utf-8")
    few = tmp_path / "few.toml"
    few.write_text(text.replace("[uncertainty]             # optional: 95 % interval of the typical subject over "
                                "parameter uncertainty\nn = 200", "[uncertainty]\nn = 5"), encoding="utf-8")
    r = CliRunner().invoke(main, ["simulate", str(few), "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["uncertainty"]["n"] == 5 < MIN_DRAWS_FOR_95 and data["uncertainty"]["level"] is None
    assert "minimum and maximum" in data["uncertainty"]["method"]
    text_out = CliRunner().invoke(main, ["simulate", str(few), "--quiet"]).stdout
    assert "MOR range" in text_out and "MOR 95% CI" not in text_out and "min-max" in text_out
    full = json.loads(CliRunner().invoke(main, ["simulate", "single_dose_50mg", "--json", "--quiet"]).stdout)
    assert full["uncertainty"]["level"] == 0.95
    a, b = full["assessments"][0], data["assessments"][0]
    assert a["MOR_ci_lo"] <= a["MOR"] <= a["MOR_ci_hi"] and b["MOR_ci_lo"] <= b["MOR_ci_hi"]
