"""The ``pkpd`` models against their calibration records, the PK/occupancy targets, weight scaling, the
population, the artefacts of planoxone's ``bateman`` they do not have, and how results are presented.

What the fit achieves is read from the committed records ``occupancy/data/pkpd_<drug>_calibration.json``:
every residual is recomputed from the model and must match the record (1e-6), and a target is asserted only
as far as the record says it is met (``|z| <= 1``: within one measurement SD, or inside the inequality).  The
default naltrexone fit (effect compartment) does *not* reach >= 90 % MOR at 2 h and 49 h after 50 mg (85.2 %
and 86.4 %; met within sigma_PET = 6.93 pp), its plasma tmax is 0.794 h (0.8-1.1 h: met within 0.03 SD) and
its fast half-life 2.88 h (3-4 h: met within 0.1 SD); these are asserted as the record states them.
"""

import json
import math

import numpy as np
import pytest

from occupancy.calibration import pkpd_targets as T
from occupancy.dosing.schedule import Dose, Schedule
from occupancy.models import get_model
from occupancy.models.pkpd_base import HYSTERESIS
from occupancy.models.pkpd_naloxone import DOWLING, dowling_pairings

RECEPTORS = ("MOR", "KOR", "DOR")
VARIANTS = HYSTERESIS


def record(drug):
    return get_model(drug).record()


def variant_rows(drug, hyst):
    return {r["target"]: r for r in record(drug)["variants"][hyst]["residuals"]}


def legacy_model(drug, hyst):
    """The least-squares fit of a variant (the record's ``variants``, kept for comparison; issue 19 moved the
    defaults to the Bayesian ``structures``)."""
    return get_model(drug, "pkpd", hysteresis=hyst, **record(drug)["variants"][hyst]["parameters"])


# ----------------------------------------------------------------------------------------- records
#: The legacy least-squares records were computed by the binding integrator with the requested times as
#: integration nodes; it now reaches them by exact partial steps from dose-only nodes (values independent of the
#: other times asked for).  Both are within the integrator's documented accuracy against solve_ivp (< 0.005 pp),
#: so binding-kinetics predictions are compared at that accuracy, closed forms at 1e-6.
BINDING_TOL = {"rel": 1e-4, "abs": 5e-3}


def _tol(hyst, rel, abs_):
    return BINDING_TOL if hyst == "binding_kinetics" else {"rel": rel, "abs": abs_}


@pytest.mark.parametrize("hyst", VARIANTS)
def test_naltrexone_residuals_match_the_record(hyst):
    model = legacy_model("naltrexone", hyst)
    q = T.naltrexone_quantities(model)
    rows = variant_rows("naltrexone", hyst)
    targets = T.naltrexone_targets()
    assert [t.id for t in targets] == list(rows)
    for t in targets:
        row = rows[t.id]
        assert q[t.quantity] == pytest.approx(row["predicted"], **_tol(hyst, 1e-6, 1e-9)), t.id
        assert t.z(q[t.quantity]) == pytest.approx(row["z"], **_tol(hyst, 1e-6, 1e-6)), t.id
        assert row["met"] == (abs(row["z"]) <= 1.0 + 1e-12), t.id
        assert row["observed"] == t.observed


@pytest.mark.parametrize("hyst", VARIANTS)
def test_naloxone_residuals_match_the_record(hyst):
    model = legacy_model("naloxone", hyst)
    q = T.naloxone_quantities(model)
    rows = variant_rows("naloxone", hyst)
    targets = T.naloxone_targets()
    assert [t.id for t in targets] == list(rows)
    for t in targets:
        assert q[t.quantity] == pytest.approx(rows[t.id]["predicted"], **_tol(hyst, 1e-6, 1e-9)), t.id
        assert t.z(q[t.quantity]) == pytest.approx(rows[t.id]["z"], **_tol(hyst, 1e-6, 1e-6)), t.id


@pytest.mark.parametrize("drug", ["naltrexone", "naloxone"])
def test_default_structure_is_the_records_and_loads_its_parameters(drug):
    """The legacy least-squares choice (lower sum of z^2) is kept in the record; the models' default is the
    Bayesian calibration's ``default_structure`` and each structure loads its posterior medians."""
    rec = record(drug)
    sums = {h: v["sum_z2"] for h, v in rec["variants"].items()}
    assert min(sums, key=sums.get) == "effect_compartment"
    model = get_model(drug)
    assert model.name == "pkpd" and model.structure_name == rec["default_structure"]
    for name, v in rec["structures"].items():
        m = get_model(drug, "pkpd", **({"structure": name} if drug == "naltrexone" else {"hysteresis": name}))
        for k, x in v["parameters"].items():
            assert getattr(m, k) == pytest.approx(x, rel=1e-12), (name, k)


# ----------------------------------------------------------------------------------------- PK targets
def _dense(model, dose, end=48.0):
    t = np.linspace(0.0, end, 96001)
    return t, model.concentrations(Schedule.single(dose), t)


def test_naltrexone_plasma_pk_after_50_mg():
    """Cmax 13-17 ng/mL, tmax 0.8-1.1 h (met within one SD: 0.794 h), AUC0-24 ~ 65 ng.h/mL, t1/2 3-4 h (met:
    2.88 h), 6b-naltrexol Cmax ~ 108 ng/mL, t1/2 8-13 h (met: 13.0 h) — measured on the concentrations
    (the legacy least-squares effect-compartment fit)."""
    model = legacy_model("naltrexone", "effect_compartment")
    rows = variant_rows("naltrexone", model.hysteresis)
    assert all(rows[k]["met"] for k in ("ntx_cmax", "ntx_tmax", "ntx_auc", "ntx_thalf", "nol_cmax", "nol_thalf"))
    t, c = _dense(model, 50.0)
    ntx, nol = c["C_naltrexone_ng_ml"], c["C_6b_naltrexol_ng_ml"]
    i = int(np.argmax(ntx))
    assert 13.0 <= ntx[i] <= 17.0
    assert t[i] == pytest.approx(rows["ntx_tmax"]["predicted"], abs=1e-3)
    sd_tmax = next(x for x in T.naltrexone_targets() if x.id == "ntx_tmax").scale
    assert 0.8 - sd_tmax <= t[i] <= 1.1
    day = t <= 24.0
    assert np.trapezoid(ntx[day], t[day]) == pytest.approx(65.45, rel=0.01)
    assert nol.max() == pytest.approx(108.0, rel=0.01)
    # half-lives read off the log-linear decline (fast phase 6-12 h; 6b-naltrexol 24-48 h)
    fast = (t >= 6) & (t <= 12)
    thalf = math.log(2) / -np.polyfit(t[fast], np.log(ntx[fast]), 1)[0]
    assert thalf == pytest.approx(model.t_half_alpha_h, rel=0.1) and 2.5 <= thalf <= 4.0
    late = (t >= 24) & (t <= 48)
    nol_thalf = math.log(2) / -np.polyfit(t[late], np.log(nol[late]), 1)[0]
    assert 8.0 <= nol_thalf <= 13.0 + 0.05 and nol_thalf == pytest.approx(model.t_half_nol_h, rel=1e-3)


@pytest.mark.parametrize("hyst", VARIANTS)
def test_naltrexone_auc_is_dose_linear_50_to_200_mg(hyst):
    model = get_model("naltrexone", "pkpd", hysteresis=hyst)
    auc = {}
    for d in (50.0, 100.0, 200.0):
        t, c = _dense(model, d, end=24.0)
        auc[d] = {k: np.trapezoid(v, t) for k, v in c.items()}
    for k in auc[50.0]:
        assert auc[100.0][k] / auc[50.0][k] == pytest.approx(2.0, rel=1e-12)
        assert auc[200.0][k] / auc[50.0][k] == pytest.approx(4.0, rel=1e-12)


# ----------------------------------------------------------------------------------------- occupancy targets
def test_naltrexone_occupancy_targets_as_the_record_states():
    model = legacy_model("naltrexone", "effect_compartment")
    rows = variant_rows("naltrexone", model.hysteresis)
    sigma = next(x for x in T.naltrexone_targets() if x.id == "full_2h").scale
    mor = model.blockade(Schedule.single(50), [2.0, 49.0, 360.0])
    # >= 90 % at 2 h and 49 h: within one sigma_PET (the record's 'met'), not literally
    for i, key in enumerate(("full_2h", "review_49h")):
        assert mor[i] == pytest.approx(rows[key]["predicted"], rel=1e-9)
        assert rows[key]["met"] and 90.0 - sigma <= mor[i] < 100.0
    assert mor[2] <= 5.0 and rows["washout_15d"]["met"]  # <= 5 % at 15 days
    # Weerts 2008: steady state on 50 mg/day (mean over the 24 h after the 4th dose) 94.9 +/- 4.9 %
    grid = np.linspace(72.0, 96.0, 97)
    weerts = model.blockade(Schedule.daily([50.0] * 4), grid)
    mean = float(np.trapezoid(weerts, grid) / 24.0)
    assert mean == pytest.approx(rows["weerts_mor"]["predicted"], rel=1e-9)
    assert abs(mean - 94.9) <= 4.9 and weerts.min() >= 90.0
    # Lee 1988 half-time of blockade 72-108 h
    assert rows["lee_half_time"]["met"]
    assert 72.0 * math.exp(-0.01) <= rows["lee_half_time"]["predicted"] <= 108.0


def test_naloxone_serum_half_life_pairing_and_kim_half_time():
    used, other = dowling_pairings()
    assert abs(used["terminal_half_life_min"] - 64.0) <= 12.0  # FDA label 64 +/- 12 min
    assert abs(other["terminal_half_life_min"] - 64.0) > 3 * 12.0
    model = legacy_model("naloxone", "effect_compartment")
    assert (model.q2_l_per_h, model.q3_l_per_h) == (used["q2_l_per_h (with V2 1.49 L)"],
                                                    used["q3_l_per_h (with V3 33.6 L)"])
    lam, _ = model.pk_modes(70.0)
    assert math.log(2) / -lam[0].max() * 60.0 == pytest.approx(used["terminal_half_life_min"], rel=1e-12)
    # Kim 1997: receptor clearance half-time 2.0 +/- 1.6 h after 2 mg IV
    kim = variant_rows("naloxone", model.hysteresis)["kim_half_time"]
    q = T.naloxone_quantities(model)
    assert q["kim_half_time"] == pytest.approx(kim["predicted"], rel=1e-6)
    assert kim["met"] and abs(q["kim_half_time"] - 2.0) <= 1.6


@pytest.mark.parametrize("hyst", ["binding_kinetics"])
def test_naloxone_variability_reproduces_kims_half_time_spread(hyst):
    """Kim 1997 (pkpd_sources.md s6): receptor clearance half-time 2.0 +/- 1.6 h after 2 mg IV (n = 8).

    A virtual population with the stored between-subject variability, in Kim's design (2 mg IV, 70 kg, MOR at
    5 min, 2, 4, 8 h; half-time of the log-linear fit as the calibration's Kim target computes it), has the
    log-SD sqrt(ln(1 + 0.8^2)) = 0.703 (another seed than the derivation's).  The former linear-elasticity
    ke0 log-SD (1.06) gave 0.89.  Legacy variant only: the Bayesian effect compartment matches Kim's SD on the
    natural scale instead (tests/test_pkpd_bayes.py).
    """
    from occupancy.calibration.sources import KIM_SCAN_TIMES_H, NALOXONE_PET_WEIGHT_KG
    from occupancy.simulation.population import default_variability

    model = get_model("naloxone", hysteresis=hyst)
    v = default_variability(model)
    occ = model.blockade(T.single(2.0, weight_kg=NALOXONE_PET_WEIGHT_KG), np.array(KIM_SCAN_TIMES_H), "MOR",
                         **v.draw(4000, 20240611))
    th = np.array([T.lee_half_time(KIM_SCAN_TIMES_H, row) for row in occ])
    ok = np.isfinite(th) & (th > 0)
    assert ok.mean() > 0.99  # only a handful of subjects whose occupancy does not decline over 8 h
    target = math.sqrt(math.log1p((1.6 / 2.0) ** 2))
    assert target == pytest.approx(0.7033, abs=1e-4)
    assert np.std(np.log(th[ok]), ddof=1) == pytest.approx(target, abs=0.05)
    kinetic = v.derivation["kinetic"]
    assert kinetic["simulated_sigma_ln_half_time"] == pytest.approx(target, abs=1e-3)
    assert v.derivation["checks"]["kim_log_sd_sim"] == pytest.approx(target, abs=0.01)


# ----------------------------------------------------------------------------------------- body weight
@pytest.mark.parametrize("weight", [40.0, 110.0, 300.0])
def test_weight_scaling_naltrexone(weight):
    """Clearances x (W/70)^0.75, volumes x W/70: rates x (W/70)^-0.25 (ka unscaled), AUC of a mg dose
    x (W/70)^-0.75; a schedule's weight wins over the model's; mg/kg doses are multiplied by the weight."""
    for hyst in VARIANTS:
        m = get_model("naltrexone", "pkpd", hysteresis=hyst)
        r = weight / 70.0
        (lam, W), (lam0, W0) = m.pk_modes(weight), m.pk_modes(70.0)  # modes of (C_NTX, C_NOL) per mg
        ka = np.isclose(lam0[0], -m.ka_per_h, rtol=1e-12)
        assert ka.sum() == 1
        np.testing.assert_allclose(lam[0][ka], lam0[0][ka], rtol=1e-12)
        np.testing.assert_allclose(lam[0][~ka], lam0[0][~ka] * r**-0.25, rtol=1e-10)
        auc, auc0 = (-W[0] / lam[0]).sum(axis=1), (-W0[0] / lam0[0]).sum(axis=1)  # both ligands
        np.testing.assert_allclose(auc, auc0 * r**-0.75, rtol=1e-10)
        heavy = m.with_(weight_kg=weight)
        t = np.array([1.0, 5.0, 49.0])
        a = heavy.blockade_all(Schedule.single(50), t)
        b = m.blockade_all(Schedule((Dose(0.0, amount_mg=50.0),), weight_kg=weight), t)
        c = m.blockade_all(Schedule((Dose(0.0, amount_mg_per_kg=50.0 / weight),), weight_kg=weight), t)
        for rec in RECEPTORS:
            np.testing.assert_allclose(a[rec], b[rec], rtol=1e-12)
            np.testing.assert_allclose(c[rec], b[rec], rtol=1e-12)


@pytest.mark.parametrize("weight", [40.0, 110.0])
def test_weight_scaling_naloxone(weight):
    m = get_model("naloxone")
    r = weight / 70.0
    lam, W = m.pk_modes(weight)
    lam0, W0 = m.pk_modes(70.0)
    np.testing.assert_allclose(lam, lam0 * r**-0.25, rtol=1e-10)
    np.testing.assert_allclose(W.sum(), W0.sum() / r, rtol=1e-10)  # C(0+) per mg = 1000/V1, V1 x W/70
    np.testing.assert_allclose((-W[0, 0] / lam[0]).sum(), (-W0[0, 0] / lam0[0]).sum() * r**-0.75, rtol=1e-10)
    assert m.v1_l == DOWLING["v1_l"] and m.cl_l_per_h == DOWLING["cl_l_per_h"]


def test_model_without_schedule_weight_assumes_70_kg():
    m = get_model("naloxone")
    t = np.array([0.1, 1.0])
    a = m.blockade(Schedule((Dose(0.0, amount_mg=0.4),)), t)
    b = m.blockade(Schedule((Dose(0.0, amount_mg=0.4),), weight_kg=70.0), t)
    np.testing.assert_array_equal(a, b)
    assert m.weight_kg == 70.0


# ----------------------------------------------------------------------------------------- population
@pytest.mark.parametrize("drug", ["naltrexone", "naloxone"])
@pytest.mark.parametrize("hyst", VARIANTS)
def test_population_summaries_equal_numpy_percentiles(drug, hyst):
    from occupancy.simulation.population import sample_population, simulate_population

    model = get_model(drug, "pkpd", hysteresis=hyst)
    if drug == "naltrexone":
        s, t = Schedule.daily([50.0] * 3), np.linspace(0, 96, 97)
    else:
        s, t = Schedule((Dose(0.0, amount_mg_per_kg=0.01),), weight_kg=70.0), np.linspace(0, 6, 61)
    pop = simulate_population(model, s, t, n=300, seed=5, max_elements=5_000)
    raw = sample_population(model, s, t, n=300, seed=5)
    for r in RECEPTORS:
        for q, stat in ((5, "p05"), (50, "p50"), (95, "p95")):
            np.testing.assert_allclose(getattr(pop, stat)[r], np.percentile(raw[r], q, axis=0), rtol=1e-9,
                                       atol=1e-9)
        np.testing.assert_allclose(pop.prob_ge_90[r], (raw[r] >= 90).mean(axis=0))
        assert np.all(pop.p95[r] < 100.0)


def test_parameter_uncertainty_is_seeded_and_holds_overrides():
    model = get_model("naltrexone")
    a = [m.parameters() for m in model.parameter_draws(5, seed=3)]
    b = [m.parameters() for m in model.parameter_draws(5, seed=3)]
    c = [m.parameters() for m in model.parameter_draws(5, seed=4)]
    assert a == b and a != c
    held = model.with_(k_mor_ng_ml=0.5)
    assert {m.k_mor_ng_ml for m in held.parameter_draws(4, seed=1)} == {0.5}  # an override is held


# ----------------------------------------------------------------------------------------- bateman artefacts
def _split_vs_single(model):
    t = np.array([0.25, 0.5, 1.0, 2.0])
    one = Schedule((Dose(0.0, amount_mg_per_kg=0.01),), weight_kg=70.0)
    two = Schedule((Dose(0.0, amount_mg_per_kg=0.005), Dose(0.0, amount_mg_per_kg=0.005)), weight_kg=70.0)
    return model.blockade(one, t), model.blockade(two, t)


def _planned_durations(model):
    t = np.array([1 / 60, 0.25, 0.5, 0.99])  # before either infusion ends
    same_rate = [Schedule((Dose.from_rate(0.0, minutes, rate_mg_per_kg_per_h=0.01),), weight_kg=70.0)
                 for minutes in (60.0, 120.0)]
    return [model.blockade(s, t) for s in same_rate]


def test_bateman_artefact_splitting_a_bolus_changes_the_blockade():
    """planoxone applies its hyperbola per dose before superposing: 2 x 0.005 mg/kg != 0.01 mg/kg."""
    single, split = _split_vs_single(get_model("naloxone", "bateman", cap=False))
    np.testing.assert_allclose(split / single, 2 * (0.005 / (0.005 + 0.002290531)) / (0.01 / (0.01 + 0.002290531)),
                               rtol=1e-12)
    assert np.all(split > 1.6 * single)
    single, split = _split_vs_single(get_model("naloxone", "pkpd"))
    np.testing.assert_allclose(split, single, rtol=1e-12)


def test_bateman_artefact_an_infusions_planned_duration_changes_the_blockade_before_it_ends():
    """planoxone's amplitude is the hyperbola of the infusion's total, so the planned duration matters from
    the first minute although both infusions have delivered the same drug."""
    short, long_ = _planned_durations(get_model("naloxone", "bateman", cap=False))
    assert np.all(np.abs(short - long_) > 0.04 * short) and short[2] - long_[2] > 10.0
    for hyst in VARIANTS:
        short, long_ = _planned_durations(get_model("naloxone", "pkpd", hysteresis=hyst))
        np.testing.assert_allclose(short, long_, rtol=0, atol=1e-9 if hyst == "effect_compartment" else 0.01)


def test_bateman_docstring_names_the_artefacts():
    from occupancy.models import bateman

    doc = bateman.__doc__
    assert "Splitting a bolus changes the blockade" in doc
    assert "An infusion's planned duration changes the blockade before it ends" in doc


# ----------------------------------------------------------------------------------------- presentation
def _result(model_name="pkpd", uncertainty=(20, 1), n=None):
    from occupancy.simulation.simulate import simulate

    model = get_model("naltrexone", model_name)
    return simulate(model, Schedule.single(50), [("task", 2.0), ("day 2", 49.0)], n=n,
                    uncertainty=uncertainty if model_name == "pkpd" else None, timecourse_points=200)


def test_concentrations_and_interval_in_the_csv_and_json(tmp_path):
    from occupancy.report.simulation import write_simulation_outputs

    result = _result(n=50)
    write_simulation_outputs(result, tmp_path)
    import pandas as pd

    csv = pd.read_csv(tmp_path / "timecourse.csv")
    for col in ("C_naltrexone_ng_ml", "C_6b_naltrexol_ng_ml", "MOR_ci_lo", "MOR_ci_hi", "MOR_p05"):
        assert col in csv.columns
    model = result.model
    np.testing.assert_allclose(csv["C_naltrexone_ng_ml"], model.concentrations(Schedule.single(50), csv["time_h"])
                               ["C_naltrexone_ng_ml"], rtol=1e-4, atol=1e-9)  # 6 digits
    assert np.all(csv["MOR_ci_lo"] <= csv["MOR_ci_hi"] + 1e-9)
    data = json.loads((tmp_path / "simulation.json").read_text())
    for a in data["assessments"]:
        assert {"C_naltrexone_ng_ml", "C_6b_naltrexol_ng_ml", "MOR_ci_lo", "MOR_ci_hi"} <= set(a)
        assert a["MOR_ci_lo"] <= a["MOR_ci_hi"] < 100
    assert data["uncertainty"]["n"] == 20 and data["model"]["parameters"]["hysteresis"] == model.hysteresis
    plain = _result("washout")
    assert not any(k.startswith("C_") for k in plain.timecourse_arrays)


def test_timecourse_figure_has_a_log_concentration_panel_and_the_interval_band():
    from occupancy.report.timecourse_figure import timecourse_figure

    fig = timecourse_figure(_result())
    # the task on the first day of a multi-day course: a first-day column beside the whole course (issue 20)
    tops = [ax for ax in fig.axes if ax.get_yscale() == "linear"]
    bottoms = [ax for ax in fig.axes if ax.get_yscale() == "log"]
    assert len(tops) == len(bottoms) == 2
    top, bottom = tops[0], bottoms[0]
    assert bottom.get_yscale() == "log" and "ng/mL" in bottom.get_ylabel()
    assert [line.get_label() for line in bottom.get_lines()] == ["naltrexone (ng/mL)", "6β-naltrexol (ng/mL)"]
    labels = [c.get_label() for c in top.collections]
    assert "MOR 95 % interval (parameter uncertainty)" in labels
    assert top.get_position().y0 > bottom.get_position().y1  # the concentration panel is under the blockade
    washout = timecourse_figure(_result("washout"))
    assert washout.axes and all(ax.get_yscale() == "linear" for ax in washout.axes)  # no concentration panel
    no_interval = timecourse_figure(_result(uncertainty=None))
    assert "MOR 95 % interval (parameter uncertainty)" not in [c.get_label() for c in no_interval.axes[0].collections]
