"""``blockade plan`` through click's runner: JSON keys, files written atomically, one-line bad-input errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
CROSSOVER_7D = (SCENARIOS / "plan_crossover_7d.toml").read_text(encoding="utf-8")

SMALL = CROSSOVER_7D.replace("n = 1000", "n = 200")


def _run(args):
    return CliRunner().invoke(main, ["plan", *map(str, args)])


@pytest.fixture(scope="module")
def crossover_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "cross.toml"
    path.write_text(SMALL, encoding="utf-8")
    result = _run([path, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_has_the_documented_keys(crossover_json):
    data = crossover_json
    for key in ("sessions", "min_delay_h", "min_isi_days", "power", "n_required", "tablets", "cost",
                "power_attenuated", "n_required_attenuated", "contrast_pp", "effect_attenuated",
                "residual_per_order", "conditions", "contrasts"):
        assert key in data, key
    assert len(data["sessions"]) == 4  # 2 orders × 2 sessions
    first = data["sessions"][0]
    assert first["order"] == "drug→placebo" and first["condition"] == "drug"
    a = first["assessments"][0]
    for key in ("label", "time_h", "MOR", "KOR", "DOR", "MOR_p05", "MOR_p50", "MOR_p95", "MOR_prob_ge_90"):
        assert key in a, key
    assert a["label"] == "task" and a["time_h"] == 1.5
    residual = {r["order"]: r for r in data["residual_per_order"]}
    assert residual["drug→placebo"]["residual_MOR"] > 5 > residual["placebo→drug"]["residual_MOR"]
    assert data["power_attenuated"] < data["power"]
    assert data["tablets"] == 40 and data["cost"] == pytest.approx(48.0)
    assert data["min_isi_days"] > 7
    # pkpd after 50 mg (issue 19 default: fast entry, slow dissociation): P(MOR >= 90 %) reaches 0.95 a few hours
    # after the dose, after the 1.5 h task (the earlier effect-compartment default never reached it)
    assert 1.5 < data["min_delay_h"] < 8.0 and data["prob_at_min_delay"] >= 0.95


def test_between_json_and_files(tmp_path):
    scenario = tmp_path / "between.toml"
    scenario.write_text((SCENARIOS / "plan_tchalova_macdonald.toml").read_text().replace("n = 1000", "n = 200"))
    out = tmp_path / "out"
    result = _run([scenario, "--out", out, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["group_sizes"] == [75, 84] and data["n_required"] == 2 * data["n_required_per_group"]
    assert data["tablets"] == 75 and data["cost"] is None
    names = sorted(p.name for p in out.iterdir())
    for stem in ("plan_timeline", "plan_power_curve"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
    for name in ("plan.json", "plan_assessments.csv", "plan_power_curve.csv", "plan_residuals.csv",
                 "plan_contrasts.csv", "plan_timeline.csv", "plan_summary.csv"):
        assert name in names
    assert json.loads((out / "plan.json").read_text())["power"] == pytest.approx(data["power"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_summary_text_mentions_the_key_numbers(tmp_path):
    scenario = tmp_path / "c.toml"
    scenario.write_text(SMALL)
    result = _run([scenario])
    assert result.exit_code == 0, result.output
    for text in ("Minimum delay", "Minimum intersession interval", "power", "tablets", "warning: isi_days = 7"):
        assert text in result.output
    lines = result.output.splitlines()
    isi = next(i for i, line in enumerate(lines) if line.startswith("Minimum intersession interval"))
    assert lines[isi + 1].startswith("  warning: isi_days = 7")  # next to the number it qualifies


BAD = {
    "unknown key": (CROSSOVER_7D.replace("[design]\n", "[design]\nwashout = 3\n"), "design.washout"),
    "invalid kind": (CROSSOVER_7D.replace('kind = "within"', 'kind = "crossover"'), "design.kind"),
    "isi missing": (CROSSOVER_7D.replace("isi_days = 7 ", "# isi_days = 7 "), "design.isi_days"),
    "participants < 4": (CROSSOVER_7D.replace("participants = 40", "participants = 3"), "design.participants"),
    "alpha >= 1": (CROSSOVER_7D.replace("alpha = 0.05", "alpha = 1.0"), "design.alpha"),
    "alpha <= 0": (CROSSOVER_7D.replace("alpha = 0.05", "alpha = 0"), "design.alpha"),
    "power >= 1": (CROSSOVER_7D.replace("power = 0.8", "power = 1.2"), "design.power"),
    "power <= 0": (CROSSOVER_7D.replace("power = 0.8", "power = -0.1"), "design.power"),
    "malformed TOML": (CROSSOVER_7D.replace("[design]", "[design"), "malformed TOML"),
    "no design": (CROSSOVER_7D[: CROSSOVER_7D.index("[design]")], "design"),
    "isi shorter than a session": (CROSSOVER_7D.replace("isi_days = 7 ", "isi_days = 0.05 "), "design.isi_days"),
    "between with isi": (CROSSOVER_7D.replace('kind = "within"', 'kind = "between"'), "design.sessions"),
    "unknown primary": (CROSSOVER_7D.replace("[design]\n", '[design]\nprimary_assessment = "x"\n'),
                        "design.primary_assessment"),
    "non-numeric effect": (CROSSOVER_7D.replace("effect = -0.2", 'effect = "small"'), "design.effect"),
    "boolean participants": (CROSSOVER_7D.replace("participants = 40", "participants = true"),
                             "design.participants: must be a whole number (got True)"),
    "fractional participants": (CROSSOVER_7D.replace("participants = 40", "participants = 40.5"),
                                "design.participants: must be a whole number"),
    "boolean price": (CROSSOVER_7D.replace("price_per_tablet = 1.2", "price_per_tablet = true"),
                      "design.price_per_tablet: must be a number (got True)"),
    "window assessment": (CROSSOVER_7D.replace("time_h = 1.5", "time_h = 1.5\nend_h = 2.5"),
                          "assessments[0].end_h: the planner uses point assessments"),
    "summary section": (CROSSOVER_7D + "\n[summary]\nthreshold = 5\n", "summary: not used by blockade plan"),
    "quoted number as dose": (CROSSOVER_7D.replace("amount_mg = 50.0", 'amount_mg = "50"'),
                              "doses[0].amount_mg: must be a number"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    text, field = BAD[case]
    scenario = tmp_path / "bad.toml"
    scenario.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = _run([scenario, "--out", out, "--json"])
    assert result.exit_code == 2, (case, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "bad.toml" in lines[0] and field in lines[0], lines[0]
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_missing_file_is_exit_2(tmp_path):
    result = _run([tmp_path / "nope.toml", "--out", tmp_path / "out"])
    assert result.exit_code == 2
    assert "nope.toml" in result.stderr and "not found" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_min_delay_caveat_is_printed_next_to_the_number(tmp_path, crossover_json):
    """The washout model's rise is fitted to the plasma tmax only: the delay must say it is not PET-validated."""
    scenario = tmp_path / "c.toml"
    scenario.write_text(SMALL)
    result = _run([scenario])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("Minimum delay"))
    assert lines[i].rstrip().endswith(" h") and lines[i + 1].strip().startswith("caveat:")
    for text in ("not validated before 2 h", "plasma", "tmax", "stable PET data start 2 h",
                 "your 'task' at 1.5 h after the last dose is before 2 h"):
        assert text in lines[i + 1], lines[i + 1]
    assert "not validated before 2 h" in crossover_json["min_delay_note"]


def test_min_delay_caveat_depends_on_the_model(tmp_path):
    scenario = tmp_path / "emax.toml"
    scenario.write_text(SMALL.replace('name = "pkpd"', 'name = "emax"'))
    result = _run([scenario, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "no time course" in json.loads(result.stdout)["min_delay_note"]


def test_output_files_get_ordinary_permissions_and_figures_go_through_meta(tmp_path, monkeypatch):
    """Outputs are not left 0600 by mkstemp, and PNG/SVG are written by meta.plots.save_figure."""
    import os

    import meta.plots

    calls = []
    original = meta.plots.save_figure

    def recording(fig, path, **kw):
        calls.append(Path(path).name)
        return original(fig, path, **kw)

    monkeypatch.setattr(meta.plots, "save_figure", recording)
    scenario = tmp_path / "c.toml"
    scenario.write_text(SMALL)
    old_mask = os.umask(0o022)
    try:
        result = _run([scenario, "--out", tmp_path / "out", "--quiet"])
    finally:
        os.umask(old_mask)
    assert result.exit_code == 0, result.output
    assert sorted(calls) == ["plan_power_curve.png", "plan_power_curve.svg", "plan_timeline.png",
                             "plan_timeline.svg"]
    out = tmp_path / "out"
    assert out.stat().st_mode & 0o777 == 0o755
    for p in out.iterdir():
        assert p.stat().st_mode & 0o777 == 0o644, p.name


def test_a_simulate_scenario_without_design_gets_a_hint():
    result = _run([SCENARIOS / "single_dose_50mg.toml"])
    assert result.exit_code == 2 and result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and "single_dose_50mg.toml: design: required section missing" in line
    assert "[design]" in line and "plan_*.toml" in line


def test_between_plan_has_no_intersession_interval_and_n_is_rounded_alike(tmp_path):
    between = _run(["plan_between_50mg", "--json"])
    assert between.exit_code == 0, between.output
    data = json.loads(between.stdout)
    assert data["min_isi_days"] is None and data["min_isi_days_median"] is None
    text = _run(["plan_between_50mg"]).stdout
    assert "intersession" not in text
    n_line = next(line for line in text.splitlines() if line.startswith("N for"))
    totals = [int(x) for x in re.findall(r"(\d+) total", n_line)]
    assert len(totals) == 2 and all(t % 2 == 0 for t in totals)  # two equal groups, with and without attenuation
    crossover = _run(["plan_crossover_7d"]).stdout
    n_line = next(line for line in crossover.splitlines() if line.startswith("N for"))
    totals = [int(x) for x in re.findall(r"(\d+) total", n_line)]
    assert len(totals) == 2 and all(t % 2 == 0 for t in totals), n_line  # multiples of the two orders
    assert "before rounding up" in n_line
