"""The study-design planner: power/N against statsmodels, residual blockade, delay and ISI searches, tablets."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from occupancy.workflows.planning.design import (
    DesignSection, PlanScenario, condition_orders, load_plan_scenario, min_delay_caveat, split_evenly,
    tablets_per_session, tablets_pooled,
)
from occupancy.workflows.planning.plan import plan_design, plan_study
from occupancy.workflows.planning.power import n_between, n_within, paired_dz, power_between, power_within
from occupancy.report.plan import plan_report_section
from occupancy.workflows.planning.searches import VirtualPopulation, find_min_delay, find_min_isi, residual_at
from occupancy.errors import InputError
from occupancy.models import get_model
from occupancy.dosing.schedule import Schedule

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

smp = pytest.importorskip("statsmodels.stats.power")


# ---------------------------------------------------------------------------------------------- power


@pytest.mark.parametrize("d,n1,n2,alpha", [(0.2, 75, 84, 0.05), (0.5, 20, 20, 0.05), (0.35, 12, 30, 0.01),
                                           (0.17, 394, 394, 0.05), (1.1, 4, 5, 0.1)])
def test_two_sample_power_matches_statsmodels(d, n1, n2, alpha):
    expected = smp.TTestIndPower().power(d, n1, alpha, ratio=n2 / n1, alternative="two-sided")
    assert power_between(d, n1, n2, alpha) == pytest.approx(expected, abs=1e-6)
    assert power_between(-d, n1, n2, alpha) == pytest.approx(expected, abs=1e-6)  # sign = direction only


@pytest.mark.parametrize("dz,n,alpha", [(0.2, 40, 0.05), (0.2, 199, 0.05), (0.5, 10, 0.01), (0.07, 900, 0.05)])
def test_paired_power_matches_statsmodels(dz, n, alpha):
    expected = smp.TTestPower().power(dz, n, alpha, alternative="two-sided")
    assert power_within(dz, n, alpha) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("d,alpha,power", [(0.2, 0.05, 0.8), (0.5, 0.05, 0.9), (0.17, 0.01, 0.8)])
def test_n_between_is_the_smallest_group_size_reaching_the_target(d, alpha, power):
    n = n_between(d, alpha, power)
    exact = smp.TTestIndPower().solve_power(d, None, alpha, power, alternative="two-sided")
    assert n == math.ceil(exact - 1e-9)
    assert smp.TTestIndPower().power(d, n, alpha) >= power - 1e-12
    assert smp.TTestIndPower().power(d, n - 1, alpha) < power


@pytest.mark.parametrize("dz,alpha,power", [(0.2, 0.05, 0.8), (0.17, 0.05, 0.8), (0.6, 0.01, 0.95)])
def test_n_within_is_the_smallest_n_reaching_the_target(dz, alpha, power):
    n = n_within(dz, alpha, power)
    exact = smp.TTestPower().solve_power(dz, None, alpha, power, alternative="two-sided")
    assert n == math.ceil(exact - 1e-9)
    assert smp.TTestPower().power(dz, n, alpha) >= power - 1e-12
    assert smp.TTestPower().power(dz, n - 1, alpha) < power


def test_paired_dz_formula():
    assert paired_dz(-0.2, 0.5) == pytest.approx(-0.2)
    assert paired_dz(0.3, 0.0) == pytest.approx(0.3 / math.sqrt(2))
    assert paired_dz(0.3, 0.875) == pytest.approx(0.6)


# --------------------------------------------------------------------------------------- the workflow


def _design(**kw):
    return DesignSection(**kw)


@pytest.fixture(scope="module")
def model():
    return get_model("naltrexone", "washout")


@pytest.fixture(scope="module")
def crossover_7d(model):
    return plan_design(model, Schedule.single(50.0), [("task", 1.5)],
                         _design(kind="within", isi_days=7, participants=40), n=400, seed=3)


@pytest.fixture(scope="module")
def crossover_15d(model):
    return plan_design(model, Schedule.single(50.0), [("task", 1.5)],
                         _design(kind="within", isi_days=15, participants=40), n=400, seed=3)


@pytest.fixture(scope="module")
def between(model):
    return plan_design(model, Schedule.single(50.0), [("start", 1.0), ("end", 1.583)],
                         _design(kind="between", n_drug=75, n_placebo=84, price_per_tablet=1.25), n=400, seed=3)


def test_residual_is_larger_after_7_than_after_15_days(crossover_7d, crossover_15d):
    r7 = {r["order"]: r for r in crossover_7d.residual_by_order()}
    r15 = {r["order"]: r for r in crossover_15d.residual_by_order()}
    # drug first: the placebo session carries residual blockade from the drug session one ISI earlier
    assert r7["drug→placebo"]["residual_MOR"] > r15["drug→placebo"]["residual_MOR"] > 0
    assert r7["drug→placebo"]["residual_MOR_p95"] > r15["drug→placebo"]["residual_MOR_p95"]
    # placebo first: nothing is carried into the drug session
    assert r7["placebo→drug"]["residual_MOR"] == 0.0
    assert crossover_7d.residual_at_isi_p95 > crossover_15d.residual_at_isi_p95
    assert crossover_7d.contrast_pp < crossover_15d.contrast_pp <= 100.0
    # the ISI search is the same model: min ISI is beyond 7 days, and beyond 15 only if 15 days leave too much
    assert crossover_7d.min_isi_days > 7
    assert (crossover_15d.min_isi_days > 15) == (crossover_15d.residual_at_isi_p95 > 5.0)
    assert crossover_7d.min_isi_days == crossover_15d.min_isi_days  # does not depend on the planned ISI


def test_min_isi_lies_between_7_and_15_days_for_a_threshold_between_their_residuals(model, crossover_7d,
                                                                                     crossover_15d):
    threshold = 0.5 * (crossover_7d.residual_at_isi_p95 + crossover_15d.residual_at_isi_p95)
    res = plan_design(model, Schedule.single(50.0), [("task", 1.5)],
                        _design(kind="within", isi_days=7, participants=40, residual_threshold_pct=threshold),
                        n=400, seed=3)
    assert 7 < res.min_isi_days < 15


def test_min_isi_is_where_the_95th_percentile_residual_crosses_the_threshold(model):
    pop = VirtualPopulation(model, 400, 3)
    sched = Schedule.single(50.0)
    isi = find_min_isi(pop, sched, offset_h=1.5, threshold_pct=5.0, q=95.0, min_days=0.1)
    assert isi is not None
    assert residual_at(pop, sched, [isi], 1.5, 95.0)[0] <= 5.0
    assert residual_at(pop, sched, [isi - 2e-4], 1.5, 95.0)[0] > 5.0
    median = find_min_isi(pop, sched, offset_h=1.5, threshold_pct=5.0, q=50.0, min_days=0.1)
    assert median < isi  # the 95th-percentile person is the conservative choice


def test_min_delay_is_consistent_with_the_population_probability(model):
    from occupancy.simulation.population import simulate_population

    sched = Schedule.single(25.0)
    pop = VirtualPopulation(model, 500, 11)
    delay, prob, _ = find_min_delay(pop, sched, threshold_pct=90.0, probability=0.95, horizon_h=24)
    if delay is None:  # 25 mg never reaches 90 % reliably: then no time in the horizon may reach it
        grid = np.linspace(0, 24, 2000)
        assert (simulate_population(model, sched, grid, n=500, seed=11).prob_ge_90["MOR"] < 0.95).all()
        sched = Schedule.single(50.0)
        delay, prob, _ = find_min_delay(pop, sched, threshold_pct=90.0, probability=0.95, horizon_h=24)
    assert delay is not None and delay > 0
    summary = simulate_population(model, sched, [delay + 1e-6, delay, delay - 1e-3], n=500, seed=11)
    after, at, before = summary.prob_ge_90["MOR"]
    assert at >= 0.95 and after >= 0.95
    assert before < 0.95
    assert prob == pytest.approx(at)


def test_plan_reports_min_delay_from_the_same_population(crossover_7d, model):
    from occupancy.simulation.population import simulate_population

    d = crossover_7d.min_delay_h
    p = simulate_population(model, Schedule.single(50.0), [d, d - 1e-3], n=400, seed=3).prob_ge_90["MOR"]
    assert p[0] >= 0.95 > p[1]


def test_attenuation_lowers_power_and_raises_n(crossover_7d, between):
    r = crossover_7d
    assert r.effect_attenuated == pytest.approx(r.effect * r.contrast_pp / 100.0)
    assert abs(r.effect_attenuated) < abs(r.effect)
    assert r.power_attenuated < r.power
    assert r.n_required_attenuated > r.n_required
    expected = smp.TTestPower().power(abs(paired_dz(r.effect_attenuated, 0.5)), 40, 0.05)
    assert r.power_attenuated == pytest.approx(expected, abs=1e-6)
    # a between design with no residual: contrast at the 1 h assessment is the drug group's mean MOR
    assert between.contrast_pp == pytest.approx(dict(between.conditions)["drug"][0].MOR)


def test_contrast_is_the_order_average_of_drug_minus_placebo(crossover_7d):
    r = crossover_7d
    by = {(s.order, s.condition): s.assessments[0].MOR for s in r.sessions}
    dp = by[("drug→placebo", "drug")] - by[("drug→placebo", "placebo")]
    pd_ = by[("placebo→drug", "drug")] - by[("placebo→drug", "placebo")]
    assert r.contrasts[0].per_order == (("drug→placebo", pytest.approx(dp)), ("placebo→drug", pytest.approx(pd_)))
    assert r.contrast_pp == pytest.approx((dp + pd_) / 2)
    placebo = dict(r.conditions)["placebo"][0]
    assert placebo.MOR == pytest.approx((by[("drug→placebo", "placebo")] + by[("placebo→drug", "placebo")]) / 2)


def test_between_power_uses_the_planned_unequal_groups(between):
    expected = smp.TTestIndPower().power(0.2, 75, 0.05, ratio=84 / 75)
    assert between.power == pytest.approx(expected, abs=1e-6)
    assert between.group_sizes == (75, 84) and between.n_planned == 159
    assert between.n_required == 2 * between.n_required_per_group
    assert between.power < 0.8 and any("power" in w for w in between.warnings)


def test_tablets_and_cost_arithmetic(model, between):
    # 75 drug-group participants × one 50 mg tablet
    assert between.tablets_per_session == 1 and between.tablets == 75
    assert between.total_mg == 75 * 50.0 and between.tablets_pooled == 75
    assert between.cost == pytest.approx(75 * 1.25)
    # titration 25, 25, 50, 60 mg: per dose 1 + 1 + 1 + 2 = 5 tablets; 3 drug sessions of 10 participants
    sched = Schedule.daily([25, 25, 50, 60])
    r = plan_design(model, sched, [("day4", 73.5)],
                      _design(kind="within", sessions=4, drug_sessions=3, isi_days=20, participants=12,
                              price_per_tablet=0.5), n=50, seed=1)
    assert r.tablets_per_session == 5
    assert r.drug_sessions_total == 36
    assert r.tablets == 5 * 36
    assert r.total_mg == pytest.approx(160.0 * 36)
    assert r.tablets_pooled == math.ceil(160.0 * 36 / 50)  # plantrexone pools all mg: ceil(5760/50) = 116
    assert r.cost == pytest.approx(0.5 * 180)
    assert len(r.orders) == 4  # DDDP, DDPD, DPDD, PDDD


def test_tablet_helpers():
    assert tablets_per_session([50.0], 50) == 1
    assert tablets_per_session([100.0, 25.0], 50) == 3
    assert tablets_per_session([0.1 + 0.2 + 49.7], 50) == 1  # floating point does not add a tablet
    assert tablets_pooled(25 * 3 * 1, 50) == 2  # plantrexone: 25 mg, 3 participants, 1 session


def test_orders_and_split():
    assert condition_orders("within") == [("drug", "placebo"), ("placebo", "drug")]
    assert condition_orders("between") == [("drug",), ("placebo",)]
    assert len(condition_orders("within", 3, 1)) == 3
    assert split_evenly(41, 2) == [21, 20]


def test_result_is_frozen_and_tabular(crossover_7d):
    with pytest.raises(dataclasses.FrozenInstanceError):
        crossover_7d.power = 1.0
    frame = crossover_7d.to_frame()
    assert len(frame) == 2 * 2 * 1
    assert {"order", "session", "condition", "MOR", "MOR_p95", "MOR_prob_ge_90"} <= set(frame.columns)
    frames = crossover_7d.frames()
    assert set(frames) == {"plan_assessments", "plan_contrasts", "plan_residuals", "plan_power_curve",
                           "plan_timeline", "plan_summary"}
    curve = frames["plan_power_curve"]
    assert (curve["power_attenuated"] <= curve["power"] + 1e-12).all()
    assert np.all(np.diff(curve["power"]) > 0)
    text = crossover_7d.summary()
    assert "Minimum intersession interval" in text and "residual" in text


def test_design_cross_field_problems():
    assert "isi_days" in DesignSection(kind="within").problem()
    assert "only for kind" in DesignSection(kind="between", isi_days=7).problem()
    assert "n_placebo" in DesignSection(kind="between", n_drug=10).problem()
    assert DesignSection(kind="between").problem() is None


def test_plan_design_rejects_an_isi_shorter_than_a_session(model):
    with pytest.raises(InputError, match="design.isi_days"):
        plan_design(model, Schedule.daily([25, 25, 50, 50]), [("t", 74.0)],
                      _design(kind="within", isi_days=2), n=20)


def test_shipped_scenarios_load_and_plan():
    for name in ("plan_between_50mg", "plan_crossover_7d", "plan_crossover_15d", "plan_tchalova_macdonald"):
        path = SCENARIOS / f"{name}.toml"
        scenario = load_plan_scenario(path)
        assert isinstance(scenario, PlanScenario)
    r7 = plan_study(load_plan_scenario(SCENARIOS / "plan_crossover_7d.toml"),
                      source=SCENARIOS / "plan_crossover_7d.toml")
    assert r7.scenario_name == "plan_crossover_7d" and r7.isi_days == 7
    assert any("isi_days = 7" in w for w in r7.warnings)


def test_report_section_renders(crossover_7d):
    from occupancy.report.html import Report, ReportSection, render_report

    section = plan_report_section(crossover_7d)
    assert isinstance(section, ReportSection)
    assert len(section.figures) == 2 and all("<svg" in f.svg for f in section.figures)
    readings = " ".join(k.reading for k in section.key_numbers)
    assert "MOR blockade at the 1.5 h task" in readings and "5–95th percentile of the virtual population" in readings
    # warnings stand next to the number they qualify
    isi = next(k for k in section.key_numbers if k.label == "Minimum intersession interval")
    power = next(k for k in section.key_numbers if k.label.startswith("Power with N"))
    assert "Warning: isi_days = 7 is shorter" in isi.reading and "Warning: the planned N = 40" in power.reading
    assert "isi_days" not in power.reading
    assert section.assumptions and all(a.source for a in section.assumptions)
    html = render_report(Report(title="t", scenario_name="plan", scenario_text="", sections=(section,)))
    assert "Minimum intersession interval" in html


def test_min_delay_caveat_in_summary_figure_and_report(between):
    """The washout rise is fitted to the plasma tmax only: every place that shows the delay says so."""
    import matplotlib.pyplot as plt

    from occupancy.report.plan_figures import timeline_figure

    assert between.min_delay_h < 2.0
    early = [(a.label, a.time_h) for a in dict(between.conditions)["drug"] if a.time_h < 2.0]
    assert early and between.min_delay_note == min_delay_caveat("washout", early)
    assert "not validated before 2 h" in between.min_delay_note
    assert all(f"'{label}'" in between.min_delay_note for label, _ in early)  # names the user's own assessments
    text = between.summary()
    assert f"{between.min_delay_h:.2f} h\n  caveat: {between.min_delay_note}" in text
    fig = timeline_figure(between)
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    plt.close(fig)
    assert any("minimum delay" in t and "PET data from 2 h" in t for t in labels), labels
    section = plan_report_section(between)
    key = next(k for k in section.key_numbers if k.label == "Minimum delay after dosing")
    assert key.value == f"{between.min_delay_h:.2f} h" and between.min_delay_note in key.reading
    assert any("not a validated recommendation" in a.text for a in section.assumptions)


# ------------------------------------------------------------------------- schedule part / power part
def test_power_on_a_cached_schedule_equals_the_whole_plan_of_the_edited_scenario():
    """Issue 21.2: an edit of N, effect, α or power re-runs only plan_power on the cached schedule part, and the
    plan is the one plan_study gives for the edited scenario (every JSON number)."""
    import json

    from occupancy.workflows.planning.plan import plan_power, plan_schedule, schedule_key

    base = load_plan_scenario(SCENARIOS / "plan_crossover_7d.toml")
    edited = base.model_copy(update={"design": base.design.model_copy(
        update={"participants": 24, "effect": -0.35, "alpha": 0.01, "power": 0.9})})
    assert schedule_key(edited, model_draws=4) == schedule_key(base, model_draws=4)
    planned = plan_schedule(base, model_draws=4)
    cached = plan_power(planned, edited.design)
    whole = plan_study(edited, model_draws=4)
    assert json.dumps(cached.to_dict(), sort_keys=True) == json.dumps(whole.to_dict(), sort_keys=True)
    assert cached.n_planned == 24 and cached.power != plan_power(planned).power
    assert cached.timeline is planned.timeline  # the schedule part is reused, not recomputed


def test_deferred_model_uncertainty_gives_the_same_plan_as_computing_it_at_once():
    """The app shows a plan before its model-uncertainty draws (issue 21, item 1): the schedule part with the
    draws deferred is pending and says nothing about model uncertainty; completing it gives every JSON number of
    the whole plan, and the work check still counts the draws."""
    import json

    from occupancy.workflows.planning.plan import complete_model_uncertainty, plan_power, plan_schedule

    base = load_plan_scenario(SCENARIOS / "plan_crossover_7d.toml")
    deferred = plan_schedule(base, model_draws=4, defer_model_uncertainty=True)
    assert deferred.model_uncertainty_pending and deferred.model_uncertainty_draws is None
    early = plan_power(deferred)
    assert early.model_uncertainty is None and early.model_uncertainty_sentences() == {}
    assert early.model_uncertainty_note == ""
    done = complete_model_uncertainty(deferred)
    assert not done.model_uncertainty_pending and complete_model_uncertainty(done) is done
    assert done.timeline is deferred.timeline  # only the draws were added
    whole = plan_study(base, model_draws=4)
    assert json.dumps(plan_power(done).to_dict(), sort_keys=True) == json.dumps(whole.to_dict(), sort_keys=True)
    assert plan_power(done).model_uncertainty_sentences() == whole.model_uncertainty_sentences() != {}
    for key in ("min_delay_h", "power_attenuated"):
        assert early.to_dict()[key] == whole.to_dict()[key]


def test_a_schedule_key_change_is_not_a_power_edit():
    from occupancy.workflows.planning.plan import plan_power, plan_schedule, schedule_key

    base = load_plan_scenario(SCENARIOS / "plan_crossover_7d.toml")
    other = base.model_copy(update={"design": base.design.model_copy(update={"isi_days": 10.0})})
    assert schedule_key(other) != schedule_key(base)
    with pytest.raises(ValueError, match="other than"):
        plan_power(plan_schedule(base, model_draws=0), other.design)


def test_a_blank_n_can_mean_the_n_for_the_attenuated_effect():
    """The app's convention (issue 21.5): no N in the design plans the N for g × contrast / 100, so the planned
    study reaches the target power with the blockade it will actually have; the CLI's default is unchanged."""
    from occupancy.workflows.planning.plan import plan_power, plan_schedule

    base = load_plan_scenario(SCENARIOS / "plan_crossover_7d.toml")
    blank = base.model_copy(update={"design": base.design.model_copy(update={"participants": None})})
    planned = plan_schedule(blank, model_draws=0)
    full = plan_power(planned)
    attenuated = plan_power(planned, blank_n="attenuated")
    assert full.n_planned == full.n_required_balanced
    assert attenuated.n_planned == attenuated.n_required_attenuated_balanced > full.n_planned
    assert attenuated.power_attenuated >= float(blank.design.power) > full.power_attenuated
    assert "attenuation" in attenuated.n_planned_source


@pytest.mark.parametrize("kind", ["between", "within"])
@pytest.mark.parametrize("effect, alpha", [(0.2, 0.05), (-0.158, 0.01), (1.3, 0.2)])
def test_the_vectorised_power_curve_equals_the_scalar_power_bit_for_bit(kind, effect, alpha):
    from occupancy.workflows.planning.power import power_curve

    n = np.arange(4, 600, 2) if kind == "between" else np.arange(4, 600)
    scalar = [power_between(effect, m // 2, m // 2, alpha) if kind == "between" else power_within(effect, m, alpha)
              for m in n]
    assert np.array_equal(power_curve(effect, n, alpha, kind), np.asarray(scalar, float))
