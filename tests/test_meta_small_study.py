"""Egger/regtest, PET-PEESE and trim-and-fill against metafor 3.8.1 (tests/data/metafor_univariate.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from meta.errors import MetaInputError
from meta.small_study import _rank_first, egger_test, pet_peese, trim_and_fill

REF = json.loads((Path(__file__).parent / "data" / "metafor_univariate.json").read_text())
TF = REF["trimfill"]
RT = REF["regtest"]


def close(a, b, rel=1e-6, abs_=1e-8):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rel, atol=abs_)


TF_CASES = [(ds, key) for ds in ("bcg", "hackshaw") for key in TF[ds] if key != "data"]


@pytest.mark.parametrize("ds, key", TF_CASES)
def test_trimfill_matches_metafor(ds, key):
    ref = TF[ds][key]
    method, estimator = key.split("_")[:2]
    side = "left" if key.endswith("_left") else None
    data = TF[ds]["data"]
    r = trim_and_fill(data["yi"], data["vi"], estimator=estimator, method=method, side=side)
    assert r.k0 == ref["k0"]
    assert r.side == ref["side"]
    if ref["se_k0"] is None:  # metafor: sqrt of a negative Var(S_r) -> NaN
        assert math.isnan(r.se_k0)
    else:
        close(r.se_k0, ref["se_k0"])
    close(r.estimate, ref["beta"])
    close(r.se, ref["se"])
    close([r.ci_lb, r.ci_ub], [ref["ci_lb"], ref["ci_ub"]])
    if "yi" in ref:
        close(r.z, ref["zval"])
        close(r.p, ref["pval"])
        close(r.tau2, ref["tau2"])
        close(np.r_[r.yi_observed, r.yi_filled], ref["yi"])
        close(np.r_[r.vi_observed, r.vi_filled], ref["vi"])
        assert list(r.to_frame()["filled"]) == ref["fill"]
        if estimator == "R0":
            close(r.p_k0, ref["p_k0"])


def test_trimfill_published_bcg_values():
    d = TF["bcg"]["data"]
    r = trim_and_fill(d["yi"], d["vi"], method="FE")
    assert (r.k0, r.side, round(r.se_k0, 4), round(r.estimate, 4), round(r.se, 4)) == (4, "right", 2.3853, -0.2910, 0.0383)
    r = trim_and_fill(d["yi"], d["vi"], method="FE", estimator="R0")
    assert (r.k0, round(r.se_k0, 4), round(r.p_k0, 4)) == (4, 3.1623, 0.0312)
    r = trim_and_fill(d["yi"], d["vi"], method="REML")
    assert (r.k0, round(r.se_k0, 4), round(r.estimate, 4), round(r.tau2, 4)) == (1, 2.4528, -0.6571, 0.3313)
    json.dumps(r.to_dict())
    assert "missing studies on the right side: 1" in r.summary()


def test_trimfill_filled_values_mirror_the_estimate():
    d = TF["hackshaw"]["data"]
    r = trim_and_fill(d["yi"], d["vi"], method="FE")
    assert r.k0 == 7 and r.yi_filled.size == 7 and r.vi_filled.size == 7
    assert np.all(r.yi_filled < np.mean(d["yi"]))  # imputed on the left


def test_rank_first_ties():
    assert list(_rank_first(np.array([0.3, 0.1, 0.3, 0.2]))) == [3.0, 1.0, 4.0, 2.0]


@pytest.mark.parametrize("fn", [trim_and_fill, egger_test])
def test_too_few_estimates(fn):
    with pytest.raises(MetaInputError, match="at least 3"):
        fn([0.1, 0.2], [0.01, 0.02])


def test_trimfill_bad_arguments():
    d = TF["bcg"]["data"]
    with pytest.raises(MetaInputError, match="estimator"):
        trim_and_fill(d["yi"], d["vi"], estimator="X0")
    with pytest.raises(MetaInputError, match="side"):
        trim_and_fill(d["yi"], d["vi"], side="up")
    with pytest.raises(MetaInputError, match="equal"):
        trim_and_fill([0.1, 0.3, 0.2, 0.5], [0.02] * 4)


@pytest.mark.parametrize("key", ["lm_sei", "rma_sei", "rma_vi", "lm_vi", "fe_rma_sei"])
def test_regtest_matches_metafor(key):
    ref = RT[key]
    method = "FE" if key.startswith("fe") else "REML"
    r = egger_test(RT["data"]["yi"], RT["data"]["vi"], model=ref["model"], predictor=ref["predictor"], method=method)
    close(r.z, ref["zval"])
    close(r.p, ref["pval"])
    close([r.intercept, r.slope], ref["coef"])
    close([r.intercept_se, r.se], ref["coef_se"])
    close(r.intercept, ref["est"])
    close([r.ci_lb, r.ci_ub], [ref["ci_lb"], ref["ci_ub"]])
    if ref["dfs"] is not None:
        assert r.df == ref["dfs"]
    if ref["model"] == "rma":
        close(r.tau2, ref["tau2"])


def test_regtest_published_values():
    y, v = RT["data"]["yi"], RT["data"]["vi"]
    r = egger_test(y, v, model="lm")
    assert (round(r.z, 4), r.df, round(r.p, 4), round(r.intercept, 4)) == (-3.1783, 13, 0.0073, -0.1512)
    r = egger_test(y, v, model="rma")
    assert (round(r.z, 4), round(r.p, 4), round(r.intercept, 4)) == (-2.8062, 0.0050, -0.1639)
    assert "Funnel Plot Asymmetry" in r.summary()
    json.dumps(r.to_dict())


def test_pet_peese():
    y, v = RT["data"]["yi"], RT["data"]["vi"]
    res = pet_peese(y, v)
    close(res.pet.intercept, RT["lm_sei"]["est"])
    close(res.peese.intercept, RT["lm_vi"]["est"])
    assert res.chosen in ("PET", "PEESE")
    assert res.estimate == (res.peese.intercept if res.chosen == "PEESE" else res.pet.intercept)
    assert list(res.to_frame().index) == ["PET", "PEESE"]


@pytest.mark.parametrize("pred", ["sei", "vi"])
def test_multilevel_egger_matches_rma_mv(pred):
    pytest.importorskip("meta.multilevel")
    ref = RT["multilevel"][pred]
    d = RT["multilevel"]["data"]
    r = egger_test(d["yi"], d["vi"], model="multilevel", predictor=pred,
                   levels={"study": d["study"], "esid": d["esid"]})
    # rma.mv's default nlminb stops early: for the PEESE fit its beta is ~3e-7 (relative) off the optimum and
    # its REML logLik 3e-11 below ours (at our sigma2, rma.mv(sigma2 = fixed) reproduces our beta to 1e-15).
    # So 1e-5 relative here, and CI limits (one is a difference of nearly equal numbers) to 1e-6 absolute.
    close([r.intercept, r.slope], ref["beta"], rel=1e-5)
    close([r.intercept_se, r.se], ref["se"], rel=1e-5)
    close(r.z, ref["zval"][1], rel=1e-5)
    close(r.p, ref["pval"][1], rel=1e-5)
    close([r.ci_lb, r.ci_ub], [ref["ci_lb"][0], ref["ci_ub"][0]], rel=0, abs_=1e-6)
    close(r.tau2, ref["sigma2"], rel=1e-5)


def test_multilevel_egger_needs_levels():
    with pytest.raises(MetaInputError, match="levels"):
        egger_test(RT["data"]["yi"], RT["data"]["vi"], model="multilevel")
