"""Benchmark: 10,000 virtual subjects x 30 days of daily 50 mg naltrexone on a 1-minute grid.

43,200 time points x 10,000 subjects = 432 million subject-time points per receptor.  The population is
evaluated in time chunks (``max_elements`` subject-time values at once) and only the per-time summaries
(5/50/95th percentiles, mean, P(>= 90 %)) are kept, so the full 10,000 x 43,200 array (3.5 GB per
receptor in float64) is never held.  Prints subject-time points per second and peak memory.

Run:  .venv/bin/python tests/benchmarks/bench_population.py [--n 10000] [--days 30] [--receptors MOR,KOR,DOR]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted)
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from occupancy.models import get_model
from occupancy.simulation.population import simulate_population
from occupancy.dosing.schedule import Schedule



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--max-elements", type=int, default=2_000_000)
    parser.add_argument("--no-tracemalloc", action="store_true", help="peak RSS only (tracemalloc adds overhead)")
    args = parser.parse_args()

    model = get_model("naltrexone")
    schedule = Schedule.daily([50.0] * args.days)
    times = np.arange(args.days * 24 * 60, dtype=float) / 60.0  # 1-minute grid, hours
    if not args.no_tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    pop = simulate_population(model, schedule, times, n=args.n, seed=1, max_elements=args.max_elements)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak_traced = tracemalloc.get_traced_memory()[1] if not args.no_tracemalloc else None
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    points = args.n * times.size
    receptors = 3
    full_gb = points * 8 / 1e9
    print(f"subjects x time points: {args.n:,} x {times.size:,} = {points:,} per receptor ({receptors} receptors)")
    print(f"elapsed: {elapsed:.1f} s wall, {cpu:.1f} s CPU (single-threaded numpy; wall > CPU on a busy machine)")
    print(f"throughput: {points * receptors / elapsed:,.0f} subject-time points/s (all receptors), "
          f"{points / elapsed:,.0f} per receptor-second; per CPU second: {points * receptors / cpu:,.0f}")
    if peak_traced is not None:
        print(f"peak traced numpy/Python memory: {peak_traced / 1e6:.0f} MB "
              f"(the full array would be {full_gb:.2f} GB per receptor)")
    print(f"peak RSS of the process: {rss_mb:.0f} MB")
    day = 24 * 60
    for d in sorted({1, min(7, args.days), args.days}):
        i = d * day - 1
        print(f"day {d:>2} end (t = {times[i]:.2f} h, before the next tablet): MOR p05/p50/p95 = "
              f"{pop.p05['MOR'][i]:.1f}/{pop.p50['MOR'][i]:.1f}/{pop.p95['MOR'][i]:.1f} %, "
              f"P(>=90 %) = {pop.prob_ge_90['MOR'][i]:.3f}")


if __name__ == "__main__":
    main()
