"""Scenario files: the shipped examples load and simulate; every invalid field is one precise line."""

from pathlib import Path

import numpy as np
import pytest

from occupancy.errors import InputError
from occupancy.simulation.scenario import load_scenario
from occupancy.simulation.simulate import Assessment, simulate

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["single_dose_50mg.toml", "inagaki_titration_crossover_10d.toml", "crossover_7d.toml",
           "naloxone_bolus_infusion.toml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_simulate(name):
    sc = load_scenario(ROOT / "scenarios" / name)
    result = simulate(sc)
    assert len(result.assessments) == len(sc.assessments) >= 2
    for a in result.assessments:
        for key in ("MOR", "KOR", "DOR", "MOR_p05", "MOR_p50", "MOR_p95", "MOR_prob_ge_90"):
            assert 0.0 <= a[key] <= 100.0 or key.endswith("prob_ge_90") and 0 <= a[key] <= 1
    assert set(result.timecourse.columns) >= {"time_h", "MOR", "KOR", "DOR", "MOR_p05", "MOR_p95"}


def test_inagaki_titration_schedule_and_residual():
    sc = load_scenario(ROOT / "scenarios" / "inagaki_titration_crossover_10d.toml")
    sched = sc.schedule()
    assert [d.amount_mg for d in sched.doses] == [25, 25, 50, 50]
    result = simulate(sc)
    placebo = result.assessments[1]
    assert placebo["time_h"] == pytest.approx(74 + 240)
    assert result.summaries["residual"]["MOR"] == pytest.approx(placebo["MOR"])
    model = sc.build_model()
    assert placebo["MOR"] == pytest.approx(float(model.blockade(sched, [314.0])[0]))


def test_naloxone_infusion_rate_converted_to_total():
    sc = load_scenario(ROOT / "scenarios" / "naloxone_bolus_infusion.toml")
    infusion = sc.schedule().doses[1]
    assert infusion.amount_mg_per_kg == pytest.approx(0.1) and infusion.duration_min == 60.0


def write(tmp_path, text, name="scenario.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """
[drug]
name = "naltrexone"
[model]
name = "washout"
[[doses]]
time_h = 0.0
amount_mg = 50.0
[[assessments]]
label = "task"
time_h = 2.0
"""


def test_minimum_scenario_and_overrides(tmp_path):
    sc = load_scenario(write(tmp_path, GOOD + "[population]\nn = 50\nseed = 3\n"))
    assert sc.population.n == 50 and sc.task == "simulate"
    sc = load_scenario(write(tmp_path, GOOD.replace('name = "washout"', 'name = "washout"\nhalf_life_h = 108')))
    assert sc.build_model().half_life_h == 108.0


BAD = [
    (GOOD.replace("amount_mg = 50.0", "amount_mg = -5"), "scenario.toml: doses[0].amount_mg: must be > 0 (got -5)"),
    (GOOD.replace("amount_mg = 50.0", 'amount_mg = "fifty"'), "scenario.toml: doses[0].amount_mg: must be a number"),
    (GOOD.replace("time_h = 2.0", "time_h = -1.0"), "scenario.toml: assessments[0].time_h: before the first dose"),
    (GOOD.replace('"naltrexone"', '"aspirin"'), "scenario.toml: drug.name: unknown drug 'aspirin'"),
    (GOOD.replace('"washout"', '"bateman"'), "scenario.toml: model.name: unknown model 'bateman' for naltrexone"),
    (GOOD + "[population]\nn = 10\nsede = 1\n", "scenario.toml: population.sede: unknown key"),
    (GOOD.replace("[model]", "[model]\ntmax_min = 3"), "scenario.toml: model.tmax_min: not a parameter of the washout"),
    (GOOD + "[[doses]]\ntime_h = 1\n", "scenario.toml: doses[1]: give exactly one of"),
    (GOOD.replace("[drug]", "colour = 1\n[drug]"), "scenario.toml: colour: unknown key"),
    (GOOD.replace("amount_mg = 50.0", "amount_mg_per_kg = 0.5"), "scenario.toml: doses[0].amount_mg_per_kg: a per-kg"),
    ("[drug\nname=", "scenario.toml: malformed TOML"),
    (GOOD.replace("[drug]\nname", "[drug]\nnom"), "scenario.toml: drug.nom: unknown key"),  # the misspelling first
    (GOOD.replace('"naltrexone"', '"naloxone"').replace('"washout"', '"bateman"'),
     "scenario.toml: doses[0].amount_mg: naloxone doses in mg need [subject] weight_kg"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_scenarios_one_line(tmp_path, text, message):
    with pytest.raises(InputError) as info:
        load_scenario(write(tmp_path, text))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(message), msg


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_simulate_with_parts_and_population():
    from occupancy.models import get_model
    from occupancy.dosing.schedule import Schedule

    model = get_model("naltrexone")
    r = simulate(model, Schedule.single(50), [("task", 2.0), Assessment("day 2", 49.0), 360.0], n=200, seed=5)
    assert [a["label"] for a in r.assessments] == ["task", "day 2", "360 h"]
    assert r.assessments[1]["MOR_p05"] <= r.assessments[1]["MOR_p50"] <= r.assessments[1]["MOR_p95"]
    d = r.to_dict()
    assert d["model"]["name"] == model.name == "pkpd" and d["population"]["n"] == 200
    assert d["model"]["parameters"]["hysteresis"] == model.hysteresis
    assert "time_ge_90_MOR_h" in d["summaries"] and np.isfinite(d["summaries"]["time_until_below_h"])
    assert "MOR" in r.summary()
    with pytest.raises(InputError, match="before the first dose"):
        simulate(model, Schedule.single(50, time_h=5.0), [1.0])


def test_window_assessments_match_planoxone_style_means(tmp_path):
    """A window reports the mean over [time_h, end_h], like planoxone's outcome rows (mean of a
    10-per-minute sampled curve)."""
    from occupancy.models import get_model
    from occupancy.simulation.population import Variability, simulate_population
    from occupancy.dosing.schedule import Dose, Schedule

    model = get_model("naloxone")
    sched = Schedule((Dose(0.0, amount_mg_per_kg=0.01), Dose.from_rate(0.25, 30, rate_mg_per_kg_per_h=0.02)),
                     weight_kg=70)
    sampled = np.arange(100, 701) / 10 / 60  # 10 to 70 min, 10 points per minute
    r = simulate(model, sched, [("session", 10 / 60, 70 / 60), ("point", 0.5)], n=300, seed=2)
    curve = model.blockade(sched, sampled)
    assert r.assessments[0]["MOR"] == pytest.approx(curve.mean(), abs=0.05)  # planoxone's mean of samples
    assert r.assessments[0]["MOR"] == pytest.approx(np.trapezoid(curve, sampled) / 1.0, abs=1e-3)  # integral
    assert r.assessments[0]["end_h"] == pytest.approx(70 / 60) and "end_h" not in r.assessments[1]
    # Point assessments in a windowed run agree with the plain population summary (same draws).
    pop = simulate_population(model, sched, [0.5], n=300, seed=2)
    assert r.assessments[1]["MOR_p50"] == pytest.approx(pop.p50["MOR"][0])
    assert r.assessments[1]["MOR_prob_ge_90"] == pytest.approx(pop.prob_ge_90["MOR"][0])
    # No variability: every subject's window mean is the model's.
    zero = Variability({name: 0.0 for name in model.variability_scales})
    flat = simulate(model, sched, [("session", 10 / 60, 70 / 60)], n=5, variability=zero)
    assert flat.assessments[0]["MOR_p05"] == pytest.approx(flat.assessments[0]["MOR"], abs=1e-9)
    text = GOOD.replace("time_h = 2.0", "time_h = 2.0\nend_h = 1.0")
    with pytest.raises(InputError, match=r"assessments\[0\]: end_h must be after time_h"):
        load_scenario(write(tmp_path, text))
