"""Benchmark: how long a Plan-tab edit takes in `blockade app` (issue 21 asks for a median under 300 ms for
an edit of N, effect, α or power at the default population).

Each edit changes one input of the Plan tab's opening design and is timed in the parts the server does:

* compute: input values → planning scenario → ``plan_study`` (the CLI's library call, in a worker thread);
* figures: the protocol timeline and the power curve (matplotlib → inline SVG);
* words: the headline numbers and the recommendations box.

Today every edit recomputes the whole plan (blockade over the sessions, washout, power), even when only N,
effect, α or power changed; a cache per schedule would leave only the closed-form power.  This script is
the baseline to compare against; it reports the median and the maximum over repetitions.

Measured 2026-12-07 (shared 2 cores, load ~10; median over 2 runs, ms): compute / figures / total —
participants 717 / 631 / 1348; effect 368 / 374 / 741; α 490 / 296 / 786; power 482 / 401 / 883;
intersession interval 442 / 365 / 807.  The issue's target for the first four: < 300 ms in total.

Run:  python tests/benchmarks/bench_app_plan.py [--repeat 5]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted)
"""

from __future__ import annotations

import argparse
import statistics
import time

EDITS = [
    ("participants 40 → 24", {"participants": 24}),
    ("effect -0.5 → -0.3", {"effect": -0.3}),
    ("alpha 0.05 → 0.01", {"alpha": 0.01}),
    ("target power 0.8 → 0.9", {"target_power": 0.9}),
    ("intersession interval 15 → 10 days", {"isi_days": 10.0}),
]


def one_edit(values: dict) -> tuple[float, float, float]:
    """Seconds for (compute, figures, words) of one Plan edit, as the app's server does them."""
    from occupancy.app import views
    from occupancy.app.forms import PlanForm
    from occupancy.app.server import plan_scenario, run_plan
    from occupancy.report.html import figure_to_svg
    from occupancy.report.plan_figures import _pyplot, power_curve_figure, timeline_figure

    t0 = time.perf_counter()
    request = plan_scenario(PlanForm(), {}, values)
    assert not request.error, request.error
    out = run_plan(request.scenario)
    assert not out.error, out.error
    t1 = time.perf_counter()
    for make in (timeline_figure, power_curve_figure):
        fig = make(out.value)
        figure_to_svg(fig)
        _pyplot().close(fig)
    t2 = time.perf_counter()
    views.plan_key_numbers(out.value)
    views.plan_recommendations(out.value)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    one_edit({})  # imports and caches warm
    print(f"{'edit':<38} {'compute':>16} {'figures':>16} {'words':>10} {'total':>16}   (median / max, ms)")
    for name, values in EDITS:
        runs = [one_edit(values) for _ in range(args.repeat)]
        parts = list(zip(*runs))
        totals = [sum(r) for r in runs]

        def cell(xs, width=16):
            return f"{statistics.median(xs) * 1e3:7.0f} / {max(xs) * 1e3:5.0f}".rjust(width)

        print(f"{name:<38} {cell(parts[0])} {cell(parts[1])} {cell(parts[2], 10)} {cell(totals)}")


if __name__ == "__main__":
    main()
