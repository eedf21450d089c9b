"""Multilevel models against metafor 3.8 (tests/data/metafor_multilevel.json from tests/r/...R).

Agreement targets (issue 3): 1e-6 relative (1e-8 absolute near zero) on estimates, SEs, σ², QE, QM, logLik,
I²; profile CIs to 1e-4 (they agree to ~1e-10 because the R script profiles with uniroot(tol = 1e-12)).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meta.errors import MetaInputError
from meta.multilevel import MultilevelResult, fit_multilevel

FIXTURE = json.loads((Path(__file__).parent / "data" / "metafor_multilevel.json").read_text())
CASES = {c["name"]: c for c in FIXTURE["cases"]}
RTOL, ATOL = 1e-6, 1e-8


def dataset(name: str) -> pd.DataFrame:
    return pd.DataFrame(FIXTURE["datasets"][name])


def fit_case(case: dict) -> MultilevelResult:
    data = dataset(case["dataset"])
    return fit_multilevel(
        data["yi"].to_numpy(), data["vi"].to_numpy(), {lv: data[lv].to_numpy() for lv in case["levels"]},
        mods=case["mods"], data=data, method=case["method"], test=case["test"], dfs=case["dfs"],
    )


def close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def fits() -> dict[str, MultilevelResult]:
    return {name: fit_case(case) for name, case in CASES.items()}


def test_fixture_covers_the_issue():
    names = set(CASES)
    assert {"konst_reml", "konst_ml", "konst_ml_year", "konst_reml_year", "konst_t_contain", "assink_reml",
            "assink_pubstatus", "assink_deltype", "boundary_reml"} <= names
    assert FIXTURE["metafor_version"].startswith("3.8")


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_metafor(fits, name):
    case, res = CASES[name], fits[name]
    assert res.converged
    assert res.k == case["k"] and res.p == case["p"]
    close(res.sigma2, case["sigma2"])
    close(res.beta, case["beta"])
    coef = case["coefficients"]
    close([c.se for c in res.coefficients], coef["se"])
    close([c.z for c in res.coefficients], coef["z"])
    close([c.p for c in res.coefficients], coef["p"], atol=1e-12)
    close([c.ci_lb for c in res.coefficients], coef["ci_lb"])
    close([c.ci_ub for c in res.coefficients], coef["ci_ub"])
    close(res.vb, case["vb"], atol=1e-12)
    close(res.QE, case["QE"])
    assert res.QE_df == case["QE_df"]
    close(res.QE_p, case["QE_p"], atol=1e-14)
    close(res.QM, case["QM"])
    close(res.QM_p, case["QM_p"], atol=1e-14)
    close(res.logLik, case["logLik"])
    close([res.deviance, res.AIC, res.BIC, res.AICc], [case["deviance"], case["AIC"], case["BIC"], case["AICc"]])
    close([res.ll_ML, res.ll_REML], [case["ll_ML"], case["ll_REML"]])
    close(res.I2_total, case["I2_total"])
    close(res.I2_levels, case["I2_levels"])
    close(res.weights(), case["weights"])
    close(res.fitted(), case["fitted"])
    close(res.residuals(), case["residuals"])
    if case["test"] == "t":
        close([c.df for c in res.coefficients], coef["ddf"], rtol=0, atol=0)
    if "pred" in case:
        close(res.pred_interval, [case["pred"]["pi_lb"], case["pred"]["pi_ub"]])


@pytest.mark.parametrize("name", ["assink_pubstatus", "assink_deltype", "konst_reml_year", "fourlevel_ml_x_contain"])
def test_coefficient_names_follow_metafor(fits, name):
    assert list(fits[name].coef_names) == list(CASES[name]["coefficients"]["name"])


def test_published_values():
    """Values printed in metafor's documentation and tests (meta_algorithms.md, exact targets)."""
    konst = fit_case(CASES["konst_reml"])
    assert konst.sigma2 == pytest.approx((0.06506194, 0.03273652), abs=5e-9)
    assert konst.beta[0] == pytest.approx(0.1847132, abs=5e-8)
    assert konst.coefficients[0].se == pytest.approx(0.08455592, abs=5e-9)
    assert konst.logLik == pytest.approx(-7.9587, abs=5e-5)
    assert konst.QE == pytest.approx(578.8640, abs=5e-5)
    assert (konst.I2_total, *konst.I2_levels) == pytest.approx((95.18731, 63.32484, 31.86247), abs=1e-5)
    contain = fit_case(CASES["konst_t_contain"])
    assert contain.coefficients[0].df == 10
    assink = fit_case(CASES["assink_reml"])
    assert assink.AIC == pytest.approx(153.2654, abs=5e-5)
    assert [assink.lrt(j).LRT for j in (0, 1)] == pytest.approx([62.8024, 81.8658], abs=5e-5)


def _profile_cases():
    out = []
    for name, case in CASES.items():
        pcs = case.get("profile_ci")
        if not pcs:
            continue
        pcs = [pcs[k] for k in sorted(pcs, key=int)] if isinstance(pcs, dict) else pcs
        out += [(name, j, pc) for j, pc in enumerate(pcs)]
    return out


@pytest.mark.parametrize("name, j, expected", _profile_cases(), ids=lambda x: str(x) if not isinstance(x, dict) else "")
def test_profile_ci_matches_confint(fits, name, j, expected):
    ci = fits[name].profile_ci(j)
    assert ci.ci_lb == pytest.approx(expected["ci_lb"], abs=1e-7, rel=1e-6)
    assert ci.ci_ub == pytest.approx(expected["ci_ub"], abs=1e-7, rel=1e-6)
    assert ci.level == 0.95


def _lrt_cases():
    return [(name, lr) for name, case in CASES.items() for lr in case.get("lrt", [])]


@pytest.mark.parametrize("name, expected", _lrt_cases(), ids=lambda x: str(x) if not isinstance(x, dict) else "")
def test_lrt_matches_anova(fits, name, expected):
    res = fits[name].lrt(expected["component"] - 1)
    close(res.LRT, expected["LRT"])
    close(res.p, expected["p"], atol=1e-15)
    close(res.logLik_reduced, expected["logLik_reduced"])
    assert res.df == 1


def test_boundary_component_is_zero_not_a_failure(fits):
    res = fits["boundary_reml"]
    assert res.converged
    assert res.sigma2[0] == 0.0
    assert res.sigma2[1] > 0.01
    assert res.I2_levels[0] == 0.0
    ci = res.profile_ci("study")
    assert ci.ci_lb == 0.0 and ci.ci_ub > 0
    assert fits["fourlevel_ml_x_contain"].converged


def test_single_level_factor_is_fixed_at_zero_like_metafor():
    rng = np.random.default_rng(4)
    k = 30
    res = fit_multilevel(rng.normal(size=k), rng.uniform(0.05, 0.1, k), {"all": np.zeros(k), "esid": np.arange(k)})
    assert res.sigma2[0] == 0.0 and res.sigma2_fixed == (True, False)
    assert res.parms == 2


def test_result_api(fits):
    res = fits["assink_pubstatus"]
    frame = res.to_frame()
    assert list(frame.index) == ["intrcpt", "pubstatus"]
    assert {"estimate", "se", "z", "p", "ci_lb", "ci_ub"} <= set(frame.columns)
    d = res.to_dict()
    json.dumps(d)
    assert d["sigma2"] == list(res.sigma2) and d["I2"]["levels"] == list(res.I2_levels)
    text = res.summary()
    assert "Multivariate Meta-Analysis Model (k = 100; method: REML)" in text
    assert "study/esid" in text and "pubstatus" in text and "QM(df = 1)" in text
    assert "F(df1 = 3, df2 =" in fits["assink_ml_deltype_year_contain"].summary()
    assert res.weights().sum() == pytest.approx(100.0)
    with pytest.raises(Exception):
        res.k = 3  # frozen
    assert res.variance_frame().shape[0] == 2


def test_matrix_form_equals_formula_form(fits):
    data = dataset("assink2016")
    X = np.column_stack([np.ones(len(data)), data["pubstatus"].to_numpy(float)])
    res = fit_multilevel(data["yi"], data["vi"], data[["study", "esid"]], X=X, names=["intrcpt", "pubstatus"])
    close(res.beta, fits["assink_pubstatus"].beta, rtol=1e-10, atol=1e-12)
    by_name = fit_multilevel("yi", "vi", ["study", "esid"], data=data, mods="~ pubstatus")
    close(by_name.sigma2, res.sigma2, rtol=1e-10, atol=1e-12)


def test_row_order_does_not_matter():
    data = dataset("konstantopoulos2011").sample(frac=1.0, random_state=3)
    res = fit_multilevel(data["yi"], data["vi"], {"district": data["district"], "school": data["school"]})
    close(res.sigma2, CASES["konst_reml"]["sigma2"])
    w = pd.Series(res.weights(), index=data.index).sort_index()
    close(w, CASES["konst_reml"]["weights"])


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(levels={"study": [1, 2, None, 3]}), "level column 'study': missing id in row(s) 3"),
        (dict(vi=[0.1, -0.1, 0.1, 0.1]), "'vi': sampling variances must be > 0; row(s) 2"),
        (dict(yi=[0.1, np.nan, 0.1, 0.1], na="fail"), "missing values (na='fail'): 'yi' row(s) 2"),
        (dict(yi=[0.1, np.inf, 0.1, 0.1]), "'yi': missing or non-finite value in row(s) 2"),
        (dict(na="exclude"), "na must be 'omit' or 'fail'"),
        (dict(method="DL"), "not available for multilevel models"),
        (dict(levels={"study": [1, 2, 3]}), "has 3 ids for 4 estimates"),
    ],
)
def test_bad_input_one_line_errors(kwargs, fragment):
    args = dict(yi=[0.1, 0.2, 0.3, 0.5], vi=[0.1, 0.1, 0.1, 0.1], levels={"study": [1, 1, 2, 2]})
    args.update(kwargs)
    with pytest.raises(MetaInputError) as err:
        fit_multilevel(args.pop("yi"), args.pop("vi"), args.pop("levels"), **args)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_too_few_estimates():
    with pytest.raises(MetaInputError, match="at least 2 estimates"):
        fit_multilevel([0.1], [0.1], {"s": [1]})


def test_convergence_error_carries_optimiser_message(monkeypatch):
    import meta.multilevel as ml
    from meta.errors import ConvergenceError

    def broken(*args, **kwargs):
        raise ConvergenceError("variance components did not converge (L-BFGS-B: ABNORMAL_TERMINATION_IN_LNSRCH)")

    monkeypatch.setattr(ml, "optimise_variance_components", broken)
    with pytest.raises(ConvergenceError, match="ABNORMAL"):
        fit_case(CASES["assink_reml"])


def test_heterogeneity_module_serves_univariate_i2():
    """meta.heterogeneity.i_squared with one component is rma.uni's I² (dat.bcg, REML, with and without ablat)."""
    from meta.heterogeneity import fixed_effects_q, i_squared

    bcg = json.loads((Path(__file__).parent / "data" / "metafor_univariate.json").read_text())["bcg"]
    yi, vi = np.array(bcg["data"]["yi"]), np.array(bcg["data"]["vi"])
    close(i_squared(vi, bcg["REML"]["tau2"])[0], bcg["REML"]["I2"])
    X = np.column_stack([np.ones(yi.size), bcg["data"]["ablat"]])
    close(i_squared(vi, bcg["REML_ablat"]["tau2"], X)[0], bcg["REML_ablat"]["I2"])
    close(fixed_effects_q(yi, vi, X)[0], bcg["REML_ablat"]["QE"])


def test_one_level_model_equals_univariate_reml():
    """rma.mv(yi, vi, random = ~ 1 | id) with one estimate per id is rma.uni REML (dat.bcg)."""
    bcg = json.loads((Path(__file__).parent / "data" / "metafor_univariate.json").read_text())["bcg"]
    yi, vi = np.array(bcg["data"]["yi"]), np.array(bcg["data"]["vi"])
    res = fit_multilevel(yi, vi, {"trial": np.arange(yi.size)})
    close(res.sigma2[0], bcg["REML"]["tau2"])
    close(res.beta[0], bcg["REML"]["beta"])
    close(res.logLik, bcg["REML"]["logLik"])
    close(res.I2_total, bcg["REML"]["I2"])
