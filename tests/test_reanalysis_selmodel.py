"""The selection model in the reanalysis's small-study section (issue 23, last part).

The reanalysis fits metafor's ``selmodel(type = "stepfun", steps = 0.025, alternative = "less")`` (the 3PSM,
with p-values for a *negative* g, the direction of benefit) on the study aggregates.  Its numbers must be
those of :func:`meta.selection.selection_model` on the same data, which tests/test_meta_selection.py checks
against metafor 3.8 (fixture case ``review``, tests/r/metafor_extras_reference.R).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from meta.selection import selection_model
from meta.univariate import fit_random_effects
from occupancy.annotation.annotate import AnnotationSettings
from occupancy.cli import main
from occupancy.report.reanalysis import reanalysis_report_section, selmodel_key_number
from occupancy.workflows.reanalysis.analysis import reanalyse
from occupancy.workflows.reanalysis.result import selmodel_dict, selmodel_line, selmodel_status
from occupancy.workflows.reanalysis.settings import ReanalysisSettings

FIX = json.loads((Path(__file__).parent / "data" / "metafor_extras.json").read_text())["selmodel"]
REVIEW_LESS = next(c for c in FIX["cases"] if c["data"] == "review" and c["type"] == "stepfun"
                   and c["steps"] == 0.025 and c["alternative"] == "less")


@pytest.fixture(scope="module")
def bundled():
    return reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=100, seed=1), draws=0))


def _direct(agg, alternative="less"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_random_effects(agg["yi"].to_numpy(float), agg["vi"].to_numpy(float), method="REML")
        return selection_model(fit, type="stepfun", steps=0.025, alternative=alternative)


def test_bundled_selmodel_equals_meta_on_the_same_aggregates(bundled):
    agg = bundled.power_units
    # the aggregates are the review's 8 studies of the metafor fixture
    np.testing.assert_allclose(agg["yi"], FIX["data"]["review"]["yi"], rtol=1e-12)
    np.testing.assert_allclose(agg["vi"], FIX["data"]["review"]["vi"], rtol=1e-12)
    sel, ref = bundled.selmodel, _direct(agg)
    assert sel.type == "stepfun" and sel.alternative == "less" and tuple(sel.steps) == (0.025, 1.0)
    d = bundled.to_dict()["selmodel"]
    assert {"type", "estimate", "se", "tau2", "delta", "LRT", "LRT_p"} <= set(d)
    want = ref.to_dict()
    for key in ("estimate", "se", "tau2", "delta", "LRT", "LRT_p", "LRT_df", "ci_lb", "ci_ub", "k_per_interval"):
        assert d[key] == want[key], key
    # and metafor (its default optimiser stops short of the maximum here: R reports no convergence for the
    # tight rerun, so the check is the one of test_meta_selection: at least metafor's likelihood, same estimates)
    r = REVIEW_LESS["default"]
    assert sel.logLik >= r["ll"] - 1e-9
    assert d["estimate"] == pytest.approx(r["beta"], rel=1e-3)
    assert d["delta"][1] == pytest.approx(r["delta"][1], rel=1e-3)
    assert d["LRT"] == pytest.approx(r["LRT"], rel=1e-3) and d["LRT_p"] == pytest.approx(r["LRTp"], rel=1e-3)
    assert d["k_per_interval"] == r["k_per_interval"] == [2, 6]
    # the direction matters: the other direction gives a different model (delta runs to its bound 100)
    assert _direct(agg, "greater").estimate != pytest.approx(d["estimate"], rel=1e-2)
    assert d["status"] == "ok" and d["converged"] is True and d["on_bound"] == ["tau2"]
    json.dumps(bundled.to_dict(), allow_nan=False)


def test_text_and_report_show_it(bundled):
    text = bundled.summary()
    line = next(l for l in text.splitlines() if "selection model" in l)
    assert f"{bundled.selmodel.estimate:.4f}" in line and "LRT(1)" in line and "less" in line
    assert "tau^2 at its bound 0" in line and "UNRELIABLE" not in line
    section = reanalysis_report_section(bundled)
    key = next(k for k in section.key_numbers if k.label.startswith("Selection model"))
    assert f"{bundled.selmodel.estimate:.4f}" in key.value and "p = 0.482" in key.value
    assert "no clear sign of selective publication" in key.reading and "0.41 times" in key.reading


def test_bound_and_no_convergence_are_said_not_hidden(bundled):
    on_bound = _direct(bundled.power_units, "greater")  # delta -> 100 on these data
    assert selmodel_status(on_bound)["status"] == "on a bound"
    assert "UNRELIABLE: delta2 at its bound" in selmodel_line(on_bound)
    key = selmodel_key_number(on_bound)
    assert "(unreliable)" in key.value and "cannot tell" in key.reading and "pooled g is" not in key.reading
    stuck = replace(bundled.selmodel, converged=False)
    assert selmodel_dict(stuck)["status"] == "not converged"
    line = selmodel_line(stuck)
    assert "did not converge" in line and f"{stuck.estimate:.4f}" not in line
    key = selmodel_key_number(stuck)
    assert key.value == "did not converge" and f"{stuck.estimate:.4f}" not in key.reading


def _three(tmp_path, rows):
    path = tmp_path / "three.csv"
    path.write_text("study_id,design,dose_mg,assess_min_h,assess_max_h,isi_days,yi,vi\n"
                    + "".join(f"{sid},between,50,1,2,,{y},{v}\n" for sid, y, v in rows))
    return reanalyse(path, ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=0))


def test_not_fitted_with_a_reason(tmp_path):
    # every study significant in the direction of benefit: the interval p > 0.025 is empty (metafor stops)
    r = _three(tmp_path, [("a", -0.8, 0.02), ("b", -0.9, 0.03), ("c", -0.7, 0.02)])
    assert r.selmodel is None
    assert any(w.startswith("selection model (3PSM) not computed: selection model: no observed p-value")
               for w in r.warnings)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["selmodel"]["estimate"] is None and "not computed" in d["selmodel"]["note"]
    assert "selection model     not computed" in r.summary()
    key = next(k for k in reanalysis_report_section(r).key_numbers if k.label.startswith("Selection model"))
    assert key.value == "not computed"


def test_no_significant_study_puts_the_weight_on_its_bound(tmp_path):
    # no study significant in the direction of benefit (metafor fits this; delta runs to 100)
    r = _three(tmp_path, [("a", -0.2, 0.04), ("b", -0.1, 0.05), ("c", 0.1, 0.03)])
    d = r.to_dict()["selmodel"]
    assert d["k_per_interval"] == [0, 3] and d["status"] == "on a bound" and "delta2" in d["on_bound"]
    assert any(w.startswith("selection model (3PSM): one or more delta estimates") for w in r.warnings)
    assert "UNRELIABLE" in r.summary()


def test_cli_json_and_text(bundled):
    runner = CliRunner()
    res = runner.invoke(main, ["reanalyse", "--json", "--quiet", "--n", "100", "--draws", "0"],
                        catch_exceptions=False)
    assert res.exit_code == 0
    sel = json.loads(res.stdout)["selmodel"]
    assert sel["estimate"] == bundled.to_dict()["selmodel"]["estimate"] and sel["alternative"] == "less"
    res = runner.invoke(main, ["reanalyse", "--quiet", "--n", "100", "--draws", "0"], catch_exceptions=False)
    assert res.exit_code == 0 and "selection model     3PSM (p < 0.025, less)" in res.stdout
