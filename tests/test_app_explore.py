"""The Plan tab's "Find the best design": the explore scenario the app builds around the current Plan inputs
(no browser; the search itself is the library's, tested in tests/test_explore.py)."""

from __future__ import annotations

import pytest

from occupancy.errors import InputError


def _plan(sim_values=None, plan_values=None):
    from occupancy.app.forms import PlanForm
    from occupancy.app.server import plan_scenario

    form = PlanForm()
    out = plan_scenario(form, {**form.simulate.defaults(), **(sim_values or {})}, {**form.defaults(), **(plan_values or {})})
    assert not out.error, out.error
    return out.scenario


def test_the_grid_surrounds_the_plan_inputs_and_keeps_everything_else():
    from occupancy.app.forms import explore_scenario
    from occupancy.workflows.explore.space import axes, plan_scenario_for

    plan = _plan(plan_values={"isi_days": 10, "target_power": 0.9})
    s = explore_scenario(plan, 123, min_delay_h=5.2, min_isi_days=12.3)
    ex = s.explore
    assert ex.dose_mg == [25.0, 50.0, 100.0, 200.0]  # the 50 mg opening dose × (0.5, 1, 2, 4)
    assert ex.delay_h == [2.0, 4.0, 5.5, 7.5]  # the task at 2 h, the minimum delay rounded up to 0.5 h, each + 2 h
    assert ex.isi_days == [10.0, 13.0, 20.0, 30.0]  # the ISI × (1, 2, 3) and the minimum ISI rounded up
    assert ex.participants == [123] and ex.kind == ["within"] and ex.best == 0
    assert ex.constraints.power_attenuated == 0.9  # the Plan tab's target power
    assert ex.constraints.blockade_at_task == 0.95 and ex.constraints.residual_at_next_session == 5.0
    values = axes(s)  # the library accepts the space
    assert values["participants"] == [123]
    # the current design, through the library's own per-design scenario, is the Plan tab's scenario again
    again = plan_scenario_for(s, {"kind": "within", "dose_mg": 50.0, "delay_h": 2.0, "isi_days": 10.0,
                                  "sessions": plan.design.sessions, "participants": 123})
    assert [d.amount_mg for d in again.doses] == [d.amount_mg for d in plan.doses]
    assert [a.time_h for a in again.assessments] == [plan.assessments[0].time_h]
    assert (again.design.isi_days, again.design.effect, again.design.alpha) == \
        (plan.design.isi_days, plan.design.effect, plan.design.alpha)


def test_between_designs_search_no_isi_and_per_kg_doses_keep_their_amount():
    from occupancy.app.forms import explore_scenario

    between = explore_scenario(_plan(plan_values={"design_kind": "between"}), 200)
    assert between.explore.kind == ["between"] and between.explore.isi_days is None
    per_kg = explore_scenario(_plan(sim_values={"dose_unit": "amount_mg_per_kg", "dose_mg": 0.7, "weight_kg": 70}), 200)
    assert per_kg.explore.dose_mg is None


def test_short_intervals_are_left_out_and_impossible_requests_are_one_line():
    from occupancy.app.forms import explore_scenario

    plan = _plan(plan_values={"isi_days": 1})
    s = explore_scenario(plan, 100, min_delay_h=30.0)  # tasks up to 32 h after the dose: the 1-day ISI is too short
    assert s.explore.isi_days == [2.0, 3.0] and max(s.explore.delay_h) == 32.0
    with pytest.raises(InputError, match="no finite N"):
        explore_scenario(plan, None)
    with pytest.raises(InputError, match="not longer than one session"):
        explore_scenario(plan, 100, min_delay_h=100.0)


def test_the_app_search_reports_an_impossible_request_as_one_line():
    from types import SimpleNamespace

    from occupancy.app.server import run_explore

    out = run_explore(_plan(), SimpleNamespace(n_required_attenuated=None, min_delay_h=None, min_isi_days=None))
    assert out.value is None and "\n" not in out.error
    assert out.error.startswith("blockade: error: Plan tab: Find the best design: no finite N")
