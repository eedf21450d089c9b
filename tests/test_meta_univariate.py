"""meta.univariate.fit_random_effects against metafor 3.8.1 rma.uni (tests/data/metafor_univariate.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from meta.errors import ConvergenceError, MetaInputError
from meta.univariate import UnivariateResult, _estimate_tau2, fit_random_effects

BCG = json.loads((Path(__file__).parent / "data" / "metafor_univariate.json").read_text())["bcg"]
Y = np.array(BCG["data"]["yi"])
V = np.array(BCG["data"]["vi"])
ABLAT = np.array(BCG["data"]["ablat"], float)
YEAR = np.array(BCG["data"]["year"], float)


def close(a, b, rel=1e-6, abs_=1e-8):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rel, atol=abs_)


CASES = {
    "REML": dict(method="REML"),
    "ML": dict(method="ML"),
    "DL": dict(method="DL"),
    "FE": dict(method="FE"),
    "REML_t": dict(method="REML", test="t"),
    "REML_ablat": dict(method="REML", X=np.column_stack([np.ones(13), ABLAT]), names=["intrcpt", "ablat"]),
    "ML_ablat": dict(method="ML", X=np.column_stack([np.ones(13), ABLAT]), names=["intrcpt", "ablat"]),
    "DL_ablat_year_t": dict(method="DL", test="t", X=np.column_stack([np.ones(13), ABLAT, YEAR]),
                            names=["intrcpt", "ablat", "year"]),
}


@pytest.mark.parametrize("key", list(CASES))
def test_matches_metafor(key):
    ref = BCG[key]
    r = fit_random_effects(Y, V, **CASES[key])
    assert isinstance(r, UnivariateResult)
    assert (r.k, r.p) == (ref["k"], ref["p"])
    close(r.beta, ref["beta"])
    close(r.se, ref["se"])
    close(r.vb, ref["vb"])
    close([c.z for c in r.coefficients], ref["zval"])
    close([c.p for c in r.coefficients], ref["pval"])
    close([c.ci_lb for c in r.coefficients], ref["ci_lb"])
    close([c.ci_ub for c in r.coefficients], ref["ci_ub"])
    close(r.tau2, ref["tau2"])
    if ref["se_tau2"] is None:
        assert math.isnan(r.se_tau2)
    else:
        close(r.se_tau2, ref["se_tau2"])
    for f in ["QE", "QM", "I2", "H2", "logLik", "deviance", "AIC", "BIC", "AICc"]:
        close(getattr(r, f), ref[f])
    close(r.QE_p, ref["QEp"])
    close(r.QM_p, ref["QMp"])
    close(r.weights(), ref["weights"])
    close(r.fitted(), ref["fitted"])
    close(r.residuals(), ref["residuals"])
    if r.p == 1 and ref["pi_lb"] is None:  # FE: metafor prints no PI; with tau^2 = 0 it equals the CI
        close(r.pred_interval, [ref["ci_lb"], ref["ci_ub"]])
    elif r.p == 1:
        close(r.pred_interval, [ref["pi_lb"], ref["pi_ub"]])
    else:
        pr = r.predict([30] if r.p == 2 else [30, 1960])
        close(pr["pred"], ref["pred"])
        close(pr["se"], ref["pred_se"])
        close([pr["pi_lb"][0], pr["pi_ub"][0]], [ref["pi_lb"], ref["pi_ub"]])


def test_published_bcg_values():
    # metafor documentation: dat.bcg REML tau^2 = 0.3132, estimate -0.7145 (SE 0.1798)
    r = fit_random_effects(Y, V)
    assert round(r.tau2, 4) == 0.3132
    assert round(float(r.beta[0]), 4) == -0.7145
    assert round(r.se[0], 4) == 0.1798
    assert r.converged and r.method == "REML" and r.coefficients[0].name == "intrcpt"


def test_outputs_and_frame():
    r = fit_random_effects(Y, V, X=np.column_stack([np.ones(13), ABLAT]), names=["intrcpt", "ablat"])
    frame = r.to_frame()
    assert list(frame.index) == ["intrcpt", "ablat"]
    d = r.to_dict()
    json.dumps(d)
    assert d["coefficients"][1]["name"] == "ablat" and d["QM_df"] == 1 and d["QE_df"] == 11
    assert d["pred_interval"] == [None, None]
    text = r.summary()
    assert "Mixed-Effects Model" in text and "ablat" in text and "QM(df = 1)" in text
    assert abs(r.weights().sum() - 100) < 1e-12


def test_summary_prints_full_names_df_and_codes():
    # metafor prints full coefficient names, a df column for t tests and significance codes
    names = ["intrcpt", "absolute_latitude_of_trial"]
    r = fit_random_effects(Y, V, X=np.column_stack([np.ones(13), ABLAT]), names=names, test="t")
    text = r.summary()
    row = next(ln for ln in text.splitlines() if ln.startswith("absolute_latitude_of_trial"))
    assert row.split()[4] == str(r.k - r.p)  # estimate, se, tval, df
    assert row.endswith("*" * (3 if r.coefficients[1].p < 0.001 else 2 if r.coefficients[1].p < 0.01 else 1))
    assert "Signif. codes" in text and "p-val = <" not in text
    fe = fit_random_effects(Y, V, method="FE").summary()
    assert fe.startswith("Equal-Effects Model (k = 13)") and "p-val < .0001" in fe


def test_boundary_tau2_is_zero_not_failure():
    y = np.array([0.10, 0.11, 0.09, 0.10, 0.105])
    v = np.array([0.04, 0.05, 0.03, 0.06, 0.05])
    for m in ("REML", "ML", "DL"):
        r = fit_random_effects(y, v, method=m)
        assert r.tau2 == 0.0 and r.I2 == 0.0


def test_fe_i2_from_q():
    r = fit_random_effects(Y, V, method="FE")
    assert r.I2 == pytest.approx(max(0.0, 100 * (r.QE - 12) / r.QE))
    assert r.H2 == pytest.approx(r.QE / 12)


def test_non_convergence_raises_with_message():
    with pytest.raises(ConvergenceError, match="did not converge"):
        _estimate_tau2(Y, V, np.ones((13, 1)), "REML", maxiter=1, threshold=1e-300)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((Y, -V), {}, "row"),
        ((np.r_[Y[:3], np.nan], V[:4]), {"na": "fail"}, r"'yi' row\(s\) 4"),
        ((Y, V), {"na": "drop"}, "na must be"),
        ((Y, V), {"test": "hksj"}, "test must be"),
        ((Y[:1], V[:1]), {}, "at least 2"),
        ((Y, V), {"X": np.column_stack([np.ones(13), np.ones(13)])}, "full rank"),
        ((Y, V), {"method": "XX"}, "method"),
        ((Y, V), {"mods": "~ ablat"}, "data"),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(MetaInputError, match=match) as exc:
        fit_random_effects(*args, **kwargs)
    assert "\n" not in str(exc.value)


def test_mods_formula_when_model_matrix_available():
    pytest.importorskip("meta.model_matrix")
    import pandas as pd

    r = fit_random_effects(Y, V, mods="~ ablat", data=pd.DataFrame({"ablat": ABLAT}))
    close(r.beta, BCG["REML_ablat"]["beta"])


def test_oscillating_fisher_scoring_is_rescued_by_shorter_steps():
    """Full Fisher steps oscillate on this data set; step length 0.5 (metafor's stepadj) reaches the optimum."""
    import warnings

    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(338)
    v = rng.uniform(0.01, 0.2, 14)
    y = rng.normal(0.2, np.sqrt(v + rng.uniform(0, 0.05)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_random_effects(y, v)
    assert any("step length 0.5" in str(w.message) for w in caught)

    def neg_reml(t2):
        w = 1 / (v + t2)
        b = np.sum(w * y) / np.sum(w)
        return 0.5 * (np.sum(np.log(v + t2)) + np.log(np.sum(w)) + np.sum(w * (y - b) ** 2))

    best = minimize_scalar(neg_reml, bounds=(0, 1), method="bounded", options={"xatol": 1e-12})
    assert fit.tau2 == pytest.approx(best.x, abs=1e-6)
