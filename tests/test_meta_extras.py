"""Issue 23 against metafor 3.8.1 (tests/r/metafor_extras_reference.R → tests/data/metafor_extras.json):
R formula habits in moderators, every column of ``influence()`` with ``hatvalues()``/``weights()`` (univariate
and ``rma.mv``), and the omnibus test's df (``QMdf``) in the Python API and the CLI's JSON."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from meta.cli import meta_group
from meta.diagnostics import dfbetas, hatvalues, influence
from meta.errors import MetaInputError
from meta.multilevel import fit_multilevel
from meta.univariate import fit_random_effects

FIX = json.loads((Path(__file__).parent / "data" / "metafor_extras.json").read_text())


def close(a, b, rtol=1e-6, atol=1e-10):
    a = np.asarray(a, dtype=float)
    b = np.asarray(np.where(pd.isna(np.asarray(b, dtype=object)), np.nan, b), dtype=float)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def frame(d: dict) -> pd.DataFrame:
    return pd.DataFrame({k: [np.nan if x is None else x for x in v] for k, v in d.items()})


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


# ------------------------------------------------------------------------------------------------ formulas
@pytest.mark.parametrize("case", FIX["formulas"]["cases"], ids=lambda c: c["mods"])
def test_formula_habits_match_metafor(case):
    data = frame(FIX["formulas"]["data"])
    if "error" in case:  # R refuses (poly() with a missing value): one line here too
        with pytest.raises(MetaInputError, match="poly"):
            quiet(fit_random_effects, "yi", "vi", mods=case["mods"], data=data)
        return
    if case["mods"] == "~ factor(alloc) * ablat":
        # metafor drops the aliased column with a warning ("Redundant predictors dropped"); meta/ stops and names it
        assert "factor(alloc)systematic:ablat" not in case["names"]
        with pytest.raises(MetaInputError, match=r"factor\(alloc\)systematic:ablat.* collinear"):
            quiet(fit_random_effects, "yi", "vi", mods=case["mods"], data=data)
        return
    res = quiet(fit_random_effects, "yi", "vi", mods=case["mods"], data=data)
    assert list(res.names) == [n if n != "(Intercept)" else "intrcpt" for n in case["names"]]
    assert res.k == case["k"]
    close(res.beta, case["beta"])
    close(res.se, case["se"])
    close(res.tau2, case["tau2"], atol=1e-12)
    close(res.QM, case["QM"])
    close(res.QE, case["QE"])


def test_scale_uses_every_row_with_the_moderator_as_metafor():
    """Row 5 lacks yi but has ablat: R's model.frame scales over it too (metafor's β differs by ~7 % otherwise)."""
    data = frame(FIX["formulas"]["data"])
    case = next(c for c in FIX["formulas"]["cases"] if c["mods"] == "~ scale(ablat)")
    res = quiet(fit_random_effects, "yi", "vi", mods="~ scale(ablat)", data=data)
    complete = data.dropna(subset=["yi", "ablat"]).reset_index(drop=True)
    naive = fit_random_effects("yi", "vi", mods="~ scale(ablat)", data=complete)
    assert res.omitted_rows == (2, 5)
    close(res.beta, case["beta"])
    assert abs(naive.beta[0] - case["beta"][0]) > 1e-2  # scaling the complete rows only would be visibly off


@pytest.mark.parametrize("case", FIX["formulas_multilevel"]["cases"], ids=lambda c: c["mods"])
def test_formula_habits_multilevel(case):
    data = frame(FIX["formulas_multilevel"]["data"])
    res = quiet(fit_multilevel, "yi", "vi", ["district", "school"], mods=case["mods"], data=data)
    assert [c.name for c in res.coefficients] == case["names"]
    close(res.beta, case["beta"], rtol=1e-5)
    close(res.sigma2, case["sigma2"], rtol=1e-4)


def test_unsupported_function_is_one_line():
    data = frame(FIX["formulas"]["data"])
    with pytest.raises(MetaInputError, match=r"relevel\(\) is not supported"):
        quiet(fit_random_effects, "yi", "vi", mods="~ relevel(alloc)", data=data)


def test_factor_levels_carry_over_to_predictions():
    data = frame(FIX["formulas"]["data"])
    res = quiet(fit_random_effects, "yi", "vi", mods="~ factor(alloc) + scale(ablat)", data=data)
    new = pd.DataFrame({"alloc": ["random", "alternate"], "ablat": [33.0, 44.0]})
    pred = res.predict(new)
    X = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], float)
    # scale() at the fitted centre and scale (the non-missing ablat of all input rows)
    ab = data["ablat"].dropna()
    X[:, 3] = (new["ablat"] - ab.mean()) / ab.std(ddof=1)
    close(pred["pred"], X @ res.beta, rtol=1e-12)


# ---------------------------------------------------------------------------------------------------- QMdf
@pytest.mark.parametrize("case", FIX["qmdf"]["cases"], ids=lambda c: f"{c['model']}-{c['test']}")
def test_omnibus_df_api_and_cli(case, tmp_path):
    if case["model"] == "univariate":
        data = frame(FIX["qmdf"]["bcg"])
        res = fit_random_effects("yi", "vi", mods=case["mods"], data=data, test=case["test"])
        args = []
    else:
        data = frame(FIX["qmdf"]["konstantopoulos"])
        res = fit_multilevel("yi", "vi", ["district", "school"], mods=case["mods"], data=data, test=case["test"])
        args = ["--levels", "district,school"]
    num, den = case["QMdf"]
    assert res.QM_df == num
    assert (res.QM_ddf is None) == (den is None)
    if den is not None:
        close(res.QM_ddf, den, rtol=0)
    close(res.QM, case["QM"], rtol=1e-6)
    close(res.QM_p, case["QMp"], rtol=1e-5)
    path = tmp_path / "d.csv"
    data.to_csv(path, index=False)
    out = CliRunner().invoke(meta_group, ["pool", str(path), "--yi", "yi", "--vi", "vi", "--mods", case["mods"],
                                          "--test", case["test"], *args, "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert payload["QMdf"] == [num, den]
    assert payload["QM_df"] == num and payload["QM_ddf"] == den


# ----------------------------------------------------------------------------------------------- influence
def _uni_fit(case):
    d = frame(FIX["influence"]["data"][case["data"]])
    return fit_random_effects("yi", "vi", mods=case["mods"], data=d, test=case["test"], method=case["method"])


@pytest.mark.parametrize("case", FIX["influence"]["univariate"],
                         ids=lambda c: f"{c['data']}-{c['mods']}-{c['test']}-{c['method']}")
def test_influence_every_column_univariate(case):
    res = _uni_fit(case)
    inf = influence(res)
    close(inf.rstudent.z, case["rstudent"], rtol=1e-6)
    close(inf.dffits, case["dffits"], rtol=1e-6)
    close(inf.cooks, case["cook_d"], rtol=1e-6)
    close(inf.cov_r, case["cov_r"], rtol=1e-6)
    close(inf.tau2_del, case["tau2_del"], rtol=1e-6)
    close(inf.QE_del, case["QE_del"], rtol=1e-8)
    close(inf.hat, case["hat"], rtol=1e-10)
    close(inf.weight, case["weight"], rtol=1e-10)
    close(inf.dfbetas, case["dfbs"], rtol=1e-6, atol=1e-9)
    assert inf.is_influential.tolist() == case["is_infl"]
    close(hatvalues(res), case["hatvalues"], rtol=1e-10)
    close(res.weights(), case["weights"], rtol=1e-10)
    table = inf.metafor_frame()
    assert list(table.columns[:8]) == ["rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat",
                                       "weight"]
    assert set(table["inf"]) <= {"*", ""}


def test_influence_flags_something_in_bcg_with_latitude():
    """The flag must be able to fire: with ablat, metafor flags no trial in dat.bcg, but in hackshaw1998
    (k = 37) the rules are computed and compared above; here a planted outlier must be flagged."""
    d = frame(FIX["influence"]["data"]["hackshaw1998"])
    d.loc[0, "yi"] = 4.0
    inf = influence(fit_random_effects("yi", "vi", data=d))
    assert inf.is_influential[0]


@pytest.mark.parametrize("case", FIX["influence"]["multilevel"], ids=lambda c: str(c["mods"]))
def test_multilevel_influence(case):
    d = frame(FIX["influence"]["data"]["konstantopoulos"])
    res = fit_multilevel("yi", "vi", ["district", "school"], mods=case["mods"], data=d)
    inf = influence(res)
    close(inf.hat, case["hatvalues"], rtol=1e-6)
    close(inf.weight, case["weights"], rtol=1e-6)
    close(inf.cooks, case["cooks_distance"], rtol=1e-4, atol=1e-8)
    close(inf.dfbetas, case["dfbetas"], rtol=1e-4, atol=1e-7)
    close(inf.rstudent.z, case["rstudent_z"], rtol=1e-5)
    byd = dfbetas(res, cluster="district")
    close(byd, case["dfbetas_district"], rtol=1e-4, atol=1e-7)
    close(influence(res, cluster="district").cooks, case["cooks_district"], rtol=1e-4, atol=1e-8)


def test_influence_cli_json(tmp_path):
    case = FIX["influence"]["univariate"][1]  # bcg ~ ablat
    d = frame(FIX["influence"]["data"]["bcg"])
    path = tmp_path / "bcg.csv"
    d.to_csv(path, index=False)
    out = CliRunner().invoke(meta_group, ["influence", str(path), "--yi", "yi", "--vi", "vi", "--mods", "~ ablat",
                                          "--json"])
    assert out.exit_code == 0, out.output
    p = json.loads(out.output)
    for key, ref in (("rstudent", "rstudent"), ("dffits", "dffits"), ("cook.d", "cook_d"), ("cov.r", "cov_r"),
                     ("tau2.del", "tau2_del"), ("QE.del", "QE_del"), ("hat", "hat"), ("weight", "weight")):
        close(p[key], case[ref], rtol=1e-6)
    close(np.column_stack([p["dfbs"]["intrcpt"], p["dfbs"]["ablat"]]), case["dfbs"], rtol=1e-6, atol=1e-9)
    assert p["inf"] == case["is_infl"]
    text = CliRunner().invoke(meta_group, ["influence", str(path), "--yi", "yi", "--vi", "vi"])
    assert text.exit_code == 0 and "cov.r" in text.output


def test_influence_cli_multilevel_and_bad_cluster(tmp_path):
    d = frame(FIX["influence"]["data"]["konstantopoulos"])
    path = tmp_path / "k.csv"
    d.to_csv(path, index=False)
    out = CliRunner().invoke(meta_group, ["influence", str(path), "--yi", "yi", "--vi", "vi", "--levels",
                                          "district,school", "--cluster", "district", "--json"])
    assert out.exit_code == 0, out.output
    p = json.loads(out.output)
    close(p["cook.d"], FIX["influence"]["multilevel"][0]["cooks_district"], rtol=1e-4, atol=1e-8)
    bad = CliRunner().invoke(meta_group, ["influence", str(path), "--yi", "yi", "--vi", "vi", "--cluster", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output and "Traceback" not in bad.output
