"""Cluster-robust inference (issue 13) against metafor 3.8.1 robust() and clubSandwich 0.5.8.

Reference values: tests/r/robust_reference.R → tests/data/robust_reference.json (CR1 = metafor's default
robust(); CR2 = robust(clubSandwich = TRUE), plus clubSandwich Wald_test / linear_contrast).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meta.errors import MetaInputError
from meta.multilevel import fit_multilevel
from meta.cluster_robust import robust
from meta.univariate import fit_random_effects

REF = json.loads((Path(__file__).parent / "data" / "robust_reference.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


def close(a, b, rtol=1e-6, atol=1e-8):
    a = np.atleast_1d(np.asarray(a, float))
    b = np.atleast_1d(np.asarray(b, float))
    np.testing.assert_allclose(a, np.broadcast_to(b, a.shape) if b.size == 1 else b.reshape(a.shape),
                               rtol=rtol, atol=atol)


def data(case):
    return pd.DataFrame(REF["datasets"][case["dataset"]])


def working_model(case):
    df = data(case)
    if case["model"] == "multilevel":
        return fit_multilevel("yi", "vi", case["levels"], mods=case["mods"], data=df, method=case["method"])
    return fit_random_effects("yi", "vi", mods=case["mods"], data=df, method=case["method"], test=case["test"])


@pytest.fixture(scope="module")
def models():
    return {name: working_model(c) for name, c in CASES.items()}


@pytest.mark.parametrize("vcov", ["CR1", "CR2"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_coefficients_and_omnibus_test(models, name, vcov):
    case = CASES[name]
    ref = case[vcov]
    fit = models[name]
    close(fit.beta, case["model_beta"])
    r = robust(fit, data(case)[case["cluster"]].to_numpy(), vcov=vcov)
    assert r.vcov_type == vcov and r.n_clusters == ref["n"]
    close(r.beta, ref["beta"])
    close(r.vb, ref["vb"])
    close(r.se, ref["se"])
    close([c.z for c in r.coefficients], ref["tval"])
    close(r.ddf, ref["df"])
    close([c.p for c in r.coefficients], ref["pval"])
    close([c.ci_lb for c in r.coefficients], ref["ci_lb"])
    close([c.ci_ub for c in r.coefficients], ref["ci_ub"])
    close(r.QM, ref["QM"])
    close([r.QM_df, r.QM_ddf], ref["QMdf"])
    close(r.QM_p, ref["QMp"])


@pytest.mark.parametrize("name", [n for n, c in sorted(CASES.items()) if "CR2_wald_each" in c])
def test_wald_tests_and_contrasts(models, name):
    case = CASES[name]
    ids = data(case)[case["cluster"]].to_numpy()
    cr2 = robust(models[name], ids)
    for ref in case["CR2_wald_each"]:
        w = cr2.wald_test(btt=[ref["btt"]])
        close([w.F, w.delta, w.df1, w.df2, w.p], [ref["Fstat"], ref["delta"], ref["df_num"], ref["df_denom"], ref["p_val"]])
    ref = case["CR2_wald_matrix"]
    w = cr2.wald_test(X=np.array(ref["C"]))
    close([w.F, w.delta, w.df1, w.df2, w.p], [ref["Fstat"], ref["delta"], ref["df_num"], ref["df_denom"], ref["p_val"]])
    # linear contrasts (clubSandwich linear_contrast, Satterthwaite df) through predict()
    from meta.prediction import predict

    ref = case["CR2_contrast"]
    C = np.array(ref["C"], float)  # row 1: the moderators' sum without the intercept; row 2: the intercept
    for row, intercept in ((0, False), (1, True)):
        pr = predict(cr2, C[row:row + 1, 1:], intercept=intercept)
        close(pr.pred, ref["est"][row])
        close(pr.se, ref["se"][row])
        close(pr.ddf, ref["df"][row])
        close(pr.ci_lb, ref["ci_lb"][row])
        close(pr.ci_ub, ref["ci_ub"][row])
    cr1 = robust(models[name], ids, vcov="CR1")
    ref = case["CR1_wald"]
    w = cr1.wald_test(btt=ref["btt"])
    close([w.F, w.df1, w.df2, w.p], [ref["QM"], *ref["QMdf"], ref["QMp"]])
    ref = case["CR1_contrast"]
    w = cr1.wald_test(X=np.array(ref["C"]))
    close([w.F, w.df1, w.df2, w.p], [ref["QM"], *ref["QMdf"], ref["QMp"]])


def test_published_konstantopoulos_values(models):
    """metafor docs: CR1 t = 2.1859, df 10, p 0.0537; clubSandwich CR2 t = 2.1870, df 9.86, p 0.0540."""
    ids = data(CASES["konst_reml"])["district"].to_numpy()
    cr1 = robust(models["konst_reml"], ids, vcov="CR1").coefficients[0]
    cr2 = robust(models["konst_reml"], ids).coefficients[0]
    assert (round(cr1.z, 4), cr1.df, round(cr1.p, 4)) == (2.1859, 10.0, 0.0537)
    assert (round(cr2.z, 4), round(cr2.df, 2), round(cr2.p, 4)) == (2.1870, 9.86, 0.0540)


def test_level_name_and_order_of_clusters(models):
    case = CASES["assink_reml_shuffled"]
    fit = models["assink_reml_shuffled"]
    by_name = robust(fit, "study")
    by_ids = robust(fit, data(case)["study"].to_numpy())
    close(by_name.vb, by_ids.vb, rtol=1e-12)
    assert by_name.cluster_labels == by_ids.cluster_labels == tuple(sorted(set(data(case)["study"])))
    close(by_name.se, case["CR2"]["se"])
    # the same model on the data in their original order gives the same robust results
    ordered = fit_multilevel("yi", "vi", ["study", "esid"], mods="~ pubstatus", data=pd.DataFrame(REF["datasets"]["assink2016"]))
    close(robust(ordered, "study").vb, by_name.vb, rtol=1e-7, atol=1e-12)
    text = by_name.summary()
    assert "CR2" in text and "pubstatus" in text
    json.dumps(by_name.to_dict())
    assert list(by_name.to_frame().columns)[:2] == ["estimate", "se"]


def test_bad_input(models):
    fit = models["konst_reml"]
    k = fit.k
    bad = [
        (dict(cluster=np.ones(k)), "at least 2 clusters"),
        (dict(cluster=(data(CASES["konst_reml"])["district"] == 11).to_numpy()), None),  # 2 clusters, p = 1: fine
        (dict(cluster=np.arange(k)[:-1]), f"ids for {k} estimates"),
        (dict(cluster=np.r_[np.arange(k - 1), np.nan]), r"missing id in row\(s\) 56"),
        (dict(cluster="nope"), "not a level"),
        (dict(cluster=np.arange(k), vcov="HC0"), "vcov must be"),
        (dict(cluster="school"), "not nested"),  # schools within districts: districts are not inside one school
    ]
    for kwargs, match in bad:
        if match is None:
            robust(fit, **kwargs)
            continue
        with pytest.raises(MetaInputError, match=match) as exc:
            robust(fit, **kwargs)
        assert "\n" not in str(exc.value)
    # fewer clusters than coefficients
    two = CASES["bcg_dl_ablat_year"]
    m = models["bcg_dl_ablat_year"]
    with pytest.raises(MetaInputError, match=r"number of clusters \(3\) must be larger than the number of coefficients \(3\)"):
        robust(m, np.repeat([1, 2, 3], [5, 4, 4]))
    # random effects not nested in the clusters (CR2 only; CR1 does not need nesting)
    ids = np.tile([1, 2], k // 2)
    with pytest.raises(MetaInputError, match="not nested"):
        robust(fit, ids)
    robust(fit, ids, vcov="CR1")
    assert two["model"] == "univariate"
