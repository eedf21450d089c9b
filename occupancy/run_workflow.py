"""``blockade run``: run any scenario file (simulate, plan or reanalyse) into one folder with a report.

The folder holds ``report.html`` (self-contained), the CSV/JSON results and the figures of the task the
file describes.  Without a scenario the bundled default runs: the blockade-adjusted reanalysis of Løseth
et al. (2024) plus a planning example (``occupancy/scenarios/default_plan.toml``).

Notes
-----
Which task a file describes: its top-level ``task`` key when present, otherwise a ``[design]`` section
means ``plan``, a ``[reanalysis]`` section means ``reanalyse`` and anything else ``simulate``.  The folder
is built in a staging directory and swapped in only when complete
(:func:`occupancy.atomic_output.atomic_directory`), so an interrupted run never leaves a half-old,
half-new report.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

from occupancy.errors import InputError

TASKS = ("simulate", "plan", "reanalyse")
DEFAULT_OUTPUT = Path("blockade-output")
DEFAULT_PLAN_SCENARIO = "default_plan.toml"


@dataclass(frozen=True)
class RunOutcome:
    """What ``blockade run`` produced: the task(s), the folder and the files in it."""

    tasks: tuple[str, ...]
    out_dir: Path
    files: tuple[str, ...]

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    def summary(self) -> str:
        listing = ", ".join(self.files)
        return f"ran {' + '.join(self.tasks)}; wrote {self.out_dir}/: {listing}"


def scenario_task(data: dict, source: str) -> str:
    """The task a parsed scenario describes (see module Notes)."""
    task = data.get("task")
    if task is not None:
        if task not in TASKS:
            raise InputError(f"{source}: task: must be one of {', '.join(TASKS)} (got {task!r})")
        return task
    if "design" in data:
        return "plan"
    if "reanalysis" in data:
        return "reanalyse"
    return "simulate"


def _bundled_scenario(name: str) -> tuple[str, str]:
    text = resources.files("occupancy").joinpath("scenarios", name).read_text(encoding="utf-8")
    return name, text


@dataclass(frozen=True)
class _TaskRun:
    """One task's result with the functions that write its files and its report section."""

    task: str
    result: object
    write: Callable[[object, Path], object]
    section: Callable[[object], object]
    parameters: tuple[tuple[str, str], ...]


def _simulate(data: dict, source: str, progress: bool, path: Path | None = None) -> _TaskRun:
    from occupancy.scenario import scenario_from_dict
    from occupancy.simulation import simulate, simulation_report_section, write_simulation_outputs

    scenario = scenario_from_dict(data, source)
    result = simulate(scenario, progress=progress)
    params = _model_parameters(result.model)
    return _TaskRun("simulate", result, write_simulation_outputs, simulation_report_section, params)


def _plan(data: dict, source: str, progress: bool, path: Path | None = None) -> _TaskRun:
    from occupancy.planning import PlanScenario, plan_report_section, plan_study, write_plan_outputs
    from occupancy.scenario import scenario_from_dict

    scenario = scenario_from_dict(data, source, schema=PlanScenario)
    result = plan_study(scenario, source=source)
    params = _model_parameters(scenario.build_model())
    return _TaskRun("plan", result, write_plan_outputs, plan_report_section, params)


def _reanalyse(data: dict | None, source: str, progress: bool, path: Path | None = None) -> _TaskRun:
    from occupancy.reanalysis import (
        ReanalysisScenario, reanalyse, reanalysis_report_section, scenario_data_path, settings_from_scenario,
        write_reanalysis_outputs,
    )
    from occupancy.scenario import scenario_from_dict

    scenario = None if data is None else scenario_from_dict(data, source, schema=ReanalysisScenario)
    settings = settings_from_scenario(scenario, progress=progress)
    result = reanalyse(scenario_data_path(scenario, path), settings)
    ann = settings.annotation
    params = (("model", ann.model),) + tuple((k, f"{v:g}") for k, v in sorted(ann.model_params.items()))
    return _TaskRun("reanalyse", result, write_reanalysis_outputs, reanalysis_report_section, params)


_RUNNERS = {"simulate": _simulate, "plan": _plan, "reanalyse": _reanalyse}


def _model_parameters(model) -> tuple[tuple[str, str], ...]:
    rows = [("drug", model.drug), ("model", model.name)]
    for key, value in model.parameters().items():
        rows.append((key, f"{value:.6g}" if isinstance(value, float) else str(value)))
    return tuple(rows)


def run_scenario(scenario_path: str | Path | None = None, out_dir: str | Path = DEFAULT_OUTPUT, *,
                 progress: bool = True) -> RunOutcome:
    """Run a scenario file (or the bundled default) and write its folder with ``report.html``.

    Parameters
    ----------
    scenario_path : path, optional
        A TOML scenario of any task; ``None`` runs the bundled default (reanalysis + planning example).
    out_dir : path
        Output folder; an existing folder is replaced atomically.
    progress : bool
        Progress bars on stderr for the long steps.
    """
    from occupancy.atomic_output import atomic_directory, write_text_atomic
    from occupancy.report import Report, render_report
    from occupancy.scenario import read_scenario_toml

    if scenario_path is None:
        plan_name, plan_text = _bundled_scenario(DEFAULT_PLAN_SCENARIO)
        plan_data, _ = read_scenario_toml(text=plan_text, source=plan_name)
        runs = [
            _reanalyse(None, "bundled review", progress),
            _plan(plan_data, plan_name, progress),
        ]
        scenario_name = "bundled default (reanalysis of Løseth et al. 2024 + planning example)"
        scenario_text = "# reanalysis: package defaults (blockade reanalyse)\n\n" + plan_text
        title = "Blockade-adjusted reanalysis and a planning example"
    else:
        data, scenario_text = read_scenario_toml(scenario_path)
        source = Path(scenario_path).name
        task = scenario_task(data, source)
        runs = [_RUNNERS[task](data, source, progress, Path(scenario_path))]
        scenario_name = source
        title = {"simulate": "Blockade simulation", "plan": "Study-design plan",
                 "reanalyse": "Blockade-adjusted reanalysis"}[task]

    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as staging:
        sections = []
        parameters: list[tuple[str, str]] = []
        for run in runs:
            folder = staging if len(runs) == 1 else staging / run.task
            folder.mkdir(parents=True, exist_ok=True)
            run.write(run.result, folder)
            sections.append(run.section(run.result))
            parameters += [(f"{run.task}: {k}" if len(runs) > 1 else k, v) for k, v in run.parameters]
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        files.append("report.html")
        report = Report(title=title, scenario_name=scenario_name, scenario_text=scenario_text,
                        parameters=tuple(parameters), sections=tuple(sections), files=tuple(sorted(files)))
        write_text_atomic(staging / "report.html", render_report(report))
    return RunOutcome(tasks=tuple(r.task for r in runs), out_dir=out_dir, files=tuple(sorted(files)))
