"""predict() at new moderator values against metafor 3.8.1 ``predict.rma`` (univariate and multilevel).

New values are given as raw variables of the moderator formula (a DataFrame with a factor column) and encoded
with the fitted formula; the R scripts built the same rows with ``model.matrix`` on the fitted levels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meta.errors import MetaInputError
from meta.multilevel import fit_multilevel
from meta.prediction import predict
from meta.univariate import fit_random_effects

HERE = Path(__file__).parent / "data"
UNI = json.loads((HERE / "metafor_univariate_breadth.json").read_text())
MULTI = json.loads((HERE / "metafor_multilevel_breadth.json").read_text())


def close(a, b, rtol=1e-6, atol=1e-8):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float).reshape(np.shape(a)), rtol=rtol, atol=atol)


def check(pr, ref):
    for f in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        close(getattr(pr, f), ref[f])


@pytest.mark.parametrize("key", ["REML_full", "REML_full_knha", "DL_ablat_t"])
def test_univariate_predict_at_new_raw_values(key):
    ref = UNI["predict"][key]
    bcg = pd.DataFrame(UNI["datasets"]["bcg"])
    fit = fit_random_effects("yi", "vi", mods=ref["mods"], data=bcg, method=ref["method"], test=ref["test"])
    new = pd.DataFrame(UNI["predict"]["newdata"])
    check(predict(fit, new), ref)
    check(fit.predict(new), ref)
    if ref["mods"] == "~ ablat":  # one moderator: a plain vector is one value per prediction, as in metafor
        check(predict(fit, new["ablat"].to_numpy()), ref)


@pytest.mark.parametrize("key", ["assink_reml", "assink_ml_t", "assink_reml_contain", "konst_reml_contain"])
def test_multilevel_predict_at_new_raw_values(key):
    ref = MULTI["predict"][key]
    data = pd.DataFrame(MULTI["datasets"][ref["dataset"]])
    fit = fit_multilevel("yi", "vi", ref["levels"], mods=ref["mods"], data=data, method=ref["method"],
                         test=ref["test"], dfs=ref["dfs"])
    new = pd.DataFrame(MULTI["predict"]["assink_newdata" if ref["dataset"] == "assink2016" else "konst_newdata"])
    pr = predict(fit, new)
    check(pr, ref)
    if ref["dfs"] == "contain" and "model_ddf" in ref:
        close(fit.ddf, ref["model_ddf"])
        # each row uses the smallest df among the coefficients it involves (metafor: min(ddf[X.new != 0]))
        expected = [min(d for d, x in zip(ref["model_ddf"], row) if x != 0) for row in pr.X]
        close(pr.ddf, expected)
    # the same rows given as model-matrix columns (metafor's newmods) give the same predictions
    check(predict(fit, pr.X[:, 1:]), ref)


def test_prediction_interval_uses_the_sum_of_the_variance_components():
    ref = MULTI["predict"]["assink_reml"]
    data = pd.DataFrame(MULTI["datasets"]["assink2016"])
    fit = fit_multilevel("yi", "vi", ["study", "esid"], mods=ref["mods"], data=data)
    pr = fit.predict(pd.DataFrame(MULTI["predict"]["assink_newdata"]))
    half = (pr.pi_ub - pr.pi_lb) / 2
    assert pr.heterogeneity == pytest.approx(sum(fit.sigma2))
    close(half, 1.959963984540054 * np.sqrt(pr.se**2 + sum(fit.sigma2)), rtol=1e-12)


def test_outputs_and_intercept_only():
    bcg = pd.DataFrame(UNI["datasets"]["bcg"])
    fit = fit_random_effects("yi", "vi", data=bcg)
    pr = predict(fit)
    assert len(pr) == 1 and pr["pred"][0] == pytest.approx(fit.beta[0])
    assert list(pr.to_frame().columns) == ["pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"]
    json.dumps(pr.to_dict())
    assert "pi.ub" in pr.summary()
    mod = fit_random_effects("yi", "vi", mods="~ ablat + alloc", data=bcg)
    fitted = predict(mod)  # no newmods: the fitted values of every row
    close(fitted.pred, mod.fitted(), rtol=1e-12)
    zero = predict(mod, pd.DataFrame({"ablat": [30.0], "alloc": ["random"]}), intercept=False)
    assert zero.X[0, 0] == 0.0


def test_bad_newmods():
    bcg = pd.DataFrame(UNI["datasets"]["bcg"])
    fit = fit_random_effects("yi", "vi", mods="~ ablat + alloc", data=bcg)
    cases = [
        (fit_random_effects("yi", "vi", data=bcg), [30], "intercept-only"),
        (fit, pd.DataFrame({"ablat": [30.0]}), r"column\(s\) 'alloc' missing"),
        (fit, pd.DataFrame({"ablat": [30.0, None], "alloc": ["random", "random"]}), r"'ablat': missing value in row\(s\) 2"),
        (fit, pd.DataFrame({"ablat": [30.0], "alloc": ["cluster"]}), r"level\(s\) 'cluster' not in the fitted data"),
        (fit, [[30.0, 1.0]], "expected 3 moderator value"),
        (fit, [["a", "b", "c"]], "non-numeric"),
        (fit, [[30.0, np.nan, 0.0]], r"row\(s\) 1"),
    ]
    for model, new, match in cases:
        with pytest.raises(MetaInputError, match=match) as exc:
            predict(model, new)
        assert "\n" not in str(exc.value)
    with pytest.raises(MetaInputError, match="level"):
        predict(fit, pd.DataFrame({"ablat": [30.0], "alloc": ["random"]}), level=1.5)
