"""Power: metameta/metapower published values, an independent R evaluation, and statsmodels t-test power."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.power import TTestIndPower, TTestPower

from meta.errors import MetaInputError
from meta.power import (
    jackson_turner_power,
    min_study_size,
    mpower,
    study_power,
    ttest_power,
    ttest_sample_size,
)

REF = json.loads((Path(__file__).parent / "data" / "power_reference.json").read_text())


def test_mpower_readme_values():
    # metapower README: mpower(effect_size = .3, study_size = 20, k = 10, i2 = .5, es_type = "d")
    r = mpower(0.3, 20, 10, 0.5, es_type="d")
    assert r.fixed == pytest.approx(0.5594533, abs=5e-8)
    assert r.random == pytest.approx(0.3454424, abs=5e-8)
    assert r.variance == 0.20225
    assert "random-effects model" in r.summary()
    json.dumps(r.to_dict())


def test_metameta_readme_values():
    # metameta README, anagnostou_2012 (se 0.479)
    assert study_power([0.479], 0.178).power[0] == pytest.approx(0.06596450, abs=5e-9)
    assert study_power([0.479], 0.1).power[0] == pytest.approx(0.05500761, abs=5e-9)
    assert study_power([0.479], 0.2).power[0] == pytest.approx(0.07020009, abs=5e-9)


@pytest.mark.parametrize("case", REF["mpower"], ids=lambda c: f"{c['es_type']}-{c.get('effect_size')}-{c['study_size']}-{c['k']}-{c['i2']}-{c['test_type']}")
def test_mpower_matches_r_integration(case):
    r = mpower(case.get("effect_size"), case["study_size"], case["k"], case["i2"], es_type=case["es_type"],
               test_type=case["test_type"], con_table=case.get("con_table"))
    assert r.variance == pytest.approx(case["variance"], rel=1e-12)
    assert r.fixed == pytest.approx(case["fixed"], rel=1e-6, abs=1e-8)
    assert r.random == pytest.approx(case["random"], rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("case", REF["study_power"], ids=lambda c: str(c["effect"]))
def test_study_power_matches_r(case):
    r = study_power(case["se"], case["effect"])
    np.testing.assert_allclose(r.power, case["power"], rtol=1e-10)
    assert r.median == pytest.approx(float(np.median(case["power"])))
    assert study_power(case["se"], -case["effect"]).median == r.median  # sign-free


def test_random_power_equals_fixed_when_no_heterogeneity_large_k():
    f, r = jackson_turner_power(0.3, 0.2, 400, 0.0)
    assert r == pytest.approx(f, abs=2e-3)
    f, r = jackson_turner_power(0.3, 0.2, 10, 0.5)
    assert r < f


def test_min_study_size_is_smallest():
    n = min_study_size(0.3, 10, 0.5)
    assert n % 2 == 0
    assert mpower(0.3, n, 10, 0.5).random >= 0.8 > mpower(0.3, n - 2, 10, 0.5).random
    nf = min_study_size(0.3, 10, 0.5, model="fixed")
    assert nf < n and mpower(0.3, nf, 10, 0.5).fixed >= 0.8 > mpower(0.3, nf - 2, 10, 0.5).fixed
    nr = min_study_size(0.2, 12, 0.25, es_type="r")
    assert mpower(0.2, nr, 12, 0.25, es_type="r").random >= 0.8 > mpower(0.2, nr - 1, 12, 0.25, es_type="r").random


def test_min_study_size_unreachable():
    with pytest.raises(MetaInputError, match="not reached"):
        min_study_size(0.05, 3, 0.9, max_n=2000)


@pytest.mark.parametrize("d, n, alpha", [(0.2, 20, 0.05), (0.5, 64, 0.05), (0.8, 10, 0.01), (-0.3, 40, 0.05)])
def test_ttest_power_between_matches_statsmodels(d, n, alpha):
    assert ttest_power(d, n, alpha=alpha) == pytest.approx(TTestIndPower().power(d, n, alpha), rel=1e-6)
    assert ttest_power(d, n, alpha=alpha, ratio=1.5) == pytest.approx(
        TTestIndPower().power(d, n, alpha, ratio=1.5), rel=1e-6)
    assert ttest_power(abs(d), n, alternative="larger") == pytest.approx(
        TTestIndPower().power(abs(d), n, 0.05, alternative="larger"), rel=1e-6)


@pytest.mark.parametrize("d, n, r", [(0.2, 20, 0.5), (0.5, 30, 0.7), (0.3, 80, 0.0)])
def test_ttest_power_within_matches_statsmodels(d, n, r):
    dz = d / np.sqrt(2 * (1 - r))
    assert ttest_power(d, n, design="within", r=r) == pytest.approx(TTestPower().power(dz, n, 0.05), rel=1e-6)
    assert ttest_power(dz, n, design="paired") == pytest.approx(TTestPower().power(dz, n, 0.05), rel=1e-6)


@pytest.mark.parametrize("d, power", [(0.2, 0.8), (0.5, 0.8), (0.8, 0.9), (0.35, 0.95)])
def test_sample_size_matches_statsmodels(d, power):
    n = ttest_sample_size(d, power)
    assert n == int(np.ceil(TTestIndPower().solve_power(d, power=power, alpha=0.05)))
    nz = ttest_sample_size(d, power, design="paired")
    assert nz == int(np.ceil(TTestPower().solve_power(d, power=power, alpha=0.05)))
    nw = ttest_sample_size(d, power, design="within", r=0.5)
    assert nw == nz  # r = 0.5 -> dz = d


def test_bad_power_input():
    with pytest.raises(MetaInputError, match=r"row\(s\) 2"):
        study_power([0.2, -0.1], 0.2)
    with pytest.raises(MetaInputError, match="i2"):
        mpower(0.3, 20, 10, 1.2)
    with pytest.raises(MetaInputError, match="es_type"):
        mpower(0.3, 20, 10, 0.5, es_type="x")
    with pytest.raises(MetaInputError, match="con_table"):
        mpower(None, 20, 10, 0.5, es_type="or")
    with pytest.raises(MetaInputError, match="within"):
        ttest_power(0.3, 20, design="within")


def test_ttest_power_far_lower_tail_is_not_nan():
    # scipy's nct.cdf returns NaN here (probability < 1e-20); the reflected sf must be used instead
    from meta.power import ttest_power

    for d, n, design in [(2.0, 80, "paired"), (1.5, 40, "between"), (3.0, 200, "paired")]:
        two = ttest_power(d, n, design=design)
        upper = ttest_power(d, n, design=design, alpha=0.025, alternative="larger")
        lower = ttest_power(d, n, design=design, alpha=0.025, alternative="smaller")
        assert np.isfinite(two) and np.isfinite(lower)
        assert two == pytest.approx(upper + lower, rel=1e-12)
        assert 0.999 < two <= 1.0 and 0.0 <= lower < 1e-12


def test_study_power_summary_lists_every_study_and_the_median():
    se = np.array([0.479, 0.2, 0.35])
    r = study_power(se, 0.2)
    lines = r.summary().splitlines()
    rows = [ln.split() for ln in lines if ln.strip()[:1].isdigit()]
    assert [int(x[0]) for x in rows] == [1, 2, 3]
    np.testing.assert_allclose([float(x[2]) for x in rows], np.round(r.power, 4))
    assert lines[-1].startswith(f"Median power: {np.median(r.power):.4f}")
