"""``blockade run``'s workflow: which task a scenario file describes, and running it (or the default).

Without a scenario the bundled default runs: the blockade-adjusted reanalysis of Løseth et al. (2024)
plus a planning example (the bundled ``plan_crossover_15d.toml``).  This module computes and returns
the results; :func:`occupancy.report.run_folder.run_scenario` writes them into one folder with a report.

Notes
-----
Which task a file describes: its top-level ``task`` key when present, otherwise an ``[explore]`` section
means ``explore``, a ``[design]`` section ``plan``, a ``[reanalysis]`` section ``reanalyse`` and anything
else ``simulate``.

An ``explore`` scenario runs the design search of ``blockade explore`` (:func:`~occupancy.workflows.explore.
workflow.explore_study`) with its defaults: a local Dask cluster only when the search is large, no
``--scheduler``, no ``--force`` and no resume state (an interrupted ``blockade run`` starts again; use
``blockade explore --out DIR --resume`` for searches long enough to need resuming).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from occupancy.errors import InputError

TASKS = ("simulate", "plan", "reanalyse", "explore")


def scenario_task(data: dict, source: str) -> str:
    """The task a parsed scenario describes (see module Notes)."""
    task = data.get("task")
    if task is not None:
        if task not in TASKS:
            raise InputError(f"{source}: task: must be one of {', '.join(TASKS)} (got {task!r})")
        return task
    if "explore" in data:
        return "explore"
    if "design" in data:
        return "plan"
    if "reanalysis" in data:
        return "reanalyse"
    return "simulate"


def scenario_schema(task: str):
    """The pydantic schema of a task's scenario (``simulate`` → ``Scenario``, ``plan`` → ``PlanScenario``,
    ``reanalyse`` → ``ReanalysisScenario``, ``explore`` → ``ExploreScenario``)."""
    if task == "plan":
        from occupancy.workflows.planning.design import PlanScenario

        return PlanScenario
    if task == "reanalyse":
        from occupancy.workflows.reanalysis.settings import ReanalysisScenario

        return ReanalysisScenario
    if task == "explore":
        from occupancy.workflows.explore.space import ExploreScenario

        return ExploreScenario
    from occupancy.simulation.scenario import Scenario

    return Scenario


def validate_scenario(data: dict, source: str):
    """``(task, scenario)`` of a parsed scenario file, validated as ``blockade run`` validates it.

    Raises
    ------
    InputError
        One line naming ``source`` and the field (the message ``blockade run`` prints).
    """
    from occupancy.simulation.scenario import scenario_from_dict

    task = scenario_task(data, source)
    return task, scenario_from_dict(data, source, schema=scenario_schema(task))


def _bundled_scenario(name: str) -> tuple[str, str]:
    from occupancy.bundled import examples_dir

    return name, (examples_dir() / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class TaskResult:
    """One task's result and the model parameters it ran with (rows for the report's provenance table)."""

    task: str
    result: object
    parameters: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ScenarioRun:
    """Everything a scenario file (or the bundled default) produced, with what is needed to reproduce it."""

    tasks: tuple[TaskResult, ...]
    scenario_name: str
    scenario_text: str
    title: str


def _simulate(data: dict, source: str, progress: bool, path: Path | None = None) -> TaskResult:
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.simulation.simulate import simulate

    scenario = scenario_from_dict(data, source)
    result = simulate(scenario, progress=progress)
    return TaskResult("simulate", result, model_parameters(result.model))


def _plan(data: dict, source: str, progress: bool, path: Path | None = None) -> TaskResult:
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.planning.design import PlanScenario
    from occupancy.workflows.planning.plan import plan_study

    scenario = scenario_from_dict(data, source, schema=PlanScenario)
    result = plan_study(scenario, source=source)
    return TaskResult("plan", result, model_parameters(scenario.build_model()))


def _reanalyse(data: dict | None, source: str, progress: bool, path: Path | None = None) -> TaskResult:
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.reanalysis.analysis import reanalyse
    from occupancy.workflows.reanalysis.settings import (
        ReanalysisScenario, scenario_data_path, settings_from_scenario,
    )

    scenario = None if data is None else scenario_from_dict(data, source, schema=ReanalysisScenario)
    settings = settings_from_scenario(scenario, progress=progress)
    result = reanalyse(scenario_data_path(scenario, path), settings)
    return TaskResult("reanalyse", result, annotation_parameters(settings.annotation))


def _explore(data: dict, source: str, progress: bool, path: Path | None = None) -> TaskResult:
    """The design search of ``blockade explore`` (its defaults; no resume state, see module Notes)."""
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.explore.space import ExploreScenario
    from occupancy.workflows.explore.workflow import explore_study

    scenario = scenario_from_dict(data, source, schema=ExploreScenario)
    result = explore_study(scenario, source=source, progress=progress)
    return TaskResult("explore", result, model_parameters(scenario.build_model()))


def annotation_parameters(ann) -> tuple[tuple[str, str], ...]:
    """Report provenance rows of an annotation's model: its name and the parameters in use (overrides and, for
    pkpd, the hysteresis variant)."""
    model = ann.build_model()
    rows = [("model", ann.model)]
    if hasattr(model, "hysteresis"):
        rows.append(("hysteresis", str(model.hysteresis)))
    for k, v in sorted(ann.model_params.items()):
        if k != "hysteresis":
            rows.append((k, f"{v:g}" if isinstance(v, (int, float)) else str(v)))
    return tuple(rows)


_RUNNERS = {"simulate": _simulate, "plan": _plan, "reanalyse": _reanalyse, "explore": _explore}


def model_parameters(model) -> tuple[tuple[str, str], ...]:
    rows = [("drug", model.drug), ("model", model.name)]
    for key, value in model.parameters().items():
        rows.append((key, f"{value:.6g}" if isinstance(value, float) else str(value)))
    return tuple(rows)


def run_tasks(scenario_path: str | Path | None = None, *, progress: bool = True) -> ScenarioRun:
    """Run the task(s) of a scenario file, or the bundled default (reanalysis + planning example).

    Parameters
    ----------
    scenario_path : path, optional
        A TOML scenario of any task; ``None`` runs the bundled default.
    progress : bool
        Progress bars on stderr for the long steps.
    """
    from occupancy.simulation.scenario import read_scenario_toml

    if scenario_path is None:
        from occupancy.bundled import DEFAULT_PLAN

        plan_name, plan_text = _bundled_scenario(DEFAULT_PLAN)
        plan_data, _ = read_scenario_toml(text=plan_text, source=plan_name)
        tasks = (_reanalyse(None, "bundled review", progress), _plan(plan_data, plan_name, progress))
        return ScenarioRun(tasks, "bundled default (reanalysis of Løseth et al. 2024 + planning example)",
                           "# reanalysis: package defaults (blockade reanalyse)\n\n" + plan_text,
                           "Blockade-adjusted reanalysis and a planning example")
    from occupancy.bundled import resolve_scenario

    scenario_path = resolve_scenario(scenario_path)
    data, scenario_text = read_scenario_toml(scenario_path)
    source = scenario_path.name
    task = scenario_task(data, source)
    title = {"simulate": "Blockade simulation", "plan": "Study-design plan",
             "reanalyse": "Blockade-adjusted reanalysis", "explore": "Design search"}[task]
    return ScenarioRun((_RUNNERS[task](data, source, progress, Path(scenario_path)),), source, scenario_text, title)
