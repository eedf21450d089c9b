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
    sections: tuple = ()

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.html"

    def summary(self) -> str:
        listing = ", ".join(self.files)
        return f"ran {' + '.join(self.tasks)}; wrote {self.out_dir}/: {listing}"

    def key_numbers(self) -> str:
        """The report's key numbers as text (what ``blockade run`` prints)."""
        return key_numbers_text(self.sections)


def _presenters(task: str):
    """The functions that write a task's files and build its report section(s) (one, or a list)."""
    if task == "simulate":
        from occupancy.report.simulation import simulation_report_section, write_simulation_outputs

        return write_simulation_outputs, simulation_report_section
    if task == "plan":
        from occupancy.report.plan import plan_report_section, write_plan_outputs

        return write_plan_outputs, plan_report_section
    if task == "explore":
        from occupancy.report.explore import explore_report_sections, write_explore_folder

        return write_explore_folder, explore_report_sections
    from occupancy.report.reanalysis import reanalysis_report_section, write_reanalysis_outputs

    return write_reanalysis_outputs, reanalysis_report_section


def key_numbers_text(sections) -> str:
    """``label: value`` for every key number, under each section's title (the report's first table)."""
    lines = []
    for section in sections:
        if not section.key_numbers:
            continue
        if lines:
            lines.append("")
        lines.append(section.title)
        width = min(max(len(k.label) for k in section.key_numbers), 60)
        lines += [f"  {k.label:<{width}}  {k.value}" for k in section.key_numbers]
    return "\n".join(lines)


def write_report(directory: str | Path, title: str, sections, *, scenario_name: str = "", scenario_text: str = "",
                 parameters=()) -> Path:
    """Write ``report.html`` into ``directory``, listing the files already there (call it last)."""
    from meta.atomic_write import write_text_atomic
    from occupancy.report.html import Report, render_report

    directory = Path(directory)
    files = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()
                   and not p.name.startswith("."))
    files = sorted(set(files) | {"report.html"})
    report = Report(title=title, scenario_name=scenario_name, scenario_text=scenario_text,
                    parameters=tuple(parameters), sections=tuple(sections), files=tuple(files))
    return write_text_atomic(directory / "report.html", render_report(report))


def run_scenario(scenario_path: str | Path | None = None, out_dir: str | Path = DEFAULT_OUTPUT, *,
                 progress: bool = True, warn=None) -> RunOutcome:
    """Run a scenario file (or the bundled default) and write its folder with ``report.html``.

    Parameters
    ----------
    scenario_path : path, optional
        A TOML scenario of any task (or a bundled scenario's name); ``None`` runs the bundled default
        (reanalysis + planning example).
    out_dir : path
        Output folder.  It is claimed before anything is computed (checked, locked; see
        :func:`occupancy.atomic_output.claim_output_folder`) and replaced atomically at the end; a folder
        blockade did not write is refused.
    progress : bool
        Progress bars on stderr for the long steps.
    warn : callable, optional
        Receives notes about the folder (e.g. an interrupted earlier run that was recovered).
    """
    from occupancy.atomic_output import claim_output_folder
    from occupancy.workflows.run import run_tasks

    out_dir = Path(out_dir)
    with claim_output_folder(out_dir, "run") as out:
        for note in out.notes:
            if warn is not None:
                warn(note)
        run = run_tasks(scenario_path, progress=progress)
        sections = []
        with out.staging() as staging:
            parameters: list[tuple[str, str]] = []
            for task in run.tasks:
                folder = staging if len(run.tasks) == 1 else staging / task.task
                folder.mkdir(parents=True, exist_ok=True)
                write, section = _presenters(task.task)
                write(task.result, folder)
                made = section(task.result)
                sections += made if isinstance(made, (list, tuple)) else [made]
                parameters += [(f"{task.task}: {k}" if len(run.tasks) > 1 else k, v) for k, v in task.parameters]
            write_report(staging, run.title, sections, scenario_name=run.scenario_name,
                         scenario_text=run.scenario_text, parameters=parameters)
    return RunOutcome(tasks=tuple(t.task for t in run.tasks), out_dir=out_dir, files=out.files,
                      sections=tuple(sections))
