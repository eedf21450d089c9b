"""Issue 18, item 5: CSV cells a spreadsheet would run as formulas are neutralised in every CSV blockade
writes, and labels reach matplotlib as plain text (no mathtext)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from meta.csv_safety import csv_text, is_formula_text, neutralise_cell
from occupancy.cli import main

EVIL = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "+1+2", "-A1", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", EVIL)
def test_formula_text_gets_a_leading_quote(text):
    assert is_formula_text(text) and neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-1", "+2.5", "-1e-5", "-.5", "-inf", "study a", "a=b", "", 3.0, -2, None])
def test_numbers_and_plain_text_are_left_alone(value):
    assert neutralise_cell(value) == value


def test_csv_text_quotes_text_columns_and_names_but_not_numbers():
    frame = pd.DataFrame({"study": ["=1+1", "ok", "-x"], "=yi": [-0.5, 0.2, 0.1], "n": [1, 2, 3]})
    rows = list(csv.reader(io.StringIO(csv_text(frame, index=False))))
    assert rows[0] == ["study", "'=yi", "n"]
    assert [r[0] for r in rows[1:]] == ["'=1+1", "ok", "'-x"]
    assert [r[1] for r in rows[1:]] == ["-0.5", "0.2", "0.1"]


OUTCOMES = ("study_id,design,dose_mg,assess_min_h,assess_max_h,yi,vi\n"
            "\"=cmd|' /C calc'!A0\",between,50,1,2,0.2,0.1\n"
            "\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",between,50,1,2,0.1,0.1\n"
            "-1,between,50,1,2,0.3,0.1\n"
            "\"$\\frac$\",between,50,1,2,0.25,0.1\n")


def _first_cells(path: Path, column: str) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def test_annotate_and_reanalyse_outputs_are_neutralised(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("o.csv").write_text(OUTCOMES, encoding="utf-8")
    r = CliRunner().invoke(main, ["annotate", "o.csv", "--out", "ann.csv", "--quiet"])
    assert r.exit_code == 0, r.output
    expected = ["'=cmd|' /C calc'!A0", "'=HYPERLINK(\"http://x\",\"y\")", "-1", "$\\frac$"]
    assert _first_cells(tmp_path / "ann.csv", "study_id") == expected
    # the study id "$\frac$" reaches the forest and bubble plots as plain text (it crashed mathtext)
    r = CliRunner().invoke(main, ["reanalyse", "o.csv", "--draws", "0", "--out", "res", "--quiet"])
    assert r.exit_code == 0, r.output
    assert _first_cells(tmp_path / "res" / "annotated_outcomes.csv", "study_id") == expected
    assert "'=cmd|' /C calc'!A0" in _first_cells(tmp_path / "res" / "analysis_units.csv", "study_id")
    assert (tmp_path / "res" / "forest.png").is_file()


def test_meta_effect_size_output_is_neutralised(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("d.csv").write_text("study,m1,sd1,n1,m2,sd2,n2\n@evil,1,1,20,0,1,20\nplain,1,1,20,0.5,1,20\n")
    args = ["meta", "effect-size", "d.csv", "--design", "between", "--m1", "m1", "--m2", "m2", "--sd1", "sd1",
            "--sd2", "sd2", "--n1", "n1", "--n2", "n2"]
    r = CliRunner().invoke(main, [*args, "--out", "es.csv"])
    assert r.exit_code == 0, r.output
    assert _first_cells(tmp_path / "es.csv", "study") == ["'@evil", "plain"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "\n'@evil," in r.stdout


def test_forest_labels_are_plain_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("d.csv").write_text("lab,yi,vi\n$\\frac$,0.1,0.1\nReward $5 & $10,0.2,0.1\nc,0.3,0.2\n")
    r = CliRunner().invoke(main, ["meta", "plot", "forest", "d.csv", "--yi", "yi", "--vi", "vi", "--label", "lab",
                                  "--out", "f.png"])
    assert r.exit_code == 0, r.output
    from matplotlib.text import Text

    from meta.plots import forest_plot
    from meta.univariate import fit_random_effects

    fit = fit_random_effects([0.1, 0.2, 0.3], [0.1, 0.1, 0.2])
    ax = forest_plot(fit, labels=["$\\frac$", "Reward $5 & $10", "c"])
    texts = ax.figure.findobj(Text)
    assert any(t.get_text() == "Reward $5 & $10" for t in texts)
    assert not any(t.get_parse_math() for t in texts)
