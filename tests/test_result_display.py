"""Notebook-friendly results (issue 20, item 8): every result class has a short ``repr``, an HTML view that starts
with the key numbers, ``.summary()`` and ``.to_frame()``.

The test is generic: it collects every subclass of :class:`meta.display.ResultDisplay` and needs one small
instance of each from :data:`FACTORIES`, so a new result class without an entry here fails the first test.
"""

from __future__ import annotations

import html
import importlib
import pkgutil

import numpy as np
import pandas as pd
import pytest

import meta
import occupancy
from meta.display import MAX_REPR, ResultDisplay

YI = np.array([-0.31, -0.12, -0.25, 0.05, -0.2, -0.4, -0.1, -0.28])
VI = np.array([0.02, 0.035, 0.015, 0.05, 0.03, 0.025, 0.04, 0.022])
STUDY = np.array([1, 1, 2, 2, 3, 4, 4, 5])


def _import_all():
    """Import every module of meta and occupancy (except the app and CLI) so every result class is defined."""
    for package in (meta, occupancy):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if any(part in info.name for part in (".app", ".cli", "__main__")):
                continue
            importlib.import_module(info.name)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _uni():
    from meta.univariate import fit_random_effects

    return fit_random_effects(YI, VI)


def _ml():
    from meta.multilevel import fit_multilevel

    return fit_multilevel(YI, VI, [STUDY, np.arange(YI.size)])


def _simulation():
    from occupancy.dosing.schedule import Schedule
    from occupancy.models import get_model
    from occupancy.simulation.simulate import simulate

    return simulate(get_model("naltrexone"), Schedule.single(50), [("task", 1.5), ("a week later", 169.5)], n=50)


def _plan():
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.planning.design import PlanScenario
    from occupancy.workflows.planning.plan import plan_study

    data = {"drug": {"name": "naltrexone"}, "doses": [{"time_h": 0.0, "amount_mg": 50.0}],
            "assessments": [{"label": "task", "time_h": 1.5}], "population": {"n": 100, "seed": 1},
            "design": {"kind": "within", "isi_days": 7.0, "participants": 40}}
    return plan_study(scenario_from_dict(data, "p", PlanScenario))


@pytest.fixture(scope="module")
def reanalysis():
    from occupancy.annotation.annotate import AnnotationSettings
    from occupancy.workflows.reanalysis.analysis import reanalyse
    from occupancy.workflows.reanalysis.settings import ReanalysisSettings

    return reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=0, progress=False,
                                                 sensitivity_models=(), sensitivity_half_lives_h=(),
                                                 sensitivity_windows=(), uncertainty_draws=0))


def _partial():
    """The PartialReanalysis a reanalysis reports before its draws (the run is stopped right there)."""
    from occupancy.annotation.annotate import AnnotationSettings
    from occupancy.workflows.reanalysis.analysis import reanalyse
    from occupancy.workflows.reanalysis.settings import ReanalysisSettings

    seen = []

    class Stop(Exception):
        pass

    def keep(partial):
        seen.append(partial)
        raise Stop()

    with pytest.raises(Stop):
        reanalyse(settings=ReanalysisSettings(annotation=AnnotationSettings(n=0), draws=0, progress=False),
                  on_partial=keep)
    return seen[0]


FACTORIES = {
    "UnivariateResult": lambda r: _uni(),
    "MultilevelResult": lambda r: _ml(),
    "LeaveOneOut": lambda r: __import__("meta.diagnostics", fromlist=["x"]).leave_one_out(_uni()),
    "StudentizedResiduals": lambda r: __import__("meta.diagnostics", fromlist=["x"]).rstudent(_uni()),
    "InfluenceResult": lambda r: __import__("meta.diagnostics", fromlist=["x"]).influence(_uni()),
    "WaldTest": lambda r: __import__("meta.hypothesis_tests", fromlist=["x"]).wald_test(_uni()),
    "LRTComparison": lambda r: __import__("meta.hypothesis_tests", fromlist=["x"]).lrt(
        __import__("meta.univariate", fromlist=["x"]).fit_random_effects(YI, VI, method="ML"),
        __import__("meta.univariate", fromlist=["x"]).fit_random_effects(YI, VI, method="FE")),
    "RobustResult": lambda r: __import__("meta.cluster_robust", fromlist=["x"]).robust(_ml(), STUDY),
    "RobustWaldTest": lambda r: __import__("meta.cluster_robust", fromlist=["x"]).robust(_ml(), STUDY).wald_test(),
    "Tau2CI": lambda r: __import__("meta.confint", fromlist=["x"]).tau2_ci(_uni()),
    "StudyPowerResult": lambda r: __import__("meta.power", fromlist=["x"]).study_power(np.sqrt(VI), 0.2),
    "MetaPowerResult": lambda r: __import__("meta.power", fromlist=["x"]).mpower(0.2, 40, 8, 0.5),
    "PredictionResult": lambda r: _uni().predict(),
    "EggerResult": lambda r: __import__("meta.small_study", fromlist=["x"]).egger_test(YI, VI),
    "PetPeeseResult": lambda r: __import__("meta.small_study", fromlist=["x"]).pet_peese(YI, VI),
    "TrimFillResult": lambda r: __import__("meta.small_study", fromlist=["x"]).trim_and_fill(YI, VI),
    "EffectSizes": lambda r: __import__("meta.effect_sizes", fromlist=["x"]).smd(
        m1=[1.0, 2.0], m2=[0.5, 1.0], sd1=[1.0, 1.2], sd2=[1.1, 1.0], n1=[20, 30], n2=[20, 30]),
    "AggregateResult": lambda r: __import__("meta.aggregate", fromlist=["x"]).aggregate_estimates(YI, VI, STUDY, 0.6),
    "SimulationResult": lambda r: _simulation(),
    "PlanResult": lambda r: _plan(),
    "ReanalysisResult": lambda r: r,
    "PartialReanalysis": lambda r: _partial(),
    "Annotation": lambda r: r.annotation,
}


def test_every_result_class_is_covered():
    _import_all()
    names = {cls.__name__ for cls in _subclasses(ResultDisplay)}
    assert names == set(FACTORIES), (sorted(names - set(FACTORIES)), sorted(set(FACTORIES) - names))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_result_is_notebook_friendly(name, reanalysis):
    result = FACTORIES[name](reanalysis)
    assert type(result).__name__ == name or name == "RobustWaldTest" and result is not None
    text = repr(result)
    assert text.startswith(f"<{type(result).__name__}: ") and len(text) <= MAX_REPR < 500, (len(text), text)
    keys = result.key_numbers()
    assert keys and all(isinstance(k, str) and isinstance(v, str) and v for k, v in keys)
    page = result._repr_html_()
    first_value = html.escape(keys[0][1])
    assert page.index("class='key-numbers'") < page.index("Full summary")  # key numbers first
    assert first_value in page[: page.index("Full summary")]
    summary = result.summary()
    assert isinstance(summary, str) and summary.strip()
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0


def test_the_reanalysis_repr_is_short_and_names_the_adjusted_estimates(reanalysis):
    text = repr(reanalysis)
    assert len(text) < 500 and "blockade-adjusted g (rescaled)" in text and "pooled g" in text


def test_simulation_says_which_number_is_the_typical_subject():
    r = _simulation()
    assert "typical subject" in repr(r) and "typical subject" in r.reading()
    assert "mean" in r.reading()  # and why the plan's population mean differs
    frame = r.to_frame()
    assert list(frame["label"]) == ["task", "a week later"]
    assert frame["MOR"].tolist() == [a["MOR"] for a in r.assessments]
