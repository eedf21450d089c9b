"""Quantity strings and schedules."""

import pytest

from occupancy.errors import InputError
from occupancy.dosing.quantities import format_time_h, parse_dose, parse_time_h, parse_times_h
from occupancy.dosing.schedule import Dose, Schedule


@pytest.mark.parametrize("text,hours", [("2h", 2.0), ("90min", 1.5), ("15d", 360.0), ("1w", 168.0),
                                        ("30s", 30 / 3600), ("0", 0.0), (" 2.5 h", 2.5), ("1e1min", 1 / 6)])
def test_parse_time(text, hours):
    assert parse_time_h(text) == pytest.approx(hours)


@pytest.mark.parametrize("text", ["2", "h", "2 lightyears", "abc", "", "nanh"])
def test_parse_time_errors(text):
    with pytest.raises(InputError):
        parse_time_h(text)


def test_parse_times_list():
    assert parse_times_h("2h,49h,15d") == [2.0, 49.0, 360.0]


def test_parse_doses():
    assert parse_dose("50mg@0h") == Dose(0.0, amount_mg=50.0)
    assert parse_dose("25mg@1d") == Dose(24.0, amount_mg=25.0)
    assert parse_dose("0.01mg/kg@0h") == Dose(0.0, amount_mg_per_kg=0.01)
    assert parse_dose("400ug@10min").amount_mg == pytest.approx(0.4)
    assert parse_dose("400µg@0h").amount_mg == pytest.approx(0.4)
    d = parse_dose("0.1mg/kg/h@0h+60min")
    assert d.amount_mg_per_kg == pytest.approx(0.1) and d.duration_min == 60.0
    d = parse_dose("0.002mg/min@1h+2h")
    assert d.amount_mg == pytest.approx(0.24) and d.duration_min == 120.0 and d.time_h == 1.0
    d = parse_dose("0.4mg@0h+30min")
    assert d.amount_mg == pytest.approx(0.4) and d.is_infusion and d.end_h == pytest.approx(0.5)


@pytest.mark.parametrize("text", ["-5mg@0h", "0mg@0h", "fivemg@0h", "50mg", "50kg@0h", "50mg@2", "0.1mg/kg/h@0h",
                                  "50mg@0h+0min", "50mg/kg/kg@0h", "50mg@xh"])
def test_parse_dose_errors(text):
    with pytest.raises(InputError):
        parse_dose(text)


def test_schedule_basics():
    s = Schedule.daily([25, 25, 50, 50])
    assert [d.time_h for d in s.doses] == [0, 24, 48, 72]
    assert s.first_dose_h == 0 and s.last_dose_h == 72 and s.total_mg() == 150
    moved = s.shifted(12.0)
    assert moved.first_dose_h == 12 and moved.last_dose_h == 84 and moved.total_mg() == 150
    unsorted = Schedule((Dose(5.0, 10.0), Dose(1.0, 20.0)))
    assert [d.time_h for d in unsorted.doses] == [1.0, 5.0]
    kg = Schedule((Dose(0, amount_mg_per_kg=0.01),), weight_kg=80)
    assert kg.total_mg() == pytest.approx(0.8)
    with pytest.raises(InputError):
        Schedule((Dose(0, amount_mg_per_kg=0.01),)).total_mg()
    with pytest.raises(InputError):
        Schedule(())
    with pytest.raises(InputError):
        Dose(0.0, amount_mg=-1.0)
    with pytest.raises(InputError):
        Dose(0.0, amount_mg=1.0, amount_mg_per_kg=1.0)
    assert Dose.from_rate(0.0, 30.0, rate_mg_per_h=2.0).amount_mg == pytest.approx(1.0)


def test_format_time():
    assert format_time_h(0.5) == "30min" and format_time_h(360) == "15d" and format_time_h(2) == "2h"


def test_model_registry_errors():
    from occupancy.models import get_model

    for args, kwargs in [(("aspirin",), {}), (("naltrexone", "bateman"), {}), (("naloxone", "washout"), {}),
                         (("naltrexone", "washout"), {"tmax_min": 3}), (("naltrexone", "washout"), {"half_life_h": -1}),
                         (("naloxone",), {"tmax_min": 500}), (("naltrexone", "emax"), {"ed50_mg": 0}),
                         (("naltrexone",), {"half_life_h": "long"})]:
        with pytest.raises(InputError):
            get_model(*args, **kwargs)
    with pytest.raises(InputError, match="unknown receptor"):
        get_model("naltrexone").blockade(Schedule.single(50), [1.0], "NOP")
