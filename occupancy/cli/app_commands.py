"""``blockade app``: start the web app (the optional extra ``[app]``)."""

from __future__ import annotations

import click

from occupancy.cli.group import main


@main.command("app")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default keeps the app on this machine.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab.")
def app_command(host: str, port: int, no_browser: bool) -> None:
    """Open the simulator, planner and reanalysis as a web page (Shiny; pip install ".[app]").

    \b
    Tabs: Simulate (doses, assessments, population, time course, dose curve), Plan (crossover or between
    design, washout, power, tablets) and Reanalyse (the bundled review or your outcome CSV).  Every tab
    downloads its scenario as TOML (blockade run FILE gives the same numbers) and uploads one back.
    """
    from occupancy.app import run_app

    run_app(host, port, launch_browser=not no_browser)
