"""`blockade app` keeps no per-session objects once a browser session has ended (issue 21.2: memory bounded).

The Shiny app runs in process and each session is driven through Shiny's own ``MockConnection`` (the
websocket replaced by a queue): the session opens on the Plan tab with a virtual population, so it simulates,
plans and fills its schedule cache, then closes.  After ``N`` such sessions every per-session object —
the session, its :class:`~occupancy.app.server.ScheduleCache`, its simulation and plan results, its worker
threads — must be gone.  And the server's threads allocate from one glibc arena, so that the ``malloc_trim`` at
session end returns what they freed.  Memory itself (RSS) is measured by ``tests/benchmarks/bench_app_memory.py``,
not here.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("shiny") is None,
                                reason="the app's extra is not installed (pip install '.[app]')")

SESSIONS = 3
#: Longest wait (s) for a closed session's running work to finish; a bound, not a timing: it passes in seconds.
SETTLE_S = 120.0


def _instances(cls) -> list:
    return [o for o in gc.get_objects() if isinstance(o, cls)]


def _pyplot_figures() -> list:
    import sys

    helpers = sys.modules.get("matplotlib._pylab_helpers")
    return [] if helpers is None else list(helpers.Gcf.figs)


async def _open_plan_and_close(app, kept: list) -> None:
    """One session: open on the Plan tab, wait until its schedule is cached, keep weak references, close."""
    from shiny._connection import MockConnection

    from occupancy.app.server import ScheduleCache
    from occupancy.simulation.simulate import SimulationResult
    from occupancy.workflows.planning.result import PlanResult

    before = {id(c) for c in _instances(ScheduleCache)}
    conn = MockConnection()
    session = app._create_session(conn)
    run = asyncio.create_task(session._run())
    await conn._queue.put(json.dumps({"method": "init", "data": {"tabs": "plan", "pop_on": True, "pop_n": 500}}))
    deadline = time.monotonic() + SETTLE_S
    mine = []
    while not any(len(c) for c in mine):
        assert time.monotonic() < deadline, "the session never planned"
        await asyncio.sleep(0.1)
        mine = [c for c in _instances(ScheduleCache) if id(c) not in before]
    assert len(mine) == 1  # one schedule cache per session
    kept += [weakref.ref(session), weakref.ref(mine[0])]
    kept += [weakref.ref(r) for cls in (SimulationResult, PlanResult) for r in _instances(cls)]
    del session, mine
    await conn._queue.put("")  # the browser tab closes
    await run


def test_closed_sessions_leave_no_per_session_objects():
    from shiny import App

    from occupancy.app.server import make_server
    from occupancy.app.ui import build_ui

    async def main():
        app = App(build_ui(), make_server())
        kept: list[weakref.ref] = []
        for _ in range(SESSIONS):
            await _open_plan_and_close(app, kept)
        assert not app._sessions
        # a closed session's running work (a plan in its worker thread) finishes, then nothing of it stays
        deadline = time.monotonic() + SETTLE_S
        while True:
            gc.collect()
            alive = [type(r()).__name__ for r in kept if r() is not None]
            alive += ["pyplot figure"] * len(_pyplot_figures())  # figures are closed once drawn
            workers = [t.name for t in threading.enumerate() if t.name.startswith("blockade-")]
            if not alive and not workers or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        return kept, alive, workers

    kept, alive, workers = asyncio.run(main())
    assert len(kept) >= 2 * SESSIONS + 2  # the sessions, their caches and at least a simulation and a plan
    assert alive == [] and workers == [], (alive, workers)


#: Runs in a fresh interpreter: a worker thread allocates arrays and small objects, then glibc's heaps are counted.
ARENA_PROBE = """
import ctypes, os, re, sys, tempfile, threading
import numpy as np
from occupancy.app.server import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas()
def work():
    for _ in range(3):
        a = np.ones(300_000)
        b = [bytes(1000) for _ in range(1000)]
        del a, b
t = threading.Thread(target=work)
t.start()
t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fdopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
fd, path = tempfile.mkstemp()
fp = libc.fdopen(fd, b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
print(len(re.findall(r"<heap nr=", open(path).read())))
os.unlink(path)
"""


def test_the_app_servers_threads_share_one_malloc_arena_so_the_trim_at_session_end_reaches_them():
    from occupancy.app.server import _glibc

    if _glibc() is None:
        pytest.skip("glibc only (elsewhere limit_malloc_arenas does nothing)")
    root = Path(__file__).resolve().parents[1]

    def heaps(mode: str) -> int:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
        done = subprocess.run([sys.executable, "-c", ARENA_PROBE, mode], capture_output=True, text=True, cwd=root,
                              env={**env, "PYTHONPATH": str(root)}, timeout=120)
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    # glibc's default gives the worker thread its own arena; blockade app's limit keeps it on the main heap
    assert (heaps("default"), heaps("limit")) == (2, 1)
