"""Up-front work limits of plan, annotate and reanalyse (issue 18, item 8 leftovers).

The limits are ``blockade simulate``'s (occupancy.simulation.simulate: MAX_SUBJECT_DOSES, MAX_SUBJECT_POINTS);
each command must refuse too much work with one line *before* any population is evaluated, and count the
work it really does.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import occupancy.annotation.annotate as annotate_module
import occupancy.workflows.planning.plan as plan_module
import occupancy.workflows.reanalysis.analysis as analysis_module
from occupancy.annotation.annotate import ANNOTATION_POINT_COST, AnnotationSettings, annotate, annotation_work
from occupancy.annotation.literature import load_outcomes
from occupancy.errors import InputError
from occupancy.simulation.simulate import MAX_SUBJECT_POINTS
from occupancy.workflows.planning.design import load_plan_scenario
from occupancy.workflows.planning.plan import plan_study
from occupancy.workflows.reanalysis.settings import ReanalysisSettings


def _never(*_a, **_k):
    raise AssertionError("population work started before the limit was checked")


@pytest.mark.parametrize("settings", [AnnotationSettings(n=0), AnnotationSettings(n=0, grid_points=7),
                                      AnnotationSettings(n=0, window_point="end"),
                                      AnnotationSettings(n=0, model="emax")])
def test_annotation_work_counts_the_points_annotate_evaluates(monkeypatch, settings):
    seen = []
    real = annotate_module._annotate_segments

    def spy(model, schedule, seg, *a, **k):
        seen.append(seg.times.size)
        return real(model, schedule, seg, *a, **k)

    monkeypatch.setattr(annotate_module, "_annotate_segments", spy)
    table = load_outcomes(None)
    annotate(table, settings, keep_draws=False)
    assert annotation_work(table, settings)[1] == sum(seen) > 0


def test_annotate_refused_before_computing(monkeypatch):
    monkeypatch.setattr(annotate_module, "_annotate_segments", _never)
    table = load_outcomes(None)
    settings = AnnotationSettings(n=100_000, grid_points=1000)
    points = annotation_work(table, settings)[1]
    assert points * 100_000 > MAX_SUBJECT_POINTS
    with pytest.raises(InputError, match=r"population\.n: 100000 virtual subjects × \d+ evaluated time points"):
        annotate(table, settings, keep_draws=False)
    # the model draws add up: each one fits alone, all of them do not
    small = AnnotationSettings(n=100_000)
    assert annotation_work(table, small)[1] * 100_000 <= MAX_SUBJECT_POINTS
    with pytest.raises(InputError, match="201 annotations of the outcomes"):
        annotate(table, small, keep_draws=False, model_draws=200)


def test_reanalyse_refused_before_the_first_annotation(monkeypatch):
    monkeypatch.setattr(analysis_module, "annotate_outcomes", _never)
    settings = ReanalysisSettings(annotation=AnnotationSettings(n=100_000), draws=0, uncertainty_draws=100)
    with pytest.raises(InputError, match="100 parameter-uncertainty draws .* subject-time points"):
        analysis_module.reanalyse(settings=settings)
    # the same reanalysis with few subjects passes the check (and then annotates)
    with pytest.raises(AssertionError, match="before the limit"):
        analysis_module.reanalyse(settings=replace(settings, annotation=AnnotationSettings(n=1000)))


def test_plan_refused_before_the_population_is_drawn(monkeypatch, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[drug]\nname = 'naltrexone'\n[[doses]]\ntime_h = 0\namount_mg = 50\n[[assessments]]\n"
                    "label = 't'\ntime_h = 2\n[population]\nn = 100000\n[design]\nkind = 'within'\nisi_days = 15\n")
    monkeypatch.setattr(plan_module, "VirtualPopulation", _never)
    with pytest.raises(InputError, match=r"p\.toml: population\.n: .* use \[population\] n <= (\d+)") as err:
        plan_study(load_plan_scenario(path), source=path)
    n_max = int(err.value.args[0].split("n <= ")[1].split(",")[0])
    # the advertised n fits (the check passes and the population is drawn)
    path.write_text(path.read_text().replace("n = 100000", f"n = {n_max}"))
    with pytest.raises(AssertionError, match="before the limit"):
        plan_study(load_plan_scenario(path), source=path)


def test_annotate_advertised_n_is_the_largest_accepted(monkeypatch):
    """An annotation point costs ANNOTATION_POINT_COST of simulate's: the advertised n fits, one more does not."""
    monkeypatch.setattr(annotate_module, "_annotate_segments", _never)
    table = load_outcomes(None)
    settings = AnnotationSettings(n=100_000, grid_points=1000)
    with pytest.raises(InputError, match=r"an annotation point costs 2\), .* use n <= (\d+)") as err:
        annotate(table, settings, keep_draws=False)
    assert "\n" not in err.value.args[0]
    n_max = int(err.value.args[0].split("n <= ")[1].split(",")[0])
    points = annotation_work(table, settings)[1]
    assert ANNOTATION_POINT_COST * n_max * points <= MAX_SUBJECT_POINTS < ANNOTATION_POINT_COST * (n_max + 1) * points
    with pytest.raises(InputError, match=f"{n_max + 1} virtual subjects"):
        annotate(table, replace(settings, n=n_max + 1), keep_draws=False)
    with pytest.raises(AssertionError, match="before the limit"):  # the check passes, the model call starts
        annotate(table, replace(settings, n=n_max), keep_draws=False)


def test_default_reanalyse_limit_counts_annotation_points_at_their_cost(monkeypatch):
    """A default reanalysis at n = 100,000 (95 s of CPU measured) is refused; the largest accepted n is the one
    whose annotation points, at ANNOTATION_POINT_COST each, fit MAX_SUBJECT_POINTS."""
    table = load_outcomes(None)
    totals = []

    def fits(n):
        settings = ReanalysisSettings(annotation=AnnotationSettings(n=n))
        try:
            analysis_module._check_work(table, settings, settings.uncertainty_draws)
        except InputError as err:
            totals.append(int(err.args[0].split(" evaluate ")[1].split(" ")[0].replace(",", "")))
            return False
        return True

    assert not fits(100_000)
    lo, hi = 2, 100_000
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    # just over the limit: its costed points exceed the budget, though uncosted they would have fitted
    assert fits(lo) and not fits(lo + 1)
    assert ANNOTATION_POINT_COST * totals[-1] > MAX_SUBJECT_POINTS >= totals[-1]
    monkeypatch.setattr(analysis_module, "annotate_outcomes", _never)
    with pytest.raises(InputError, match=rf"n = {lo + 1} each.*\(an annotation point costs 2\), more than one run"):
        analysis_module.reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=lo + 1)))
    # just under: the check passes and the first annotation starts
    with pytest.raises(AssertionError, match="before the limit"):
        analysis_module.reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=lo)))
