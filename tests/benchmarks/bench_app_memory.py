"""Benchmark: the app server's memory (RSS) before, during and after browser sessions (issue 21.2: memory is
released when a session ends).

Starts ``blockade app`` as the user does, opens ``--sessions`` headless Chromium sessions (Debian's
/usr/bin/chromium via Playwright's executable_path; never ``playwright install``) that each show the Simulate
tab with a virtual population and compute the Plan tab, closes them, and prints the server's RSS (from
/proc/PID/status) at each step.  At session end the server drops the session's plan schedules (the
per-session LRU), its figure cache and its worker threads.

Measured 2026-12-07 (2 shared cores, load ~7), ``--sessions 2 --pop-n 20000``, RSS in MB: started 149;
round 1 open 412, closed 330; round 2 open 470, closed 428.  Before the release at session end (gc and
``malloc_trim``): 149; 416 -> 416; 578 -> 578.  About 100 MB per round still stays: open work.

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
