"""``blockade run``: any scenario file (or the bundled default) into one folder with ``report.html``."""

from __future__ import annotations

import click

from occupancy.cli.group import main


@main.command("run")
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", default="blockade-output", show_default=True, type=click.Path(file_okay=False),
              help="Output folder (replaced atomically if it exists).")
@click.option("--quiet", is_flag=True, help="No progress bars or messages on stderr.")
def run_command(scenario: str | None, out_dir: str, quiet: bool) -> None:
    """Run SCENARIO.toml (simulate, plan, reanalyse or explore: the file says which) into one folder.

    Without SCENARIO, runs the bundled default: the blockade-adjusted reanalysis of Løseth et al. (2024)
    plus a planning example.  SCENARIO may be a bundled scenario's name (blockade run single_dose_50mg).
    Prints the key numbers and the report's path; the folder holds report.html (self-contained: open it in a
    browser), the CSV/JSON results and the figures.  An explore scenario writes what `blockade explore
    --out DIR` writes (designs.parquet, explore.json, figures); run keeps no resume state, so an interrupted
    search starts again (use blockade explore --out DIR --resume for long searches).
    """
    from occupancy.report.run_folder import run_scenario

    from occupancy.cli.output import warn

    outcome = run_scenario(scenario, out_dir, progress=not quiet, warn=lambda text: warn(text, quiet))
    if not quiet:
        click.echo(outcome.summary(), err=True)
    numbers = outcome.key_numbers()
    if numbers:
        click.echo(numbers)
        click.echo("")
    click.echo(f"report: {outcome.report_path}")
