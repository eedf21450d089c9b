"""The whole search as one call (:func:`explore_study`): prepare, run the chunks, rank, plan the best designs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occupancy.errors import InputError
from occupancy.workflows.explore.result import ExploreResult
from occupancy.workflows.explore.search import SearchPlan, prepare, run_chunks
from occupancy.workflows.explore.space import ExploreScenario, design_inputs, plan_scenario_for


def best_plans(scenario: ExploreScenario, result_columns: dict, rows, *, source: str = "") -> tuple:
    """``blockade plan`` on each of the designs at ``rows`` (their fitted-model numbers, the full report)."""
    from occupancy.workflows.explore.space import DesignGrid
    from occupancy.workflows.planning.plan import plan_study

    grid = DesignGrid(*(np.asarray(result_columns[k]) for k in
                        ("kind", "dose_mg", "delay_h", "isi_days", "sessions", "participants")))
    out = []
    for r in rows:
        design = design_inputs(grid, int(r))
        name = f"design {int(result_columns['design_id'][r])}"
        out.append(plan_study(plan_scenario_for(scenario, design), source=name))
    return tuple(out)


def explore_study(scenario: ExploreScenario, *, source: str | Path = "", plan: SearchPlan | None = None,
                  state: Path | None = None, resume: bool = False, scheduler: str | None = None,
                  workers: int | None = None, chunk_size: int | None = None, force: bool = False,
                  progress: bool = True, on_chunk=None) -> ExploreResult:
    """Search the design space of ``scenario`` (see the package docstring); returns an :class:`ExploreResult`.

    ``plan`` (from :func:`~occupancy.workflows.explore.search.prepare`) lets a caller check the space before
    claiming an output folder; the other keywords are those of
    :func:`~occupancy.workflows.explore.search.run_chunks`.
    """
    if resume and state is None:
        raise InputError("--resume: needs --out (the finished chunks are kept beside the output folder)")
    plan = plan or prepare(scenario, force=force, chunk_size=chunk_size)
    table, computed = run_chunks(plan, state=state, resume=resume, scheduler=scheduler, workers=workers,
                                 progress=progress, on_chunk=on_chunk)
    columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    ctx = plan.context
    structures = tuple((d.structure, d.weight) for d in ctx.draw_sets)
    result = ExploreResult(scenario_name=Path(source).stem if source else "explore", source=str(source),
                           n_designs=len(plan.grid), n_draws=ctx.n_draws, structures=structures,
                           constraints=dict(ctx.constraints), level=ctx.level,
                           objective=scenario.explore.objective, columns=columns, chunks_computed=computed)
    top = result.ranked_feasible()[: scenario.explore.best]
    plans = best_plans(scenario, columns, top, source=str(source))
    from dataclasses import replace

    return replace(result, best_plans=plans)
