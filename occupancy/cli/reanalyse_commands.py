"""``blockade annotate`` and ``blockade reanalyse``: blockade annotation and the blockade-adjusted reanalysis.

Without a DATA file both commands use the bundled Løseth, Trøstheim & Leknes (2024) tables.  Everything is
computed before anything is written, so bad input (one-line error, exit 2) leaves no files behind; ``--out``
is written atomically.
"""

from __future__ import annotations

import click

from occupancy.cli.group import main
from occupancy.cli.options import HALF_LIFE_HELP

_MODEL_OPTIONS = [
    click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False, path_type=str),
                 help="Reanalysis scenario (TOML: [model], [population], [reanalysis])."),
    click.option("--model", type=click.Choice(["pkpd", "washout", "emax"]), default=None,
                 help="Blockade model (default pkpd, or the scenario's; washout and emax for comparison). A model "
                      "other than the scenario's drops its [model] overrides and [population] log-SDs."),
    click.option("--hysteresis", type=click.Choice(["effect_compartment", "binding_kinetics"]), default=None,
                 help="pkpd only: effect_compartment (default) or binding_kinetics, each with its own fitted "
                      "parameters."),
    click.option("--half-life", "half_life_h", type=str, default=None, help=HALF_LIFE_HELP),
    click.option("--n", "n", type=int, default=None,
                 help="Virtual subjects, 2 to 100000 (0 = typical subject only; default 1000)."),
    click.option("--seed", type=int, default=None, help="Seed of the virtual population, 0 to 4294967295."),
    click.option("--window", "window_point", type=click.Choice(["mean", "start", "end"]), default=None,
                 help="Summarise each assessment window by its time average (default), start or end."),
]


def _with_model_options(func):
    for option in reversed(_MODEL_OPTIONS):
        func = option(func)
    return func


def _settings(scenario_path, model, hysteresis, half_life_h, n, seed, window_point, draws=None,
              uncertainty_draws=None, progress=False):
    """Settings and the scenario's ``[reanalysis] data`` path (None when the scenario names no data)."""
    from occupancy.workflows.reanalysis.settings import (
        load_reanalysis_scenario, scenario_data_path, settings_from_scenario,
    )

    from occupancy.cli.options import check_population
    from occupancy.simulation.scenario import ModelSection, check_value

    check_population(n, seed, allow_typical=True)
    if draws is not None:
        from occupancy.workflows.reanalysis.settings import ReanalysisSection

        check_value(ReanalysisSection, "draws", draws, "--draws")
        if draws == 1:
            from occupancy.errors import InputError

            raise InputError("--draws: must be 0 (none) or >= 2 (got 1)")
    if uncertainty_draws is not None:
        from occupancy.workflows.reanalysis.settings import ReanalysisSection

        check_value(ReanalysisSection, "uncertainty_draws", uncertainty_draws, "--uncertainty-draws")
        if uncertainty_draws == 1:
            from occupancy.errors import InputError

            raise InputError("--uncertainty-draws: must be 0 (none) or >= 2 (got 1)")
    if half_life_h is not None:
        from occupancy.dosing.quantities import parse_time_h

        half_life_h = check_value(ModelSection, "half_life_h", parse_time_h(half_life_h, what="--half-life"),
                                  "--half-life (h)")
    scenario = load_reanalysis_scenario(scenario_path) if scenario_path else None
    settings = settings_from_scenario(scenario, model=model, hysteresis=hysteresis, half_life_h=half_life_h, n=n,
                                      seed=seed, draws=draws, uncertainty_draws=uncertainty_draws,
                                      window_point=window_point, progress=progress)
    return settings, scenario_data_path(scenario, scenario_path)


def _warn(messages, quiet: bool) -> None:
    """The warnings on stderr, except notes about the bundled review's own rows (those are in the report's data
    section and the JSON's warnings, not repeated on every run)."""
    from occupancy.annotation.literature import is_bundled_data_note

    if quiet:
        return
    from meta.cli.group import printable

    for text in messages:  # users' study ids and labels: control characters escaped
        if not is_bundled_data_note(text):
            click.echo(f"blockade: warning: {printable(text)}", err=True)


@main.command("annotate")
@click.argument("data", required=False, type=click.Path(dir_okay=False, path_type=str))
@_with_model_options
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=str),
              help="Write the annotated table to this CSV file.")
@click.option("--json", "as_json", is_flag=True, help="Print the annotation as JSON on stdout.")
@click.option("--model-draws", "model_draws", type=int, default=None,
              help="Model uncertainty (pkpd): re-annotate with this many posterior draws pooled over the admissible "
                   "structures and add MOR_contrast_model_median/_lo/_hi and MOR_contrast_structures_min/_max "
                   "(2 to 10000; 40 or more for a 95 % interval; default: none).")
@click.option("--quiet", is_flag=True, help="No warnings and no progress bar on stderr.")
def annotate_command(data, scenario_path, model, hysteresis, half_life_h, n, seed, window_point, out_file, as_json,
                     model_draws, quiet):
    """Annotate each outcome with MOR/KOR/DOR blockade in the drug and placebo conditions.

    DATA is an outcome CSV (columns: study_id, design, dose_mg, assess_min_h, assess_max_h; isi_days for
    within designs; see the docs, "Reanalyse your own meta-analysis"); without DATA the review's 17
    bundled outcomes are used.
    """
    from occupancy.annotation.annotate import annotate

    from occupancy.cli.output import check_output_file

    settings, scenario_data = _settings(scenario_path, model, hysteresis, half_life_h, n, seed, window_point)
    source = data if data is not None else scenario_data
    check_output_file(out_file, inputs=(source,))
    if model_draws is not None:
        from occupancy.simulation.scenario import UncertaintySection, check_value

        check_value(UncertaintySection, "n", model_draws, "--model-draws")
    result = annotate(source, settings.annotation, keep_draws=False, progress=not quiet and not as_json,
                      model_draws=model_draws or 0, model_seed=settings.uncertainty_seed)
    from meta.csv_safety import csv_text as safe_csv

    csv_text = safe_csv(result.table, index=False, float_format="%.6g") if out_file else None
    _warn(result.warnings, quiet)
    if out_file:
        from meta.atomic_write import write_text_atomic

        write_text_atomic(out_file, csv_text)
    if as_json:
        _echo_json(result)
    else:
        # the table is the data: its notes about the bundled rows stay under it, once (not on stderr)
        click.echo(result.summary() if quiet else _strip_warnings(result.summary(), keep_data_notes=True))
        if out_file:
            click.echo(f"\nwrote {out_file}")


def _scenario_text(scenario_path) -> tuple[str, str]:
    """The scenario's name and text for the report (the command line when there is no scenario)."""
    import sys

    if scenario_path:
        from occupancy.bundled import resolve_scenario

        path = resolve_scenario(scenario_path)
        return path.name, path.read_text(encoding="utf-8")
    return "command line", "# command line\nblockade " + " ".join(sys.argv[1:])


def _echo_json(result) -> None:
    """The result's JSON on stdout, its long lists streamed (bounded memory for any table size)."""
    import sys

    stream = sys.stdout
    result.write_json(stream)
    stream.write("\n")
    stream.flush()


def _strip_warnings(text: str, *, keep_data_notes: bool = False) -> str:
    """The summary without its warning lines (they went to stderr already), optionally keeping the notes about
    the bundled review's rows (which do not go to stderr)."""
    from occupancy.annotation.literature import is_bundled_data_note

    def keep(line: str) -> bool:
        if not line.startswith("warning: "):
            return True
        return keep_data_notes and is_bundled_data_note(line[len("warning: "):])

    return "\n".join(line for line in text.splitlines() if keep(line))


@main.command("reanalyse")
@click.argument("data", required=False, type=click.Path(dir_okay=False, path_type=str))
@_with_model_options
@click.option("--draws", type=int, default=None,
              help="Monte Carlo draws of the population parameters for the sensitivity analysis (0 = none, "
                   "or 2 to 10000; default 200).")
@click.option("--uncertainty-draws", "uncertainty_draws", type=int, default=None,
              help="pkpd: parameter sets drawn from the fit's uncertainty, each re-annotating every outcome, for the "
                   "sensitivity analysis (0 = none, or 2 to 1000; default 20).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str),
              help="Write report.html, the annotated table, results JSON, forest and bubble plots (PNG+SVG) to this "
                   "folder (replaced as a whole; only a folder blockade wrote is replaced).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout (I2 in percent, as metafor).")
@click.option("--quiet", is_flag=True, help="No progress bar and no warnings on stderr.")
def reanalyse_command(data, scenario_path, model, hysteresis, half_life_h, n, seed, window_point, draws,
                      uncertainty_draws, out_dir, as_json, quiet):
    """Blockade-adjusted reanalysis: pooled g, heterogeneity (I^2 in percent), meta-regression on the MOR
    contrast, adjusted estimates.

    Without DATA: the bundled review (random-effects on its 8 study aggregates, 17 outcomes annotated).
    With an outcome-level DATA.csv (yi/vi or means/SDs/ns): a three-level model (outcomes within studies).
    """
    from occupancy.workflows.reanalysis.analysis import reanalyse

    from occupancy.cli.output import output_folder

    settings, scenario_data = _settings(scenario_path, model, hysteresis, half_life_h, n, seed, window_point,
                                        draws=draws, uncertainty_draws=uncertainty_draws, progress=not quiet)
    with output_folder(out_dir, "reanalyse", quiet) as out:
        result = reanalyse(data if data is not None else scenario_data, settings)
        if out is not None:
            from occupancy.report.reanalysis import reanalysis_report_section, write_reanalysis_outputs
            from occupancy.report.run_folder import write_report

            def build(staging):
                write_reanalysis_outputs(result, staging)
                name, text = _scenario_text(scenario_path)
                from occupancy.workflows.run import annotation_parameters

                params = list(annotation_parameters(settings.annotation))
                write_report(staging, "Blockade-adjusted reanalysis", [reanalysis_report_section(result)],
                             scenario_name=name, scenario_text=text, parameters=params)

            out.write(build)
    _warn(result.warnings, quiet)
    if as_json:
        _echo_json(result)
    else:
        click.echo(_strip_warnings(result.summary()))
    if out_dir and not quiet:
        click.echo(f"wrote {out_dir}/: {', '.join(out.files)}", err=True)
