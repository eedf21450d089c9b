"""Wald tests (anova btt / X) and likelihood-ratio tests against metafor 3.8.1 ``anova.rma``.

Univariate references: tests/data/metafor_univariate_breadth.json ("tests"); multilevel references:
tests/data/metafor_multilevel_breadth.json ("wald", "lrt").
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meta.hypothesis_tests import anova, lrt, wald_test
from meta.errors import MetaInputError
from meta.multilevel import fit_multilevel
from meta.univariate import fit_random_effects

HERE = Path(__file__).parent / "data"
UNI = json.loads((HERE / "metafor_univariate_breadth.json").read_text())
MULTI = json.loads((HERE / "metafor_multilevel_breadth.json").read_text())
BCG = pd.DataFrame(UNI["datasets"]["bcg"])
ASSINK = pd.DataFrame(MULTI["datasets"]["assink2016"])


def close(a, b, rtol=1e-6, atol=1e-8):
    a = np.atleast_1d(np.asarray(a, float))
    b = np.atleast_1d(np.asarray([np.nan if x is None else x for x in np.atleast_1d(b)], float))
    np.testing.assert_allclose(a, b.reshape(a.shape), rtol=rtol, atol=atol)


def check_btt(w, ref):
    close(w.QM, ref["QM"])
    close(w.QM_p, ref["QMp"])
    qmdf = np.atleast_1d(ref["QMdf"])
    assert w.QM_df == qmdf[0]
    if qmdf.size > 1 and qmdf[1] is not None:
        close(w.QM_ddf, qmdf[1])
    else:
        assert w.QM_ddf is None


def check_X(w, ref):
    close(w.estimate, ref["Xb"])
    close(w.se, ref["se"])
    close(w.stat, ref["zval"])
    close(w.p, ref["pval"])
    check_btt(w, ref)
    if ref["ddf"] is not None and w.ddf is not None:
        close(w.ddf, ref["ddf"])


# ---------------------------------------------------------------------------------------------- univariate
@pytest.fixture(scope="module")
def uni_fits():
    mods = UNI["tests"]["mods"]
    return {t: fit_random_effects("yi", "vi", mods=mods, data=BCG, test=t) for t in ("z", "knha")}


@pytest.mark.parametrize("key", sorted(UNI["tests"]["wald"]))
def test_univariate_wald_btt(uni_fits, key):
    ref = UNI["tests"]["wald"][key]
    btt = ref["btt"]
    w = wald_test(uni_fits[ref["test"]], None if btt is None else list(np.atleast_1d(btt)))
    check_btt(w, ref)


@pytest.mark.parametrize("key", ["z", "knha"])
def test_univariate_contrasts(uni_fits, key):
    ref = UNI["tests"]["contrasts"][key]
    w = wald_test(uni_fits[ref["test"]], X=np.array(ref["X"]))
    check_X(w, ref)


@pytest.mark.parametrize("key", sorted(UNI["tests"]["lrt"]))
def test_univariate_lrt(key):
    ref = UNI["tests"]["lrt"][key]
    full = fit_random_effects("yi", "vi", mods=ref["full"], data=BCG, method=ref["method"])
    reduced = fit_random_effects("yi", "vi", mods=ref["reduced"], data=BCG, method=ref.get("reduced_method", ref["method"]))
    res = lrt(reduced, full)  # order does not matter
    close(res.LRT, ref["LRT"])
    close(res.p, ref["pval"])
    assert (res.parms_full, res.parms_reduced, res.df) == (ref["parms_f"], ref["parms_r"], ref["parms_f"] - ref["parms_r"])
    close([res.fit_full[k] for k in ("logLik", "deviance", "AIC", "BIC", "AICc")], ref["fit_f"])
    close([res.fit_reduced[k] for k in ("logLik", "deviance", "AIC", "BIC", "AICc")], ref["fit_r"])
    close([res.QE_full, res.QE_reduced, res.tau2_full, res.tau2_reduced, res.R2],
          [ref["QE_f"], ref["QE_r"], ref["tau2_f"], ref["tau2_r"], ref["R2"]])
    assert anova(full, reduced).LRT == res.LRT
    json.dumps(res.to_dict())
    assert "Reduced" in res.summary() and list(res.to_frame().index) == ["Full", "Reduced"]


# ---------------------------------------------------------------------------------------------- multilevel
@pytest.fixture(scope="module")
def ml_fits():
    return {key: fit_multilevel("yi", "vi", ["study", "esid"], mods="~ deltype + year", data=ASSINK,
                                test=MULTI["wald"][key]["test"], dfs=MULTI["wald"][key]["dfs"])
            for key in ("z", "contain")}


@pytest.mark.parametrize("key", ["z", "contain"])
def test_multilevel_wald(ml_fits, key):
    ref = MULTI["wald"][key]
    fit = ml_fits[key]
    for part in ("deltype", "year", "default"):
        btt = ref[part]["btt"]
        check_btt(wald_test(fit, None if btt is None else list(np.atleast_1d(btt))), ref[part])
    check_btt(wald_test(fit, "deltype"), ref["deltype"])  # by name: every deltype dummy
    check_X(wald_test(fit, X=np.array(ref["contrasts"]["X"])), ref["contrasts"])


@pytest.mark.parametrize("key", sorted(MULTI["lrt"]))
def test_multilevel_lrt(key):
    ref = MULTI["lrt"][key]
    full = fit_multilevel("yi", "vi", ["study", "esid"], mods=ref["full"], data=ASSINK, method=ref["method"])
    s2 = None if ref["sigma2_r"] is None else [None if x is None else x for x in ref["sigma2_r"]]
    reduced = fit_multilevel("yi", "vi", ["study", "esid"], mods=ref["reduced"], data=ASSINK, method=ref["method"],
                             sigma2=s2)
    res = anova(full, reduced)
    close(res.LRT, ref["LRT"])
    close(res.p, ref["pval"])
    assert (res.parms_full, res.parms_reduced) == (ref["parms_f"], ref["parms_r"])
    close([res.fit_full[k] for k in ("logLik", "deviance", "AIC", "BIC", "AICc")], ref["fit_f"])
    close([res.fit_reduced[k] for k in ("logLik", "deviance", "AIC", "BIC", "AICc")], ref["fit_r"])
    close([res.QE_full, res.QE_reduced], [ref["QE_f"], ref["QE_r"]])
    assert res.R2 is None and res.sigma2_full is not None


# ---------------------------------------------------------------------------------------------- outputs, errors
def test_outputs(uni_fits):
    w = wald_test(uni_fits["z"], X=[[0, 1, 0, 0, 0], [0, 0, 0, 1, -1]], rhs=[0.0, 0.1])
    assert w.hypotheses() == ["ablat = 0", "allocrandom - allocsystematic = 0.1"]
    json.dumps(w.to_dict())
    assert "Omnibus" in w.summary() and len(w.to_frame()) == 2
    b = wald_test(uni_fits["z"], [4, 5])
    assert b.btt == (4, 5) and "coefficient(s) 4, 5" in b.summary()
    # rhs shifts the hypothesis exactly as metafor's anova(rhs=)
    shifted = wald_test(uni_fits["z"], 2, rhs=0.01)
    beta, se = uni_fits["z"].beta[1], uni_fits["z"].se[1]
    assert shifted.QM == pytest.approx(((beta - 0.01) / se) ** 2, rel=1e-12)
    # linearly dependent hypotheses: per-row tests but no omnibus test
    dep = wald_test(uni_fits["z"], X=[[0, 1, 0, 0, 0], [0, 2, 0, 0, 0]])
    assert np.isnan(dep.QM) and np.all(np.isfinite(dep.p))


def test_bad_input(uni_fits):
    fit = uni_fits["z"]
    ml = fit_random_effects("yi", "vi", mods="~ ablat", data=BCG, method="ML")
    reml_other = fit_random_effects("yi", "vi", mods="~ year", data=BCG)
    reml_int = fit_random_effects("yi", "vi", data=BCG)
    cases = [
        (lambda: wald_test(fit, 0), "out of range 1..5"),
        (lambda: wald_test(fit, 6), "out of range"),
        (lambda: wald_test(fit, "nope"), "no coefficient named 'nope'"),
        (lambda: wald_test(fit, 2, X=[[0, 1, 0, 0, 0]]), "either btt or X"),
        (lambda: wald_test(fit, X=[[0, 1, 0]]), "3 column"),
        (lambda: wald_test(fit, [2, 3], rhs=[1, 2, 3]), "rhs"),
        (lambda: lrt(fit, fit), "same number|have 6 parameters"),
        (lambda: lrt(ml, reml_int), "same method"),
        (lambda: lrt(reml_other, reml_int), "different fixed effects"),
        (lambda: lrt(ml, fit_random_effects("yi", "vi", data=BCG.iloc[:12], method="ML")), "different data"),
        (lambda: anova(fit, fit, btt=2), "not both"),
    ]
    for call, match in cases:
        with pytest.raises(MetaInputError, match=match) as exc:
            call()
        assert "\n" not in str(exc.value)
    dl = fit_random_effects("yi", "vi", mods="~ ablat", data=BCG, method="DL")
    dl0 = fit_random_effects("yi", "vi", data=BCG, method="DL")
    with pytest.warns(UserWarning, match="ML/REML"):
        lrt(dl, dl0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrt(ml, fit_random_effects("yi", "vi", data=BCG, method="ML"))
