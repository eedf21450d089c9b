"""``blockade meta pool``: JSON fields and metafor agreement, summaries, and one-line exit-2 errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from occupancy.cli import main

DATA = Path(__file__).parent / "data"
ML = json.loads((DATA / "metafor_multilevel.json").read_text())
CASES = {c["name"]: c for c in ML["cases"]}


@pytest.fixture
def runner():
    return CliRunner()


def pool(runner, args):
    return runner.invoke(main, ["meta", "pool", *map(str, args)], catch_exceptions=False)


def assert_one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    err = result.stderr if hasattr(result, "stderr") else result.output
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("blockade: error:"), err
    assert fragment in lines[0], lines[0]


@pytest.fixture
def assink_csv(tmp_path):
    path = tmp_path / "assink.csv"
    pd.DataFrame(ML["datasets"]["assink2016"]).to_csv(path, index=False)
    return path


@pytest.fixture
def konst_csv(tmp_path):
    path = tmp_path / "konst.csv"
    pd.DataFrame(ML["datasets"]["konstantopoulos2011"]).to_csv(path, index=False)
    return path


def check_against(payload, case):
    assert payload["k"] == case["k"]
    np.testing.assert_allclose(payload["sigma2"], case["sigma2"], rtol=1e-6, atol=1e-8)
    coef = case["coefficients"]
    names = coef["name"] if isinstance(coef["name"], list) else [coef["name"]]
    assert [c["name"] for c in payload["coefficients"]] == names
    for key, ref in (("estimate", "estimate"), ("se", "se"), ("z", "z"), ("p", "p"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub")):
        np.testing.assert_allclose([c[key] for c in payload["coefficients"]], coef[ref], rtol=1e-6, atol=1e-8)
    for key in ("QE", "QE_p", "QM", "QM_p", "logLik"):
        np.testing.assert_allclose(payload[key], case[key], rtol=1e-6, atol=1e-12)
    qm_df = case["QM_df"] if isinstance(case["QM_df"], list) else [case["QM_df"]]  # metafor: (m, ddf) for t tests
    assert payload["QE_df"] == case["QE_df"] and payload["QM_df"] == qm_df[0]
    np.testing.assert_allclose(payload["I2"]["total"], case["I2_total"], rtol=1e-6)
    np.testing.assert_allclose(payload["I2"]["levels"], case["I2_levels"], rtol=1e-6, atol=1e-8)
    assert payload["converged"] is True


def test_multilevel_json_matches_metafor(runner, assink_csv):
    res = pool(runner, [assink_csv, "--yi", "yi", "--vi", "vi", "--levels", "study,esid", "--json"])
    assert res.exit_code == 0, res.output
    check_against(json.loads(res.stdout), CASES["assink_reml"])


def test_multilevel_categorical_moderator(runner, assink_csv):
    res = pool(runner, [assink_csv, "--yi", "yi", "--vi", "vi", "--levels", "study,esid", "--mods", "~ deltype", "--json"])
    assert res.exit_code == 0, res.output
    check_against(json.loads(res.stdout), CASES["assink_deltype"])


def test_multilevel_ml_t_contain(runner, konst_csv):
    res = pool(runner, [konst_csv, "--yi", "yi", "--vi", "vi", "--levels", "district,school", "--mods", "~ year_c",
                        "--test", "t", "--dfs", "contain", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    check_against(payload, CASES["konst_t_contain_year"])
    assert [c["df"] for c in payload["coefficients"]] == CASES["konst_t_contain_year"]["coefficients"]["ddf"]


def test_summary_is_printed_without_json(runner, konst_csv):
    res = pool(runner, [konst_csv, "--yi", "yi", "--vi", "vi", "--levels", "district,school", "--method", "ML"])
    assert res.exit_code == 0, res.output
    assert "Multivariate Meta-Analysis Model (k = 56; method: ML)" in res.stdout
    assert "district/school" in res.stdout


def test_univariate_without_levels(runner, assink_csv):
    pytest.importorskip("meta.univariate")
    ref = json.loads((DATA / "metafor_univariate.json").read_text())["bcg"]
    path = assink_csv.parent / "bcg.csv"
    pd.DataFrame({"yi": ref["data"]["yi"], "vi": ref["data"]["vi"]}).to_csv(path, index=False)
    for method in ("REML", "DL", "FE"):
        res = pool(runner, [path, "--yi", "yi", "--vi", "vi", "--method", method, "--json"])
        assert res.exit_code == 0, res.output
        payload = json.loads(res.stdout)
        assert "tau2" in payload and "sigma2" not in payload
        assert payload["coefficients"][0]["estimate"] == pytest.approx(ref[method]["beta"], rel=1e-6)
        assert payload["I2"]["total"] == pytest.approx(ref[method]["I2"], rel=1e-6, abs=1e-8)
        assert {"k", "QE", "QE_df", "QE_p", "QM", "QM_df", "QM_p", "logLik", "converged"} <= set(payload)
    res = pool(runner, [path, "--yi", "yi", "--vi", "vi"])
    assert res.exit_code == 0 and "Random-Effects Model" in res.stdout


# --------------------------------------------------------------------------------------- bad input
@pytest.fixture
def small(tmp_path):
    def make(**cols):
        base = {"study": [1, 1, 2, 2, 3, 3], "esid": [1, 2, 1, 2, 1, 2], "yi": [0.1, 0.3, 0.2, 0.5, 0.4, 0.0],
                "vi": [0.05, 0.04, 0.06, 0.05, 0.03, 0.04], "x": [1.0, 2.0, 3.0, 1.0, 2.0, 4.0], "c": [2.0] * 6}
        base.update(cols)
        path = tmp_path / "small.csv"
        pd.DataFrame(base).to_csv(path, index=False)
        return path

    return make


ML_ARGS = ["--yi", "yi", "--vi", "vi", "--levels", "study,esid"]


@pytest.mark.parametrize(
    "cols, extra, fragment",
    [
        ({}, ["--yi", "effect"], "column 'effect' not found"),
        ({"vi": [0.05, "abc", 0.06, 0.05, 0.03, 0.04]}, [], "column 'vi': non-numeric value in row(s) 2"),
        ({"vi": [0.05, 0.04, 0.0, 0.05, -0.03, 0.04]}, [], "column 'vi': sampling variances must be > 0; row(s) 3, 5"),
        ({"yi": [0.1, 0.3, None, 0.5, 0.4, 0.0]}, ["--na", "fail"], "missing values (--na fail): 'yi' row(s) 3"),
        ({"yi": [0.1, 0.3, "inf", 0.5, 0.4, 0.0]}, [], "column 'yi': non-finite value in row(s) 3"),
        ({"study": [1, 1, None, 2, 3, 3]}, [], "level column 'study': missing id in row(s) 3"),
        ({}, ["--mods", "~ c"], "moderator column 'c' is constant"),
        ({}, ["--mods", "~ x + I(2 * x)"], "moderator column 'I(2 * x)' is collinear"),
        ({}, ["--mods", "~ nope"], "column 'nope' not found"),
        ({}, ["--levels", "study,nope"], "level column 'nope' not found"),
        ({}, ["--method", "DL"], "--method DL is not available with --levels"),
        ({}, ["--method", "FE"], "--method FE is not available with --levels"),
    ],
)
def test_bad_input_is_one_line_exit_2(runner, small, cols, extra, fragment):
    path = small(**cols)
    args = list(ML_ARGS)
    for i in range(0, len(extra), 2):  # later options override earlier ones
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i : i + 2]
    assert_one_line_error(pool(runner, [path, *args]), fragment)


def test_missing_moderator_row_is_omitted_with_a_warning(runner, small):
    # metafor's default na.omit (issue 13): the row is left out of the fit, named in one warning line on
    # stderr and in "omitted_rows"; --na fail makes it a one-line error
    path = small(x=[1.0, None, 3.0, 1.0, 2.0, 4.0])
    res = pool(runner, [path, *ML_ARGS, "--mods", "~ x", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["k"] == 5 and out["omitted_rows"] == [2]
    assert res.stderr.splitlines() == [
        "blockade: warning: rows with missing values omitted from the model: row(s) 2 ('x' row(s) 2)"]
    assert_one_line_error(pool(runner, [path, *ML_ARGS, "--mods", "~ x", "--na", "fail"]),
                          "missing values (--na fail): 'x' row(s) 2")


def test_fewer_than_two_estimates(runner, tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"study": [1], "esid": [1], "yi": [0.2], "vi": [0.1]}).to_csv(path, index=False)
    assert_one_line_error(pool(runner, [path, *ML_ARGS]), "at least 2 estimates")


def test_missing_file(runner, tmp_path):
    assert_one_line_error(pool(runner, [tmp_path / "absent.csv", *ML_ARGS]), "not found")


def test_non_convergence_is_an_error_with_the_optimiser_message(runner, small, monkeypatch):
    import meta.multilevel as ml
    from meta.errors import ConvergenceError

    def broken(*a, **k):
        raise ConvergenceError("variance components did not converge (L-BFGS-B: ABNORMAL_TERMINATION_IN_LNSRCH)")

    monkeypatch.setattr(ml, "optimise_variance_components", broken)
    assert_one_line_error(pool(runner, [small(), *ML_ARGS]), "ABNORMAL_TERMINATION_IN_LNSRCH")


def test_profile_cis_and_lrts(runner, assink_csv):
    res = pool(runner, [assink_csv, "--yi", "yi", "--vi", "vi", "--levels", "study,esid", "--profile", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    case = CASES["assink_reml"]
    pcs = case["profile_ci"]
    pcs = [pcs[k] for k in sorted(pcs, key=int)] if isinstance(pcs, dict) else pcs
    np.testing.assert_allclose([c["ci_lb"] for c in payload["sigma2_ci"]], [p["ci_lb"] for p in pcs], rtol=1e-6)
    np.testing.assert_allclose([c["ci_ub"] for c in payload["sigma2_ci"]], [p["ci_ub"] for p in pcs], rtol=1e-6)
    np.testing.assert_allclose([t["LRT"] for t in payload["lrt"]], [t["LRT"] for t in case["lrt"]], rtol=1e-6)
    text = pool(runner, [assink_csv, "--yi", "yi", "--vi", "vi", "--levels", "study,esid", "--profile"]).stdout
    assert "Profile-likelihood CIs (95%)" in text and "study/esid" in text


def test_real_optimiser_failure_reaches_the_user(runner, assink_csv, monkeypatch):
    # the whole optimisation chain runs (scoring, Newton, L-BFGS-B); when no stationary point is certified the
    # command must fail with the optimisers' own account, not print numbers
    import meta.variance_components as vc

    monkeypatch.setattr(vc, "_is_converged", lambda *a, **k: False)
    res = pool(runner, [assink_csv, *ML_ARGS])
    assert_one_line_error(res, "variance components did not converge")
    assert "L-BFGS-B" in res.output and "max projected gradient" in res.output


def test_univariate_non_convergence_reaches_the_user(runner, assink_csv, monkeypatch):
    import meta.univariate as uv

    # an unreachable threshold and two iterations: Fisher scoring cannot converge with any step length
    monkeypatch.setattr(uv, "_THRESHOLD", 1e-300)
    monkeypatch.setattr(uv, "_MAXITER", 2)
    res = pool(runner, [assink_csv, "--yi", "yi", "--vi", "vi"])
    assert_one_line_error(res, "Fisher scoring algorithm did not converge")


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_univariate_profile_ci_and_lrt(runner, tmp_path, method):
    # profile-likelihood CI of tau2 (metafor confint(type = "PL")) and LRT of tau2 = 0 without --levels, checked
    # against rma.uni's own restricted/ordinary log-likelihood maximised independently with scipy
    from scipy import optimize, stats

    from meta.univariate import _ll_profile

    uni = json.loads((DATA / "metafor_univariate.json").read_text())["bcg"]["data"]
    y, v = np.asarray(uni["yi"], float), np.asarray(uni["vi"], float)
    path = tmp_path / "bcg.csv"
    pd.DataFrame({"yi": y, "vi": v}).to_csv(path, index=False)
    res = pool(runner, [path, "--yi", "yi", "--vi", "vi", "--method", method, "--profile", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    X = np.ones((y.size, 1))
    ll = lambda t2: _ll_profile(y, v, X, t2, method)  # noqa: E731
    best = optimize.minimize_scalar(lambda t2: -ll(t2), bounds=(0, 5), method="bounded",
                                    options={"xatol": 1e-12})
    crit = stats.chi2.ppf(0.95, 1)
    for bound in (out["tau2_profile"]["ci_lb"], out["tau2_profile"]["ci_ub"]):
        assert -2 * (ll(bound) - ll(best.x)) == pytest.approx(crit, rel=1e-6)
    assert out["tau2_profile"]["ci_lb"] < out["tau2"] < out["tau2_profile"]["ci_ub"]
    assert out["tau2_ci"] == [out["tau2_profile"]["ci_lb"], out["tau2_profile"]["ci_ub"]]
    assert out["tau2_ci_type"] == "profile"
    assert out["lrt"][0]["LRT"] == pytest.approx(-2 * (ll(0.0) - ll(best.x)), rel=1e-8)
    res = pool(runner, [path, "--yi", "yi", "--vi", "vi", "--method", "DL", "--profile"])
    assert_one_line_error(res, "--profile needs --method REML or ML")


def test_univariate_dfs_contain_implies_t_on_k_minus_p(runner, tmp_path):
    uni = json.loads((DATA / "metafor_univariate.json").read_text())["bcg"]
    path = tmp_path / "bcg.csv"
    pd.DataFrame({"yi": uni["data"]["yi"], "vi": uni["data"]["vi"]}).to_csv(path, index=False)
    res = pool(runner, [path, "--yi", "yi", "--vi", "vi", "--dfs", "contain", "--json"])
    out = json.loads(res.output)
    assert out["test"] == "t" and out["coefficients"][0]["df"] == out["k"] - out["p"]
    assert out["coefficients"][0]["p"] == pytest.approx(uni["REML_t"]["pval"][0] if isinstance(
        uni["REML_t"]["pval"], list) else uni["REML_t"]["pval"], rel=1e-6)


def test_unreadable_inputs_are_one_line_errors(tmp_path):
    """Empty files, folders and repeated --levels names: one line, exit 2 (shared meta_input readers)."""
    from click.testing import CliRunner

    from occupancy.cli import main

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    good = tmp_path / "d.csv"
    good.write_text("study,esid,yi,vi\n1,1,0.1,0.01\n1,2,0.2,0.02\n2,3,0.3,0.01\n2,4,0.0,0.03\n")
    cases = [
        (["meta", "pool", str(empty), "--yi", "yi", "--vi", "vi"], "is empty"),
        (["meta", "pool", str(tmp_path), "--yi", "yi", "--vi", "vi"], str(tmp_path)),
        (["meta", "pool", str(good), "--yi", "yi", "--vi", "vi", "--levels", "study,study"], "study"),
        (["meta", "bias", str(empty), "--yi", "yi", "--vi", "vi"], "is empty"),
    ]
    for args, fragment in cases:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.stderr and result.stderr.count("\n") == 1
