"""Selection models (issue 23) against metafor 3.8.1 ``selmodel()`` (tests/r/metafor_extras_reference.R).

Each R case is stored twice (see the R script's header):

* ``exact`` — the maximum of metafor's likelihood (step function: ``selmodel`` with ``reltol = 1e-14``; beta:
  metafor's own log-likelihood function maximised with an accurate integral) and SEs from ``numDeriv::hessian``:
  compared at 1e-6 relative (β, τ², δ, LRT, log-likelihoods, SEs).
* ``default`` — ``selmodel()`` as a user calls it.  Its BFGS stops ~1e-7 short of the maximum (step function)
  and its ``integrate(rel.tol = 1.2e-4)`` moves the beta model's log-likelihood by up to ~3e-4; so the default
  run is compared at 1e-4 (step function) and 5e-3 (beta; 0.02 for the flat β direction of small data sets).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, special, stats

from meta.cli import meta_group
from meta.errors import MetaInputError
from meta.selection import _beta_nodes, _beta_norm, _beta_weight, _pvalues, selection_model
from meta.univariate import fit_random_effects

FIX = json.loads((Path(__file__).parent / "data" / "metafor_extras.json").read_text())["selmodel"]
CASES = FIX["cases"]


def _id(c):
    return f"{c['data']}-{c['type']}-{c.get('steps')}-{c['alternative']}"


def close(a, b, rtol, atol=1e-12):
    b = np.asarray([np.nan if x is None else x for x in np.atleast_1d(b)], float)
    np.testing.assert_allclose(np.atleast_1d(np.asarray(a, float)), b, rtol=rtol, atol=atol)


def fit(case):
    d = FIX["data"][case["data"]]
    if "ablat" in d:  # the meta-regression case (rma(yi, vi, mods = ~ ablat))
        import pandas as pd

        res = fit_random_effects("yi", "vi", mods="~ ablat", data=pd.DataFrame(d))
    else:
        res = fit_random_effects(np.asarray(d["yi"], float), np.asarray(d["vi"], float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return selection_model(res, type=case["type"], steps=case.get("steps"), alternative=case["alternative"])


def _r_refused(case):
    return "error" in case and "intervals do not contain" in case["error"]


@pytest.fixture(scope="module")
def fits():
    return {_id(c): (None if _r_refused(c) else fit(c)) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_selmodel_exact(case, fits):
    if _r_refused(case):
        with pytest.raises(MetaInputError, match="no observed p-value"):
            fit(case)
        return
    r = fits[_id(case)]
    if "exact" not in case:
        # metafor's optimiser did not converge (its default run, or the tight rerun): an estimate sits on a
        # bound (delta -> 100 or tau2 -> 0).  Then the maximum found here must be at least as high as metafor's,
        # and at least as high as the unadjusted model's (delta = 1 is inside the parameter space).
        assert r.logLik >= r.logLik_unadjusted - 1e-9
        if "default" in case:
            assert r.logLik >= case["default"]["ll"] - 1e-9
            close(r.beta, case["default"]["beta"], 1e-3, atol=1e-4)
        return
    ref = case["exact"]
    free_ref = [x for x, se in zip(ref["delta"], ref["se_delta"]) if se is not None]
    if ref["tau2"] < 1e-6 or any(x > 99 or x < 1e-3 for x in free_ref):
        # an estimate on its bound (τ² → 0 or δ → 100): the likelihood is flat there and both optimisers stop
        # somewhere along the ridge; the maximum here must be at least metafor's, the estimates close to it
        assert r.logLik >= ref["ll"] - 1e-8
        close(r.beta, ref["beta"], 1e-3, atol=1e-5)
        close(r.LRT, ref["LRT"], 1e-4, atol=1e-6)
        return
    close(r.beta, ref["beta"], 1e-6)
    close(r.tau2, ref["tau2"], 1e-6, atol=1e-8)  # atol: τ² on its bound 0 (review data)
    free = ~np.isnan(np.asarray([np.nan if x is None else x for x in ref["se_delta"]], float))
    close(r.delta, ref["delta"], 1e-6)
    close(r.logLik, ref["ll"], 1e-8)
    close(r.logLik_unadjusted, ref["ll0"], 1e-10)
    close(r.LRT, ref["LRT"], 1e-6, atol=1e-8)
    close(r.LRT_p, ref["LRTp"], 1e-6, atol=1e-10)
    assert r.LRT_df == ref["LRTdf"]
    # beta model: R differentiates an integrate()-based likelihood numerically, whose integration error (even at
    # rel.tol = 1e-10) reaches its Hessian (up to 1.2e-4 relative on dat.lehmann2018); the SEs here are stable
    # to 1e-8 under changes of the difference step (test_beta_standard_errors_are_step_stable)
    se_tol = 1e-6 if case["type"] == "stepfun" else 3e-4
    close(r.se, ref["se"], se_tol)
    close(r.se_tau2, ref["se_tau2"], se_tol)
    close(r.se_delta[free], np.asarray(ref["se_delta"], dtype=object)[free].astype(float), se_tol)
    close(r.p_delta[free], np.asarray(ref["pval_delta"], dtype=object)[free].astype(float),
          1e-5 if case["type"] == "stepfun" else 2e-3)  # the p-value carries the SE's difference, amplified
    if case["type"] == "stepfun":
        assert list(r.k_per_interval) == case["default"]["k_per_interval"]


def test_beta_standard_errors_are_step_stable(monkeypatch):
    import meta.selection as sel

    d = FIX["data"]["lehmann2018"]
    base = selection_model(d["yi"], d["vi"], type="beta")
    original = sel._hessian
    monkeypatch.setattr(sel, "_hessian", lambda f, x, d=0.1, r=6: original(f, x, d=0.05, r=r))
    other = selection_model(d["yi"], d["vi"], type="beta")
    close(other.se, base.se, 1e-7)
    close(other.se_delta, base.se_delta, 1e-7)
    close(other.se_tau2, base.se_tau2, 1e-7)


def _interior(case):
    ref = case.get("exact")
    if ref is None:
        return False
    free = [x for x, se in zip(ref["delta"], ref["se_delta"]) if se is not None]
    return ref["tau2"] >= 1e-6 and all(1e-3 < x < 99 for x in free)


@pytest.mark.parametrize("case", [c for c in CASES if _interior(c)], ids=_id)
def test_selmodel_default_run(case, fits):
    r = fits[_id(case)]
    ref = case["default"]
    tol = 1e-4 if case["type"] == "stepfun" else 5e-3
    close(r.tau2, ref["tau2"], tol, atol=1e-6)
    close(r.delta, ref["delta"], tol, atol=1e-6)
    close(r.beta, ref["beta"], tol if case["type"] == "stepfun" else 2e-2, atol=1e-5)
    close(r.LRT, ref["LRT"], tol if case["type"] == "stepfun" else 5e-2, atol=1e-3)


def test_beta_integral_against_adaptive_quadrature():
    """The beta model's normalising integral A_i (Gauss–Legendre on z = y/√v) equals scipy's adaptive quadrature."""
    rng = np.random.default_rng(3)
    for alternative in ("greater", "less", "two.sided"):
        quad = _beta_nodes(alternative)
        for _ in range(3):
            v = rng.uniform(0.005, 0.5, 4)
            mu = rng.normal(0, 0.5, 4)
            sd = np.sqrt(v + rng.uniform(0, 0.3))
            delta = rng.uniform(0.3, 3, 2)
            A = _beta_norm(delta, mu, sd, np.sqrt(v), alternative, quad)
            for i in range(4):
                def f(t):
                    return _beta_weight(_pvalues(np.array([t]), np.array([v[i]]), alternative), delta)[0] * \
                        stats.norm.pdf(t, mu[i], sd[i])
                cuts = np.sqrt(v[i]) * np.array([-special.ndtri(1 - 0.5e-5), -special.ndtri(1 - 1e-5),
                                                 -1.3e-5, 1.3e-5, special.ndtri(1 - 1e-5), special.ndtri(1 - 0.5e-5)])
                edges = [-np.inf, *np.sort(cuts), np.inf]
                ref = sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-13, limit=200)[0] for a, b in zip(edges[:-1],
                                                                                                      edges[1:]))
                assert abs(A[i] / ref - 1) < 1e-10


def test_no_selection_reproduces_the_unadjusted_fit():
    """δ = 1 is the unadjusted model: the likelihood at the ML fit with all δ = 1 equals the ML log-likelihood."""
    from meta.selection import _Problem, _step_bounds

    d = FIX["data"]["hackshaw1998"]
    y, v = np.asarray(d["yi"], float), np.asarray(d["vi"], float)
    ml = fit_random_effects(y, v, method="ML")
    steps = np.array([0.025, 0.5, 1.0])
    pv = _pvalues(y, v, "greater")
    prob = _Problem(y=y, v=v, X=ml.X, type="stepfun", alternative="greater", steps=steps,
                    free_delta=np.array([False, True, True]), delta_lo=np.zeros(3), delta_hi=np.full(3, 100.0),
                    tau2_fixed=None, pvals=pv, group=np.searchsorted(steps, pv), bounds=_step_bounds(v, steps, "greater"),
                    quad=None)
    assert abs(prob.loglik(ml.beta, ml.tau2, np.ones(3)) - ml.ll_ML) < 1e-10
    beta = _Problem(**{**prob.__dict__, "type": "beta", "free_delta": np.array([True, True]),
                       "quad": _beta_nodes("greater"), "pvals": np.clip(pv, 1e-5, 1 - 1e-5)})
    assert abs(beta.loglik(ml.beta, ml.tau2, np.ones(2)) - ml.ll_ML) < 1e-10


def test_api_result_is_frozen_with_summary_and_frame():
    d = FIX["data"]["hackshaw1998"]
    r = selection_model(d["yi"], d["vi"], type="stepfun", steps=[0.025])
    with pytest.raises(Exception):
        r.tau2 = 0.0  # frozen
    assert "LRT" in r.summary() and "0.025 < p <= 1" in r.summary()
    tab = r.to_frame()
    assert list(tab.index) == ["intrcpt", "tau2", "delta.1", "delta.2"]
    assert r.to_dict()["delta"][0] == 1.0


def test_bad_input_is_one_line():
    d = FIX["data"]["hackshaw1998"]
    with pytest.raises(MetaInputError, match="type"):
        selection_model(d["yi"], d["vi"], type="halfnorm")
    with pytest.raises(MetaInputError, match="cut points"):
        selection_model(d["yi"], d["vi"], steps=[1.5])


def test_cli_bias_selmodel_json(tmp_path):
    case = next(c for c in CASES if c["data"] == "hackshaw1998" and c["type"] == "stepfun"
                and c["steps"] == [0.025, 0.5])
    d = FIX["data"]["hackshaw1998"]
    path = tmp_path / "h.csv"
    path.write_text("yi,vi\n" + "\n".join(f"{a!r},{b!r}" for a, b in zip(d["yi"], d["vi"])) + "\n")
    out = CliRunner().invoke(meta_group, ["bias", str(path), "--yi", "yi", "--vi", "vi", "--selmodel", "stepfun",
                                          "--steps", "0.025,0.5", "--json"])
    assert out.exit_code == 0, out.output
    sel = json.loads(out.output)["selmodel"]
    assert {"type", "estimate", "se", "tau2", "delta", "LRT", "LRT_p"} <= set(sel)
    assert sel["type"] == "stepfun"
    close(sel["estimate"], case["exact"]["beta"], 1e-6)
    close(sel["se"], case["exact"]["se"], 1e-6)
    close(sel["tau2"], case["exact"]["tau2"], 1e-6)
    close(sel["delta"], case["exact"]["delta"], 1e-6)
    close(sel["LRT"], case["exact"]["LRT"], 1e-6)
    close(sel["LRT_p"], case["exact"]["LRTp"], 1e-6)
    beta = CliRunner().invoke(meta_group, ["bias", str(path), "--yi", "yi", "--vi", "vi", "--selmodel", "beta"])
    assert beta.exit_code == 0 and "Beta" in beta.output
    bad = CliRunner().invoke(meta_group, ["bias", str(path), "--yi", "yi", "--vi", "vi", "--selmodel", "beta",
                                          "--steps", "0.1"])
    assert bad.exit_code == 2 and "--steps" in bad.output and "Traceback" not in bad.output
    bad = CliRunner().invoke(meta_group, ["bias", str(path), "--yi", "yi", "--vi", "vi", "--selmodel", "stepfun",
                                          "--steps", "abc"])
    assert bad.exit_code == 2 and "--steps" in bad.output


def test_empty_interval_is_refused_as_metafor(tmp_path):
    """selmodel() stops when an interval with a free δ holds no observed p-value (checked in R for these data:
    "One or more intervals do not contain any observed p-values"); the first interval (δ₁ = 1) may be empty."""
    d = FIX["data"]["hackshaw1998"]
    with pytest.raises(MetaInputError, match=r"0.025 < p <= 0.026"):
        selection_model(d["yi"], d["vi"], type="stepfun", steps=[0.025, 0.026])
    path = tmp_path / "h.csv"
    path.write_text("yi,vi\n" + "\n".join(f"{a!r},{b!r}" for a, b in zip(d["yi"], d["vi"])) + "\n")
    out = CliRunner().invoke(meta_group, ["bias", str(path), "--yi", "yi", "--vi", "vi", "--selmodel", "stepfun",
                                          "--steps", "0.025,0.026"])
    assert out.exit_code == 2 and "h.csv" in out.output and "no observed p-value" in out.output
    assert out.output.count("\n") == 1
