"""Coefficient tables and omnibus tests against closed-form values computed independently with scipy."""

import numpy as np
import pytest
from scipy import stats

from meta.errors import MetaInputError
from meta.inference import coefficient_table, omnibus_test, prediction_interval
from meta.validation import check_effect_sizes


def test_z_table_matches_normal_theory():
    beta = np.array([0.5, -0.2])
    vb = np.array([[0.04, 0.01], [0.01, 0.09]])
    rows = coefficient_table(["intrcpt", "x"], beta, vb)
    assert rows[0].se == pytest.approx(0.2)
    assert rows[1].z == pytest.approx(-0.2 / 0.3)
    assert rows[0].p == pytest.approx(2 * stats.norm.sf(2.5))
    assert rows[1].ci_lb == pytest.approx(-0.2 - stats.norm.ppf(0.975) * 0.3)
    assert rows[0].df is None


def test_t_table_uses_per_coefficient_df():
    rows = coefficient_table(["a", "b"], [1.0, 1.0], np.eye(2) * 0.25, test="t", df=[4, 10])
    assert rows[0].p == pytest.approx(2 * stats.t.sf(2.0, 4))
    assert rows[1].ci_ub == pytest.approx(1.0 + stats.t.ppf(0.975, 10) * 0.5)


def test_omnibus_chi2_and_f_forms():
    beta = np.array([0.3, 0.4, -0.1])
    vb = np.diag([0.01, 0.04, 0.01])
    z = omnibus_test(beta, vb, [1, 2])
    assert z.statistic == pytest.approx(0.4**2 / 0.04 + 0.01 / 0.01)
    assert z.p == pytest.approx(stats.chi2.sf(z.statistic, 2))
    f = omnibus_test(beta, vb, [1, 2], test="t", ddf=7)
    assert f.statistic == pytest.approx(z.statistic / 2)
    assert f.p == pytest.approx(stats.f.sf(f.statistic, 2, 7))


def test_prediction_interval_adds_heterogeneity():
    lb, ub = prediction_interval(0.1, 0.05, 0.02)
    half = stats.norm.ppf(0.975) * np.sqrt(0.05**2 + 0.02)
    assert (lb, ub) == pytest.approx((0.1 - half, 0.1 + half))


@pytest.mark.parametrize(
    "yi, vi, fragment",
    [
        ([0.1, np.nan, 0.2], [0.1, 0.1, 0.1], "'yi': missing or non-finite value in row(s) 2"),
        ([0.1, 0.2, 0.3], [0.1, 0.0, -1], "'vi': sampling variances must be > 0; row(s) 2, 3"),
        ([0.1], [0.1], "at least 2 estimates"),
        (["a", "b"], [0.1, 0.1], "'yi': non-numeric"),
    ],
)
def test_bad_effect_sizes_name_column_and_rows(yi, vi, fragment):
    with pytest.raises(MetaInputError) as err:
        check_effect_sizes(yi, vi)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
