"""Benchmark: 10,000 virtual subjects x 30 days of daily 50 mg naltrexone on a 1-minute grid, side by side for
the ``washout`` model and the ``pkpd`` model (effect-compartment and binding-kinetics variants), in one run.

43,200 time points x 10,000 subjects = 432 million subject-time points per receptor (3 receptors).  Every model
is evaluated by :func:`occupancy.simulation.population.simulate_population` in time chunks (``max_elements``
subject-time values at once) keeping only the per-time summaries (5/50/95th percentiles, mean, P(>= 90 %)), so
the full 10,000 x 43,200 array (3.5 GB per receptor in float64) is never held.  Each model uses its own
documented between-subject variability (:func:`~occupancy.simulation.population.default_variability`) and the
same seed.  Prints wall and CPU time, subject-time points per second, peak RSS so far and a few percentiles
(the blockade each model predicts) per model, then the speed ratios against ``washout``.

Run:  python tests/benchmarks/bench_population.py [--n 10000] [--days 30] [--models washout,ec,bk]
      [--max-elements 2000000] [--tracemalloc]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted.  Like the other scripts
under tests/benchmarks it is run directly, not by pytest-benchmark, which the test suite disables with
--benchmark-disable.)  The full run takes several minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # time this checkout, not an installed copy

from occupancy.dosing.schedule import Schedule  # noqa: E402
from occupancy.models import get_model  # noqa: E402
from occupancy.simulation.population import default_variability, simulate_population  # noqa: E402

#: ``--models`` names → (label, model name, model parameters)
MODELS = {
    "washout": ("washout", "washout", {}),
    "ec": ("pkpd effect_compartment", "pkpd", {"hysteresis": "effect_compartment"}),
    "bk": ("pkpd binding_kinetics", "pkpd", {"hysteresis": "binding_kinetics"}),
    # version 3's default (data-chosen structure; binding integrator) next to version 2's (effect compartment,
    # closed form, "ec" above): the cost of the structural choice
    "default": ("pkpd three_phase_binding", "pkpd", {"structure": "three_phase_binding"}),
}


def run(label, model, schedule, times, n, max_elements, trace):
    """Time one population run and print its numbers; returns (wall s, CPU s)."""
    variability = default_variability(model)
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    pop = simulate_population(model, schedule, times, n=n, seed=1, variability=variability,
                              max_elements=max_elements)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    traced = None
    if trace:
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    points = n * times.size
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{label:<26} {wall:8.1f} s wall {cpu:8.1f} s CPU  {points * 3 / wall:14,.0f} subject-time points/s "
          f"(3 receptors)  peak RSS so far {rss:6.0f} MB"
          + (f"  peak traced {traced / 1e6:.0f} MB" if traced is not None else ""), flush=True)
    print(f"    variability (log-SD): {variability.describe()}", flush=True)
    day = 24 * 60
    days = times.size // day
    if times.size > 2 * 60:
        i2 = 2 * 60
        print(f"    2 h after the first dose: MOR p05/p50/p95 = {pop.p05['MOR'][i2]:.1f}/{pop.p50['MOR'][i2]:.1f}/"
              f"{pop.p95['MOR'][i2]:.1f} %", flush=True)
    for d in sorted({1, min(7, days), days} - {0}):
        i = d * day - 1
        print(f"    day {d:>2} end (t = {times[i]:.2f} h, before the next tablet): MOR p05/p50/p95 = "
              f"{pop.p05['MOR'][i]:.1f}/{pop.p50['MOR'][i]:.1f}/{pop.p95['MOR'][i]:.1f} %, KOR p95 "
              f"{pop.p95['KOR'][i]:.1f} %, P(MOR >= 90 %) = {pop.prob_ge_90['MOR'][i]:.3f}", flush=True)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--max-elements", type=int, default=2_000_000)
    parser.add_argument("--models", default="washout,ec,bk,default",
                        help="comma-separated: washout, ec (pkpd effect compartment, version 2's default), "
                             "bk (pkpd binding kinetics, two-phase), default (version 3's three_phase_binding)")
    parser.add_argument("--tracemalloc", action="store_true", help="also report traced peak memory (slower)")
    args = parser.parse_args()

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)} (choose from {', '.join(MODELS)})")
    schedule = Schedule.daily([50.0] * args.days)
    times = np.arange(args.days * 24 * 60, dtype=float) / 60.0  # 1-minute grid, hours
    points = args.n * times.size
    print(f"subjects x time points: {args.n:,} x {times.size:,} = {points:,} per receptor (3 receptors); "
          f"max_elements {args.max_elements:,}; numpy {np.__version__}; the full array would be "
          f"{points * 8 / 1e9:.2f} GB per receptor", flush=True)
    results = {}
    for name in names:
        label, model_name, params = MODELS[name]
        model = get_model("naltrexone", model_name, **params)
        results[name] = run(label, model, schedule, times, args.n, args.max_elements, args.tracemalloc)
    if "washout" in results:
        w0, c0 = results["washout"]
        for name, (w, c) in results.items():
            if name != "washout":
                print(f"{MODELS[name][0]} vs washout: {w0 / w:.2f}x wall-clock speed, {c0 / c:.2f}x CPU speed")
    if "ec" in results and "default" in results:
        (w0, c0), (w, c) = results["ec"], results["default"]
        print(f"version 3 default (three_phase_binding) vs version 2 default (effect compartment): "
              f"{w / w0:.2f}x the wall-clock time, {c / c0:.2f}x the CPU time")


if __name__ == "__main__":
    main()
