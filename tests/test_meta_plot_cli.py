"""``blockade meta plot``: writes the requested figure format and fails cleanly (exit 2, one line, no file)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from occupancy.cli import main

MAGIC = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    rng = np.random.default_rng(11)
    k = 18
    study = np.repeat(np.arange(1, 7), 3)
    vi = rng.uniform(0.02, 0.2, k)
    dose = rng.uniform(0, 100, k)
    u = rng.normal(0, 0.2, 6)[study - 1]
    yi = -0.1 - 0.004 * dose + u + rng.normal(0, np.sqrt(vi))
    df = pd.DataFrame({"study": study, "esid": np.arange(1, k + 1), "g": yi, "var": vi, "dose": dose,
                       "name": [f"S{s}-o{i}" for i, s in enumerate(study)],
                       "design": np.where(study % 2 == 0, "within", "between")})
    path = tmp_path_factory.mktemp("plotdata") / "data.csv"
    df.to_csv(path, index=False)
    return path


def _run(args):
    return CliRunner().invoke(main, ["meta", "plot", *map(str, args)])


@pytest.mark.parametrize(
    "kind, extra, suffix",
    [
        ("forest", ["--label", "name"], ".png"),
        ("forest", ["--levels", "study,esid", "--rho", "0.6"], ".svg"),
        ("funnel", [], ".pdf"),
        ("funnel", ["--mods", "~ dose"], ".png"),
        ("contour", [], ".svg"),
        ("contour", ["--levels", "study,esid"], ".png"),
        ("bubble", ["--moderator", "dose"], ".png"),
        ("bubble", ["--moderator", "dose", "--levels", "study,esid", "--method", "ML"], ".svg"),
        ("trimfill", ["--estimator", "R0", "--method", "FE"], ".png"),
        ("trimfill", ["--levels", "study,esid", "--rho", "0.6"], ".pdf"),
        ("trimfill", ["--levels", "study,esid", "--rho", "0.6", "--method", "FE"], ".svg"),
    ],
)
def test_plot_writes_requested_format(data_csv, tmp_path, kind, extra, suffix):
    out = tmp_path / f"fig{suffix}"
    res = _run([kind, data_csv, "--yi", "g", "--vi", "var", *extra, "--out", out])
    assert res.exit_code == 0, res.output
    data = out.read_bytes()
    assert len(data) > 1000 and data.startswith(MAGIC[suffix])
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize(
    "args, message",
    [
        (["violin", "{csv}", "--yi", "g", "--vi", "var"], "unknown plot kind 'violin'"),
        (["forest", "{csv}", "--yi", "nope", "--vi", "var"], "--yi: column 'nope' not found"),
        (["forest", "{csv}", "--yi", "g", "--vi", "var", "--label", "who"], "--label: column 'who' not found"),
        (["forest", "{csv}", "--yi", "g", "--vi", "var", "--levels", "study,site"], "level column 'site' not found"),
        (["bubble", "{csv}", "--yi", "g", "--vi", "var"], "bubble plot needs --moderator"),
        (["funnel", "{csv}", "--yi", "g", "--vi", "var", "--method", "XX"], "--method 'XX'"),
        (["trimfill", "{csv}", "--yi", "g", "--vi", "var", "--estimator", "Q9"], "--estimator 'Q9'"),
        (["funnel", "{missing}", "--yi", "g", "--vi", "var"], "not found"),
        (["funnel", "{csv}", "--yi", "g"], "--vi or --sei: give the column"),  # no vi/sei column to default to
        (["funnel", "{csv}", "--yi", "g", "--vi", "var", "--levels", "study,esid", "--method", "DL"], "REML or ML"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(data_csv, tmp_path, args, message):
    out = tmp_path / "fig.png"
    args = [a.format(csv=data_csv, missing=tmp_path / "missing.csv") for a in args]
    res = _run([*args, "--out", out])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blockade: error:") and message in lines[0], res.output
    assert not list(tmp_path.iterdir())


def test_bad_suffix_and_missing_out(data_csv, tmp_path):
    res = _run(["funnel", data_csv, "--yi", "g", "--vi", "var", "--out", tmp_path / "fig.jpg"])
    assert res.exit_code == 2 and "suffix must be one of .png, .svg, .pdf" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = _run(["funnel", data_csv, "--yi", "g", "--vi", "var"])
    assert res.exit_code == 2 and "--out FILE is required" in res.output
    assert not list(tmp_path.iterdir())


def test_bad_variance_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"g": [0.1, 0.2, 0.3], "var": [0.1, -0.2, 0.1]}).to_csv(path, index=False)
    out = tmp_path / "fig.svg"
    res = _run(["funnel", path, "--yi", "g", "--vi", "var", "--out", out])
    assert res.exit_code == 2 and "'var'" in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_bubble_with_categorical_moderator_is_rejected(data_csv, tmp_path):
    out = tmp_path / "fig.png"
    res = _run(["bubble", data_csv, "--yi", "g", "--vi", "var", "--moderator", "design", "--out", out])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_forest_headers_name_numeric_study_ids(data_csv, tmp_path):
    out = tmp_path / "forest.svg"
    res = _run(["forest", data_csv, "--yi", "g", "--vi", "var", "--levels", "study,esid", "--label", "name",
                "--out", out])
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    assert "study 1" in svg and "S1-o0" in svg and "Multilevel model" in svg


def test_levels_without_rho_use_the_bias_default(data_csv, tmp_path):
    # forest with --levels shows study aggregates and trimfill works on them without --rho (rho = 0.6, as
    # `blockade meta bias`); the default must draw the same figure as an explicit --rho 0.6
    from meta.cli.bias_commands import DEFAULT_RHO

    for kind in ("forest", "trimfill"):
        default, explicit = tmp_path / f"{kind}_default.png", tmp_path / f"{kind}_explicit.png"
        res = _run([kind, data_csv, "--yi", "g", "--vi", "var", "--levels", "study,esid", "--out", default])
        assert res.exit_code == 0, res.output
        res = _run([kind, data_csv, "--yi", "g", "--vi", "var", "--levels", "study,esid", "--rho", DEFAULT_RHO,
                    "--out", explicit])
        assert res.exit_code == 0, res.output
        assert default.read_bytes() == explicit.read_bytes()
    svg = tmp_path / "forest.svg"
    assert _run(["forest", data_csv, "--yi", "g", "--vi", "var", "--levels", "study,esid", "--out", svg]).exit_code == 0
    assert "study aggregate" in svg.read_text()


def test_missing_level_id_names_column_and_rows(data_csv, tmp_path):
    df = pd.read_csv(data_csv)
    df.loc[[3, 7], "esid"] = np.nan
    path = tmp_path / "holes.csv"
    df.to_csv(path, index=False)
    res = _run(["forest", path, "--yi", "g", "--vi", "var", "--levels", "study,esid", "--na", "fail",
                "--out", tmp_path / "f.png"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "missing values (--na fail): 'esid' row(s) 4, 8" in res.output
    assert not (tmp_path / "f.png").exists()
    omitted = _run(["forest", path, "--yi", "g", "--vi", "var", "--levels", "study,esid", "--out", tmp_path / "f.png"])
    assert omitted.exit_code == 0 and "omitted: row(s) 4, 8" in omitted.stderr


def test_forest_names_the_effect_column(data_csv, tmp_path):
    df = pd.read_csv(data_csv).rename(columns={"g": "logRR"})
    path, out = tmp_path / "rr.csv", tmp_path / "forest.svg"
    df.to_csv(path, index=False)
    assert _run(["forest", path, "--yi", "logRR", "--vi", "var", "--out", out]).exit_code == 0
    svg = out.read_text()
    assert "logRR [95% CI]" in svg and "g [95% CI]" not in svg
