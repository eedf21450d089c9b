"""Physical ranges of the pkpd parameters (one table, occupancy.models.pkpd_base.PARAMETER_RANGES) and the bounded
search horizon: review 11 found that tiny overrides ran for > 10 min (koff 1e-6), crashed (koff 1e-300), or gave
NaN or exactly 100 % (k_mor, t_half_alpha, clearances at 1e-300)."""

import json
import math
import resource
import time
from pathlib import Path

import numpy as np
import pytest

from occupancy.calibration.pkpd.problems import NLX_K, NLX_KINETIC, NTX_FITTED, NTX_KINETIC, NTX_PROFILE_GRIDS
from occupancy.dosing.schedule import Dose, Schedule
from occupancy.errors import InputError
from occupancy.models import get_model
from occupancy.models.pkpd_base import PARAMETER_RANGES
from occupancy.simulation.scenario import ModelSection, field_range
from occupancy.simulation.summaries import MAX_SEARCH_H, time_until_below

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "occupancy" / "data"


def _inside(name, value):
    lo, hi = PARAMETER_RANGES[name]
    return lo <= value <= hi


def test_every_pkpd_field_of_both_models_has_a_range_and_the_scenario_uses_it():
    from dataclasses import fields

    from occupancy.models.pkpd_naloxone import NaloxonePKPD
    from occupancy.models.pkpd_naltrexone import NaltrexonePKPD

    names = {f.name for cls in (NaltrexonePKPD, NaloxonePKPD) for f in fields(cls)}
    names -= {"hysteresis", "structure", "weight_kg", "kor_ratio", "dor_ratio"}  # text; weight; by order
    assert names == set(PARAMETER_RANGES)
    for name, (lo, hi) in PARAMETER_RANGES.items():
        meta = {k: getattr(m, k) for m in ModelSection.model_fields[name].metadata for k in ("ge", "le")
                if getattr(m, k, None) is not None}
        assert (0 < lo or name == "intermediate_auc_fraction") and lo < hi and meta == {"ge": lo, "le": hi} and field_range(ModelSection, name).startswith("[")


@pytest.mark.parametrize("drug", ["naltrexone", "naloxone"])
def test_calibration_values_bounds_and_profiles_lie_inside_the_ranges(drug):
    """Fitted values, optimizer bounds, bootstrap replicates and profile points: refits and profiles still run."""
    rec = json.loads((DATA / f"pkpd_{drug}_calibration.json").read_text())
    outside = []

    def check(where, name, value):
        if name in PARAMETER_RANGES and isinstance(value, (int, float)) and not _inside(name, value):
            outside.append(f"{where}: {name} = {value}")

    for hyst, var in rec["variants"].items():
        for k, v in var["parameters"].items():
            check(f"{hyst} fit", k, v)
        for k, (lo, hi) in var["optimizer"]["bounds"].items():
            check(f"{hyst} optimizer lower", k, lo)
            check(f"{hyst} optimizer upper", k, hi)
        for p, prof in var.get("profiles", {}).items():
            for row in prof["rows"]:
                check(f"{hyst} profile", p, row["value"])
                for k, v in row.get("others", {}).items():
                    check(f"{hyst} profile {p}", k, v)
    for r in rec.get("uncertainty", {}).get("replicates", []):
        for k, v in r["values"].items():
            check("bootstrap", k, v)
    assert outside == []


def test_the_calibration_code_bounds_lie_inside_the_ranges():
    params = [*NTX_FITTED, *NTX_KINETIC.values(), NLX_K, *NLX_KINETIC.values()]
    for p in params:
        assert _inside(p.name, p.lower) and _inside(p.name, p.upper), p
    for name, (kind, values) in NTX_PROFILE_GRIDS.items():
        if kind == "absolute":
            assert all(_inside(name, v) for v in values), name


@pytest.mark.parametrize("drug,hyst,name,value", [
    ("naltrexone", "binding_kinetics", "koff_per_h", 1e-9),
    ("naltrexone", "binding_kinetics", "koff_per_h", 1e-300),
    ("naltrexone", "effect_compartment", "k_mor_ng_ml", 1e-310),
    ("naltrexone", "effect_compartment", "t_half_alpha_h", 1e-300),
    ("naltrexone", "effect_compartment", "cl_l_per_h", 1e-300),
    ("naltrexone", "effect_compartment", "v_nol_l", 1e-300),
    ("naltrexone", "effect_compartment", "ka_per_h", 1e6),
    ("naloxone", "effect_compartment", "v1_l", 1e-300),
    ("naloxone", "binding_kinetics", "koff_per_h", 1e-6),
])
def test_python_api_rejects_values_outside_the_range_in_one_line(drug, hyst, name, value):
    with pytest.raises(InputError) as err:
        get_model(drug, "pkpd", hysteresis=hyst, **{name: value})
    msg = str(err.value)
    lo, hi = PARAMETER_RANGES[name]
    assert msg.startswith(f"model.{name}: must be in [{lo:g}, {hi:g}]") and "\n" not in msg


@pytest.mark.parametrize("drug", ["naltrexone", "naloxone"])
def test_every_range_end_gives_finite_blockade_below_100(drug):
    """Each parameter at each end of its range (the others fitted): finite concentrations, 0 <= blockade < 100."""
    base = get_model(drug, "pkpd")
    sched = Schedule.single(50.0) if drug == "naltrexone" else Schedule((Dose(0.0, amount_mg=2.0),))
    t = np.array([0.0, 0.1, 1.0, 24.0, 200.0])
    for name, (lo, hi) in PARAMETER_RANGES.items():
        if not hasattr(base, name) or name == base.unused_parameter:
            continue
        for v in (lo, hi):
            if name == "t_half_beta_h" and v <= base.t_half_alpha_h:
                continue
            if name == "t_half_alpha_h" and v >= base.t_half_beta_h:
                continue
            if name == "intermediate_auc_fraction" and v + base.terminal_auc_fraction >= 1:
                continue
            if name == "terminal_auc_fraction" and v + getattr(base, "intermediate_auc_fraction", 0.0) >= 1:
                continue
            m = base.with_(**{name: v})
            b = m.blockade_all(sched, t)
            c = m.concentrations(sched, t)
            for arr in (*b.values(), *c.values()):
                assert np.all(np.isfinite(arr)), (name, v)
            assert all(np.all((x >= 0) & (x < 100)) for x in b.values()), (name, v)


def test_slowest_off_rate_finishes_in_seconds_with_bounded_memory():
    """koff at its lower bound (a 290-day half-time): the searches stop one year after the last dose."""
    from occupancy.simulation.simulate import simulate

    lo = PARAMETER_RANGES["koff_per_h"][0]
    model = get_model("naltrexone", "pkpd", hysteresis="binding_kinetics", koff_per_h=lo)
    sched = Schedule.single(50.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    res = simulate(model, sched, [2.0])
    elapsed = time.perf_counter() - start
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert elapsed < 60 and grown_mb < 500
    assert res.timecourse_arrays["time_h"][-1] <= sched.last_dose_end_h + MAX_SEARCH_H
    t = res.summaries["time_until_below_h"]
    # 0 when the blockade never reaches the threshold (with koff this slow, binding is slow too: kon = koff/K)
    assert math.isinf(t) or 0 <= t <= MAX_SEARCH_H


def test_blockade_still_high_after_a_year_is_reported_as_not_falling_below():
    model = get_model("naltrexone", "pkpd", hysteresis="binding_kinetics",
                      koff_per_h=PARAMETER_RANGES["koff_per_h"][0])
    assert math.isinf(time_until_below(model, Schedule.single(50.0), 50.0)) is False  # falls below 50 % in a year
    assert math.isinf(time_until_below(model, Schedule.single(50.0), 0.01))  # not below 0.01 % within the year


def test_receptor_order_message_names_the_ratio_that_was_changed():
    with pytest.raises(InputError, match=r"^model\.dor_ratio: must be >= kor_ratio = 2 \(got 1\.5\)"):
        get_model("naltrexone", "pkpd", dor_ratio=1.5)
    with pytest.raises(InputError, match=r"^model\.kor_ratio: must be <= dor_ratio = 41 \(got 50\)"):
        get_model("naloxone", "pkpd", kor_ratio=50.0)
    with pytest.raises(InputError, match=r"^model\.kor_ratio: must be >= 1 \(got 0\.5\)"):
        get_model("naloxone", "pkpd", kor_ratio=0.5)
    with pytest.raises(InputError, match=r"^model\.dor_ratio: must be >= kor_ratio = 10 \(got 5\)"):
        get_model("naltrexone", "pkpd", kor_ratio=10.0, dor_ratio=5.0)


def test_half_life_order_message_names_the_half_life_that_was_changed():
    with pytest.raises(InputError, match=r"^model\.t_half_alpha_h: must be shorter than t_half_beta_h = "):
        get_model("naltrexone", "pkpd", t_half_alpha_h=99.0)
    with pytest.raises(InputError, match=r"^model\.t_half_beta_h: must be longer than t_half_alpha_h"):
        get_model("naltrexone", "pkpd", t_half_beta_h=1.0)
