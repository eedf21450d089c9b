"""Univariate breadth (issue 13) against metafor 3.8.1: τ² estimators, Knapp–Hartung, τ² CIs, missing values.

Reference values: tests/r/metafor_univariate_breadth.R → tests/data/metafor_univariate_breadth.json.  PM and EB
fits were run with tight control (exact root), everything else with metafor's defaults (see the script).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meta.confint import tau2_ci
from meta.errors import MetaInputError, OmittedRowsWarning
from meta.univariate import fit_random_effects

REF = json.loads((Path(__file__).parent / "data" / "metafor_univariate_breadth.json").read_text())
DATA = {name: pd.DataFrame(cols) for name, cols in REF["datasets"].items()}


def close(a, b, rtol=1e-6, atol=1e-8):
    a = np.asarray(a, float)
    b = np.asarray([np.nan if x is None else x for x in np.atleast_1d(b)], float).reshape(a.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def fit(case: dict, **kw):
    df = DATA[case["dataset"]]
    return fit_random_effects("yi", "vi", mods=case["mods"], data=df, method=case["method"], test=case["test"], **kw)


@pytest.mark.parametrize("key", sorted(REF["fits"]))
def test_estimators_and_tests_match_rma_uni(key):
    ref = REF["fits"][key]
    r = fit(ref)
    assert (r.k, r.p, r.method, r.test) == (ref["k"], ref["p"], ref["method"], ref["test"])
    assert list(r.names) == list(np.atleast_1d(ref["names"]))
    close(r.tau2, ref["tau2"])
    if ref["se_tau2"] is None:
        assert math.isnan(r.se_tau2)
    else:
        close(r.se_tau2, ref["se_tau2"])
    close(r.s2w, ref["s2w"])
    close(r.beta, ref["beta"])
    close(r.se, ref["se"])
    close(r.vb, ref["vb"])
    close([c.z for c in r.coefficients], ref["zval"])
    close([c.p for c in r.coefficients], ref["pval"])
    close([c.ci_lb for c in r.coefficients], ref["ci_lb"])
    close([c.ci_ub for c in r.coefficients], ref["ci_ub"])
    for f in ["QE", "QM", "I2", "H2", "vt", "logLik", "deviance", "AIC", "BIC", "AICc"]:
        close(getattr(r, f), ref[f])
    close(r.QE_p, ref["QEp"])
    close(r.QM_p, ref["QMp"])
    if ref["test"] != "z":
        assert r.ddf == ref["k"] - ref["p"]
    pr = r.predict()
    close(pr.pred, ref["pred"])
    close(pr.se, ref["pred_se"])
    close(pr.ci_lb, ref["pred_ci_lb"])
    close(pr.ci_ub, ref["pred_ci_ub"])
    if ref["method"] == "FE":  # metafor reports no PI for FE models; with tau^2 = 0 it is the CI
        assert ref["pi_lb"] is None
        close(pr.pi_lb, ref["pred_ci_lb"])
        close(pr.pi_ub, ref["pred_ci_ub"])
    else:
        close(pr.pi_lb, ref["pi_lb"])
        close(pr.pi_ub, ref["pi_ub"])


def test_knapp_hartung_is_not_just_a_t_distribution():
    """dat.raudenbush1985 (REML): z/t SE 0.0516, Knapp–Hartung SE 0.0616 (metafor's s2w·vb)."""
    ref, ref_t = REF["fits"]["raudenbush_REML_knha"], REF["fits"]["raudenbush_REML"]
    kh = fit(ref)
    t = fit_random_effects("yi", "vi", data=DATA["raudenbush"], test="t")
    close(kh.se, ref["se"])
    close(t.se, ref_t["se"])
    assert round(kh.se[0], 4) == 0.0616 and round(t.se[0], 4) == 0.0516
    assert kh.s2w > 1 and "Knapp-Hartung" in kh.summary() and "tval" in kh.summary()
    adhoc = fit_random_effects("yi", "vi", data=DATA["raudenbush"], test="adhoc")
    close(adhoc.s2w, max(1.0, kh.s2w), rtol=1e-12)


def test_pm_and_eb_are_the_same_exact_root():
    df = DATA["bcg"]
    pm = fit_random_effects("yi", "vi", data=df, method="PM")
    eb = fit_random_effects("yi", "vi", data=df, method="EB")
    assert pm.tau2 == pytest.approx(eb.tau2, rel=1e-13)
    # the generalised Q statistic at the root equals k - p
    w = 1 / (pm.vi + pm.tau2)
    b = np.sum(w * pm.yi) / np.sum(w)
    assert np.sum(w * (pm.yi - b) ** 2) == pytest.approx(pm.k - 1, rel=1e-12)


@pytest.mark.parametrize("key", sorted(REF["ci"]))
def test_tau2_confidence_intervals(key):
    ref = REF["ci"][key]
    r = fit_random_effects("yi", "vi", mods=ref["mods"], data=DATA[ref["dataset"]], method=ref["method"])
    qp = tau2_ci(r)
    close(qp.tau2, ref["QP"]["tau2"])
    close(qp.tau, ref["QP"]["tau"])
    close(qp.I2, ref["QP"]["I2"])
    close(qp.H2, ref["QP"]["H2"])
    assert (qp.lb_sign, qp.ub_sign, qp.ci_null) == (ref["QP"]["lb_sign"], ref["QP"]["ub_sign"], ref["QP"]["ci_null"])
    if "PL" in ref:
        pl = tau2_ci(r, type="PL")
        close(pl.tau2, ref["PL"]["tau2"])
        close(pl.I2, ref["PL"]["I2"])
        close(pl.H2, ref["PL"]["H2"])
    else:
        with pytest.raises(MetaInputError, match="PL"):
            tau2_ci(r, type="PL")


def test_tau2_ci_outputs_and_bad_input():
    r = fit_random_effects("yi", "vi", data=DATA["bcg"])
    ci = tau2_ci(r, level=0.9)
    assert ci.ci_lb < r.tau2 < ci.ci_ub and ci.level == 0.9
    json.dumps(ci.to_dict())
    assert list(ci.to_frame().index) == ["tau^2", "tau", "I^2(%)", "H^2"] and "Q-profile" in ci.summary()
    fe = fit_random_effects("yi", "vi", data=DATA["bcg"], method="FE")
    for bad, kw, match in [(fe, {}, "no random effects"), (r, {"type": "Wald"}, "type must be"),
                           (r, {"level": 2}, "level")]:
        with pytest.raises(MetaInputError, match=match) as exc:
            tau2_ci(bad, **kw)
        assert "\n" not in str(exc.value)


# ----------------------------------------------------------------------------------------- missing values
NA = REF["na"]


def test_missing_values_are_omitted_as_na_omit():
    df = pd.DataFrame(NA["data"])
    with pytest.warns(OmittedRowsWarning, match=r"row\(s\) 3, 11 .*'yi' row\(s\) 3; 'vi' row\(s\) 11") as rec:
        r = fit_random_effects("yi", "vi", data=df)
    assert len(rec) == 1
    assert r.omitted_rows == (3, 11) and r.k == NA["int_only"]["k"]
    close(r.beta, NA["int_only"]["beta"])
    close(r.tau2, NA["int_only"]["tau2"])
    with pytest.warns(OmittedRowsWarning) as rec:
        rm = fit_random_effects("yi", "vi", mods="~ ablat", data=df)
    assert len(rec) == 1 and "'ablat' row(s) 7" in str(rec[0].message)
    keep = np.array(NA["ablat"]["not_na"])
    assert rm.omitted_rows == tuple(int(i) + 1 for i in np.flatnonzero(~keep))
    for f in ("beta", "se"):
        close(getattr(rm, f), NA["ablat"][f])
    for f in ("tau2", "QE", "QM", "I2", "logLik"):
        close(getattr(rm, f), NA["ablat"][f])
    assert rm.to_dict()["omitted_rows"] == [3, 7, 11] and "omitted" in rm.summary()


def test_missing_values_fail_on_request():
    df = pd.DataFrame(NA["data"])
    with pytest.raises(MetaInputError) as exc:
        fit_random_effects("yi", "vi", mods="~ ablat", data=df, na="fail")
    msg = str(exc.value)
    assert "\n" not in msg and "'yi' row(s) 3" in msg and "'ablat' row(s) 7" in msg and "'vi' row(s) 11" in msg


def test_matrix_moderators_with_missing_rows_and_no_warning_without_them():
    y, v = np.array(REF["datasets"]["bcg"]["yi"]), np.array(REF["datasets"]["bcg"]["vi"])
    X = np.column_stack([np.ones(13), REF["datasets"]["bcg"]["ablat"]])
    X[4, 1] = np.nan
    with pytest.warns(OmittedRowsWarning, match=r"'X' row\(s\) 5"):
        r = fit_random_effects(y, v, X=X, names=["intrcpt", "ablat"])
    assert r.k == 12 and r.omitted_rows == (5,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = fit_random_effects(y, v)
    assert full.omitted_rows == ()


def test_rows_named_in_errors_are_input_rows_after_omission():
    y = np.array([0.1, np.nan, 0.3, 0.2, 0.4])
    v = np.array([0.1, 0.1, -0.1, 0.1, 0.1])
    with pytest.warns(OmittedRowsWarning), pytest.raises(MetaInputError, match=r"row\(s\) 3$"):
        fit_random_effects(y, v)
    with pytest.warns(OmittedRowsWarning), pytest.raises(MetaInputError, match="at least 2 estimates"):
        fit_random_effects([0.1, np.nan, 0.2], [0.1, 0.1, np.nan])


# ----------------------------------------------------------------------------------------- influence (item 1)
@pytest.mark.parametrize("key", sorted(REF["influence"]))
def test_leave_one_out_cooks_and_rstudent_are_metafors_exactly(key):
    """Refits start at each subset's own Hedges estimate and stop by metafor's threshold, as rma.uni's do."""
    from meta.diagnostics import influence

    ref = REF["influence"][key]
    r = fit(ref)
    inf = influence(r)
    close(inf.cooks, ref["cooks"], rtol=1e-6, atol=1e-10)
    close(inf.rstudent.resid, ref["rstudent"]["resid"])
    close(inf.rstudent.se, ref["rstudent"]["se"])
    close(inf.rstudent.z, ref["rstudent"]["z"])
    loo = inf.leave_one_out
    close(loo.components[:, 0], ref["tau2_del"])
    close(loo.QE, ref["QE_del"])
    if "loo" in ref:
        L = ref["loo"]
        close(loo.estimate[:, 0], L["estimate"])
        close(loo.se[:, 0], L["se"])
        close(loo.z[:, 0], L["zval"])
        close(loo.p[:, 0], L["pval"])
        close(loo.ci_lb[:, 0], L["ci_lb"])
        close(loo.ci_ub[:, 0], L["ci_ub"])
        close(loo.QE, L["QE"])
        close(loo.QE_p, L["QEp"])
        close(loo.I2, L["I2"])
        close(loo.H2, L["H2"])
        if L["tau2"] is not None:
            close(loo.components[:, 0], L["tau2"])


def test_refits_do_not_start_at_the_full_data_tau2():
    """The shortcut the old code took (start every refit at the full-data τ²) is measurably not metafor's."""
    from meta.diagnostics import leave_one_out

    ref = REF["influence"]["boundary_ML"]["loo"]
    r = fit_random_effects("yi", "vi", data=DATA["boundary"], method="ML")
    exact = leave_one_out(r).components[:, 0]
    close(exact, ref["tau2"])
    y, v = r.yi, r.vi
    shortcut = np.array([fit_random_effects(np.delete(y, i), np.delete(v, i), method="ML", tau2_init=r.tau2).tau2
                         for i in range(r.k)])
    assert np.max(np.abs(shortcut - np.array(ref["tau2"]))) > 1e-7


def test_univariate_cluster_deletion_sorts_clusters_by_id():
    from meta.diagnostics import influence

    r = fit_random_effects("yi", "vi", data=DATA["bcg"])
    groups = np.array(["c", "a", "b", "a", "c", "b", "d", "d", "a", "b", "c", "d", "a"])
    inf = influence(r, cluster=groups)
    assert inf.labels == ("a", "b", "c", "d") and inf.rstudent.cluster_labels == ("a", "b", "c", "d")
    np.testing.assert_array_equal(inf.rstudent.cluster_k, [4, 3, 3, 3])
    keep = groups != "a"
    direct = fit_random_effects(r.yi[keep], r.vi[keep])
    close(inf.leave_one_out.estimate[0], direct.beta, rtol=1e-12)
    close(inf.leave_one_out.components[0, 0], direct.tau2, rtol=1e-12, atol=1e-15)
    dfb = r.beta - direct.beta
    close(inf.cooks[0], dfb @ np.linalg.inv(r.vb) @ dfb, rtol=1e-10)
    e = r.yi[~keep] - direct.beta[0]
    S = np.diag(r.vi[~keep] + direct.tau2) + direct.vb[0, 0]
    close(inf.rstudent.X2[0], e @ np.linalg.solve(S, e), rtol=1e-10)
    json.dumps(inf.to_dict())
