"""``blockade plan``: the study-design planner (timing, washout, power, tablets) for one scenario file.

The command only parses, calls :func:`occupancy.workflows.planning.plan.plan_study` and writes; all numbers
come from the library.  Bad input raises :class:`~occupancy.errors.InputError`, which the group turns into one line on
stderr and exit status 2 before anything is written.
"""

from __future__ import annotations

import click

from occupancy.cli.group import main


@main.command("plan")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Write report.html, plan.json, plan_*.csv and the timeline and power-curve figures (PNG+SVG) "
                   "into DIR (built in a temporary folder and swapped in only when complete; only a folder blockade "
                   "wrote is replaced).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="Nothing on stderr (no warnings, no list of files written).")
def plan_command(scenario: str, out_dir: str | None, as_json: bool, quiet: bool) -> None:
    """Plan a naltrexone/naloxone study from SCENARIO.toml (a simulate scenario plus [design]).

    \b
    Reports blockade at every assessment of every session (with residual blockade carried into later
    sessions of a crossover), the minimum delay after dosing for reliable >= 90 % MOR blockade, the
    minimum intersession interval, power and N with and without the blockade attenuation, tablets and
    cost.  Example:  blockade plan plan_crossover_7d --out plan-7d
    """
    import json

    from occupancy.workflows.planning.design import load_plan_scenario

    from occupancy.workflows.planning.plan import plan_study

    from occupancy.cli.output import output_folder

    parsed = load_plan_scenario(scenario)
    written = ()
    with output_folder(out_dir, "plan", quiet) as out:
        result = plan_study(parsed, source=scenario)
        if out is not None:
            from pathlib import Path

            from occupancy.bundled import resolve_scenario
            from occupancy.report.plan import plan_report_section, write_plan_outputs
            from occupancy.report.run_folder import write_report
            from occupancy.workflows.run import model_parameters

            path = resolve_scenario(scenario)

            def build(staging):
                write_plan_outputs(result, staging)
                write_report(staging, "Study-design plan", [plan_report_section(result)], scenario_name=path.name,
                             scenario_text=path.read_text(encoding="utf-8"),
                             parameters=model_parameters(parsed.build_model()))

            written = out.write(build)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(result.summary())
    if written and not quiet:
        click.echo(f"wrote {len(written)} files to {out_dir}: {', '.join(written)}", err=True)
    if as_json and not quiet:
        from meta.cli.group import printable

        for warning in result.warnings:
            click.echo(f"blockade: warning: {printable(warning)}", err=True)
