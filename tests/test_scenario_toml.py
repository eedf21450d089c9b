"""Scenario → TOML (occupancy.simulation.scenario_toml): every bundled scenario and generated ones round-trip
exactly (equal scenario, same keys given, same results), and ``blockade run`` reproduces the numbers."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from occupancy.bundled import examples_dir
from occupancy.cli import main
from occupancy.simulation.scenario import read_scenario_toml, scenario_from_dict
from occupancy.simulation.scenario_toml import scenario_to_dict, scenario_to_toml, toml_dumps
from occupancy.simulation.simulate import simulate
from occupancy.workflows.run import validate_scenario

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted(p.name for p in examples_dir().glob("*.toml"))


def _fields_set(model) -> dict:
    """The keys given at every level (pydantic's ``model_fields_set``, recursively)."""
    out = {"": sorted(model.model_fields_set)}
    for name in model.model_fields_set:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if hasattr(item, "model_fields_set"):
                out.update({f"{name}[{i}].{k}": v for k, v in _fields_set(item).items()})
    return out


def _round_trip(scenario, task: str):
    text = scenario_to_toml(scenario, comment="saved by a test\n\nsecond line")
    data, _ = read_scenario_toml(text=text, source="saved.toml")
    task_again, again = validate_scenario(data, "saved.toml")
    assert task_again == task
    assert again == scenario
    assert _fields_set(again) == _fields_set(scenario)
    return text, again


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenarios_round_trip(name):
    data, _ = read_scenario_toml(examples_dir() / name)
    task, scenario = validate_scenario(data, name)
    text, _ = _round_trip(scenario, task)
    assert text.startswith("# saved by a test\n#\n# second line\n")
    assert f'task = "{task}"' in text


def test_round_trip_gives_the_same_simulation():
    data, _ = read_scenario_toml(examples_dir() / "naloxone_bolus_infusion.toml")
    _, scenario = validate_scenario(data, "x")
    _, again = _round_trip(scenario, "simulate")
    assert simulate(again).assessments == simulate(scenario).assessments


def test_blockade_run_and_simulate_reproduce_a_saved_scenario(tmp_path):
    scenario = scenario_from_dict({"drug": {"name": "naltrexone"}, "model": {"name": "washout", "half_life_h": 91.3},
                                   "doses": [{"time_h": 0.0, "amount_mg": 37.5}, {"time_h": 24.0, "amount_mg": 12.5}],
                                   "assessments": [{"label": 'task "A" \u2014 night', "time_h": 26.25, "end_h": 27.5}],
                                   "population": {"n": 200, "seed": 7}})
    path = tmp_path / "saved.toml"
    path.write_text(scenario_to_toml(scenario), encoding="utf-8")
    expected = simulate(scenario).assessments[0]
    runner = CliRunner()
    out = runner.invoke(main, ["simulate", str(path), "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)["assessments"][0]
    assert got["label"] == 'task "A" \u2014 night'
    assert got["MOR"] == expected["MOR"] and got["MOR_p95"] == expected["MOR_p95"]
    ran = runner.invoke(main, ["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert ran.exit_code == 0, ran.output
    written = json.loads((tmp_path / "out" / "simulation.json").read_text())
    assert written["assessments"][0]["MOR"] == expected["MOR"]


def test_unset_defaults_stay_unset():
    scenario = scenario_from_dict({"drug": {"name": "naltrexone"}, "doses": [{"time_h": 0, "amount_mg": 50}]})
    assert scenario_to_dict(scenario) == {"task": "simulate", "drug": {"name": "naltrexone"},
                                          "doses": [{"time_h": 0.0, "amount_mg": 50.0}]}


_finite = st.floats(allow_nan=False, allow_infinity=False)
_text = st.text(st.characters(codec="utf-8"), max_size=30)
_keys = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
_scalars = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), _finite, _text)
_arrays = st.lists(_finite, max_size=4) | st.lists(_text, max_size=4)
_tables = st.recursive(
    st.dictionaries(_keys, st.one_of(_scalars, _arrays), max_size=4),
    lambda inner: st.dictionaries(_keys, st.one_of(_scalars, _arrays, inner, st.lists(inner, min_size=1, max_size=3)),
                                  max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(_tables)
def test_toml_writer_round_trips_through_tomllib(data):
    assert tomllib.loads(toml_dumps(data)) == data


def test_toml_writer_floats_are_exact_and_typed():
    values = [0.1, 1e-5, 1e16, -2.5e-300, 5e-324, 123456789.123456789, 50.0]
    back = tomllib.loads(toml_dumps({"x": values}))["x"]
    assert back == values and all(isinstance(v, float) for v in back)
    assert math.isinf(tomllib.loads(toml_dumps({"x": float("inf")}))["x"])
    with pytest.raises(TypeError, match="x: cannot write"):
        toml_dumps({"x": object()})
