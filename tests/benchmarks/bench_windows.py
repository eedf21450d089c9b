"""Benchmark: population window means (issue 18, item 8), the one-pass path against the old per-window path.

``blockade simulate`` reports, for a windowed assessment, each virtual subject's mean blockade over the
window (a trapezoid over up to 2001 points).  The per-window path
(:func:`occupancy.simulation.population._window_means_per_window`) calls the model once per 2e6/n-point
chunk of every window and so rebuilds the model's per-dose segment constants each time; the one-pass path
(:func:`~occupancy.simulation.population._window_means_in_blocks`, used for pkpd models) evaluates every
window's points in one sorted ``blockade_blocks`` pass.  Prints wall time, peak RSS and the largest
difference between the two (rounding only).

Run:  python tests/benchmarks/bench_windows.py [--n 2000] [--doses 1000] [--windows 10] [--skip-old]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted.)  With 1000 doses the old
path takes minutes even at n = 2000; ``--skip-old`` times only the new one.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # time this checkout, not an installed copy

from occupancy.dosing.schedule import Dose, Schedule  # noqa: E402
from occupancy.models import get_model  # noqa: E402
from occupancy.simulation.population import (  # noqa: E402
    _window_means_in_blocks, _window_means_per_window, default_variability,
)
from occupancy.simulation.simulate import Assessment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--doses", type=int, default=1000)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--skip-old", action="store_true")
    args = parser.parse_args()
    model = get_model("naltrexone", "pkpd")
    schedule = Schedule(tuple(Dose(time_h=0.25 * i, amount_mg=1.0) for i in range(args.doses)))
    grids = [Assessment(f"w{i}", 1.0 + i, 5.0 + i).grid() for i in range(args.windows)]
    scales = default_variability(model).draw(args.n, 1)
    points = sum(g.size for g in grids)
    print(f"n = {args.n}, {args.doses} doses, {args.windows} windows ({points} points): "
          f"{args.n * points / 1e6:.0f} million subject-points")
    results = {}
    for name, fn in (("one pass", _window_means_in_blocks), ("per window", _window_means_per_window)):
        if name == "per window" and args.skip_old:
            continue
        t0 = time.perf_counter()
        results[name] = fn(model, schedule, grids, args.n, scales)
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(f"{name:>10}: {wall:8.2f} s wall, peak RSS so far {rss:.0f} MB")
    if len(results) == 2:
        diff = max(float(np.max(np.abs(results["one pass"][r] - results["per window"][r])))
                   for r in results["one pass"])
        print(f"largest difference between the two: {diff:.2e} pp")


if __name__ == "__main__":
    main()
