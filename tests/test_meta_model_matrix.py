"""Moderator formulas → model matrices with metafor's (R model.matrix) column names and order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from meta.errors import MetaInputError
from meta.model_matrix import build_model_matrix, check_model_matrix, r_style_name


@pytest.fixture
def data():
    return pd.DataFrame({
        "deltype": ["general", "covert", "overt", "general", "overt", "covert"],
        "year": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0],
        "pub": [0, 1, 1, 0, 1, 0],
        "const": [3.0] * 6,
    })


def test_intercept_only(data):
    X, names = build_model_matrix(None, data)
    assert names == ["intrcpt"] and X.shape == (6, 1)
    X, names = build_model_matrix("~ 1", None, k=4)
    assert X.shape == (4, 1)


def test_treatment_coding_like_r(data):
    X, names = build_model_matrix("~ deltype + year", data)
    # R: model.matrix(~ deltype + year) -> (Intercept), deltypegeneral, deltypeovert, year
    assert names == ["intrcpt", "deltypegeneral", "deltypeovert", "year"]
    np.testing.assert_array_equal(X[:, 1], [1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(X[:, 2], [0, 0, 1, 0, 1, 0])


def test_numeric_and_formula_without_tilde(data):
    X, names = build_model_matrix("pub", data)
    assert names == ["intrcpt", "pub"]


def test_no_intercept(data):
    X, names = build_model_matrix("~ year - 1", data)
    assert names == ["year"] and X.shape == (6, 1)


def test_interactions_are_named_like_r(data):
    _, names = build_model_matrix("~ year * pub", data)
    assert names == ["intrcpt", "year", "pub", "year:pub"]


def test_r_style_name():
    assert r_style_name("Intercept") == "intrcpt"
    assert r_style_name("g[T.b]") == "gb"
    assert r_style_name("x:g[T.b]") == "x:gb"


@pytest.mark.parametrize(
    "formula, fragment",
    [
        ("~ const", "moderator column 'const' is constant"),
        ("~ nope", "column 'nope' not found"),
        ("~ year + I(2 * year)", "moderator column 'I(2 * year)' is collinear with 'intrcpt', 'year'"),
    ],
)
def test_bad_moderators(data, formula, fragment):
    with pytest.raises(MetaInputError) as err:
        build_model_matrix(formula, data)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_moderator_value_names_rows(data):
    data.loc[[1, 4], "year"] = np.nan
    with pytest.raises(MetaInputError, match=r"column 'year': missing moderator value in row\(s\) 2, 5"):
        build_model_matrix("~ year", data)


def test_collinear_categorical(data):
    data["dup"] = np.where(data["deltype"] == "overt", 1.0, 0.0)
    with pytest.raises(MetaInputError, match="'dup' is collinear"):
        build_model_matrix("~ deltype + dup", data)


def test_check_matrix_non_finite():
    X = np.column_stack([np.ones(4), [1.0, np.inf, 2.0, 3.0]])
    with pytest.raises(MetaInputError, match=r"'x': non-finite value in row\(s\) 2"):
        check_model_matrix(X, ["intrcpt", "x"])


def test_too_many_coefficients():
    X = np.column_stack([np.ones(3), [1.0, 2.0, 4.0], [1.0, 0.0, 5.0]])
    with pytest.raises(MetaInputError, match="need more than 3 estimates"):
        check_model_matrix(X, ["intrcpt", "a", "b"])
