"""``blockade meta pool`` / ``effect-size`` options of issue 13, checked through the command line against R.

The JSON numbers are compared with the committed metafor 3.8.1 / clubSandwich 0.5.8 fixtures at 1e-6 relative:

* tests/data/metafor_univariate_breadth.json — every τ² estimator, Knapp–Hartung and t tests, Q-profile and
  profile CIs of τ², Wald tests (``--btt``), predictions at raw moderator values (``--newmods``), na.omit;
* tests/data/metafor_multilevel_breadth.json — multilevel predictions and Wald tests;
* tests/data/robust_reference.json — CR2/CR1 coefficient tables, omnibus and Wald tests (``--robust``);
* tests/data/meta_cli_reference.json (tests/r/meta_cli_reference.R) — predictions from robust fits, robust
  inference after omitted rows, equal-effects predictions;
* tests/data/escalc_reference.json — every escalc measure through ``effect-size``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from occupancy.cli import main

HERE = Path(__file__).parent / "data"
UNI = json.loads((HERE / "metafor_univariate_breadth.json").read_text())
MULTI = json.loads((HERE / "metafor_multilevel_breadth.json").read_text())
ROBUST = json.loads((HERE / "robust_reference.json").read_text())
ROBUST_CASES = {c["name"]: c for c in ROBUST["cases"]}
CLI = json.loads((HERE / "meta_cli_reference.json").read_text())
ESCALC = json.loads((HERE / "escalc_reference.json").read_text())["cases"]


def close(a, b, rtol=1e-6, atol=1e-8):
    a = np.asarray([np.nan if x is None else x for x in np.atleast_1d(a)], float)
    b = np.asarray([np.nan if x is None else x for x in np.atleast_1d(b)], float)
    np.testing.assert_allclose(a, np.broadcast_to(b, a.shape) if b.size == 1 else b.reshape(a.shape),
                               rtol=rtol, atol=atol)


@pytest.fixture
def runner():
    return CliRunner()


def meta(runner, args):
    return runner.invoke(main, ["meta", *map(str, args)], catch_exceptions=False)


def ok_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("blockade: error:"), result.stderr
    assert fragment in lines[0], lines[0]
    assert result.stdout == ""


def csv(tmp_path, name, columns) -> Path:
    path = tmp_path / f"{name}.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------- estimators and tests
@pytest.mark.parametrize("key", sorted(UNI["fits"]))
def test_every_estimator_and_test_through_the_cli(runner, tmp_path, key):
    ref = UNI["fits"][key]
    path = csv(tmp_path, ref["dataset"], UNI["datasets"][ref["dataset"]])
    args = [path, "--yi", "yi", "--vi", "vi", "--method", ref["method"].lower(), "--test", ref["test"], "--json"]
    if ref["mods"]:
        args += ["--mods", ref["mods"]]
    out = ok_json(meta(runner, ["pool", *args]))
    coefs = out["coefficients"]
    assert out["method"] == ref["method"] and out["k"] == ref["k"]
    assert [c["name"] for c in coefs] == list(np.atleast_1d(ref["names"]))
    stat = "t" if ref["test"] != "z" else "z"
    if ref["test"] == "knha":  # Knapp-Hartung: t and df instead of z
        assert all("z" not in c and c["df"] == ref["k"] - ref["p"] for c in coefs)
    for field, want in (("estimate", "beta"), ("se", "se"), (stat, "zval"), ("p", "pval"), ("ci_lb", "ci_lb"),
                        ("ci_ub", "ci_ub")):
        close([c[field] for c in coefs], ref[want])
    close(out["tau2"], ref["tau2"])
    for field, want in (("QE", "QE"), ("QE_p", "QEp"), ("QM", "QM"), ("QM_p", "QMp"), ("logLik", "logLik")):
        close(out[field], ref[want])
    close(out["I2"]["total"], ref["I2"])
    assert out["omitted_rows"] == []


@pytest.mark.parametrize("key", sorted(UNI["ci"]))
def test_ci_tau2_qprofile_and_profile(runner, tmp_path, key):
    ref = UNI["ci"][key]
    path = csv(tmp_path, ref["dataset"], UNI["datasets"][ref["dataset"]])
    base = [path, "--yi", "yi", "--vi", "vi", "--method", ref["method"], "--json"]
    if ref["mods"]:
        base += ["--mods", ref["mods"]]
    out = ok_json(meta(runner, ["pool", *base, "--ci-tau2", "qprofile"]))
    assert out["tau2_ci_type"] == "qprofile"
    close(out["tau2_ci"], ref["QP"]["tau2"][1:])
    for field in ("tau2", "tau", "I2", "H2"):
        close(out["heterogeneity_ci"][field], ref["QP"][field])
    if "PL" in ref:
        out = ok_json(meta(runner, ["pool", *base, "--ci-tau2", "PROFILE"]))
        close(out["tau2_ci"], ref["PL"]["tau2"][1:])
        close(out["heterogeneity_ci"]["I2"], ref["PL"]["I2"])
    else:
        assert_one_line_error(meta(runner, ["pool", *base, "--ci-tau2", "profile"]),
                              f"--ci-tau2 profile needs --method REML or ML (got {ref['method']})")


def test_profile_and_ci_tau2_profile_give_the_same_interval(runner, tmp_path):
    path = csv(tmp_path, "bcg", UNI["datasets"]["bcg"])
    ref = UNI["ci"]["bcg_REML"]["PL"]["tau2"][1:]
    out = ok_json(meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--profile", "--json"]))
    close(out["tau2_ci"], ref, rtol=1e-5)  # the multilevel profiler, to optimiser precision
    assert out["tau2_ci_type"] == "profile" and out["tau2_profile"]["ci_lb"] == out["tau2_ci"][0]
    both = ok_json(meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--profile", "--ci-tau2", "qprofile",
                                 "--json"]))
    assert both["tau2_ci_type"] == "qprofile" and "lrt" in both  # --ci-tau2 decides tau2_ci
    close(both["tau2_ci"], UNI["ci"]["bcg_REML"]["QP"]["tau2"][1:])


# ------------------------------------------------------------------------------------------- --btt
WALD_MODS = UNI["tests"]["mods"]


@pytest.mark.parametrize("key, btt", [("z_alloc", "4,5"), ("z_year", "3"), ("z_default", "5,2,3,4"),
                                      ("knha_alloc", "5,4")])
def test_btt_univariate(runner, tmp_path, key, btt):
    ref = UNI["tests"]["wald"][key]
    path = csv(tmp_path, "bcg", UNI["datasets"]["bcg"])
    out = ok_json(meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--mods", WALD_MODS, "--test", ref["test"],
                                "--btt", btt, "--json"]))
    w = out["wald"]
    assert w["btt"] == sorted(int(b) for b in btt.split(","))
    assert w["test"] == ref["test"] and w["statistic"] == ("chi2" if ref["test"] == "z" else "F")
    close([w["QM"], w["p"]], [ref["QM"], ref["QMp"]])
    assert [w["df"], w["ddf"]] == [ref["QMdf"][0], ref["QMdf"][1]]


@pytest.mark.parametrize("kind, btt, want", [("z", "2,3", "deltype"), ("z", "4", "year"), ("contain", "2,3", "deltype"),
                                             ("contain", "4", "year")])
def test_btt_multilevel(runner, tmp_path, kind, btt, want):
    ref = MULTI["wald"][kind]
    path = csv(tmp_path, "assink", MULTI["datasets"]["assink2016"])
    args = ["pool", path, "--yi", "yi", "--vi", "vi", "--levels", "study,esid", "--mods", "~ deltype + year",
            "--btt", btt, "--json"]
    if kind == "contain":
        args += ["--dfs", "contain"]
    w = ok_json(meta(runner, args))["wald"]
    close([w["QM"], w["p"]], [ref[want]["QM"], ref[want]["QMp"]])
    assert w["df"] == ref[want]["QMdf"][0] and w["ddf"] == ref[want]["QMdf"][1]


# ------------------------------------------------------------------------------------------ --robust
@pytest.mark.parametrize("vcov", ["CR2", "cr1"])
@pytest.mark.parametrize("name", sorted(ROBUST_CASES))
def test_robust_tables_and_tests(runner, tmp_path, name, vcov):
    case = ROBUST_CASES[name]
    ref = case[vcov.upper()]
    path = csv(tmp_path, case["dataset"], ROBUST["datasets"][case["dataset"]])
    args = ["pool", path, "--yi", "yi", "--vi", "vi", "--method", case["method"], "--test", case["test"],
            "--robust", case["cluster"], "--vcov", vcov, "--json"]
    if case["levels"]:
        args += ["--levels", ",".join(case["levels"])]
    if case["mods"]:
        args += ["--mods", case["mods"]]
    out = ok_json(meta(runner, args))
    rob = out["robust"]
    assert rob["vcov"] == vcov.upper() and rob["cluster"] == case["cluster"] and rob["n_clusters"] == ref["n"]
    coefs = rob["coefficients"]
    assert set(coefs[0]) == {"name", "estimate", "se", "t", "df", "p", "ci_lb", "ci_ub"}
    for field, want in (("estimate", "beta"), ("se", "se"), ("t", "tval"), ("df", "df"), ("p", "pval"),
                        ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub")):
        close([c[field] for c in coefs], ref[want])
    close([rob["QM"], rob["QM_df"], rob["QM_ddf"], rob["QM_p"]], [ref["QM"], *ref["QMdf"], ref["QMp"]])
    # the model-based table is unchanged beside it
    close([c["estimate"] for c in out["coefficients"]], case["model_beta"])
    if vcov == "CR2" and "CR2_wald_each" in case:  # --btt with --robust: clubSandwich's HTZ Wald test
        for each in case["CR2_wald_each"]:
            w = ok_json(meta(runner, [*args, "--btt", each["btt"]]))["wald"]
            assert w["test"] == "CR2" and w["statistic"] == "F" and w["btt"] == [each["btt"]]
            close([w["QM"], w["df"], w["ddf"], w["p"]],
                  [each["Fstat"], each["df_num"], each["df_denom"], each["p_val"]])
    if vcov == "cr1" and "CR1_wald" in case:
        btt = ",".join(map(str, np.atleast_1d(case["CR1_wald"]["btt"])))
        w = ok_json(meta(runner, [*args, "--btt", btt]))["wald"]
        assert w["test"] == "CR1"
        close([w["QM"], w["df"], w["ddf"], w["p"]], [case["CR1_wald"]["QM"], *case["CR1_wald"]["QMdf"],
                                                     case["CR1_wald"]["QMp"]])


def test_robust_after_omitted_rows(runner, tmp_path):
    case = CLI["cases"]["na_ablat"]
    path = csv(tmp_path, "na", CLI["datasets"]["na"])  # row 3 has neither yi nor a cluster id: it is omitted
    for vcov in ("CR2", "CR1"):
        res = meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--mods", "~ ablat", "--robust", "grp",
                            "--vcov", vcov, "--json"])
        out = ok_json(res)
        assert out["k"] == case["k"] and out["omitted_rows"] == case["omitted"]
        assert res.stderr.count("\n") == 1 and "row(s) 3, 7, 11" in res.stderr
        ref = case[vcov]
        rob = out["robust"]
        for field, want in (("se", "se"), ("t", "tval"), ("df", "df"), ("p", "pval"), ("ci_lb", "ci_lb"),
                            ("ci_ub", "ci_ub")):
            close([c[field] for c in rob["coefficients"]], ref[want])
        close([rob["QM"], rob["QM_p"]], [ref["QM"], ref["QMp"]])


# ----------------------------------------------------------------------------------------- --newmods
@pytest.mark.parametrize("key", ["REML_full", "REML_full_knha", "DL_ablat_t"])
def test_newmods_univariate(runner, tmp_path, key):
    ref = UNI["predict"][key]
    path = csv(tmp_path, "bcg", UNI["datasets"]["bcg"])
    new = UNI["predict"]["newdata"]
    variables = [v for v in ("ablat", "year", "alloc") if v in ref["mods"]]
    newfile = csv(tmp_path, "new", {v: new[v] for v in variables})  # raw variables only (alloc is a factor)
    out = ok_json(meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--mods", ref["mods"], "--method",
                                ref["method"], "--test", ref["test"], "--newmods", newfile, "--json"]))
    preds = out["predictions"]
    assert out["predictions_vcov"] == "model" and len(preds) == len(new["ablat"])
    for field in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        close([p[field] for p in preds], ref[field])
    assert preds[0]["newmods"] == {v: new[v][0] for v in variables}
    if ref["test"] == "z":
        assert preds[0]["df"] is None
    else:
        assert preds[0]["df"] == UNI["datasets"]["bcg"]["yi"].__len__() - len(out["coefficients"])


@pytest.mark.parametrize("key", ["assink_reml", "assink_ml_t", "assink_reml_contain", "konst_reml_contain"])
def test_newmods_multilevel(runner, tmp_path, key):
    ref = MULTI["predict"][key]
    path = csv(tmp_path, "d", MULTI["datasets"][ref["dataset"]])
    new = MULTI["predict"]["assink_newdata" if ref["dataset"] == "assink2016" else "konst_newdata"]
    newfile = csv(tmp_path, "new", new)
    args = ["pool", path, "--yi", "yi", "--vi", "vi", "--levels", ",".join(ref["levels"]), "--mods", ref["mods"],
            "--method", ref["method"], "--test", ref["test"], "--dfs", ref["dfs"], "--newmods", newfile, "--json"]
    preds = ok_json(meta(runner, args))["predictions"]
    for field in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        close([p[field] for p in preds], ref[field])


@pytest.mark.parametrize("key, vcov", [("bcg_ablat_year", "CR2"), ("bcg_ablat_year", "CR1"), ("konst_year", "CR2"),
                                       ("bcg_fe", None)])
def test_newmods_from_robust_and_equal_effects_fits(runner, tmp_path, key, vcov):
    case = CLI["cases"][key]
    path = csv(tmp_path, "d", CLI["datasets"][case["dataset"]])
    newfile = csv(tmp_path, "new", CLI["newmods"][case["dataset"]])
    args = ["pool", path, "--yi", "yi", "--vi", "vi", "--mods", case["mods"], "--method", case["method"],
            "--newmods", newfile, "--json"]
    if case.get("levels"):
        args += ["--levels", ",".join(case["levels"])]
    if vcov:
        args += ["--robust", case["cluster"], "--vcov", vcov]
    out = ok_json(meta(runner, args))
    ref = case[vcov or "model"]
    preds = out["predictions"]
    assert out["predictions_vcov"] == (vcov or "model")
    for field in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "df"):
        if ref[field] is None:
            assert all(p[field] is None for p in preds), field
        else:
            close([p[field] for p in preds], ref[field])
    if case["method"] == "FE":
        text = meta(runner, args[:-1]).stdout
        assert "ci.ub" in text and "pi.lb" not in text  # metafor prints no PI for equal-effects models


# ----------------------------------------------------------------------------------------------- --na
def test_na_omit_and_fail(runner, tmp_path):
    na = UNI["na"]
    path = csv(tmp_path, "na", na["data"])
    for mods, key, rows in ((None, "int_only", [3, 11]), ("~ ablat", "ablat", [3, 7, 11])):
        args = ["pool", path, "--yi", "yi", "--vi", "vi", "--json"] + (["--mods", mods] if mods else [])
        res = meta(runner, args)
        out = ok_json(res)
        ref = na[key]
        assert out["k"] == ref["k"] and out["omitted_rows"] == rows
        assert res.stderr.splitlines() == [
            f"blockade: warning: rows with missing values omitted from the model: row(s) {', '.join(map(str, rows))} "
            + ("('yi' row(s) 3; 'vi' row(s) 11)" if mods is None else
               "('yi' row(s) 3; 'vi' row(s) 11; 'ablat' row(s) 7)")]
        close([c["estimate"] for c in out["coefficients"]], ref["beta"])
        close([c["se"] for c in out["coefficients"]], ref["se"])
        close(out["tau2"], ref["tau2"])
        res = meta(runner, [*args, "--na", "fail"])
        assert_one_line_error(res, "missing values (--na fail): 'yi' row(s) 3; 'vi' row(s) 11")
    text = meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi"]).stdout
    assert "2 row(s) with missing values omitted: 3, 11" in text


# ----------------------------------------------------------------------------------------- text output
def test_text_output_shows_every_addition(runner, tmp_path):
    path = csv(tmp_path, "bcg", CLI["datasets"]["bcg"])
    newfile = csv(tmp_path, "new", CLI["newmods"]["bcg"])
    res = meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--mods", "~ ablat + year", "--robust", "grp",
                        "--btt", "2,3", "--newmods", newfile, "--ci-tau2", "qprofile"])
    assert res.exit_code == 0, res.output
    text = res.stdout
    for fragment in ("Mixed-Effects Model (k = 13; tau^2 estimator: REML)",
                     "Number of clusters:    6", "Estimates per cluster: 2-3 (mean: 2.17, median: 2)",
                     "F(df1 = 2, df2 = 1.67) = 6.7822, p-val = 0.1574",
                     "ablat      -0.0280    0.0117   -2.3900    1.95   0.1424",
                     "1) results based on cluster-robust inference (var-cov estimator: CR2,",
                     "Test of Moderators (coefficients 2:3; cluster-robust, CR2):",
                     "(95% Q-profile CI)", "pi.ub", "-0.6280"):
        assert fragment in text, fragment
    plain = meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--mods", "~ ablat + year", "--btt", "2,3"])
    assert "Test of Moderators (coefficients 2:3):\nQM(df = 2) = 12.2043, p-val = 0.0022" in plain.stdout


# ------------------------------------------------------------------------------------------ effect-size
_OPTIONS = {"vtype": "--vtype", "to": "--to", "add": "--add"}


@pytest.mark.parametrize("name", sorted(ESCALC))
def test_effect_size_escalc_measures(runner, tmp_path, name):
    case = ESCALC[name]
    data = csv(tmp_path, "in", case["inputs"])
    args = ["effect-size", data, "--measure", case["measure"].lower()]
    args += sum(([f"--{arg}", arg] for arg in case["inputs"]), [])
    for key, value in (case["args"] if isinstance(case["args"], dict) else {}).items():
        args += ["--drop00"] if key == "drop00" else [_OPTIONS[key], value]
    res = meta(runner, args)
    assert res.exit_code == 0, res.output
    got = pd.read_csv(io.StringIO(res.stdout))
    assert list(got.columns) == list(case["inputs"]) + ["yi", "vi"]
    want_yi = np.array([np.nan if v is None else v for v in case["yi"]], float)
    want_vi = np.array([np.nan if v is None else v for v in case["vi"]], float)
    np.testing.assert_allclose(got["yi"], want_yi, rtol=1e-6, atol=1e-8, equal_nan=True)
    np.testing.assert_allclose(got["vi"], want_vi, rtol=1e-6, atol=1e-8, equal_nan=True)
    incomplete = np.isnan(want_yi) | np.isnan(want_vi)
    warnings = [ln for ln in res.stderr.splitlines() if "no effect size for row(s)" in ln]
    assert len(warnings) == int(incomplete.any())


def test_bcg_risk_ratios_pool_to_metafor(runner, tmp_path):
    """dat.bcg: effect-size RR → pool REML reproduces rma(measure = "RR") (metafor's own example)."""
    case = ESCALC["bcg_RR"]
    data = csv(tmp_path, "bcg", {"tpos": case["inputs"]["ai"], "tneg": case["inputs"]["bi"],
                                 "cpos": case["inputs"]["ci"], "cneg": case["inputs"]["di"]})
    out = tmp_path / "bcg_rr.csv"
    res = meta(runner, ["effect-size", data, "--measure", "RR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
                        "--di", "cneg", "--out", out])
    assert res.exit_code == 0 and res.stdout == "" and res.stderr.strip() == f"wrote {out} (13 rows)"
    pooled = ok_json(meta(runner, ["pool", out, "--yi", "yi", "--vi", "vi", "--json"]))
    ref = UNI["fits"]["bcg_REML"]
    close(pooled["coefficients"][0]["estimate"], ref["beta"])
    close(pooled["tau2"], ref["tau2"])
    odds = meta(runner, ["effect-size", data, "--measure", "OR", "--ai", "tpos", "--bi", "tneg", "--ci", "cpos",
                         "--di", "cneg", "--json"])
    close([r["yi"] for r in json.loads(odds.stdout)], ESCALC["bcg_OR"]["yi"])


def test_smd_measures_accept_escalc_names(runner, tmp_path):
    data = csv(tmp_path, "m", {"a": [10.0, 12.0], "b": [11.0, 11.5], "s1": [2.0, 3.0], "s2": [2.5, 3.0],
                               "n1": [20, 24], "n2": [21, 25]})
    old = meta(runner, ["effect-size", data, "--design", "between", "--measure", "SMD", "--m1", "a", "--m2", "b",
                        "--sd1", "s1", "--sd2", "s2", "--n1", "n1", "--n2", "n2"])
    new = meta(runner, ["effect-size", data, "--design", "between", "--measure", "smd", "--m1i", "a", "--m2i", "b",
                        "--sd1i", "s1", "--sd2i", "s2", "--n1i", "n1", "--n2i", "n2"])
    assert old.exit_code == new.exit_code == 0 and old.stdout == new.stdout


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture
def bcg_files(tmp_path):
    data = csv(tmp_path, "bcg", {**CLI["datasets"]["bcg"], "one": [1] * 13, "study": range(1, 14)})
    csv(tmp_path, "new_missing", {"ablat": [30]})
    (tmp_path / "broken.csv").write_text('ablat,year\n"30,1970\n')
    return data


POOL_BAD = [
    (["--robust", "one"], "--robust 'one': cluster-robust inference needs at least 2 clusters (got 1)"),
    (["--robust", "nope"], "--robust: column 'nope' not found in"),
    (["--vcov", "CR1"], "--vcov needs --robust CLUSTER_COLUMN"),
    (["--mods", "~ ablat", "--btt", "2,4"], "--btt: coefficient 4 out of range: the model has 2 coefficient(s) "
                                            "(1 = intrcpt, 2 = ablat)"),
    (["--btt", "2-3"], "--btt '2-3': give 1-based coefficient numbers separated by commas"),
    (["--btt", "0"], "--btt '0': coefficient numbers start at 1"),
    (["--mods", "~ ablat + year", "--newmods", "{tmp}/new_missing.csv"],
     "--newmods '{tmp}/new_missing.csv': column(s) 'year' missing"),
    (["--mods", "~ ablat", "--newmods", "{tmp}/absent.csv"], "--newmods file '{tmp}/absent.csv' not found"),
    (["--mods", "~ ablat", "--newmods", "{tmp}/broken.csv"], "--newmods file '{tmp}/broken.csv': cannot read as CSV"),
    (["--newmods", "{tmp}/new_missing.csv"], "--newmods needs --mods"),
    (["--levels", "grp,study", "--ci-tau2", "qprofile"],
     "--ci-tau2 is supported for univariate models only (without --levels); for the sigma^2 of a multilevel "
     "model use --profile"),
    (["--levels", "grp,study", "--test", "knha"], "--test knha is not supported with --levels"),
    (["--levels", "grp,study", "--method", "PM"], "--method PM is not available with --levels"),
    (["--method", "FE", "--ci-tau2", "qprofile"], "--ci-tau2 needs a random-effects model"),
    (["--method", "SJ", "--ci-tau2", "profile"], "--ci-tau2 profile needs --method REML or ML (got SJ)"),
    (["--test", "knha", "--dfs", "contain"], "--dfs contain is for --test t"),
    (["--method", "XY"], "Invalid value for '--method'"),
    (["--levels", "grp,study", "--robust", "study", "--vcov", "CR2"], "are not nested within the clusters"),
]


@pytest.mark.parametrize("extra, fragment", POOL_BAD)
def test_pool_bad_input_is_one_line(runner, bcg_files, extra, fragment):
    tmp = bcg_files.parent
    extra = [e.replace("{tmp}", str(tmp)) for e in extra]
    res = meta(runner, ["pool", bcg_files, "--yi", "yi", "--vi", "vi", *extra, "--json"])
    assert_one_line_error(res, fragment.replace("{tmp}", str(tmp)))


def test_missing_cluster_id_in_a_kept_row(runner, tmp_path):
    cols = dict(CLI["datasets"]["bcg"])
    cols["grp"] = [1, 1, None, 3, 4, 4, 5, 2, 3, 5, 6, 6, 1]
    path = csv(tmp_path, "d", cols)
    assert_one_line_error(meta(runner, ["pool", path, "--yi", "yi", "--vi", "vi", "--robust", "grp"]),
                          "--robust column 'grp': missing cluster id in row(s) 3")


ES_BAD = [
    ({"ai": [4, -1], "bi": [119, 300], "ci": [11, 29], "di": [128, 274]}, ["--measure", "OR"],
     "--ai column 'ai': counts must be >= 0; row(s) 2"),
    ({"ai": [4, 6], "n1i": [3, 300], "ci": [11, 29], "n2i": [139, 303]}, ["--measure", "RR"],
     "--n1i column 'n1i': more events than participants; row(s) 1"),
    ({"ai": [4, 6], "bi": [119, 300], "ci": [11, 29]}, ["--measure", "RD"], "--measure RD needs the column option "
                                                                           "--di or --n2i"),
    ({"ri": [0.2, 1.3], "ni": [20, 30]}, ["--measure", "COR"], "--ri column 'ri': correlations must lie in [-1, 1]"),
    ({"x1i": [3, 4], "x2i": [2, 5], "t1i": [100, 0], "t2i": [90, 80]}, ["--measure", "IRR"],
     "--t1i column 't1i': person-times must be > 0; row(s) 2"),
    ({"xi": [3, 4]}, ["--measure", "PLO"], "--measure PLO needs the column option --ni or --mi"),
    ({"m1i": [1.0, 2.0], "m2i": [1.0, 1.5], "sd1i": [1, 1], "sd2i": [1, 1], "n1i": [10, 10]}, ["--measure", "MD"],
     "--measure MD needs the column option --n2i"),
    ({"ai": [4, 6], "bi": [119, 300], "ci": [11, 29], "di": [128, 274]}, ["--measure", "OR", "--vtype", "AV"],
     "--measure OR does not take --vtype"),
    ({"ai": [4, 6], "bi": [119, 300], "ci": [11, 29], "di": [128, 274]}, ["--measure", "OR", "--design", "between"],
     "--design is only for --measure g, smd, smcc or smcr"),
    ({"ai": [4, 6], "bi": [119, 300], "ci": [11, 29], "di": [128, 274], "x": [1, 2]},
     ["--measure", "OR", "--m1i", "x"], "--measure OR does not use --m1i"),
    ({"ai": [4, 6], "bi": [119, 300], "ci": [11, 29], "di": [128, 274]}, ["--measure", "OR", "--xi", "nope"],
     "--measure OR does not use --xi"),
    ({"ai": [4, 6], "bi": [119, 300], "ci": [11, 29], "di": ["x", 274]}, ["--measure", "OR"],
     "column 'di': non-numeric value in row(s) 1"),
    ({"ai": [None, None], "bi": [119, 300], "ci": [11, 29], "di": [128, 274]}, ["--measure", "OR"],
     "--measure OR: no row has a complete input"),
    ({"m1": [1.0], "m2": [0.5]}, ["--measure", "smd", "--m1", "m1", "--m2", "m2"], "--measure smd needs --design"),
]


@pytest.mark.parametrize("columns, extra, fragment", ES_BAD)
def test_effect_size_bad_input_is_one_line_and_writes_nothing(runner, tmp_path, columns, extra, fragment):
    data = csv(tmp_path, "in", columns)
    measure = extra[1].upper()
    cols = [] if measure not in ("OR", "RR", "RD", "COR", "ZCOR", "MD", "ROM", "PLO", "PR", "IRR") else \
        sum(([f"--{c}", c] for c in columns if c != "x"), [])
    out = tmp_path / "out.csv"
    res = meta(runner, ["effect-size", data, *extra, *cols, "--out", out])
    assert_one_line_error(res, fragment)
    assert not out.exists()
