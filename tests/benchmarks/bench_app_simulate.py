"""Benchmark: how long a typical Simulate-tab edit takes to recompute in `blockade app` (target < 300 ms at n = 1,000).

An "edit" is one input change with a virtual population of 1,000 subjects (seed 1): the dose, the assessment
time, a second dose, a window assessment, the half-life.  For each edit the server does what it does in
the app, timed in parts:

* compute: input values → scenario → ``simulate`` (the CLI's library call; the on-screen time grid);
* chart: the time-course chart (inline SVG; the page's live chart);
* table: the assessment table formatted for the page;
* curve: the dose → blockade chart (redrawn because the first dose is marked on it).

For comparison it also times the same chart as a matplotlib PNG (what Shiny's ``render.plot`` would send).

It reports the median and the maximum over repetitions, then the same while a reanalysis (200 Monte Carlo
draws) runs in a worker thread, as it does when the Reanalyse tab is busy.  With ``--browser`` it also starts
``blockade app`` and measures in headless Chromium the time from typing a new dose to the new MOR number on
the page (this includes Shiny's ~250 ms input debounce and the network round trip).

Run:  python tests/benchmarks/bench_app_simulate.py [--repeat 7] [--browser]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted)
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time


def _edits():
    base = {"pop_on": True, "pop_n": 1000, "pop_seed": 1}
    return [
        ("dose 50 → 25 mg", {**base, "dose_mg": 25.0}),
        ("assessment 2 → 49 h", {**base, "assess_h": 49.0}),
        ("second dose 50 mg at 24 h", {**base, "dose_rows": 2, "dose_time_h_2": 24.0, "dose_mg_2": 50.0,
                                       "dose_unit_2": "amount_mg"}),
        ("assessment window 1.5–3 h", {**base, "assess_h": 1.5, "assess_end_h": 3.0}),
        ("half-life 72 → 108 h", {**base, "p__naltrexone__washout__half_life_h": 108.0}),
    ]


def one_edit(values):
    """Seconds for (compute, chart, table, curve) of one edit, as the app's server does them."""
    from occupancy.app import views
    from occupancy.app.forms import SimulateForm
    from occupancy.app.server import simulate_from_values
    from occupancy.models.dose_response import dose_curve

    t0 = time.perf_counter()
    out = simulate_from_values(SimulateForm(), values)
    assert not out.error, out.error
    t1 = time.perf_counter()
    views.timecourse_svg(out.value)
    t2 = time.perf_counter()
    views.display_frame(views.assessment_frame(out.value)).to_json()
    t3 = time.perf_counter()
    views.dose_curve_svg(dose_curve("naltrexone"), out.value.schedule.doses[0].amount_mg)
    t4 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3


def matplotlib_png(values) -> float:
    """For comparison: the same chart as a matplotlib PNG at 900 × 440 px (what render.plot would send)."""
    import matplotlib.pyplot as plt

    from occupancy.app import views
    from occupancy.app.forms import SimulateForm
    from occupancy.app.server import simulate_from_values

    out = simulate_from_values(SimulateForm(), values)
    t0 = time.perf_counter()
    fig = views.timecourse_figure(out.value)
    fig.set_size_inches(900 / 96, 440 / 96)
    fig.savefig(io.BytesIO(), format="png", dpi=96)
    plt.close(fig)
    return time.perf_counter() - t0


def run_edits(repeat: int, label: str) -> None:
    print(f"\n{label}")
    print(f"{'edit':<28} {'compute':>8} {'chart':>7} {'table':>7} {'curve':>7} {'total':>7} {'max':>7}  (ms, median)")
    totals = []
    for name, values in _edits():
        parts = [one_edit(values) for _ in range(repeat)]
        med = [statistics.median(p[i] for p in parts) * 1000 for i in range(4)]
        tot = [sum(p) * 1000 for p in parts]
        totals += tot
        print(f"{name:<28} {med[0]:8.0f} {med[1]:7.0f} {med[2]:7.0f} {med[3]:7.0f} {statistics.median(tot):7.0f} "
              f"{max(tot):7.0f}")
    print(f"all edits: median {statistics.median(totals):.0f} ms, max {max(totals):.0f} ms "
          f"({sum(t < 300 for t in totals)}/{len(totals)} under 300 ms)")


def with_reanalysis_running(repeat: int) -> None:
    from occupancy.app.forms import ReanalyseForm
    from occupancy.app.server import RunControl, reanalysis_scenario, run_reanalysis

    request = reanalysis_scenario(ReanalyseForm(), ReanalyseForm().defaults(), None)
    control = RunControl()
    worker = threading.Thread(target=run_reanalysis, args=(request.scenario, None, control), daemon=True)
    worker.start()
    try:
        run_edits(repeat, "while a reanalysis (200 Monte Carlo draws) runs in a worker thread")
        print(f"(reanalysis progress when the edits finished: draw {control.done} of {control.total or 200})")
    finally:
        control.cancelled.set()
        worker.join()


def in_the_browser(repeat: int) -> None:
    import shutil
    import socket
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = subprocess.Popen([sys.executable, "-c", "from occupancy.cli import main; main()", "app", "--no-browser",
                            "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load", timeout=60_000)
            page.wait_for_function("document.querySelector('#mor_at_assessment')?.innerText.trim()", timeout=60_000)
            page.click("#pop_on", force=True)
            page.wait_for_function("document.querySelector('#mor_detail')?.innerText.includes('population')",
                                   timeout=60_000)
            page.fill("#assess_h", "49")
            page.wait_for_timeout(1500)
            times, plots = [], []
            for i in range(repeat):
                dose = ["25", "50"][i % 2]
                before = page.inner_text("#mor_at_assessment")
                src = page.inner_html("#timecourse_plot")
                t0 = time.perf_counter()
                page.fill("#dose_mg", dose)
                page.wait_for_function(f"document.querySelector('#mor_at_assessment').innerText.trim() != '{before}'",
                                       timeout=30_000)
                times.append(time.perf_counter() - t0)
                page.wait_for_function("(s) => document.querySelector('#timecourse_plot').innerHTML !== s", arg=src,
                                       timeout=30_000)
                plots.append(time.perf_counter() - t0)
                page.wait_for_timeout(400)
            browser.close()
    finally:
        app.terminate()
        app.wait(10)
    print("\nin headless Chromium (typing a dose → new value on the page; includes Shiny's input debounce):")
    print(f"  MOR number: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    print(f"  chart:      median {statistics.median(plots) * 1000:.0f} ms, max {max(plots) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--browser", action="store_true", help="also measure in headless Chromium")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    one_edit(_edits()[0][1])  # warm up imports and caches
    run_edits(args.repeat, "Simulate-tab edits at n = 1,000 (server work per edit)")
    png = [matplotlib_png(_edits()[0][1]) for _ in range(args.repeat)]
    print(f"(for comparison, the time-course chart as a matplotlib PNG: median {statistics.median(png) * 1000:.0f} ms)")
    with_reanalysis_running(max(3, args.repeat // 2))
    if args.browser:
        in_the_browser(args.repeat)


if __name__ == "__main__":
    main()
