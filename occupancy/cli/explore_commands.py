"""``blockade explore``: search the design space under model uncertainty, locally or on a Dask cluster.

The command only parses, calls :func:`occupancy.workflows.explore.workflow.explore_study` and writes; all
numbers come from the library.  Bad input (an empty or unbounded space, too many designs without
``--force``, an unreachable scheduler) is one line on stderr and exit status 2, with nothing written.
"""

from __future__ import annotations

import click

from occupancy.cli.group import main


def _axis(text: str | None, option: str, integer: bool = False):
    """``"25,50,100"`` → a list; ``"7:21:7"`` → a range ``{from, to, step}`` (None when not given)."""
    from occupancy.errors import InputError

    if text is None:
        return None
    cast = int if integer else float
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3 or not all(p.strip() for p in parts):
                raise InputError(f"{option}: a range is FROM:TO:STEP (got {text!r}); an unbounded range cannot be "
                                 "searched")
            return {"from": float(parts[0]), "to": float(parts[1]), "step": float(parts[2])}
        values = [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option}: not a list of numbers or a FROM:TO:STEP range (got {text!r})") from None
    if not values:
        raise InputError(f"{option}: empty list (the design space would be empty)")
    return values


@main.command("explore")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Write designs.parquet (one row per design), explore.json, the Pareto figure and report.html into "
                   "DIR (swapped in when complete; finished chunks are kept beside it for --resume).")
@click.option("--json", "as_json", is_flag=True,
              help="Print {n_designs, n_draws, best, designs} as JSON on stdout (designs: the feasible ones, best first).")
@click.option("--resume", is_flag=True, help="Continue an interrupted search into the same --out (finished chunks are "
                                             "not computed again).")
@click.option("--scheduler", envvar="DASK_SCHEDULER_ADDRESS", default=None, metavar="tcp://HOST:PORT",
              help="Run the chunks on an existing Dask cluster (default: a local cluster, one worker per core; "
                   "env DASK_SCHEDULER_ADDRESS).")
@click.option("--workers", type=click.IntRange(0, 1024), default=None,
              help="Local worker processes (default: one per core; 0: in this process, no cluster).")
@click.option("--chunk-size", type=click.IntRange(1, 1_000_000), default=None,
              help="Designs per Dask task and per resumable part (default explore.chunk_size).")
@click.option("--force", is_flag=True, help="Search even when the grid holds more designs than explore.max_designs.")
@click.option("--draws", type=click.IntRange(0, 10_000), default=None,
              help="Model draws per structure (default explore.draws; 0: the fitted model only).")
@click.option("--dose", default=None, help="Quick form: doses (mg), e.g. 50,100,150 or 50:150:25.")
@click.option("--delay", default=None, help="Quick form: task time after the last dose (h), e.g. 2,4,6.")
@click.option("--isi", default=None, help="Quick form: intersession intervals (days), e.g. 14:35:7.")
@click.option("--sessions", default=None, help="Quick form: sessions per participant (within), e.g. 2,3.")
@click.option("--kind", default=None, help="Quick form: within, between or within,between.")
@click.option("--n", "participants", default=None, help="Quick form: total N, e.g. 100:400:20.")
@click.option("--level", type=float, default=None, help="Probability each constraint must reach (default 0.9).")
@click.option("--objective", type=click.Choice(["participant_days", "participants", "tablets", "cost"]),
              default=None, help="What to minimise among the feasible designs.")
@click.option("--quiet", is_flag=True, help="No progress bar, warnings or list of files on stderr.")
def explore_command(scenario, out_dir, as_json, resume, scheduler, workers, chunk_size, force, draws, dose, delay,
                    isi, sessions, kind, participants, level, objective, quiet) -> None:
    """Search doses, task times, ISIs, sessions, designs and N for the cheapest design that meets every
    constraint with the stated probability under model uncertainty.

    \b
    SCENARIO is a planning scenario with an [explore] section (or any plan scenario plus the quick-form
    options).  Examples:
      blockade explore explore_crossover.toml --out explore-out
      blockade explore plan_crossover_15d.toml --isi 14:35:7 --n 100:400:20 --delay 2,4,6
      blockade explore explore_crossover.toml --scheduler tcp://10.0.0.5:8786 --out explore-out
    """

    from occupancy.cli.output import echo_result, output_folder, warn
    from occupancy.errors import InputError
    from occupancy.workflows.explore.search import clear_state, prepare
    from occupancy.workflows.explore.space import load_explore_scenario
    from occupancy.workflows.explore.workflow import explore_study

    overrides = {}
    for key, text, integer in (("dose_mg", dose, False), ("delay_h", delay, False), ("isi_days", isi, False),
                               ("sessions", sessions, True), ("participants", participants, True)):
        value = _axis(text, f"--{key.split('_')[0] if key != 'participants' else 'n'}", integer)
        if value is not None:
            overrides[key] = value
    if kind is not None:
        overrides["kind"] = [k.strip() for k in kind.split(",") if k.strip()]
    for key, value in (("level", level), ("objective", objective), ("draws", draws)):
        if value is not None:
            overrides[key] = value
    if resume and out_dir is None:
        raise InputError("--resume: needs --out (the finished chunks are kept beside the output folder)")
    parsed = load_explore_scenario(scenario, overrides)
    plan = prepare(parsed, force=force, chunk_size=chunk_size)
    written = ()
    with output_folder(out_dir, "explore", quiet) as out:
        state = None if out is None else out.path.parent / f".{out.path.name}.explore-chunks"
        try:
            result = explore_study(parsed, source=scenario, plan=plan, state=state, resume=resume,
                                   scheduler=scheduler, workers=workers, progress=not quiet)
        except KeyboardInterrupt:
            if state is not None and state.is_dir() and not quiet:
                click.echo(f"\nblockade: the finished chunks are kept in {state}; run the same command with --resume "
                           "to continue", err=True)
            raise
        if resume and result.chunks_computed < plan.n_chunks:
            warn(f"--resume: {plan.n_chunks - result.chunks_computed} of {plan.n_chunks} chunks were already done",
                 quiet)
        if out is not None:
            from occupancy.bundled import resolve_scenario
            from occupancy.report.explore import explore_report_sections, write_explore_folder
            from occupancy.report.run_folder import write_report
            from occupancy.workflows.run import model_parameters

            path = resolve_scenario(scenario)

            def build(staging):
                write_explore_folder(result, staging)
                write_report(staging, "Design search", explore_report_sections(result), scenario_name=path.name,
                             scenario_text=path.read_text(encoding="utf-8"),
                             parameters=model_parameters(parsed.build_model()))

            written = out.write(build)
            clear_state(state)
    echo_result(result, as_json, written, out_dir, quiet)

