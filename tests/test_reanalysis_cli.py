"""``blockade annotate`` and ``blockade reanalyse`` through click's CliRunner (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from occupancy.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "scenarios" / "my_outcomes.csv"
FAST = ["--n", "100", "--draws", "0"]


def _run(args):
    runner = CliRunner()
    return runner.invoke(main, args, catch_exceptions=False)


def test_annotate_bundled_json():
    result = _run(["annotate", "--json", "--quiet", "--n", "100"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data["outcomes"]) == 17
    first = data["outcomes"][0]
    assert first["study_id"] == "inagaki_20_59"
    assert 50 < first["MOR_contrast"] < 90
    assert data["settings"]["model"] == "pkpd"  # the default model
    assert data["settings"]["variability"]["koff_log_sd"] >= 0  # pkpd's own between-subject multipliers


def test_annotate_notes_defaulted_windows_once_under_the_table():
    # notes about the bundled rows are shown once with the table, not as warnings on stderr (issue 20)
    loud = _run(["annotate", "--n", "0"])
    assert loud.exit_code == 0
    assert loud.stdout.count("no assessment window") == 3 and "no assessment window" not in loud.stderr
    assert "MOR drug" in loud.stdout
    quiet = _run(["annotate", "--n", "0", "--quiet"])
    assert quiet.stderr == ""


def test_annotate_out_csv_and_flags(tmp_path):
    out = tmp_path / "annotated.csv"
    washout = ["--model", "washout"]  # the half-life is a washout parameter
    result = _run(["annotate", str(EXAMPLE), "--out", str(out), "--quiet", "--n", "0", *washout, "--half-life", "108h"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 11 and {"MOR_drug", "MOR_placebo", "MOR_contrast", "KOR_contrast"} <= set(table.columns)
    short = tmp_path / "short.csv"
    _run(["annotate", str(EXAMPLE), "--out", str(short), "--quiet", "--n", "0", *washout, "--half-life", "3d"])
    within = table["design"] == "within"
    assert (table.loc[within, "MOR_placebo"] > pd.read_csv(short).loc[within, "MOR_placebo"]).all()


def test_reanalyse_bundled_json_fields():
    result = _run(["reanalyse", "--json", "--quiet", *FAST])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    for block in ("pooled", "adjusted"):
        assert set(data[block]) >= {"estimate", "se", "ci_lb", "ci_ub"}
    assert data["pooled"]["estimate"] == pytest.approx(-0.1965, abs=1e-4)
    assert data["pooled"]["ci_lb"] == pytest.approx(-0.3244, abs=1e-4)
    assert data["pooled"]["ci_ub"] == pytest.approx(-0.0685, abs=1e-4)
    assert data["trimfill"]["k0"] == 0 and round(data["trimfill"]["se_k0"]) == 2
    assert data["median_power"] == pytest.approx(0.15, abs=0.005)
    assert len(data["outcomes"]) == 17
    for rec in data["outcomes"]:
        assert {"study_id", "MOR_drug", "MOR_placebo", "MOR_contrast"} <= set(rec)
        assert rec["MOR_contrast"] == pytest.approx(rec["MOR_drug"] - rec["MOR_placebo"])


def test_reanalyse_out_dir(tmp_path):
    out = tmp_path / "res"
    result = _run(["reanalyse", "--out", str(out), "--quiet", *FAST])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"annotated_outcomes.csv", "results.json", "forest.png", "forest.svg", "bubble.png",
            "bubble.svg", "sensitivity.csv", "analysis_units.csv"} <= names
    assert len(pd.read_csv(out / "annotated_outcomes.csv")) == 17
    assert json.loads((out / "results.json").read_text())["pooled"]["estimate"] == pytest.approx(-0.1965, abs=1e-4)
    assert (out / "forest.png").read_bytes()[:4] == b"\x89PNG"
    assert "MOR contrast" in (out / "forest.svg").read_text()


def test_reanalyse_outcome_level_csv():
    result = _run(["reanalyse", str(EXAMPLE), "--json", "--quiet", *FAST])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["mode"] == "outcome" and data["k"] == 11 and len(data["outcomes"]) == 11
    assert "sigma2" in data["pooled"]


def test_reanalyse_progress_bar_unless_quiet(stderr_is_terminal):
    loud = _run(["reanalyse", "--n", "0", "--draws", "3"])
    assert "Monte Carlo draws" in loud.stderr
    quiet = _run(["reanalyse", "--n", "0", "--draws", "3", "--quiet"])
    assert quiet.stderr == ""


def test_reanalyse_model_hysteresis_and_uncertainty_flags():
    """--model pkpd is the default; --hysteresis picks its variant; --uncertainty-draws sets the parameter draws."""
    data = json.loads(_run(["reanalyse", "--json", "--quiet", "--n", "0", "--draws", "0",
                            "--uncertainty-draws", "4"]).stdout)
    assert data["settings"]["annotation"]["model"] == "pkpd" and data["parameter_uncertainty"]["n"] == 4
    last = data["sensitivity"][-1]
    assert last["variant"] == "pkpd parameter uncertainty (4 draws)" and last["interval"] == "min–max of the 4 draws"
    assert last["rescaled_ci_lb"] <= last["rescaled"] <= last["rescaled_ci_ub"]
    # issue 19: the default has binding kinetics; --hysteresis effect_compartment picks the legacy structure, which
    # has posterior draws too (every calibrated structure does)
    bk = _run(["reanalyse", "--json", "--n", "0", "--draws", "0", "--hysteresis", "effect_compartment"])
    assert bk.exit_code == 0, bk.output
    d = json.loads(bk.stdout)
    assert d["settings"]["annotation"]["model_params"] == {"hysteresis": "effect_compartment"}
    assert d["parameter_uncertainty"]["n"] > 0 and "parameter uncertainty not computed" not in bk.stderr
    assert [s["variant"] for s in d["sensitivity"]][:2] == ["base", "model = pkpd (binding_kinetics)"]
    wrong = _run(["annotate", "--model", "washout", "--hysteresis", "binding_kinetics", "--quiet"])
    assert wrong.exit_code == 2 and "--hysteresis: only for the pkpd model" in wrong.stderr
    one = _run(["reanalyse", "--uncertainty-draws", "1", "--quiet"])
    assert one.exit_code == 2 and "--uncertainty-draws" in one.stderr
    no_hl = _run(["annotate", "--half-life", "108h", "--quiet"])
    assert no_hl.exit_code == 2 and "--model washout" in no_hl.stderr


def test_reanalyse_scenario(tmp_path):
    root = Path(__file__).resolve().parents[1]
    result = _run(["reanalyse", "--scenario", str(root / "scenarios" / "reanalysis_half_life_108.toml"), "--json",
                   "--quiet", *FAST])
    data = json.loads(result.stdout)
    assert data["settings"]["annotation"]["model_params"] == {"half_life_h": 108.0}


def _bad_csv(tmp_path, column, value, row):
    frame = pd.read_csv(EXAMPLE, dtype=str, keep_default_na=False)
    if value is None:
        frame = frame.drop(columns=[column])
    else:
        frame.loc[row - 1, column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["annotate", "reanalyse"])
@pytest.mark.parametrize(
    "column, value, row, needle",
    [
        ("design", "latin-square", 2, "row 2, column 'design': unknown design"),
        ("isi_days", "", 3, "row 3, column 'isi_days'"),
        ("dose_mg", "-5", 4, "row 4, column 'dose_mg': must be > 0"),
        ("assess_min_h", "-2", 5, "row 5, column 'assess_min_h'"),
        ("assess_min_h", "10", 1, "row 1, column 'assess_min_h': window start 10 h is after its end"),
        ("assess_max_h", None, 1, "missing column(s) 'assess_max_h'"),
    ],
)
def test_bad_input_exit_2_nothing_written(tmp_path, command, column, value, row, needle):
    path = _bad_csv(tmp_path, column, value, row)
    out = tmp_path / ("out.csv" if command == "annotate" else "outdir")
    result = _run([command, str(path), "--out", str(out), "--quiet", "--n", "0"]
                  + (["--draws", "0"] if command == "reanalyse" else []))
    assert result.exit_code == 2
    assert needle in result.stderr and "bad.csv" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_missing_file_and_bad_flags(tmp_path):
    missing = _run(["reanalyse", str(tmp_path / "nope.csv"), "--quiet"])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    bad_hl = _run(["annotate", "--half-life", "-4", "--quiet"])
    assert bad_hl.exit_code == 2 and "--half-life" in bad_hl.stderr
    bad_draws = _run(["reanalyse", "--draws", "1", "--quiet"])
    assert bad_draws.exit_code == 2 and "--draws" in bad_draws.stderr
    bad_scenario = tmp_path / "s.toml"
    bad_scenario.write_text("[reanalysis]\nfoo = 1\n")
    res = _run(["reanalyse", "--scenario", str(bad_scenario), "--quiet", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "reanalysis.foo" in res.stderr and not (tmp_path / "o").exists()


def test_annotation_only_table_rejected_by_reanalyse(tmp_path):
    frame = pd.read_csv(EXAMPLE, dtype=str, keep_default_na=False).drop(columns=["yi", "vi"])
    path = tmp_path / "noeff.csv"
    frame.to_csv(path, index=False)
    assert _run(["annotate", str(path), "--quiet", "--n", "0"]).exit_code == 0
    res = _run(["reanalyse", str(path), "--quiet", "--n", "0", "--draws", "0"])
    assert res.exit_code == 2 and "needs effect sizes" in res.stderr


def test_bundled_data_notes_are_in_the_report_data_section_not_on_stderr(tmp_path):
    out = tmp_path / "r"
    r = _run(["reanalyse", "--n", "0", "--draws", "0", "--uncertainty-draws", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "no assessment window" not in r.stderr and "no assessment window" not in r.stdout
    page = (out / "report.html").read_text(encoding="utf-8")
    data = page[page.index('id="data"'):page.index('id="assumptions"')]
    assert data.count("no assessment window") == 3 and page.count("no assessment window") == 3
    assert json.loads((out / "results.json").read_text())["warnings"]  # still in the machine-readable result
