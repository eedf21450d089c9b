"""escalc measures OR, RR, RD, COR, ZCOR, MD, ROM, PR, PLO, IRR against metafor 3.8.1.

Reference values: tests/r/escalc_reference.R → tests/data/escalc_reference.json (inputs with NAs, zero cells,
the add/to/drop00/vtype variants).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from meta import effect_measures as E
from meta.errors import MetaInputError

REF = json.loads((Path(__file__).parent / "data" / "escalc_reference.json").read_text())["cases"]


def nan(x):
    return np.array([np.nan if v is None else v for v in np.atleast_1d(x)], float)


@pytest.mark.parametrize("name", sorted(REF))
def test_matches_escalc(name):
    case = REF[name]
    inputs = {k: nan(v) for k, v in case["inputs"].items()}
    args = case["args"] if isinstance(case["args"], dict) else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # escalc's own ±Inf → NA warning
        res = E.escalc(case["measure"], **inputs, **args)
    yi, vi = nan(case["yi"]), nan(case["vi"])
    assert res.measure == case["measure"]
    np.testing.assert_array_equal(np.isnan(res.yi), np.isnan(yi))
    np.testing.assert_array_equal(np.isnan(res.vi), np.isnan(vi))
    np.testing.assert_allclose(res.yi, yi, rtol=1e-6, atol=1e-8, equal_nan=True)
    np.testing.assert_allclose(res.vi, vi, rtol=1e-6, atol=1e-8, equal_nan=True)


def test_named_functions_and_defaults():
    c = REF["niel_OR"]["inputs"]
    direct = E.odds_ratio(c["ai"], n1i=c["n1i"], ci=c["ci"], n2i=c["n2i"])
    np.testing.assert_allclose(direct.yi, nan(REF["niel_OR"]["yi"]), rtol=1e-12)
    # MD's default vtype is escalc's "LS": unequal variances, not the pooled SD
    m = REF["normand_MD"]["inputs"]
    ls = E.mean_difference(**m)
    ho = E.mean_difference(**m, vtype="HO")
    assert not np.allclose(ls.vi, ho.vi)
    assert {f.__name__ for f in (E.risk_ratio, E.risk_difference, E.correlation, E.fisher_z, E.ratio_of_means,
                                 E.proportion, E.logit_proportion, E.incidence_rate_ratio)} <= set(E.__all__)
    # SMD, SMCC, SMCR reach meta.effect_sizes with escalc's argument names
    s = E.escalc("SMD", m1i=m["m1i"], sd1i=m["sd1i"], n1i=m["n1i"], m2i=m["m2i"], sd2i=m["sd2i"], n2i=m["n2i"])
    assert s.measure == "SMD" and s.yi.shape == (len(m["m1i"]),)


def test_incomplete_rows_give_nan_not_errors():
    res = E.risk_ratio(ai=[3, None, 5], n1i=[20, 20, np.nan], ci=[1, 2, 3], n2i=[20, 20, 20])
    assert np.isfinite(res.yi[0]) and np.isnan(res.yi[1:]).all() and np.isnan(res.vi[1:]).all()
    z = E.fisher_z([0.3, np.nan], [30, 40])
    assert np.isnan(z.yi[1]) and z.vi[1] == pytest.approx(1 / 37)  # escalc keeps vi when only ri is missing
    with pytest.warns(RuntimeWarning, match=r"Inf in row\(s\) 1"):
        inf = E.fisher_z([1.0], [30])
    assert np.isnan(inf.yi[0]) and np.isnan(inf.vi[0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: E.escalc("XYZ", ai=[1]), "measure must be one of"),
        (lambda: E.escalc("OR", ri=[0.1], ni=[10]), "does not take"),
        (lambda: E.odds_ratio([1, -1], [3, 3], [2, 2], [3, 3]), r"'ai': counts must be >= 0; row\(s\) 2"),
        (lambda: E.risk_ratio(ai=[5, 30], n1i=[20, 20], ci=[1, 1], n2i=[9, 9]), r"'n1i': more events than participants; row\(s\) 2"),
        (lambda: E.odds_ratio(ai=[1], bi=[2], ci=[3], di=[4], n1i=[4]), "n1i is not equal to ai \\+ bi"),
        (lambda: E.odds_ratio(ai=[1], ci=[3]), "needs ai, ci and either"),
        (lambda: E.odds_ratio([1], [2], [3], [4], to="some"), "to must be one of"),
        (lambda: E.risk_difference([1], [2], [3], [4], vtype="HO"), "vtype must be one of LS, UB, AV for RD"),
        (lambda: E.correlation([0.5, 1.2], [20, 20]), r"'ri': correlations must lie in \[-1, 1\]; row\(s\) 2"),
        (lambda: E.mean_difference([1], [-1], [10], [0], [1], [10]), "'sd1i': standard deviations must be >= 0"),
        (lambda: E.mean_difference(m1i=[1], sd1i=[1], n1i=[10]), "MD needs the argument"),
        (lambda: E.proportion([5], [3]), "more events than participants"),
        (lambda: E.proportion([2], ni=[5], mi=[4]), "ni is not equal to xi \\+ mi"),
        (lambda: E.incidence_rate_ratio([1], [0], [2], [10]), "'t1i': person-times must be > 0"),
        (lambda: E.odds_ratio(["a"], [1], [1], [1]), "non-numeric"),
        (lambda: E.odds_ratio([1, 2], [1, 2, 3], [1], [1]), "incompatible lengths"),
    ],
)
def test_bad_input_one_line(call, match):
    with pytest.raises(MetaInputError, match=match) as exc:
        call()
    assert "\n" not in str(exc.value)
