"""The published dose → blockade curves (occupancy.models.dose_response), shared by the CLI and the web app."""

import pytest

from occupancy.errors import InputError
from occupancy.models.dose_response import dose_curve


def test_naltrexone_curve_is_plantrexones_hyperbola():
    curve = dose_curve("naltrexone", points=5)
    assert curve.column == "dose_mg" and list(curve.curves) == ["MOR", "KOR", "DOR"]
    for d, mor, kor in zip(curve.doses, curve.curves["MOR"], curve.curves["KOR"]):
        assert mor == pytest.approx(100 * d / (d + 5.592841), rel=1e-6)
        assert kor == pytest.approx(100 * d / (d + 2 * 5.592841), rel=1e-6)
    assert curve.at(50.0) == pytest.approx(100 * 50 / (50 + 5.592841), rel=1e-6)
    assert curve.to_csv().splitlines()[0] == "dose_mg,MOR,KOR,DOR"


def test_naloxone_curve_uses_planoxones_ed50_whatever_the_default_model():
    curve = dose_curve("naloxone", ["mor"], points=3)
    assert curve.unit == "mg/kg" and curve.column == "dose_mg_per_kg"
    assert curve.at(0.002290531) == pytest.approx(50.0, abs=1e-3)


@pytest.mark.parametrize("kwargs, match", [({"min_dose": 10, "max_dose": 1}, "need 0 < min < max"),
                                           ({"points": 1}, "points"), ({"receptors": ["NOP"]}, "unknown receptor")])
def test_bad_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        dose_curve("naltrexone", **kwargs)
