"""Summaries against independent root finding (scipy.optimize.brentq)."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from occupancy.models import get_model
from occupancy.dosing.schedule import Dose, Schedule
from occupancy.simulation.summaries import blockade_at, residual_blockade, time_above, time_until_below


def _peak_time(model, sched, end_h):
    """Time of the maximum MOR blockade on a fine grid (the bracket between the up- and down-crossing)."""
    grid = np.linspace(0.0, end_h, 20001)
    return float(grid[int(np.argmax(model.blockade(sched, grid)))])


@pytest.mark.parametrize("name", ["washout", "pkpd"])
def test_time_above_90_single_dose_matches_brentq(name):
    model = get_model("naltrexone", name)
    sched = Schedule.single(50)
    f = lambda t: float(model.blockade(sched, [t])[0]) - 90.0
    peak = _peak_time(model, sched, 100.0)
    assert f(peak) > 0
    up = brentq(f, 1e-6, peak)
    down = brentq(f, peak, 400.0)
    ta = time_above(model, sched, 90.0)
    assert ta.hours == pytest.approx(down - up, abs=1e-6)
    assert len(ta.intervals) == 1


def test_time_until_below_after_last_dose_matches_brentq():
    model = get_model("naltrexone")
    sched = Schedule.daily([25, 25, 50, 50])
    f = lambda t: float(model.blockade(sched, [t])[0]) - 10.0
    t10 = brentq(f, 80.0, 3000.0)
    assert time_until_below(model, sched, 10.0) == pytest.approx(t10 - 72.0, abs=1e-6)
    # Never above a threshold: 0; never below within the horizon: inf is impossible for a decaying model.
    assert time_until_below(model, Schedule.single(0.01), 50.0) == 0.0


@pytest.mark.parametrize("name, dose", [("bateman", 0.01), ("pkpd", 0.03)])
def test_naloxone_time_above_and_residual(name, dose):
    model = get_model("naloxone", name, **({"cap": False} if name == "bateman" else {}))
    sched = Schedule((Dose(0.0, amount_mg_per_kg=dose),), weight_kg=70)
    f = lambda t: float(model.blockade(sched, [t])[0]) - 90.0
    peak = _peak_time(model, sched, 5.0)
    if name == "bateman":
        assert peak == pytest.approx(25 / 60, abs=1e-3)  # planoxone's tmax
    assert time_above(model, sched, 90.0).hours == pytest.approx(brentq(f, peak, 5) - brentq(f, 1e-6, peak), abs=1e-6)
    res = residual_blockade(model, sched, 2.0)
    assert res["MOR"] == pytest.approx(float(model.blockade(sched, [2.0])[0]))
    assert set(res) == {"MOR", "KOR", "DOR"}
    values = blockade_at(model, sched, [0.5, 1.0])
    assert values["MOR"].shape == (2,)


def test_time_above_window_and_emax_nan():
    model = get_model("naltrexone", "emax")
    sched = Schedule.single(100)  # 94.7 % for 8 h, NaN afterwards
    ta = time_above(model, sched, 90.0)
    assert ta.hours == pytest.approx(8.0, abs=1e-6)
    part = time_above(get_model("naltrexone"), Schedule.single(50), 90.0, start_h=10, end_h=20)
    assert part.hours == pytest.approx(10.0)
