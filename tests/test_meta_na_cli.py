"""``meta bias`` and ``meta plot`` treat missing values as ``meta pool`` does: ``--na omit`` (default) or ``fail``."""

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from occupancy.cli import main

KONSTANTOPOULOS = Path(__file__).resolve().parents[1] / "scenarios" / "konstantopoulos2011.csv"


@pytest.fixture
def tables(tmp_path):
    full = pd.read_csv(KONSTANTOPOULOS)
    gap = full.copy()
    gap.loc[2, "yi"] = None          # row 3: no estimate
    gap.loc[6, "school"] = None      # row 7: no inner level id
    gap_path = tmp_path / "gap.csv"
    gap.to_csv(gap_path, index=False)
    kept_path = tmp_path / "kept.csv"
    full.drop(index=[2, 6]).to_csv(kept_path, index=False)
    return gap_path, kept_path


def _run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def test_bias_omits_incomplete_rows_and_says_which(tables):
    gap, kept = tables
    omitted = _run("meta", "bias", gap, "--yi", "yi", "--vi", "vi", "--levels", "district,school", "--json")
    reference = _run("meta", "bias", kept, "--yi", "yi", "--vi", "vi", "--levels", "district,school", "--json")
    assert omitted.exit_code == 0 and reference.exit_code == 0, omitted.output
    assert json.loads(omitted.stdout) == json.loads(reference.stdout)
    assert omitted.stderr.strip().splitlines() == [
        "blockade: warning: rows with missing values omitted: row(s) 3, 7 ('yi' row(s) 3; 'school' row(s) 7)"]


def test_bias_na_fail_is_one_line(tables):
    gap, _ = tables
    done = _run("meta", "bias", gap, "--yi", "yi", "--vi", "vi", "--levels", "district,school", "--na", "fail")
    assert done.exit_code == 2
    assert done.stderr.strip().splitlines() == [
        f"blockade: error: {gap}: missing values (--na fail): 'yi' row(s) 3; 'school' row(s) 7"]


def test_a_bad_present_value_keeps_its_row_number(tables, tmp_path):
    gap, _ = tables
    bad = pd.read_csv(gap)
    bad.loc[9, "vi"] = -1.0
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    done = _run("meta", "bias", path, "--yi", "yi", "--vi", "vi")
    assert done.exit_code == 2 and "row(s) 10" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_plot_omits_rows_with_a_missing_label_or_moderator(tables, tmp_path):
    gap, kept = tables
    for kind, extra in (("forest", ["--levels", "district,school"]), ("bubble", ["--moderator", "year"])):
        out = tmp_path / f"{kind}.svg"
        done = _run("meta", "plot", kind, gap, "--yi", "yi", "--vi", "vi", *extra, "--out", out)
        assert done.exit_code == 0, done.output
        assert out.is_file() and "omitted: row(s) 3" in done.stderr
    failing = _run("meta", "plot", "funnel", gap, "--yi", "yi", "--vi", "vi", "--na", "fail", "--out",
                   tmp_path / "f.svg")
    assert failing.exit_code == 2 and not (tmp_path / "f.svg").exists()
