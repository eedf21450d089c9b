"""``blockade run``: every bundled scenario, the bundled default, atomic replacement and the browser check."""

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.cli import main
from occupancy.workflows.run import scenario_task
from tests.browser import find_chromium, non_blank_fraction, render_page

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def _run(args):
    return CliRunner().invoke(main, ["run", *args])


def test_scenario_folder_is_not_empty():
    assert len(SCENARIOS) >= 11


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_bundled_scenario_runs_green(path, tmp_path):
    out = tmp_path / "out"
    result = _run([str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="key-number-table"' in page and "<svg" in page
    assert path.name in page
    # a table (CSV; an explore run's design table is designs.parquet, as `blockade explore --out` writes) and JSON
    table = ".parquet" if scenario_task(tomllib.loads(path.read_text(encoding="utf-8")), path.name) == "explore" \
        else ".csv"
    assert any(p.suffix == table for p in out.rglob("*")) and any(p.suffix == ".json" for p in out.rglob("*"))


def test_bundled_default_reanalysis_and_plan(tmp_path):
    out = tmp_path / "blockade-output"
    result = _run(["--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"report: {out / 'report.html'}"
    # the key numbers are printed too, under each section's title, as in the report
    assert "Blockade-adjusted reanalysis of the naltrexone literature" in lines
    pooled = next(line for line in lines if line.strip().startswith("Pooled effect (Hedges' g)"))
    assert "-0.1965 [-0.3244, -0.0685]" in pooled
    assert any(line.strip().startswith("Minimum intersession interval") for line in lines)
    results = json.loads((out / "reanalyse" / "results.json").read_text())
    assert results["pooled"]["estimate"] == pytest.approx(-0.1965, abs=1e-4)
    plan = json.loads((out / "plan" / "plan.json").read_text())
    assert plan["isi_days"] == 15
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<figure") >= 4
    assert "Pooled effect" in page and "Minimum intersession interval" in page


def test_quiet_silences_progress_and_default_shows_it(tmp_path, stderr_is_terminal):
    scenario = ROOT / "scenarios" / "reanalysis_default.toml"
    loud = CliRunner().invoke(main, ["run", str(scenario), "--out", str(tmp_path / "a")])
    assert loud.exit_code == 0
    assert "wrote" in loud.stderr
    quiet = CliRunner().invoke(main, ["run", str(scenario), "--out", str(tmp_path / "b"), "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_rerun_replaces_folder_and_bad_input_keeps_it(tmp_path):
    out = tmp_path / "out"
    assert _run([str(ROOT / "scenarios" / "single_dose_50mg.toml"), "--out", str(out), "--quiet"]).exit_code == 0
    assert _run([str(ROOT / "scenarios" / "crossover_7d.toml"), "--out", str(out), "--quiet"]).exit_code == 0
    assert (out / "report.html").is_file() and (out / ".blockade-output").is_file()
    before = sorted(p.name for p in out.iterdir())
    bad = tmp_path / "bad.toml"
    bad.write_text('[drug]\nname = "naltrexone"\n[[doses]]\ntime_h = 0\namount_mg = -5\n')
    result = _run([str(bad), "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "doses[0].amount_mg" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "out"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('task = "fly"\n', "task: must be one of simulate, plan, reanalyse, explore (got 'fly')"),
        ("[drug\n", "malformed TOML"),
        ('[drug]\nname = "naltrexone"\ncolour = "red"\n', "unknown key"),
    ],
)
def test_bad_scenarios_exit_2_with_one_line(tmp_path, text, fragment):
    path = tmp_path / "s.toml"
    path.write_text(text)
    result = _run([str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2
    assert fragment in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_missing_scenario_file_exit_2(tmp_path):
    result = _run([str(tmp_path / "nope.toml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "file not found" in result.stderr


@pytest.mark.parametrize(
    "data, task",
    [({}, "simulate"), ({"design": {}}, "plan"), ({"reanalysis": {}}, "reanalyse"), ({"task": "plan"}, "plan")],
)
def test_task_detection(data, task):
    assert scenario_task(data, "x.toml") == task


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed (Debian package 'chromium')")
def test_default_report_renders_in_headless_chromium(tmp_path):
    out = tmp_path / "blockade-output"
    assert _run(["--out", str(out), "--quiet"]).exit_code == 0
    shot = tmp_path / "report.png"
    dom = render_page(out / "report.html", shot)
    assert 'id="key-number-table"' in dom and "Pooled effect" in dom
    assert dom.count("<svg") >= 4
    assert non_blank_fraction(shot) > 0.02


def test_reanalysis_scenario_with_users_own_csv(tmp_path):
    import shutil

    shutil.copy(ROOT / "scenarios" / "my_outcomes.csv", tmp_path / "outcomes.csv")
    scenario = tmp_path / "mine.toml"
    scenario.write_text('task = "reanalyse"\n[drug]\nname = "naltrexone"\n[reanalysis]\n'
                        'data = "outcomes.csv"\ndraws = 0\n')
    out = tmp_path / "out"
    result = _run([str(scenario), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] != "study" and results["k_outcomes"] == 11
    scenario.write_text(scenario.read_text().replace("outcomes.csv", "missing.csv"))
    bad = _run([str(scenario), "--out", str(tmp_path / "out2"), "--quiet"])
    assert bad.exit_code == 2 and "missing.csv" in bad.stderr
    assert not (tmp_path / "out2").exists()


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed (Debian package 'chromium')")
def test_report_tables_fit_the_page_width(tmp_path):
    """No table of the reanalysis report is wider than the page (the annotation table used to overflow)."""
    out = tmp_path / "res"
    assert _run([str(ROOT / "scenarios" / "my_reanalysis.toml"), "--out", str(out), "--quiet"]).exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    probe = ("<script>document.body.setAttribute('data-overflow', Array.from(document.querySelectorAll('table'))"
             ".filter(t => t.getBoundingClientRect().width > document.querySelector('main').clientWidth + 1)"
             ".length);</script></body>")
    probed = tmp_path / "probe.html"
    probed.write_text(page.replace("</body>", probe), encoding="utf-8")
    dom = render_page(probed, tmp_path / "shot.png", width=1100)
    assert 'data-overflow="0"' in dom
