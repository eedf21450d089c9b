"""CLI: blockade meta effect-size / bias / power / study-power (JSON fields, agreement, one-line exit-2 errors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from occupancy.cli import main

REF = json.loads((Path(__file__).parent / "data" / "metafor_univariate.json").read_text())


@pytest.fixture
def runner():
    return CliRunner()


def run(runner, args):
    return runner.invoke(main, ["meta", *args], catch_exceptions=False)


def assert_one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    err = result.stderr if hasattr(result, "stderr") else result.output
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("blockade: error:"), err
    assert fragment in lines[0]


@pytest.fixture
def bcg_csv(tmp_path):
    d = REF["bcg"]["data"]
    path = tmp_path / "bcg.csv"
    pd.DataFrame({"yi": d["yi"], "vi": d["vi"]}).to_csv(path, index=False)
    return path


@pytest.fixture
def assink_csv(tmp_path):
    d = REF["aggregate"]["data"]
    path = tmp_path / "assink.csv"
    pd.DataFrame(d).to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------ effect-size
def test_effect_size_between_mixed_inputs(runner, tmp_path):
    nd = REF["escalc"]["normand"]["data"]
    df = pd.DataFrame({"m1": nd["m1i"], "m2": nd["m2i"], "sd1": nd["sd1i"], "sd2": nd["sd2i"],
                       "n1": nd["n1i"], "n2": nd["n2i"]})
    df.loc[0, ["m1", "m2", "sd1", "sd2"]] = np.nan
    df["t"] = np.nan
    df.loc[0, "t"] = 2.5
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    res = run(runner, ["effect-size", str(src), "--design", "between", "--measure", "smd", "--m1", "m1", "--m2", "m2",
                       "--sd1", "sd1", "--sd2", "sd2", "--n1", "n1", "--n2", "n2", "--t", "t", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got.columns) == list(df.columns) + ["yi", "vi"]
    ref = REF["escalc"]["normand"]["SMD_LS"]
    np.testing.assert_allclose(got["yi"][1:], ref["yi"][1:], rtol=1e-12)
    np.testing.assert_allclose(got["vi"][1:], ref["vi"][1:], rtol=1e-12)
    from meta.effect_sizes import smd

    assert got["yi"][0] == pytest.approx(float(smd(t=2.5, n1=nd["n1i"][0], n2=nd["n2i"][0]).yi[0]), rel=1e-12)


def test_effect_size_within_json(runner, tmp_path):
    src = tmp_path / "w.csv"
    pd.DataFrame({"m1": [10.0, 12.0], "m2": [11.0, 11.5], "sd1": [2.0, 3.0], "sd2": [2.5, 3.0],
                  "n": [20, 24]}).to_csv(src, index=False)
    res = run(runner, ["effect-size", str(src), "--design", "within", "--m1", "m1", "--m2", "m2", "--sd1", "sd1",
                       "--sd2", "sd2", "--n", "n", "--r", "0.5", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    from meta.effect_sizes import hedges_g_within

    ref = hedges_g_within([10, 12], [11, 11.5], [2, 3], [2.5, 3], [20, 24], 0.5)
    assert [r["yi"] for r in rows] == pytest.approx(list(ref.yi), rel=1e-12)
    assert rows[0]["yi"] < 0  # drug (group 1) lower -> negative


@pytest.mark.parametrize("measure", ["smcc", "smcr"])
def test_effect_size_within_escalc_measures(runner, tmp_path, measure):
    # escalc SMCR standardises by sd1 only, so the command must not require --sd2 for it
    pp = REF["escalc"]["prepost"]
    d = pp["data"]
    cols = {"m1": d["m1i"], "m2": d["m2i"], "sd1": d["sd1i"], "n": d["ni"], "r": d["ri"]}
    if measure == "smcc":
        cols["sd2"] = d["sd2i"]
    src = tmp_path / "pp.csv"
    pd.DataFrame(cols).to_csv(src, index=False)
    args = ["effect-size", str(src), "--design", "within", "--measure", measure,
            *sum(([f"--{c}", c] for c in cols), [])]
    res = run(runner, args)
    assert res.exit_code == 0, res.output
    got = pd.read_csv(__import__("io").StringIO(res.output))
    ref = pp[f"{measure.upper()}_LS"]
    np.testing.assert_allclose(got["yi"], ref["yi"], rtol=1e-10)
    np.testing.assert_allclose(got["vi"], ref["vi"], rtol=1e-10)


def test_effect_size_errors(runner, tmp_path):
    src = tmp_path / "bad.csv"
    pd.DataFrame({"m1": [1.0, "x"], "m2": [0.0, 0.0], "sd1": [1, 1], "sd2": [1, 1], "n1": [10, 10],
                  "n2": [10, 10]}).to_csv(src, index=False)
    args = ["effect-size", str(src), "--design", "between", "--m1", "m1", "--m2", "m2", "--sd1", "sd1",
            "--sd2", "sd2", "--n1", "n1", "--n2", "n2"]
    assert_one_line_error(run(runner, args), "column 'm1': non-numeric value in row(s) 2")
    pd.DataFrame({"m1": [1.0, 2.0], "m2": [0.0, 0.0], "sd1": [1, -1], "sd2": [1, 1], "n1": [10, 10],
                  "n2": [10, 10]}).to_csv(src, index=False)
    assert_one_line_error(run(runner, args), "column 'sd1': values must be > 0; row(s) 2")
    assert_one_line_error(run(runner, args[:4] + ["--m1", "nope"]), "column 'nope' not found")


# ------------------------------------------------------------------------------------------ bias
def test_bias_univariate_json(runner, bcg_csv):
    res = run(runner, ["bias", str(bcg_csv), "--yi", "yi", "--vi", "vi", "--method", "FE", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"egger", "trimfill"}
    assert {"slope", "se", "z", "p", "intercept"} <= set(out["egger"])
    assert {"k0", "se_k0", "side", "estimate", "ci_lb", "ci_ub"} <= set(out["trimfill"])
    ref = REF["trimfill"]["bcg"]["FE_L0"]
    assert out["trimfill"]["k0"] == ref["k0"] == 4 and out["trimfill"]["side"] == "right"
    assert out["trimfill"]["estimate"] == pytest.approx(ref["beta"], rel=1e-6)
    assert out["trimfill"]["se_k0"] == pytest.approx(ref["se_k0"], rel=1e-6)


def test_bias_egger_lm_matches_regtest(runner, tmp_path):
    d = REF["regtest"]["data"]
    src = tmp_path / "egger.csv"
    pd.DataFrame(d).to_csv(src, index=False)
    res = run(runner, ["bias", str(src), "--yi", "yi", "--vi", "vi", "--egger-model", "lm", "--json"])
    out = json.loads(res.output)
    assert out["egger"]["z"] == pytest.approx(REF["regtest"]["lm_sei"]["zval"], rel=1e-6)
    assert out["egger"]["df"] == 13
    res = run(runner, ["bias", str(src), "--yi", "yi", "--vi", "vi", "--json"])
    assert json.loads(res.output)["egger"]["z"] == pytest.approx(REF["regtest"]["rma_sei"]["zval"], rel=1e-6)


def test_bias_multilevel_and_aggregates(runner, assink_csv):
    pytest.importorskip("meta.multilevel")
    res = run(runner, ["bias", str(assink_csv), "--yi", "yi", "--vi", "vi", "--levels", "study,esid", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    ml = REF["regtest"]["multilevel"]["sei"]
    assert out["egger"]["model"] == "multilevel"
    assert out["egger"]["slope"] == pytest.approx(ml["beta"][1], rel=1e-5)
    assert out["egger"]["se"] == pytest.approx(ml["se"][1], rel=1e-5)
    tf = out["trimfill"]
    assert tf["on_aggregates"] and tf["rho"] == 0.6 and tf["k"] == 17
    from meta.aggregate import aggregate_estimates
    from meta.small_study import trim_and_fill

    d = REF["aggregate"]["data"]
    agg = aggregate_estimates(d["yi"], d["vi"], d["study"], 0.6)
    np.testing.assert_allclose(agg.yi, REF["aggregate"]["rho0.6_weighted"]["yi"], rtol=1e-10)
    direct = trim_and_fill(agg.yi, agg.vi)
    assert tf["k0"] == direct.k0 and tf["estimate"] == pytest.approx(direct.estimate, rel=1e-12)


def test_bias_errors(runner, bcg_csv, tmp_path):
    assert_one_line_error(run(runner, ["bias", str(bcg_csv), "--yi", "yi", "--vi", "nope"]), "'nope' not found")
    small = tmp_path / "small.csv"
    pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.02]}).to_csv(small, index=False)
    assert_one_line_error(run(runner, ["bias", str(small), "--yi", "yi", "--vi", "vi"]), "at least 3 estimates")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"yi": [0.1, 0.2, 0.3], "vi": [0.01, -0.02, 0.01]}).to_csv(bad, index=False)
    assert_one_line_error(run(runner, ["bias", str(bad), "--yi", "yi", "--vi", "vi"]), "row(s) 2")


# ----------------------------------------------------------------------------------------- power
def test_power_readme(runner):
    res = run(runner, ["power", "--effect", ".3", "--study-size", "20", "--k", "10", "--i2", "50", "--json"])
    out = json.loads(res.output)
    assert out["fixed"] == pytest.approx(0.5594533, abs=5e-8)
    assert out["random"] == pytest.approx(0.3454424, abs=5e-8)
    res = run(runner, ["power", "--effect", ".3", "--study-size", "20", "--k", "10", "--i2", "50", "--target", ".8",
                       "--json"])
    from meta.power import min_study_size

    assert json.loads(res.output)["min_study_size"]["random"] == min_study_size(0.3, 10, 0.5)
    res = run(runner, ["power", "--effect", ".3", "--study-size", "20", "--k", "10", "--i2", "50", "--target", ".8"])
    # d uses two equal arms: the summary must say the N is an even total, as the JSON value is
    assert "(total of two equal arms, so even)" in res.output


def test_power_errors(runner):
    assert_one_line_error(run(runner, ["power", "--effect", ".3", "--study-size", "20", "--k", "10", "--i2", "100"]),
                          "--i2 (percent)")
    # a proportion (the old unit) is refused with the percent it probably meant
    assert_one_line_error(run(runner, ["power", "--effect", ".3", "--study-size", "20", "--k", "10", "--i2", ".5"]),
                          "--i2 50")
    for option, value in (("--k", "1"), ("--study-size", "1e9"), ("--alpha", "0.9"), ("--effect", "1e6")):
        args = {"--effect": ".3", "--study-size": "20", "--k": "10", "--i2": "50"}
        args[option] = value
        assert_one_line_error(run(runner, ["power", *[x for kv in args.items() for x in kv]]), option)
    assert_one_line_error(run(runner, ["power", "--study-size", "20", "--k", "10", "--i2", "50"]), "--effect")


def test_study_power(runner, tmp_path):
    src = tmp_path / "se.csv"
    pd.DataFrame({"sei": [0.479, 0.2, 0.35]}).to_csv(src, index=False)
    res = run(runner, ["study-power", str(src), "--se", "sei", "--effect", "0.178", "--json"])
    out = json.loads(res.output)
    assert out["power"][0] == pytest.approx(0.06596450, abs=5e-9)
    assert out["median"] == pytest.approx(float(np.median(out["power"])))
    assert [st["id"] for st in out["studies"]] == ["1", "2", "3"] and out["id_column"] is None
    pd.DataFrame({"study": ["a", "b", "c"], "sei": [0.479, 0.2, 0.35]}).to_csv(src, index=False)
    out = json.loads(run(runner, ["study-power", str(src), "--se", "sei", "--effect", "0.178", "--json"]).output)
    assert [st["id"] for st in out["studies"]] == ["a", "b", "c"] and out["id_column"] == "study"
    assert [st["power"] for st in out["studies"]] == out["power"]
    text = run(runner, ["study-power", str(src), "--se", "sei", "--effect", "0.178"]).output
    assert text.splitlines()[3].split()[0] == "a"
    pd.DataFrame({"sei": [0.479, "x"]}).to_csv(src, index=False)
    assert_one_line_error(run(runner, ["study-power", str(src), "--se", "sei", "--effect", "0.2"]), "row(s) 2")
