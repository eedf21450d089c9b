"""Virtual populations: seeded reproducibility, percentile sanity, chunking, documented spreads."""

import json
import math

import numpy as np
import pytest

from occupancy.calibration.sources import RABINER_2011
from occupancy.models import get_model
from occupancy.models.washout import CALIBRATION_FILE
from occupancy.simulation.population import (Variability, default_variability, derive_naloxone_variability,
                                  derive_naltrexone_variability, simulate_population)
from occupancy.dosing.schedule import Dose, Schedule

TIMES = np.array([1.0, 2.0, 24.0, 49.0, 120.0, 360.0])


def test_same_seed_same_result_and_different_seed_differs():
    model = get_model("naltrexone")
    a = simulate_population(model, Schedule.single(50), TIMES, n=500, seed=7)
    b = simulate_population(model, Schedule.single(50), TIMES, n=500, seed=7)
    c = simulate_population(model, Schedule.single(50), TIMES, n=500, seed=8)
    for s in ("p05", "p50", "p95", "mean", "prob_ge_90"):
        for r in ("MOR", "KOR", "DOR"):
            np.testing.assert_array_equal(getattr(a, s)[r], getattr(b, s)[r])
    assert not np.array_equal(a.p50["MOR"][3:], c.p50["MOR"][3:])


def test_chunking_does_not_change_results():
    model = get_model("naloxone")
    sched = Schedule((Dose(0.0, amount_mg_per_kg=0.01), Dose.from_rate(0.25, 60, rate_mg_per_kg_per_h=0.05)),
                     weight_kg=70)
    t = np.linspace(0, 12, 97)
    big = simulate_population(model, sched, t, n=300, seed=3)
    small = simulate_population(model, sched, t, n=300, seed=3, max_elements=1000)
    for s in ("p05", "p50", "p95", "mean", "prob_ge_90"):
        np.testing.assert_allclose(getattr(big, s)["MOR"], getattr(small, s)["MOR"], rtol=0, atol=1e-12)


def test_percentiles_ordered_and_bracket_typical_subject():
    model = get_model("naltrexone")
    sched = Schedule.daily([25, 25, 50, 50])
    pop = simulate_population(model, sched, TIMES + 72, n=4000, seed=1)
    typical = model.blockade(sched, TIMES + 72)
    for r in ("MOR", "KOR", "DOR"):
        assert np.all(pop.p05[r] <= pop.p50[r] + 1e-12) and np.all(pop.p50[r] <= pop.p95[r] + 1e-12)
        assert np.all((pop.prob_ge_90[r] >= 0) & (pop.prob_ge_90[r] <= 1))
    # The median subject is the model (log-normal scales with median 1); monotone transforms keep the median.
    np.testing.assert_allclose(pop.p50["MOR"], typical, atol=2.5)
    # P(MOR >= 90 %) agrees with the fraction implied by the percentiles.
    assert np.all((pop.p05["MOR"] >= 90) <= (pop.prob_ge_90["MOR"] >= 0.95 - 0.02))
    frame = pop.to_frame()
    assert list(frame.columns[:6]) == ["time_h", "MOR_p05", "MOR_p50", "MOR_p95", "MOR_mean", "MOR_prob_ge_90"]
    assert len(frame) == TIMES.size


def test_zero_variability_collapses_to_the_model():
    """washout's three-number Variability(0, 0, 0): every subject is the model."""
    model = get_model("naltrexone", "washout")
    pop = simulate_population(model, Schedule.single(50), TIMES, n=10, seed=1, variability=Variability(0, 0, 0))
    np.testing.assert_allclose(pop.p05["MOR"], model.blockade(Schedule.single(50), TIMES), atol=1e-12)
    np.testing.assert_allclose(pop.p95["MOR"], pop.p05["MOR"], atol=1e-12)


@pytest.mark.parametrize("drug", ["naltrexone", "naloxone"])
@pytest.mark.parametrize("hysteresis", ["effect_compartment", "binding_kinetics"])
def test_zero_variability_collapses_to_the_typical_pkpd_subject(drug, hysteresis):
    """pkpd: zero log-SDs for its named scales (cl, ka, affinity, ke0/koff) give the typical subject."""
    model = get_model(drug, "pkpd", hysteresis=hysteresis)
    sched = Schedule.single(50) if drug == "naltrexone" else Schedule((Dose(0.0, amount_mg_per_kg=0.01),),
                                                                      weight_kg=70)
    t = TIMES if drug == "naltrexone" else np.array([0.1, 0.5, 1.0, 2.0, 4.0, 8.0])
    zero = Variability({name: 0.0 for name in model.variability_scales})
    pop = simulate_population(model, sched, t, n=10, seed=1, variability=zero)
    typical = model.blockade_all(sched, t)
    for r in ("MOR", "KOR", "DOR"):
        for stat in ("p05", "p50", "p95", "mean"):
            np.testing.assert_allclose(getattr(pop, stat)[r], typical[r], rtol=1e-12, atol=1e-12)


def test_pkpd_percentiles_ordered_and_seeded_byte_identical():
    """pkpd populations: p05 <= p50 <= p95 < 100; the same seed gives byte-identical summaries."""
    for hyst in ("effect_compartment", "binding_kinetics"):
        model = get_model("naltrexone", "pkpd", hysteresis=hyst)
        sched = Schedule.daily([50.0] * 3)
        t = np.linspace(0, 120, 121)
        a = simulate_population(model, sched, t, n=300, seed=11, max_elements=5_000)
        b = simulate_population(model, sched, t, n=300, seed=11)
        for r in ("MOR", "KOR", "DOR"):
            assert np.all(a.p05[r] <= a.p50[r]) and np.all(a.p50[r] <= a.p95[r]) and np.all(a.p95[r] < 100)
        assert a.to_frame().to_csv().encode() == b.to_frame().to_csv().encode()


def test_documented_spreads_are_derived_from_the_data():
    """The old models' spreads (washout: Rabiner/Lee/tmax; bateman: NLX PET/Kim/serum half-life)."""
    ntx = default_variability("naltrexone", "washout")
    assert ntx.half_life_log_sd == pytest.approx(math.log(108 / 72) / 2.326)
    cv = [0.09 / 0.81, 0.25 / 1.09]
    assert ntx.absorption_log_sd == pytest.approx(math.sqrt(np.mean([math.log1p(c * c) for c in cv])))
    # ED50: the 5 mg Rabiner triplet inverted under the committed model reproduces the stored value.
    committed = json.loads(CALIBRATION_FILE.read_text())["variability"]
    assert ntx.ed50_log_sd == pytest.approx(committed["ed50_log_sd"])
    model = get_model("naltrexone", "washout")
    obs = [o for d, o in RABINER_2011 if d == 5.0]
    grid = np.linspace(1, 8, 2001)
    shape_mean = float(np.trapezoid(model.raw(Schedule.single(5), grid, ed50_scale=1e-12)[0], grid) / 7.0) / 100
    # Uncapped at 5 mg: mean blockade = 100*smax*shape*D/(D+E)  =>  E = D*(100*shape/obs - 1)
    individual = [5.0 * (100 * shape_mean / o - 1) for o in obs]
    assert ntx.ed50_log_sd == pytest.approx(np.std(np.log(individual), ddof=1), rel=1e-3)
    assert derive_naltrexone_variability(model)["ed50_log_sd"] == pytest.approx(ntx.ed50_log_sd, rel=1e-9)
    nlx = default_variability("naloxone", "bateman")
    assert nlx.half_life_log_sd == pytest.approx(math.sqrt(math.log1p(0.8**2)))
    assert nlx.absorption_log_sd == pytest.approx(math.sqrt(math.log1p((12 / 64) ** 2)))
    d = derive_naloxone_variability()
    assert d["derivation"]["ed50"]["df"] == 1 and 0.2 < nlx.ed50_log_sd < 1.5


@pytest.mark.parametrize("drug", ["naltrexone", "naloxone"])
@pytest.mark.parametrize("hysteresis", ["effect_compartment", "binding_kinetics"])
def test_pkpd_spreads_are_the_calibration_records(drug, hysteresis):
    """The pkpd default variability is the record's, for the model's own structure and named scales."""
    model = get_model(drug, "pkpd", hysteresis=hysteresis)
    v = default_variability(model)
    rec = model.record()  # the Bayesian structure's variability where calibrated (issue 19), else the legacy fit's
    stored = (rec.get("structures", {}).get(model.structure_name) or rec["variants"][hysteresis])["variability"]
    assert v.names == model.variability_scales
    assert v.names[-1] == ("ke0" if hysteresis == "effect_compartment" else "koff")
    assert ("ka" in v.names) == (drug == "naltrexone")  # IV naloxone has no absorption
    for name in v.names:
        assert getattr(v, f"{name}_log_sd") == pytest.approx(stored[f"{name}_log_sd"], rel=1e-12)
    # the clearance spread is derived from plasma data (record: variability.derivation), never zero
    assert v.cl_log_sd > 0.1


def test_population_spread_widens_during_washout():
    """washout: at 2 h after 50 mg everyone is saturated (the cap); at 49 h the spread comes from half-life
    and ED50."""
    model = get_model("naltrexone", "washout")
    pop = simulate_population(model, Schedule.single(50), [2.0, 49.0, 360.0], n=2000, seed=2)
    assert pop.p95["MOR"][0] - pop.p05["MOR"][0] < 1.0
    assert pop.p95["MOR"][1] - pop.p05["MOR"][1] > 5.0


def test_pkpd_population_spread_is_wide_where_blockade_is_partial():
    """pkpd (no cap): the 5-95 % spread is widest where the typical subject is half blocked and narrows as
    everyone washes out (15 d) — occupancy X/(1+X) is most sensitive to affinity near 50 %."""
    model = get_model("naltrexone")
    pop = simulate_population(model, Schedule.single(50), [2.0, 49.0, 144.0, 360.0, 1000.0], n=2000, seed=2)
    width = pop.p95["MOR"] - pop.p05["MOR"]
    assert np.all(width > 0)
    assert np.argmax(width) == 2  # 144 h: typical MOR ~40 %
    assert width[4] < width[3] < width[2]
    assert np.all(pop.p95["MOR"] < 100.0)  # no subject reaches the cap: there is none


def test_invalid_population_size():
    from occupancy.errors import InputError

    with pytest.raises(InputError):
        simulate_population(get_model("naltrexone"), Schedule.single(50), TIMES, n=1)


def test_summary_percentiles_equal_numpy():
    from occupancy.simulation.population import _summarise

    rng = np.random.default_rng(0)
    for n in (2, 3, 20, 1001):
        x = rng.random((n, 7)) * 100
        got = _summarise(x.copy())
        q = np.percentile(x, [5, 50, 95], axis=0)
        np.testing.assert_allclose(got["p05"], q[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["p50"], q[1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["p95"], q[2], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["prob_ge_90"], (x >= 90).mean(axis=0))


def test_sample_population_uses_the_same_subjects():
    from occupancy.simulation.population import sample_population

    model = get_model("naltrexone")
    sched = Schedule.single(50)
    values = sample_population(model, sched, TIMES, n=400, seed=9)
    pop = simulate_population(model, sched, TIMES, n=400, seed=9)
    assert values["MOR"].shape == (400, TIMES.size)
    np.testing.assert_allclose(np.percentile(values["MOR"], 95, axis=0), pop.p95["MOR"], atol=1e-12)
    np.testing.assert_allclose((values["KOR"] >= 90).mean(axis=0), pop.prob_ge_90["KOR"], atol=1e-12)
