"""Opioid-receptor blockade by naltrexone and naloxone: models, schedules, populations and workflows.

The pharmacology half of ``blockade``.  Statistics live in the separate :mod:`meta` package, which never
imports this one.  What a notebook user calls is importable from here; the names are resolved on first
use (PEP 562), so ``import occupancy`` stays cheap and the command line starts fast::

    from occupancy import Schedule, get_model, simulate
    result = simulate(get_model("naltrexone"), Schedule.single(50), [("task", 2.0)], n=1000, seed=1)

Code map (floors; a module imports only from its own floor or below — ``tests/test_layout.py``):

0. ``version``, ``errors``, ``atomic_output``, ``bundled``, ``json_stream``
1. ``models/`` (drug models), ``dosing/`` (schedules, quantity parsing)
2. ``simulation/`` (scenarios, time courses, populations, summaries), ``calibration/`` (targets, fits)
3. ``annotation/`` (literature tables, each outcome's blockade)
4. ``workflows/`` (planning, reanalysis, running a scenario file)
5. ``report/`` (figures, output folders, the HTML report)
6. ``cli/`` (the ``blockade`` command), ``app/`` (``blockade app``, the web page)
"""

from meta.lazy_exports import lazy_exports
from occupancy.version import __version__

#: Public name → module that defines it.
_API = {
    "get_model": "occupancy.models",
    "Schedule": "occupancy.dosing.schedule",
    "Dose": "occupancy.dosing.schedule",
    "load_scenario": "occupancy.simulation.scenario",
    "simulate": "occupancy.simulation.simulate",
    "simulate_population": "occupancy.simulation.population",
    "blockade_at": "occupancy.simulation.summaries",
    "time_above": "occupancy.simulation.summaries",
    "time_until_below": "occupancy.simulation.summaries",
    "residual_blockade": "occupancy.simulation.summaries",
    "annotate": "occupancy.annotation.annotate",
    "AnnotationSettings": "occupancy.annotation.annotate",
    "plan": "occupancy.workflows.planning.plan",
    "plan_design": "occupancy.workflows.planning.plan",
    "load_plan_scenario": "occupancy.workflows.planning.design",
    "reanalyse": "occupancy.workflows.reanalysis.analysis",
    "ReanalysisSettings": "occupancy.workflows.reanalysis.settings",
    "settings_from_scenario": "occupancy.workflows.reanalysis.settings",
    "run_scenario": "occupancy.report.run_folder",
    "InputError": "occupancy.errors",
}

__all__ = ["__version__", *_API]

__getattr__, __dir__ = lazy_exports(__name__, _API)
