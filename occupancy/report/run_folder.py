"""``blockade run``'s output folder: every task's files plus one self-contained ``report.html``.

The folder is built in a staging directory and swapped in only when complete
(:func:`occupancy.atomic_output.atomic_directory`), so an interrupted run never leaves a half-old,
half-new report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUTPUT = Path("blockade-output")


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


def _presenters(task: str):
    """The functions that write a task's files and build its report section."""
    if task == "simulate":
        from occupancy.report.simulation import simulation_report_section, write_simulation_outputs

        return write_simulation_outputs, simulation_report_section
    if task == "plan":
        from occupancy.report.plan import plan_report_section, write_plan_outputs

        return write_plan_outputs, plan_report_section
    from occupancy.report.reanalysis import reanalysis_report_section, write_reanalysis_outputs

    return write_reanalysis_outputs, reanalysis_report_section


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
    from meta.atomic_write import write_text_atomic
    from occupancy.atomic_output import atomic_directory
    from occupancy.report.html import Report, render_report
    from occupancy.workflows.run import run_tasks

    run = run_tasks(scenario_path, progress=progress)
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as staging:
        sections = []
        parameters: list[tuple[str, str]] = []
        for task in run.tasks:
            folder = staging if len(run.tasks) == 1 else staging / task.task
            folder.mkdir(parents=True, exist_ok=True)
            write, section = _presenters(task.task)
            write(task.result, folder)
            sections.append(section(task.result))
            parameters += [(f"{task.task}: {k}" if len(run.tasks) > 1 else k, v) for k, v in task.parameters]
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        files.append("report.html")
        report = Report(title=run.title, scenario_name=run.scenario_name, scenario_text=run.scenario_text,
                        parameters=tuple(parameters), sections=tuple(sections), files=tuple(sorted(files)))
        write_text_atomic(staging / "report.html", render_report(report))
    return RunOutcome(tasks=tuple(t.task for t in run.tasks), out_dir=out_dir, files=tuple(sorted(files)))
