"""Property tests of the time-course models (hypothesis): bounds, dose monotonicity, time-shift
invariance and superposition (adding a dose never lowers blockade)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from occupancy.models import RECEPTORS, get_model
from occupancy.dosing.schedule import Dose, Schedule

MODELS = [("naltrexone", "washout", {}), ("naltrexone", "washout", {"cap": False}),
          ("naloxone", "bateman", {}), ("naloxone", "bateman", {"cap": False})]

ntx_dose = st.builds(lambda t, a: Dose(t, amount_mg=a), st.floats(0, 400), st.floats(0.5, 200))
nlx_dose = st.builds(lambda t, a, d: Dose(t, amount_mg_per_kg=a, duration_min=d),
                     st.floats(0, 6), st.floats(1e-4, 1.0), st.sampled_from([0.0, 0.0, 5.0, 30.0, 120.0]))
model_index = st.integers(0, len(MODELS) - 1)


def schedule_for(drug, doses):
    return Schedule(tuple(doses), weight_kg=70.0)


def doses_for(drug):
    return st.lists(ntx_dose if drug == "naltrexone" else nlx_dose, min_size=1, max_size=5)


def times_for(drug):
    hi = 800.0 if drug == "naltrexone" else 30.0
    return st.lists(st.floats(-5.0, hi), min_size=1, max_size=20).map(np.array)


@st.composite
def case(draw):
    drug, name, params = MODELS[draw(model_index)]
    return get_model(drug, name, **params), drug, draw(doses_for(drug)), draw(times_for(drug))


@settings(max_examples=150, deadline=None)
@given(case())
def test_blockade_in_0_100(c):
    model, drug, doses, times = c
    for values in model.blockade_all(schedule_for(drug, doses), times).values():
        assert np.all(values >= 0.0)
        if model.cap:
            assert np.all(values <= 100.0)


@settings(max_examples=150, deadline=None)
@given(case(), st.floats(1.0, 10.0))
def test_monotone_in_dose(c, factor):
    model, drug, doses, times = c
    bigger = [Dose(d.time_h, amount_mg=None if d.amount_mg is None else d.amount_mg * factor,
                   amount_mg_per_kg=None if d.amount_mg_per_kg is None else d.amount_mg_per_kg * factor,
                   duration_min=d.duration_min) for d in doses]
    for r in RECEPTORS:
        low = model.blockade(schedule_for(drug, doses), times, r)
        high = model.blockade(schedule_for(drug, bigger), times, r)
        assert np.all(high >= low - 1e-9)


@settings(max_examples=150, deadline=None)
@given(case(), st.floats(-100.0, 1000.0))
def test_shifting_doses_and_times_changes_nothing(c, dt):
    model, drug, doses, times = c
    sched = schedule_for(drug, doses)
    base = model.blockade_all(sched, times)
    moved = model.blockade_all(sched.shifted(dt), times + dt)
    for r in RECEPTORS:
        np.testing.assert_allclose(moved[r], base[r], rtol=1e-7, atol=1e-7)


@settings(max_examples=150, deadline=None)
@given(case(), st.data())
def test_adding_a_dose_never_lowers_blockade(c, data):
    model, drug, doses, times = c
    extra = data.draw(ntx_dose if drug == "naltrexone" else nlx_dose)
    before = model.blockade_all(schedule_for(drug, doses), times)
    after = model.blockade_all(schedule_for(drug, doses + [extra]), times)
    for r in RECEPTORS:
        assert np.all(after[r] >= before[r] - 1e-9)


@settings(max_examples=100, deadline=None)
@given(doses_for("naltrexone"), times_for("naltrexone"))
def test_emax_bounded_or_nan_and_monotone_in_added_doses(doses, times):
    model = get_model("naltrexone", "emax")
    a = model.blockade(Schedule(tuple(doses)), times)
    finite = ~np.isnan(a)
    assert np.all((a[finite] >= 0) & (a[finite] < 100))
    b = model.blockade(Schedule(tuple(doses) + (Dose(0.0, 10.0),)), times)
    assert np.all(b[finite] >= a[finite] - 1e-12)


@settings(max_examples=60, deadline=None)
@given(case(), st.integers(2, 6))
def test_population_rows_equal_individual_calls(c, n):
    """Vectorised (n, 1) scales give exactly the per-subject results (no hidden coupling)."""
    model, drug, doses, times = c
    sched = schedule_for(drug, doses)
    rng = np.random.default_rng(n)
    scales = {k: np.exp(0.3 * rng.standard_normal((n, 1)))
              for k in ("ed50_scale", "half_life_scale", "absorption_scale")}
    batch = model.blockade(sched, times, "MOR", **scales)
    assert batch.shape == (n, times.size)
    for i in range(n):
        one = model.blockade(sched, times, "MOR", **{k: float(v[i, 0]) for k, v in scales.items()})
        np.testing.assert_allclose(batch[i], one, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(case(), st.floats(-50.0, 500.0), st.floats(5.0, 95.0))
def test_summaries_shift_with_the_schedule(c, dt, threshold):
    from occupancy.simulation.summaries import time_above, time_until_below

    model, drug, doses, _ = c
    sched = schedule_for(drug, doses)
    a = time_above(model, sched, threshold)
    b = time_above(model, sched.shifted(dt), threshold)
    assert abs(a.hours - b.hours) < 1e-5
    assert abs(time_until_below(model, sched, threshold) - time_until_below(model, sched.shifted(dt), threshold)) < 1e-5


def test_time_course_models_share_cap_and_clip_from_the_base_class():
    """washout and bateman only supply raw_all; the cap at 100 % and the clip at 0 come from TimeCourseModel."""
    from occupancy.models.base import TimeCourseModel

    cases = [("naltrexone", "washout", Schedule.single(50), np.linspace(0, 96, 400)),
             ("naloxone", "bateman", Schedule((Dose(0, amount_mg_per_kg=0.1),), weight_kg=70), np.linspace(0, 8, 400))]
    for drug, name, sched, t in cases:
        capped, uncapped = get_model(drug, name), get_model(drug, name, cap=False)
        assert isinstance(capped, TimeCourseModel) and "blockade_all" not in type(capped).__dict__
        raw = uncapped.raw_all(sched, t)
        assert raw["MOR"].max() > 110  # super-saturated, so the cap matters
        for r in RECEPTORS:
            np.testing.assert_allclose(capped.blockade(sched, t, r), np.clip(raw[r][0], 0, 100))
            np.testing.assert_allclose(uncapped.blockade(sched, t, r), np.maximum(raw[r][0], 0))
        scales = {"ed50_scale": np.array([[0.5], [2.0]])}
        assert capped.blockade(sched, t, "MOR", **scales).shape == (2, t.size)
