"""Benchmark: the app server's memory (RSS) before, during and after browser sessions (issue 21.2: memory is
released when a session ends).

Starts ``blockade app`` as the user does, opens ``--sessions`` headless Chromium sessions (Debian's
/usr/bin/chromium via Playwright's executable_path; never ``playwright install``) that each show the Simulate
tab with a virtual population and compute the Plan tab, closes them, and prints the server's RSS (from
/proc/PID/status) at each step.  At session end the server drops the session's plan schedules (the
per-session LRU), its figure cache and its worker threads, collects garbage and trims the heap.

Measured 2026-12-07 (2 shared cores, load 4-7), ``--sessions 2 --pop-n 20000``, RSS in MB, started; round 1
open -> closed; round 2 open -> closed:

* no release at session end (first measurement):            149; 416 -> 416; 578 -> 578
* gc + ``malloc_trim`` at session end (commit e77c0c7):       149; 410 -> 341; 466 -> 392  (again: 174; 413 -> 374;
  476 -> 439) -- about 50 MB more after every round
* one malloc arena (``limit_malloc_arenas``) + trim (now):   149; 311 -> 257; 333 -> 260  (again: 148; 312 -> 256;
  331 -> 259) -- bounded: round 2 ends where round 1 did
* one malloc arena, no trim at session end:                  148; 311 -> 311; 309 -> 309  (again: 149; 311 -> 310;
  322 -> 322; so the trim stays)
* instead fixed glibc thresholds (``MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072``): 149; 269 -> 260;
  270 -> 260, but every large array is then a fresh mmap and the Plan schedule took ~1.4-2.0 s instead of ~0.85 s
  (page faults), so not chosen; one arena costs nothing measurable (in a worker thread, median of 7: Simulate
  n = 1,000 68-70 ms, n = 20,000 575-591 ms, Plan schedule 819-896 ms with glibc's default arenas and with one)

Where the memory went (investigated with a SIGUSR1 hook in a copy of the server, not committed): after the
sessions closed, no session object, ScheduleCache, SimulationResult, PlanResult, worker thread or pyplot figure
was left (``tests/test_app_sessions.py`` keeps it so), the functools caches held a few entries (calibration
records), and tracemalloc's traced memory (Python objects and numpy arrays) was the same after round 2 as after
round 1.  The growth was glibc's: each worker thread allocated in its own arena, where the top of the heap stays
resident up to a trim threshold that glibc raises to 64 MB as large arrays are freed, and ``malloc_trim`` trims
only the main heap's top; with every thread on the main heap the trim reaches all of it.  What stays after the
first round (~110 MB) is the code and data of the modules the first session imports (matplotlib, scipy, pandas:
malloc in use 30 -> 61 MB, shared libraries 69 -> 95 MB); later sessions reuse it.

Run:  python tests/benchmarks/bench_app_memory.py [--sessions 3] [--pop-n 20000]
(named bench_*.py so pytest does not collect it; memory is reported, never asserted)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.app_server import free_port  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--pop-n", type=int, default=20_000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-app-memory-"))
    port = free_port()
    with open(folder / "app.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", "from occupancy.cli import main; main()", "app",
                                 "--no-browser", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=folder)
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            for _ in range(120):
                try:
                    ctx = chromium.new_context()
                    ctx.new_page().goto(url, timeout=2000)
                    ctx.close()
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    ctx.close()
                    time.sleep(0.5)
            time.sleep(2)
            print(f"server started, no session:      {rss_mb(proc.pid):7.1f} MB", flush=True)
            for round_ in (1, 2):  # a second round shows whether closed sessions' memory is reused
                contexts = []
                for _ in range(args.sessions):
                    ctx = chromium.new_context(viewport={"width": 1400, "height": 1000})
                    page = ctx.new_page()
                    page.set_default_timeout(180_000)
                    page.goto(url)
                    page.wait_for_function("document.querySelector('#mor_at_assessment')?.innerText.trim().length > 0")
                    page.eval_on_selector("#pop_on", "el => { el.checked = true; "
                                          "el.dispatchEvent(new Event('change', {bubbles: true})); }")
                    page.fill("#pop_n", str(args.pop_n))
                    page.wait_for_function("document.querySelector('#simulate_outdated')?.innerText.trim() === ''")
                    page.click("a[data-value='plan']")
                    page.wait_for_function("document.querySelector('#plan_power')?.innerText.trim().length > 0")
                    contexts.append(ctx)
                time.sleep(2)
                print(f"round {round_}: {args.sessions} sessions open (n = {args.pop_n}): {rss_mb(proc.pid):7.1f} MB",
                      flush=True)
                for ctx in contexts:
                    ctx.close()
                time.sleep(10)  # the server notices the closed websockets and ends the sessions
                print(f"round {round_}: all closed (10 s later):       {rss_mb(proc.pid):7.1f} MB", flush=True)
            chromium.close()
    finally:
        proc.terminate()
        proc.wait(15)


if __name__ == "__main__":
    main()
