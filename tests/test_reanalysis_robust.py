"""The reanalysis's cluster-robust CR2 inference (issue 13, item 10) against metafor 3.8.1 / clubSandwich 0.5.8.

Reference values: tests/r/reanalysis_robust_reference.R → tests/data/reanalysis_robust_reference.json (the bundled
review's 8 study aggregates and their MOR contrasts; each study its own cluster).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from meta.cluster_robust import robust
from meta.univariate import fit_random_effects
from occupancy import ReanalysisSettings, reanalyse
from occupancy.workflows.reanalysis.analysis import cluster_robust_inference

REF = json.loads((Path(__file__).parent / "data" / "reanalysis_robust_reference.json").read_text())
DATA = pd.DataFrame(REF["data"])


def close(a, b, rtol=1e-6, atol=1e-10):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float).reshape(np.shape(a)), rtol=rtol, atol=atol)


def fits():
    X = np.column_stack([np.ones(len(DATA)), DATA["contrast"]])
    return {
        "pooled": fit_random_effects(DATA["yi"], DATA["vi"]),
        "rescaled": fit_random_effects(DATA["yi_adj"], DATA["vi_adj"]),
        "regression": fit_random_effects(DATA["yi"], DATA["vi"], X, names=["intrcpt", "MOR_contrast"]),
    }


@pytest.fixture(scope="module")
def bundled():
    return reanalyse(settings=ReanalysisSettings(draws=0, progress=False))


@pytest.mark.parametrize("name", ["pooled", "rescaled", "regression"])
def test_cr2_with_one_study_per_cluster_matches_clubsandwich(name):
    ref = REF[name]
    fit = fits()[name]
    close(fit.beta, ref["model"]["beta"])
    close([c.ci_lb for c in fit.coefficients], ref["model"]["ci_lb"])
    rob = robust(fit, DATA["study"].to_numpy())
    close(rob.vb, ref["vb_CR2"])
    close(rob.se, ref["robust"]["se"])
    close(rob.ddf, ref["robust"]["df"])
    close([c.z for c in rob.coefficients], ref["robust"]["tval"])
    close([c.p for c in rob.coefficients], ref["robust"]["pval"])
    close([c.ci_lb for c in rob.coefficients], ref["robust"]["ci_lb"])
    close([c.ci_ub for c in rob.coefficients], ref["robust"]["ci_ub"])
    if name == "regression":  # the prediction at a full contrast: clubSandwich linear_contrast
        want = ref["contrast"]
        got = cluster_robust_inference(fit, DATA["study"], want["x"])
        close([got["estimate"], got["se"], got["df"], got["ci_lb"], got["ci_ub"], got["p"]],
              [want["est"], want["se"], want["df"], want["ci_lb"], want["ci_ub"], want["pval"]])
    else:
        got = cluster_robust_inference(fit, DATA["study"])
        r = ref["robust"]
        close([got["estimate"], got["se"], got["t"], got["df"], got["p"], got["ci_lb"], got["ci_ub"]],
              [r["beta"], r["se"], r["tval"], r["df"], r["pval"], r["ci_lb"], r["ci_ub"]])
    assert got["n_clusters"] == 8 and got["vcov"] == "CR2"


@pytest.mark.parametrize("name", ["pooled", "rescaled", "regression"])
def test_cr2_of_independent_studies_is_the_hc2_correction(name):
    """One estimate per cluster: CR2 = B X'W diag(e²/(1 − h)) W X B (the HC2 form of the weighted regression)."""
    fit = fits()[name]
    X, y = np.asarray(fit.X), np.asarray(fit.yi)
    w = 1 / (np.asarray(fit.vi) + fit.tau2)
    B = np.linalg.inv(X.T @ (w[:, None] * X))
    e = y - X @ fit.beta
    h = w * np.einsum("ij,jk,ik->i", X, B, X)
    hc2 = B @ (X.T @ ((w**2 * e**2 / (1 - h))[:, None] * X)) @ B
    close(robust(fit, np.arange(fit.k)).vb, hc2, rtol=1e-10)
    close(hc2, REF[name]["vb_HC2"])


def test_bundled_reanalysis_reports_cr2_beside_the_model_based_cis(bundled):
    units = bundled.units
    close(units["yi"], DATA["yi"], rtol=1e-12)
    close(units["vi"], DATA["vi"], rtol=1e-12)
    # the pooled estimate depends on yi/vi only: straight against R
    rob = bundled.robust["pooled"]
    ref = REF["pooled"]["robust"]
    close([rob["estimate"], rob["se"], rob["df"], rob["p"], rob["ci_lb"], rob["ci_ub"]],
          [ref["beta"], ref["se"], ref["df"], ref["pval"], ref["ci_lb"], ref["ci_ub"]])
    assert rob["n_clusters"] == 8 and rob["cluster"] == "study"
    # the adjusted estimates: the same computation on the analysis's own fits and contrasts
    assert bundled.robust["rescaled"] == cluster_robust_inference(bundled.rescaled_fit, units["study_id"])
    assert bundled.robust["regression"] == cluster_robust_inference(bundled.regressions["contrast"],
                                                                   units["study_id"], [1.0, 100.0])
    for key, fit_ci in (("rescaled", bundled.adjusted["rescaled"]), ("regression", bundled.adjusted["regression"])):
        assert bundled.robust[key]["estimate"] == pytest.approx(fit_ci["estimate"], rel=1e-12)
    # the default annotation's contrasts are the fixture's (regenerate the R script when the default model
    # changes), so the adjusted CR2 intervals agree with R too
    close(units["MOR_contrast"], DATA["contrast"], rtol=1e-9)
    ref = REF["rescaled"]["robust"]
    close([bundled.robust["rescaled"]["ci_lb"], bundled.robust["rescaled"]["ci_ub"]], [ref["ci_lb"], ref["ci_ub"]])
    ref = REF["regression"]["contrast"]
    close([bundled.robust["regression"]["ci_lb"], bundled.robust["regression"]["ci_ub"]],
          [ref["ci_lb"], ref["ci_ub"]])


def test_robust_block_in_results_json_summary_and_report(bundled):
    from occupancy.report.reanalysis import reanalysis_report_section

    d = json.loads(json.dumps(bundled.to_dict(), allow_nan=False))
    for key in ("pooled", "adjusted", "adjusted_regression"):
        block = d[key]["robust"]
        assert block["vcov"] == "CR2" and block["cluster"] == "study"
        assert {"estimate", "se", "t", "df", "p", "ci_lb", "ci_ub", "n_clusters"} <= set(block)
        assert block["ci_lb"] < d[key]["estimate"] < block["ci_ub"]
    text = bundled.summary()
    assert "cluster-robust 95 % CIs (CR2" in text
    lb = bundled.robust["pooled"]["ci_lb"]
    assert f"{lb:.4f}" in text
    key = next(k for k in reanalysis_report_section(bundled).key_numbers if "CR2" in k.label)
    assert key.value.startswith("pooled [") and "rescaled [" in key.value and "regression [" in key.value


def test_outcome_level_clusters_are_studies():
    example = Path(__file__).resolve().parents[1] / "scenarios" / "my_outcomes.csv"
    r = reanalyse(example, ReanalysisSettings(draws=0, progress=False))
    assert r.mode == "outcome"
    rob = r.robust["pooled"]
    direct = robust(r.pooled, "study")  # the three-level model's outer level
    assert rob["n_clusters"] == r.units["study_id"].nunique() == direct.n_clusters
    close([rob["se"], rob["df"]], [direct.se[0], direct.ddf[0]], rtol=1e-10)
