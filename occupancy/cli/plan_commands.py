"""``blockade plan``: the study-design planner (timing, washout, power, tablets) for one scenario file.

The command only parses, calls :func:`occupancy.workflows.planning.plan.plan_study` and writes; all numbers
come from the library.  Bad input raises :class:`~occupancy.errors.InputError`, which the group turns into one line on
stderr and exit status 2 before anything is written.
"""

from __future__ import annotations

import click

from occupancy.cli.group import main
from occupancy.errors import InputError


_QUICK_DESIGN = {"--design": "kind", "--isi": "isi_days", "--participants": "participants", "--effect": "effect"}


def quick_plan_data(drug, doses, assess, design, isi, participants, effect, weight=None) -> dict:
    """The planning scenario (a TOML-shaped dict) of the quick form: what the equivalent file holds.

    ``--isi`` keeps its text (``7d``, ``168h``): the ``[design]`` field reads it with the same parser as a
    file's ``isi_days = "7d"``.
    """
    from occupancy.cli.options import quick_rows

    if not drug:
        raise InputError("--drug: the quick form needs --drug naltrexone or --drug naloxone (or give a SCENARIO file)")
    if not doses:
        raise InputError("--dose: the quick form needs at least one --dose, e.g. --dose 50mg@0h")
    if not assess:
        raise InputError("--assess: the planner needs at least one --assess time, e.g. --assess 1.5h")
    if not design:
        raise InputError("--design: give --design within (crossover) or --design between")
    dose_rows, assessments = quick_rows(doses, assess)
    section = {"kind": design}
    for option, key in _QUICK_DESIGN.items():
        value = {"--isi": isi, "--participants": participants, "--effect": effect}.get(option)
        if value is not None:
            section[key] = value
    data = {"task": "plan", "drug": {"name": drug}, "doses": dose_rows, "assessments": assessments,
            "design": section}
    if weight is not None:
        data["subject"] = {"weight_kg": weight}
    return data


def _quick_plan_scenario(data):
    """Validate the quick form's scenario; field names in errors become the options that set them."""
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.planning.design import PlanScenario

    try:
        return scenario_from_dict(data, "command line", PlanScenario)
    except InputError as exc:
        msg = str(exc)
        for option, key in _QUICK_DESIGN.items():
            msg = msg.replace(f"design.{key}", option)
        msg = msg.replace("subject.weight_kg", "--weight").replace("[subject] weight_kg", "--weight")
        raise InputError(msg) from None


@main.command("plan")
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--drug", type=str, help="Quick form: naltrexone or naloxone.")
@click.option("--dose", "doses", multiple=True,
              help="Quick form: a dose of each drug session, relative to the session start (50mg@0h, 50mg@09:00); "
                   "repeatable.  Same syntax as blockade simulate --dose.")
@click.option("--assess", multiple=True,
              help="Quick form: assessment times of every session (1.5h, 1h30min, or clock times such as 10:30 "
                   "counted from the first dose's clock time); comma-separated or repeated.")
@click.option("--design", "design", type=click.Choice(["within", "between"]),
              help="Quick form: within (counterbalanced crossover) or between (drug and placebo groups).")
@click.option("--isi", type=str, help="Quick form, within: time between session starts with a unit (7d, 15d, 1w).")
@click.option("--participants", type=int, help="Quick form: planned total N (leave out to get the N needed).")
@click.option("--effect", type=float, help="Quick form: Hedges' g under full blockade (default -0.2, the review's).")
@click.option("--weight", type=float, help="Quick form: body weight (kg), for per-kg doses.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Write report.html, plan.json, plan_*.csv and the timeline and power-curve figures (PNG+SVG) "
                   "into DIR (built in a temporary folder and swapped in only when complete; only a folder blockade "
                   "wrote is replaced).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole plan as JSON on stdout.")
@click.option("--model-draws", "model_draws", type=int, default=None,
              help="Model uncertainty (pkpd): posterior draws pooled over the admissible structures behind the "
                   "model_uncertainty ranges of the minimum delay, ISI, P(MOR >= 90 %) and attenuated power; "
                   "0 = off, else 2 to 10000 (default: [uncertainty] n, else 40).")
@click.option("--quiet", is_flag=True, help="Nothing on stderr (no progress bar, no warnings, no list of files "
                                            "written).")
def plan_command(scenario: str | None, drug, doses, assess, design, isi, participants, effect, weight,
                 out_dir: str | None, as_json: bool, model_draws: int | None, quiet: bool) -> None:
    """Plan a naltrexone/naloxone study from SCENARIO.toml (a simulate scenario plus [design]) or the quick form.

    \b
    Reports blockade at every assessment of every session (with residual blockade carried into later
    sessions of a crossover), the minimum delay after dosing for reliable >= 90 % MOR blockade, the
    minimum intersession interval, power and N with and without the blockade attenuation, tablets and
    cost.
    \b
    From a file:   blockade plan plan_crossover_7d --out plan-7d
    Quick form:    blockade plan --drug naltrexone --dose 50mg@0h --assess 1.5h --design within --isi 7d
                   --participants 40 --effect -0.2
    The quick form gives the same plan as the file with the same keys (the other [design] keys at their defaults,
    1000 virtual subjects, seed 1).
    """

    from occupancy.workflows.planning.design import load_plan_scenario

    from occupancy.workflows.planning.plan import plan_study

    from occupancy.cli.output import echo_result, output_folder

    import sys

    if model_draws is not None and model_draws != 0:
        from occupancy.simulation.scenario import UncertaintySection, check_value

        check_value(UncertaintySection, "n", model_draws, "--model-draws")
    quick = any(v not in (None, ()) for v in (drug, doses, assess, design, isi, participants, effect, weight))
    if scenario and quick:
        raise InputError("give either a SCENARIO file or the quick form (--drug/--dose/--assess/--design/...), not both")
    if not scenario and not quick:
        raise InputError("Missing argument 'SCENARIO': give a SCENARIO.toml file or the quick form (--drug --dose "
                         "--assess --design ...; see 'blockade plan --help')")
    scenario_text = None
    if quick:
        import shlex

        from occupancy.simulation.scenario_toml import toml_dumps

        data = quick_plan_data(drug, doses, assess, design, isi, participants, effect, weight)
        parsed = _quick_plan_scenario(data)
        given = [("--drug", drug), *(("--dose", d) for d in doses), *(("--assess", a) for a in assess),
                 ("--design", design), ("--isi", isi), ("--participants", participants), ("--effect", effect),
                 ("--weight", weight)]
        command = " ".join(f"{o} {shlex.quote(str(v))}" for o, v in given if v is not None)
        scenario_text = f"# blockade plan {command}\n# is the same as this scenario file:\n" + toml_dumps(data)
    else:
        parsed = load_plan_scenario(scenario)
    written = ()
    with output_folder(out_dir, "plan", quiet) as out:
        result = plan_study(parsed, source=scenario or "", model_draws=model_draws,
                            progress=not quiet and sys.stderr.isatty())
        if out is not None:
            from occupancy.bundled import resolve_scenario
            from occupancy.report.plan import plan_report_section, write_plan_outputs
            from occupancy.report.run_folder import write_report
            from occupancy.workflows.run import model_parameters

            if scenario_text is None:
                path = resolve_scenario(scenario)
                scenario_name, scenario_text = path.name, path.read_text(encoding="utf-8")
            else:
                scenario_name = "command line"

            def build(staging):
                write_plan_outputs(result, staging)
                write_report(staging, "Study-design plan", [plan_report_section(result)], scenario_name=scenario_name,
                             scenario_text=scenario_text,
                             parameters=model_parameters(parsed.build_model()))

            written = out.write(build)
    echo_result(result, as_json, written, out_dir, quiet)
    if as_json and not quiet:
        from meta.cli.group import printable

        for warning in result.warnings:
            click.echo(f"blockade: warning: {printable(warning)}", err=True)
