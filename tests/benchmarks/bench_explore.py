"""Benchmark: ``blockade explore``'s design × draw throughput, side by side with calling ``plan`` per design.

The bundled ``explore_crossover.toml`` (1296 designs; 1000 virtual subjects) is searched with ``--draws`` model
draws (plus the fitted model) in this process (``workers = 0``) and, with ``--workers K``, on a LocalCluster of K
single-threaded worker processes.  For comparison ``blockade plan``'s workflow
(:func:`occupancy.workflows.planning.plan.plan_study`) runs on ``--plan-sample`` designs of the same grid; doing
the search that way takes one plan per design and model draw, so its time is extrapolated as
``seconds per plan × designs × (draws + 1)``.  Prints designs × draws per second for both and the speed-up.

Run:  python tests/benchmarks/bench_explore.py [--draws 50] [--workers 2] [--plan-sample 5]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # time this checkout, not an installed copy

from occupancy.workflows.explore.search import prepare, run_chunks  # noqa: E402
from occupancy.workflows.explore.space import design_inputs, load_explore_scenario, plan_scenario_for  # noqa: E402
from occupancy.workflows.planning.plan import plan_study  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="explore_crossover.toml")
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (0: skip the cluster run)")
    parser.add_argument("--plan-sample", type=int, default=5)
    args = parser.parse_args(argv)

    import scipy.stats  # noqa: F401  (imported before timing: both searches need it, it takes seconds to import)

    scenario = load_explore_scenario(args.scenario, {"draws": args.draws})
    t0 = time.perf_counter()
    plan = prepare(scenario, force=True)
    setup = time.perf_counter() - t0
    designs, draws = len(plan.grid), plan.context.n_draws + 1
    work = designs * draws
    print(f"{args.scenario}: {designs} designs x {draws} model draws (incl. the fitted model) = {work} evaluations; "
          f"{plan.n_chunks} chunks; setup {setup:.2f} s")

    t0 = time.perf_counter()
    run_chunks(plan, workers=0, progress=False)
    wall = time.perf_counter() - t0
    print(f"explore, in process:         {wall:8.2f} s   {work / wall:12.0f} designs x draws / s")
    if args.workers:
        t0 = time.perf_counter()
        run_chunks(plan, workers=args.workers, progress=False)
        wall_c = time.perf_counter() - t0
        print(f"explore, LocalCluster x{args.workers}:    {wall_c:8.2f} s   {work / wall_c:12.0f} designs x draws / s "
              "(including the cluster's start-up)")

    rng = np.random.default_rng(0)
    sample = rng.choice(designs, size=min(args.plan_sample, designs), replace=False)
    t0 = time.perf_counter()
    for i in sample:
        plan_study(plan_scenario_for(scenario, design_inputs(plan.grid, int(i))))
    per_plan = (time.perf_counter() - t0) / sample.size
    plan_total = per_plan * work
    print(f"plan per design and draw:    {per_plan:8.3f} s each -> {plan_total:10.0f} s for the search "
          f"({1 / per_plan:12.2f} designs x draws / s)")
    print(f"speed-up of explore (in process) over per-design plan calls: {plan_total / wall:,.0f}x")


if __name__ == "__main__":
    main()
