"""The app's server: inputs → scenario → the library functions the CLI calls → outputs.

* **Simulate** recomputes in the request (a typical edit at n = 1,000 takes well under 300 ms; see
  ``tests/benchmarks/bench_app_simulate.py``); a population over :data:`INLINE_POPULATION` subjects runs in
  the session's worker thread instead, off the event loop.  The plot uses a coarser time grid than the CLI's files;
  the CSV download recomputes at the CLI's resolution, so it equals ``timecourse.csv`` of
  ``blockade simulate --out``.
* **Plan** and **Reanalyse** take seconds, so they run in worker threads (Shiny extended tasks), only while
  their tab is open, and never block the other tabs; a newer request replaces a queued one and a running
  reanalysis stops at its next Monte Carlo draw (its progress is shown, with the pooled and adjusted g marked
  preliminary as soon as the library reports them, before the draws: ``reanalyse(on_partial=...)``).  The Plan
  tab's **Find the best design** runs a coarse ``blockade explore`` search (:func:`run_explore`) in its own
  worker thread the same way.
* **Errors** are shown as the CLI's one-line message (``blockade: error: ...``) in ``app_error``; the app
  keeps running.  Uploads go through :mod:`occupancy.app.uploads` and are read only from this session's
  own upload folder.  Every effect is guarded: a malformed client message (or an unexpected error) becomes
  one line in ``app_error``, never a dead session; :mod:`occupancy.app.guard` refuses other origins.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from occupancy.app import views
from occupancy.app.fielderrors import field_error
from occupancy.app.urlstate import query_from_values, values_from_query
from occupancy.app.forms import OPENING_DOSES, PlanForm, ReanalyseForm, SimulateForm, drugs, row_id
from occupancy.app.uploads import (
    MAX_UPLOAD_BYTES,
    error_line,
    read_outcomes_upload,
    read_scenario_upload,
    restore_target,
    safe_name,
    session_upload_folder,
    too_large_message,
    upload_bytes,
)
from meta.csv_safety import csv_text  # spreadsheet formulas neutralised, as the CLI writes CSV
from occupancy.errors import InputError

#: Points of the uniform part of the on-screen time-course grid (the CLI's files use 1000).
APP_TIMECOURSE_POINTS = 200
#: Largest virtual population the Simulate tab computes in the request; larger ones run in the session's worker
#: thread (a Shiny extended task), so an edit at n = 100,000 never holds up other sessions' requests.
INLINE_POPULATION = 5_000
SOURCES = {"simulate": "Simulate tab", "plan": "Plan tab", "reanalyse": "Reanalyse tab"}


class RunCancelled(Exception):
    """Raised from the progress callback to stop a reanalysis whose inputs changed."""


@dataclass
class RunControl:
    """Progress, early estimates and cancellation of one background run (shared with its worker thread).

    ``partial`` is the reanalysis' :class:`~occupancy.workflows.reanalysis.result.PartialReanalysis` once the
    library has reported it (the pooled and adjusted g, before the draws), else None.
    """

    done: int = 0
    total: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)
    partial: Any = None

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.cancelled.is_set():
            raise RunCancelled()

    def report_partial(self, partial) -> None:
        """``reanalyse``'s ``on_partial``: keep the early estimates; stop here when cancelled."""
        self.partial, self.total = partial, partial.draws_total
        if self.cancelled.is_set():
            raise RunCancelled()


@dataclass(frozen=True)
class Outcome:
    """A computation's result or the one-line error it raised."""

    value: Any = None
    error: str = ""
    scenario: Any = None
    data: dict | None = None
    #: A plan whose model-uncertainty draws are still being computed (:func:`complete_plan_uncertainty`).
    pending: bool = False


def _sourced(exc: InputError, tab: str) -> str:
    """The CLI line of an input error, naming the tab when the message names no file."""
    text = str(exc)
    return error_line(exc if text.startswith(SOURCES[tab]) else InputError(f"{SOURCES[tab]}: {text}"))


def _unreadable(exc: BaseException, tab: str) -> str:
    """One line for input values the forms cannot read at all (only a forged client message sends them)."""
    detail = " ".join(str(exc).split())[:120]
    return error_line(InputError(f"{SOURCES[tab]}: an input holds a value the app cannot read "
                                 f"({type(exc).__name__}{': ' + detail if detail else ''})"))


#: What the forms raise on values of the wrong type (a forged message; the page itself never sends them).
_UNREADABLE = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, RecursionError)


def _internal_error(exc: BaseException) -> str:
    traceback.print_exception(exc, file=sys.stderr)
    return f"blockade app: internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"


# --------------------------------------------------------------------------------------------------
# Library calls (the same the CLI makes); plain functions so tests and benchmarks call them directly
# --------------------------------------------------------------------------------------------------


def simulate_from_values(form: SimulateForm, values: dict, *, points: int = APP_TIMECOURSE_POINTS) -> Outcome:
    """``blockade simulate`` on the Simulate tab's values."""
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.simulation.simulate import simulate

    data = None
    try:
        data = form.scenario_data(values)
        scenario = scenario_from_dict(data, SOURCES["simulate"])
    except InputError as exc:
        return Outcome(error=_sourced(exc, "simulate"), data=data)
    except _UNREADABLE as exc:
        return Outcome(error=_unreadable(exc, "simulate"))
    try:
        return Outcome(simulate(scenario, timecourse_points=points), scenario=scenario, data=data)
    except InputError as exc:
        return Outcome(error=_sourced(exc, "simulate"), data=data)


def _glibc():
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None (macOS, Windows, musl)."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None  # musl: a no-op mallopt, no malloc_trim


#: ``mallopt`` parameter number of glibc's arena limit (``M_ARENA_MAX`` in malloc.h).
M_ARENA_MAX = -8


def limit_malloc_arenas() -> bool:
    """Let every thread of the app server allocate from glibc's main heap (``mallopt(M_ARENA_MAX, 1)``).

    Returns True when the limit was set (glibc), False elsewhere (nothing to do).

    Notes
    -----
    Called once by :func:`occupancy.app.run_app`, before the server starts its threads; never on import, so
    the library and the CLI keep the allocator's defaults.  glibc gives each new thread its own arena (up to
    8 per core), and the session's worker threads allocate the large numpy arrays there.  Memory freed at the
    top of such an arena stays resident until it exceeds the trim threshold, which glibc raises to 64 MB as
    large arrays are freed, and ``malloc_trim`` trims only the main heap's top, so every closed session left
    tens of MB per arena behind (``tests/benchmarks/bench_app_memory.py``: RSS 149 MB at start, 341–374 MB
    after the first round of two large sessions, 392–439 MB after the second).  With one arena, the trim at
    session end (:func:`release_memory`) reaches all of it: 256–257 MB after the first round, 259–260 MB after
    the second.  It costs nothing measurable (Simulate at n = 1,000 and 20,000 and a Plan schedule, run in a
    worker thread: 68/580/850 ms either way): the threads run Python code under the GIL, so they hardly ever
    allocate at the same time.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, 1))


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Notes
    -----
    Called when a browser session ends: without the trim, the arrays a session's worker threads freed stay in
    the heap and the server's RSS only grows from session to session (``tests/benchmarks/bench_app_memory.py``;
    with :func:`limit_malloc_arenas` the trim reaches every thread's allocations).
    """
    import gc

    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def large_population(values: dict) -> bool:
    """True when the Simulate values ask for more than :data:`INLINE_POPULATION` virtual subjects (they run off
    the event loop); unreadable counts are left to the scenario's own validation."""
    if not values.get("pop_on"):
        return False
    try:
        return int(float(values.get("pop_n") or 0)) > INLINE_POPULATION
    except (TypeError, ValueError, OverflowError):
        return False


def plan_scenario(form: PlanForm, simulate_values: dict, values: dict) -> Outcome:
    """The validated planning scenario of the Plan tab (or its one-line error)."""
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.planning.design import PlanScenario

    data = None
    try:
        data = form.scenario_data(simulate_values, values)
        return Outcome(scenario=scenario_from_dict(data, SOURCES["plan"], PlanScenario), data=data)
    except InputError as exc:
        return Outcome(error=_sourced(exc, "plan"), data=data)
    except _UNREADABLE as exc:
        return Outcome(error=_unreadable(exc, "plan"))


class ScheduleCache:
    """A small per-session LRU of :class:`~occupancy.workflows.planning.plan.PlanSchedule` keyed by
    :func:`~occupancy.workflows.planning.plan.schedule_key` (thread-safe: filled in the Plan worker thread).

    Notes
    -----
    A Plan edit of N, effect, α or target power keeps the key, so only the closed-form
    :func:`~occupancy.workflows.planning.plan.plan_power` runs (issue 21.2).  A few entries cover going back and
    forth between two schedules; :meth:`clear` at session end releases the populations they hold.
    """

    def __init__(self, size: int = 4):
        from collections import OrderedDict

        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def run_plan(scenario, cache: ScheduleCache | None = None, *, defer_uncertainty: bool = False) -> Outcome:
    """``blockade plan`` on a validated scenario (in a worker thread): :func:`plan_study`'s two parts, the schedule
    part taken from ``cache`` when only power keys changed.

    ``defer_uncertainty`` (the app) leaves a new schedule's model-uncertainty draws for
    :func:`complete_plan_uncertainty`: the plan is shown at once, marked ``pending``, and its model uncertainty
    follows (the draws take most of a plan's time)."""
    from occupancy.workflows.planning.plan import plan_power, plan_schedule, schedule_key

    try:
        key = schedule_key(scenario)
        planned = None if cache is None else cache.get(key)
        if planned is None:
            planned = plan_schedule(scenario, defer_model_uncertainty=defer_uncertainty)
            if cache is not None:
                cache.put(key, planned)
        # a blank N is the N to recruit: the one for the blockade-attenuated effect (issue 21.5)
        return Outcome(plan_power(planned, scenario.design, blank_n="attenuated"), scenario=scenario,
                       pending=planned.model_uncertainty_pending)
    except InputError as exc:
        return Outcome(error=_sourced(exc, "plan"))
    except Exception as exc:  # noqa: BLE001 - shown as one line; the app keeps running
        return Outcome(error=_internal_error(exc))


def complete_plan_uncertainty(scenario, cache: ScheduleCache) -> Outcome:
    """The plan of ``scenario`` with its model uncertainty (in a worker thread): the cached schedule's deferred
    draws computed (:func:`~occupancy.workflows.planning.plan.complete_model_uncertainty`) and put back in
    ``cache``, so every later edit of N, effect, α or power shows them at once."""
    from occupancy.workflows.planning.plan import complete_model_uncertainty, plan_power, plan_schedule, schedule_key

    try:
        key = schedule_key(scenario)
        planned = cache.get(key)
        planned = plan_schedule(scenario) if planned is None else complete_model_uncertainty(planned)
        cache.put(key, planned)
        return Outcome(plan_power(planned, scenario.design, blank_n="attenuated"), scenario=scenario)
    except InputError as exc:
        return Outcome(error=_sourced(exc, "plan"))
    except Exception as exc:  # noqa: BLE001 - shown as one line; the app keeps running
        return Outcome(error=_internal_error(exc))


def plan_is_complete(scenario, cache: ScheduleCache) -> bool:
    """True when ``cache`` holds ``scenario``'s schedule with its model-uncertainty draws done."""
    from occupancy.workflows.planning.plan import schedule_key

    planned = cache.get(schedule_key(scenario))
    return planned is not None and not planned.model_uncertainty_pending


def run_explore(scenario, planned) -> Outcome:
    """The Plan tab's "Find the best design" (in a worker thread): the coarse explore scenario around the planning
    ``scenario`` and its plan ``planned`` (:func:`occupancy.app.forms.explore_scenario`), searched in process by
    :func:`~occupancy.workflows.explore.workflow.explore_study`; the value is its ``ExploreResult``."""
    from occupancy.app.forms import explore_scenario
    from occupancy.workflows.explore.workflow import explore_study

    try:
        search = explore_scenario(scenario, planned.n_required_attenuated, min_delay_h=planned.min_delay_h,
                                  min_isi_days=planned.min_isi_days)
        return Outcome(explore_study(search, progress=False, workers=0), scenario=search)
    except InputError as exc:
        return Outcome(error=_sourced(exc, "plan"))
    except ImportError as exc:  # the search's Parquet table needs the explore extra, which the app extra lacks
        return Outcome(error=f"blockade: error: Plan tab: Find the best design needs the explore extra "
                             f"(pip install \"blockade[explore]\"; missing: {exc.name or exc})")
    except Exception as exc:  # noqa: BLE001 - shown as one line; the app keeps running
        return Outcome(error=_internal_error(exc))


def reanalysis_scenario(form: ReanalyseForm, values: dict, outcomes: tuple | None) -> Outcome:
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.reanalysis.settings import ReanalysisScenario

    data = None
    try:
        if values.get("rea_source") == "upload" and outcomes is None:
            raise InputError("upload an outcome CSV first, or choose the bundled review")
        data = form.scenario_data(values, outcomes[0] if values.get("rea_source") == "upload" else None)
        return Outcome(scenario=scenario_from_dict(data, SOURCES["reanalyse"], ReanalysisScenario), data=data)
    except InputError as exc:
        return Outcome(error=_sourced(exc, "reanalyse"), data=data)
    except _UNREADABLE as exc:
        return Outcome(error=_unreadable(exc, "reanalyse"))


def run_reanalysis(scenario, outcomes: tuple | None, control: RunControl | None = None) -> Outcome:
    """``blockade reanalyse`` on a validated scenario and the uploaded outcomes ``(name, bytes)`` or the
    bundled review (None), reporting the early pooled estimates and each draw to ``control``."""
    from occupancy.workflows.reanalysis.analysis import reanalyse
    from occupancy.workflows.reanalysis.settings import settings_from_scenario

    try:
        settings = settings_from_scenario(scenario)
        table = None
        if outcomes is not None:
            table = read_outcomes_upload(outcomes[0], outcomes[1], settings.annotation.default_window_h)
        result = reanalyse(table, settings, on_progress=None if control is None else control.update,
                           on_partial=None if control is None else control.report_partial)
        return Outcome(result, scenario=scenario)
    except RunCancelled:
        return Outcome(error="")
    except InputError as exc:
        return Outcome(error=error_line(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. a meta-analysis that does not converge: one line
        from meta.errors import ConvergenceError, MetaInputError

        if isinstance(exc, (ConvergenceError, MetaInputError)):
            return Outcome(error=error_line(exc))
        return Outcome(error=_internal_error(exc))


def report_html(toml_text: str, tab: str, outcomes: tuple | None = None) -> str:
    """The HTML report ``blockade run`` writes for this scenario (the same function, on the same file).

    The scenario is saved as ``blockade-<tab>.toml`` (the name of the scenario download) in a temporary
    folder, with the uploaded outcome CSV ``(name, bytes)`` beside it when the scenario names one, and run
    with :func:`occupancy.report.run_folder.run_scenario`; so the download equals ``report.html`` of
    ``blockade run blockade-<tab>.toml --out DIR`` (byte for byte with the same ``SOURCE_DATE_EPOCH``).
    """
    import tempfile
    from pathlib import Path

    from occupancy.report.run_folder import run_scenario

    with tempfile.TemporaryDirectory(prefix="blockade-app-report-") as folder:
        path = Path(folder) / f"blockade-{tab}.toml"
        path.write_text(toml_text, encoding="utf-8")
        if outcomes is not None:
            (Path(folder) / safe_name(outcomes[0])).write_bytes(outcomes[1])
        outcome = run_scenario(path, Path(folder) / "out", progress=False)
        return outcome.report_path.read_text(encoding="utf-8")


def figure_bytes(fig, fmt: str) -> bytes:
    """A matplotlib figure as PNG (150 dpi) or SVG bytes, closed afterwards."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        if fmt == "svg":
            import matplotlib

            with matplotlib.rc_context({"svg.hashsalt": "blockade"}):
                fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        else:
            fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()



def figure_downloads(output, names, make_figure) -> None:
    """Register ``download_<name>_png`` and ``download_<name>_svg`` for each figure ``name``; ``make_figure(name)``
    builds the matplotlib figure when the user asks for it (the files ``blockade plan/reanalyse --out`` write)."""
    from shiny import render

    def download(name: str, fmt: str):
        def _download():  # no default arguments: Shiny warns about them once per session and figure
            yield figure_bytes(make_figure(name), fmt)

        _download.__name__ = f"download_{name}_{fmt}"
        return _download

    for name in names:
        for fmt, media in (("png", "image/png"), ("svg", "image/svg+xml")):
            output(id=f"download_{name}_{fmt}")(
                render.download_button(filename=f"{name}.{fmt}", media_type=media)(download(name, fmt)))


def figure_div(fig, name: str):
    """A matplotlib figure as inline SVG with an accessible name (closed afterwards)."""
    import matplotlib.pyplot as plt
    from shiny import ui

    from occupancy.report.html import figure_to_svg

    try:
        return ui.div(ui.HTML(figure_to_svg(fig)), class_="svg-figure", role="img", **{"aria-label": name})
    finally:
        plt.close(fig)


def first_file(files):
    """The first file of a file input's value (a list of dicts from Shiny; anything else is malformed)."""
    return files[0] if isinstance(files, (list, tuple)) else files


#: The comment a downloaded plan scenario carries when the app wrote its planned N for a blank one.
PLANNED_N_NOTE = ("Participants was blank in the app, which plans the N for the blockade-attenuated effect;\n"
                  "design.participants holds that N, so blockade plan gives the app's N and power (without it,\n"
                  "blockade plan would plan the N for full blockade).")


def plan_with_planned_n(out: Outcome, cache: ScheduleCache | None = None) -> tuple[Outcome, str]:
    """The Plan tab's scenario for the scenario and report downloads, and the comment to write with it.

    A blank N means, in the app, the N for the blockade-attenuated effect (issue 21.5), while ``blockade plan``
    without an N plans the N for full blockade; so the downloaded file names the N the app planned
    (``design.participants``; the plan's power part, from ``cache`` when it holds the schedule) and running it
    gives the app's N and power.  Other scenarios are returned as they are, with no comment.
    """
    from occupancy.simulation.scenario import scenario_from_dict
    from occupancy.workflows.planning.design import PlanScenario

    if out.error or out.scenario is None or out.data is None:
        return out, ""
    design = out.scenario.design
    if any(v is not None for v in (design.participants, design.n_drug, design.n_placebo)):
        return out, ""
    planned = run_plan(out.scenario, cache, defer_uncertainty=True)
    if planned.error:
        return out, ""
    data = json.loads(json.dumps(out.data))
    data.setdefault("design", {})["participants"] = int(planned.value.n_planned)
    try:
        scenario = scenario_from_dict(data, SOURCES["plan"], PlanScenario)
    except InputError:
        return out, ""
    return Outcome(scenario=scenario, data=data), PLANNED_N_NOTE


def scenario_toml(outcome: Outcome, tab: str, note: str = "") -> str:
    """The current tab's scenario as TOML (a scenario that does not validate is written as entered, with
    its error as a comment, so ``blockade run`` shows the same error); ``note`` is added to the head comment."""
    from occupancy.simulation.scenario_toml import scenario_to_toml, toml_dumps
    from occupancy.version import __version__

    head = (f"Saved by `blockade app` {__version__} ({SOURCES[tab]}).\n"
            "Run it with:  blockade run THIS_FILE.toml   (same numbers as the app)")
    if note:
        head += "\n" + note
    if tab == "reanalyse" and outcome.data and (outcome.data.get("reanalysis") or {}).get("data"):
        head += "\nKeep the outcome CSV named in [reanalysis] data next to this file."
    if outcome.scenario is not None:
        return scenario_to_toml(outcome.scenario, comment=head)
    body = toml_dumps(outcome.data) if outcome.data else ""
    return "\n".join(["# " + line for line in head.splitlines()] +
                     [f"# This scenario does not validate: {outcome.error}"]) + "\n" + body


# --------------------------------------------------------------------------------------------------
# Shiny server
# --------------------------------------------------------------------------------------------------


def make_server(*, timecourse_points: int = APP_TIMECOURSE_POINTS):
    """The Shiny server function."""
    from shiny import reactive, render, req, ui
    from shiny.types import SilentCancelOutputException, SilentException, SilentOperationInProgressException

    from occupancy.app.guard import CLIENT_ERROR_INPUT

    SILENT = (SilentException, SilentCancelOutputException, SilentOperationInProgressException)

    sim_form, plan_form, rea_form = SimulateForm(), PlanForm(), ReanalyseForm()
    kinds = {d.id: d for d in sim_form.all_inputs() + plan_form.all_inputs() + rea_form.all_inputs()}
    plan_ids = [d.id for d in plan_form.all_inputs()]
    rea_ids = [d.id for d in rea_form.all_inputs()]

    def server(input, output, session):  # noqa: A002 - Shiny's names
        pools = {"simulate": ThreadPoolExecutor(1, thread_name_prefix="blockade-simulate"),
                 "plan": ThreadPoolExecutor(1, thread_name_prefix="blockade-plan"),
                 "plan_uncertainty": ThreadPoolExecutor(1, thread_name_prefix="blockade-plan-uncertainty"),
                 "reanalyse": ThreadPoolExecutor(1, thread_name_prefix="blockade-reanalyse"),
                 "explore": ThreadPoolExecutor(1, thread_name_prefix="blockade-explore")}
        controls: dict[str, RunControl] = {}
        schedules = ScheduleCache()  # the Plan tab's schedule parts (dropped at session end)
        figures: dict[str, tuple] = {}  # figure name -> (what it shows, its rendered tag): unchanged, not redrawn

        def _ended() -> None:  # the browser tab closed: stop a running reanalysis, drop queued work
            if controls.get("current") is not None:
                controls["current"].cancelled.set()
            for pool in pools.values():
                pool.shutdown(wait=False, cancel_futures=True)
            schedules.clear()
            figures.clear()
            last_sim["value"] = None
            release_memory()

        session.on_ended(_ended)

        # -- the last error (one line) and notices ------------------------------------------------------
        errors = reactive.value(())
        notice = reactive.value("")

        def set_error(source: str, message: str) -> None:
            with reactive.isolate():
                items = tuple(x for x in errors.get() if x[0] != source)
            errors.set(items + ((source, message),) if message else items)

        def clear_error(*sources: str) -> None:
            with reactive.isolate():
                items = tuple(x for x in errors.get() if x[0] not in sources)
            errors.set(items)

        def guarded(fn):
            """An effect that never ends the session: an unexpected error becomes the app's one-line error."""
            import functools

            @functools.wraps(fn)
            def run():
                try:
                    return fn()
                except SILENT:
                    raise
                except InputError as exc:
                    set_error("client", error_line(exc))
                except Exception as exc:  # noqa: BLE001 - one line, the session lives on
                    set_error("client", _internal_error(exc))
            return run

        @reactive.effect
        @reactive.event(lambda: input[CLIENT_ERROR_INPUT]())
        @guarded
        def _client_message_error():
            text = "".join(c for c in str(input[CLIENT_ERROR_INPUT]()) if c.isprintable())[:200]
            set_error("client", f"blockade app: error: the page sent {text}; it was ignored")

        #: Errors shown on every tab; the others only on their own tab (an error never outlives its tab).
        everywhere = ("upload", "client")
        belongs = {"simulate": ("simulate",), "plan": ("plan",), "reanalyse": ("reanalyse", "outcomes")}

        @render.text
        def app_error():
            tab = input.tabs() if input.tabs() in belongs else "simulate"
            items = [x for x in errors() if x[0] in everywhere or x[0] in belongs[tab]]
            return items[-1][1] if items else ""

        @render.ui
        def app_notice():
            text = notice()
            return ui.div(text, class_="app-notice") if text else None

        # -- reading inputs -----------------------------------------------------------------------------
        def read(ids) -> dict:
            out = {}
            for i in ids:
                try:
                    out[i] = input[i]()
                except SilentException:
                    out[i] = kinds[i].default if i in kinds else None
            return out

        def sim_values() -> dict:
            first = read(["drug", *[f"model_{d}" for d in drugs()], "dose_rows", "assess_rows"])
            return read(sim_form.ids_in_use(first))

        # -- Simulate -----------------------------------------------------------------------------------
        sim_state = reactive.value(None)  # the Outcome of the latest Simulate inputs (None: not computed yet)
        sim_started = {"key": None}

        @reactive.extended_task
        async def sim_task(values, key):
            loop = asyncio.get_running_loop()
            out = await loop.run_in_executor(pools["simulate"], lambda: simulate_from_values(
                sim_form, values, points=timecourse_points))
            return key, out

        @reactive.effect
        @guarded
        def _start_sim():
            try:
                values = sim_values()
            except _UNREADABLE as exc:
                sim_state.set(Outcome(error=_unreadable(exc, "simulate")))
                return
            key = json.dumps(values, sort_keys=True, default=str)
            sim_started["key"] = key
            if not large_population(values):
                with reactive.isolate():
                    if sim_task.status() == "running":
                        sim_task.cancel()
                sim_state.set(simulate_from_values(sim_form, values, points=timecourse_points))
                return
            with reactive.isolate():
                if sim_task.status() == "running":
                    sim_task.cancel()
            sim_task.invoke(values, key)

        @reactive.effect
        @guarded
        def _sim_done():
            if sim_task.status() != "success":
                return
            key, out = sim_task.result()
            if key == sim_started["key"]:  # an older run that finished late is not shown
                sim_state.set(out)

        @reactive.calc
        def sim():
            out = sim_state()
            req(out is not None)
            return out

        @reactive.effect
        @guarded
        def _sim_errors():
            out = sim()
            if out.error:
                set_error("simulate", out.error)
            else:
                clear_error("simulate", "upload", "client")

        last_sim = {"value": None}

        def sim_result():
            """The current result, or the last good one while the inputs have an error (shown as outdated)."""
            out = sim()
            if out.error:
                req(last_sim["value"] is not None)
                return last_sim["value"]
            last_sim["value"] = out.value
            return out.value

        # -- errors at the field and the outdated mark, per tab -----------------------------------------
        async def show_field_errors(tab: str, lines, values_sim, values_tab) -> None:
            found = []
            for line in lines:
                fe = field_error(line, tab, values_sim, values_tab) if line else None
                if fe is not None and all(x["id"] != fe.id for x in found):
                    found.append({"id": fe.id, "text": fe.text})
            await session.send_custom_message("blockade_field_errors", {"tab": tab, "errors": found})

        async def show_outdated(tab: str, reason: str) -> None:
            await session.send_custom_message("blockade_outdated",
                                              {"tab": tab, "outdated": bool(reason), "reason": reason})

        def _values_or_empty(fn) -> dict:
            try:
                return fn()
            except _UNREADABLE:
                return {}

        @reactive.effect
        async def _simulate_marks():
            out = sim()
            running = sim_task.status() == "running"
            with reactive.isolate():
                values = _values_or_empty(sim_values)
            await show_field_errors("simulate", [out.error], values, values)
            if out.error:
                reason = "these results are for earlier inputs; fix the field marked in red"
            elif running:
                reason = "simulating the large population for the new inputs…"
            else:
                reason = ""
            await show_outdated("simulate", reason)

        @render.text
        def mor_at_assessment():
            return views.mor_at_first_assessment(sim_result())

        @render.ui
        def mor_detail():
            r = sim_result()
            parts = [views.mor_interval(r), views.population_line(r)]
            if r.assessments:
                a = r.assessments[0]
                when = f"{a['time_h']:g} h" + ("" if a.get("end_h") is None else f"–{a['end_h']:g} h (window mean)")
                parts.insert(0, f"'{a['label']}' at {when}")
            return ui.div(*[ui.div(p) for p in parts if p], class_="key-note")

        @render.ui
        def sim_key_numbers():
            items = views.simulation_key_numbers(sim_result())
            return ui.layout_columns(*[ui.value_box(k.label, k.value, ui.div(k.note, class_="key-note"))
                                       for k in items], col_widths=(4, 4, 4))

        @render.ui
        def sim_warnings():
            warnings = sim_result().warnings
            return ui.div(*[ui.div(f"warning: {w}", class_="key-warning") for w in warnings]) if warnings else None

        @render.ui
        def timecourse_plot():  # inline SVG: milliseconds, where a matplotlib PNG takes 150-300 ms
            view = input.time_view() if input.time_view() in views.TIME_VIEWS else "task"
            return ui.HTML(views.timecourse_svg(sim_result(), view))

        @render.data_frame
        def assessment_table():
            return render.DataGrid(views.display_frame(views.assessment_frame(sim_result())), width="100%")

        @render.download_button(filename="assessments.csv")
        def download_assessments():
            yield csv_text(views.assessment_frame(sim_result()), index=False)

        def full_resolution():
            """The result at the CLI's resolution (what `blockade simulate --out` writes)."""
            from occupancy.simulation.simulate import simulate

            out = sim()
            req(not out.error)
            return simulate(out.scenario)

        @render.download_button(filename="timecourse.csv")
        def download_timecourse():
            yield csv_text(full_resolution().timecourse, index=False, float_format="%.6g")  # = timecourse.csv

        @render.download_button(filename="timecourse.png", media_type="image/png")
        def download_timecourse_png():
            yield figure_bytes(views.timecourse_figure(full_resolution()), "png")

        @render.download_button(filename="timecourse.svg", media_type="image/svg+xml")
        def download_timecourse_svg():
            yield figure_bytes(views.timecourse_figure(full_resolution()), "svg")

        # -- HTML reports (the CLI's report.html for the tab's scenario), computed off the event loop -------
        def report_download(tab: str):
            async def download():
                out = {"simulate": sim, "plan": plan_request, "reanalyse": rea_request}[tab]()
                if out.error or out.scenario is None:
                    set_error(tab, out.error or f"blockade: error: {SOURCES[tab]}: nothing to report yet")
                    return
                f = outcomes_file() if tab == "reanalyse" else None
                wanted = (out.data.get("reanalysis") or {}).get("data") if tab == "reanalyse" else None
                files = f[:2] if (f is not None and wanted) else None
                note = ""
                if tab == "plan":  # a blank N: the report is for the N the app planned
                    out, note = await asyncio.to_thread(plan_with_planned_n, out, schedules)
                text = scenario_toml(out, tab, note)
                try:
                    html = await asyncio.to_thread(report_html, text, tab, files)
                except InputError as exc:
                    set_error(tab, error_line(exc))
                    return
                yield html.encode("utf-8")

            download.__name__ = f"{tab}_report_download"
            return download

        for _tab in ("simulate", "plan", "reanalyse"):
            output(id=f"{_tab}_report_download")(
                render.download_button(filename=f"blockade-{_tab}-report.html", media_type="text/html")(
                    report_download(_tab)))

        # -- a drug-specific opening dose when the drug is changed by hand (not by an uploaded scenario) --------
        drug_seen = {"value": sim_form.drug_input().default, "pushed": None}

        @reactive.effect
        @reactive.event(input.drug, ignore_init=True)
        @guarded
        def _opening_dose():
            drug = input.drug()
            previous, drug_seen["value"] = drug_seen["value"], drug
            if drug_seen["pushed"] == drug or drug == previous or drug not in OPENING_DOSES:
                drug_seen["pushed"] = None
                return
            amount, unit, why = OPENING_DOSES[drug]
            first = sim_form.dose_row(0)
            ui.update_numeric(first["amount"].id, value=amount)
            ui.update_select(first["unit"].id, selected=unit)
            notice.set(f"{drug}: first dose set to {why}")

        @reactive.calc
        def curve():
            from occupancy.models.dose_response import dose_curve

            return dose_curve(input.drug())

        def first_dose_on_curve(result, c) -> float | None:
            dose = result.schedule.doses[0]
            try:
                return dose.mg(result.schedule.weight_kg) if c.unit == "mg" else dose.mg_per_kg(
                    result.schedule.weight_kg)
            except InputError:
                return None

        @render.ui
        def dose_curve_plot():
            c = curve()
            out = sim()
            mark = None if out.error else first_dose_on_curve(out.value, c)
            return ui.HTML(views.dose_curve_svg(c, mark))

        @render.ui
        def dose_curve_compare():
            c = curve()
            out = sim()
            if out.error:
                return None
            items = views.dose_curve_comparison(c, first_dose_on_curve(out.value, c), out.value)
            boxes = [ui.div(ui.div(k.label, class_="small text-body-secondary"),
                            ui.div(k.value, id=k.output_id, class_="fs-5 fw-semibold"),
                            ui.div(k.note, class_="key-note")) for k in items]
            return ui.div(ui.layout_columns(*boxes, col_widths=(6, 6)) if len(boxes) == 2 else ui.div(*boxes),
                          ui.div("The two differ because they answer different questions: the curve is one dose at "
                                 "one reference time, the time course follows your schedule over time.",
                                 class_="key-note"), class_="mb-2")

        @render.download_button(filename=lambda: f"dose_curve_{input.drug()}.csv")
        def download_dose_curve():
            yield curve().to_csv()

        # -- Plan (worker thread) -----------------------------------------------------------------------
        @reactive.calc
        def plan_request():
            try:
                simulate_values, values = sim_values(), read(plan_ids)
            except _UNREADABLE as exc:
                return Outcome(error=_unreadable(exc, "plan"))
            return plan_scenario(plan_form, simulate_values, values)

        @reactive.extended_task
        async def plan_task(scenario):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pools["plan"], lambda: run_plan(scenario, schedules,
                                                                              defer_uncertainty=True))

        # The plan's model uncertainty: its draws take most of a plan's time, so the plan is shown without them
        # (marked pending) and they are computed per schedule in their own worker thread, then shown.
        @reactive.extended_task
        async def plan_uncertainty_task(scenario):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pools["plan_uncertainty"], complete_plan_uncertainty, scenario,
                                              schedules)

        plan_shown = reactive.value(None)  # the Outcome the Plan tab shows (the plan, later with its uncertainty)

        @reactive.effect
        @guarded
        def _plan_done():
            if plan_task.status() != "success":
                return
            out = plan_task.result()
            plan_shown.set(out)
            if out.pending and not out.error:
                with reactive.isolate():
                    if plan_uncertainty_task.status() == "running":
                        plan_uncertainty_task.cancel()  # its thread finishes and caches; the queue moves on
                plan_uncertainty_task.invoke(out.scenario)

        @reactive.effect
        @guarded
        def _plan_uncertainty_done():
            if plan_uncertainty_task.status() != "success":
                return
            out = plan_uncertainty_task.result()
            with reactive.isolate():
                shown = plan_shown.get()
            if out.error:  # the plan stands; its model uncertainty is not computed (the error says why)
                set_error("plan", out.error)
                if shown is not None and shown.pending:
                    plan_shown.set(replace(shown, pending=False))
                return
            if shown is None or shown.scenario is None or not shown.pending:
                return
            if plan_is_complete(shown.scenario, schedules):  # the shown plan's schedule: power part only
                plan_shown.set(run_plan(shown.scenario, schedules))

        started = {"plan": None, "reanalyse": None}

        @reactive.effect
        @guarded
        def _start_plan():
            if input.tabs() != "plan":
                return
            request = plan_request()
            if request.error:
                set_error("plan", request.error)
                return
            clear_error("plan")
            key = json.dumps(request.data, sort_keys=True, default=str)
            if key == started["plan"]:  # back to the plan already computed (or computing): show its error again
                with reactive.isolate():
                    if plan_task.status() == "success" and plan_task.result().error:
                        set_error("plan", plan_task.result().error)
                return
            started["plan"] = key
            plan_task.cancel()
            plan_task.invoke(request.scenario)

        def plan_outcome() -> Outcome:
            out = plan_shown()
            req(out is not None)
            return out

        @reactive.effect
        async def _plan_marks():
            if input.tabs() != "plan":
                return
            request = plan_request()
            status = plan_task.status()
            lines = [] if sim().error else [request.error]  # the Simulate tab marks its own fields
            if status == "success" and not request.error:
                with reactive.isolate():
                    lines.append(plan_task.result().error)
            with reactive.isolate():
                values_sim, values_plan = _values_or_empty(sim_values), _values_or_empty(lambda: read(plan_ids))
            await show_field_errors("plan", lines, values_sim, values_plan)
            if sim().error:
                reason = "the Simulate tab has an error; these results are for earlier inputs"
            elif request.error:
                reason = "these results are for earlier inputs; fix the field marked in red"
            elif status == "running":
                reason = "computing the plan for the new inputs…"
            else:
                reason = ""
            await show_outdated("plan", reason)

        @reactive.effect
        @guarded
        def _plan_errors():
            if plan_task.status() != "success":
                return
            out = plan_outcome()
            if out.error:
                set_error("plan", out.error)
            else:
                clear_error("plan")

        def plan_result():
            out = plan_outcome()
            req(not out.error)
            return out.value

        @render.ui
        def plan_status():
            if plan_task.status() == "running":
                return ui.div(ui.span(class_="spinner-border spinner-border-sm me-2"), "computing the plan…",
                              class_="alert alert-info py-1")
            return None

        @render.ui
        def plan_inputs_summary():
            out = sim()
            if out.error:
                return ui.div("fix the Simulate tab first", class_="key-warning")
            s = out.scenario
            text = f"{s.drug.name}, {s.build_model().name} model: {s.schedule().describe()}; assessed at " + ", ".join(
                f"'{a.label}' {a.time_h:g} h" for a in s.assessments)
            return ui.div(text, class_="key-note mb-2")

        def plan_key(oid: str):
            r = plan_result()
            return next((k for k in views.plan_key_numbers(r) if k.output_id == oid), None)

        def _headline(oid: str):
            @output(id=oid)
            @render.text
            def _value():
                k = plan_key(oid)
                return k.value if k is not None else "–"

            @output(id=f"{oid}_note")
            @render.ui
            def _note():
                k = plan_key(oid)
                if k is None:
                    return None
                return ui.div(ui.div(k.note, class_="key-note"),
                              *[ui.div(f"warning: {w}", class_="key-warning") for w in k.warnings])

        from occupancy.app.ui import PLAN_HEADLINES

        for oid, _label in PLAN_HEADLINES:
            _headline(oid)

        @render.ui
        def plan_recommendations():
            return ui.tags.ul(*[ui.tags.li(x) for x in views.plan_recommendations(plan_result())], class_="mb-0")

        @render.ui
        def plan_uncertainty():
            out = plan_outcome()
            req(not out.error)
            lines = views.plan_uncertainty_lines(out.value, pending=out.pending)
            if out.pending:
                return ui.div(ui.span(class_="spinner-border spinner-border-sm me-2", role="presentation"), lines[0],
                              id="plan_uncertainty_pending", class_="key-note mt-2")
            head, *items = lines
            return ui.div(ui.div(head), ui.tags.ul(*[ui.tags.li(x) for x in items], class_="mb-0") if items else None,
                          id="plan_uncertainty_done", class_="key-note mt-2")

        @render.ui
        def plan_warnings():
            rest = views.plan_other_warnings(plan_result())
            return ui.div(*[ui.div(f"warning: {w}", class_="key-warning") for w in rest]) if rest else None

        def cached_figure(name: str, shows, make, label: str):
            """The figure's tag, redrawn only when what it shows changed (``shows``: identity of its data)."""
            if name in figures and figures[name][0] == shows:
                return figures[name][1]
            from occupancy.report.plan_figures import _pyplot

            fig = make()
            try:
                tag = figure_div(fig, label)
            finally:
                _pyplot().close(fig)
            figures[name] = (shows, tag)
            return tag

        @render.ui
        def plan_timeline():
            from occupancy.report.plan_figures import timeline_figure

            r = plan_result()
            # the timeline shows only the schedule part: the same objects (compared by identity) while only N,
            # effect, α or power change
            shows = (r.timeline, r.orders, r.min_delay_h, r.min_isi_days)
            return cached_figure("plan_timeline", shows, lambda: timeline_figure(r),
                                 "Protocol timeline: MOR blockade over the sessions (median and 5–95th percentile)")

        @render.ui
        def plan_power_curve():
            # inline SVG (a few ms; the PNG/SVG downloads and the report draw it with matplotlib)
            return ui.HTML(views.plan_power_curve_svg(plan_result()))

        def _plan_figure(name: str):
            from occupancy.report.plan_figures import power_curve_figure, timeline_figure

            return {"plan_timeline": timeline_figure, "plan_power_curve": power_curve_figure}[name](plan_result())

        # the report's matplotlib figures (the files `blockade plan --out` writes), as PNG and SVG
        figure_downloads(output, ("plan_timeline", "plan_power_curve"), _plan_figure)

        # -- Plan: "Find the best design" (a coarse explore search, worker thread) --------------------------
        @reactive.extended_task
        async def explore_task(scenario, planned):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pools["explore"], run_explore, scenario, planned)

        explored = {"key": None}

        @reactive.effect
        @reactive.event(input.plan_explore)
        @guarded
        def _start_explore():
            with reactive.isolate():
                if plan_task.status() != "success" or plan_task.result().error:
                    set_error("plan_explore", "Plan tab: Find the best design: wait for a plan without errors first")
                    return
                out = plan_task.result()
            clear_error("plan_explore")
            explored["key"] = started["plan"]  # the Plan inputs this search is for
            explore_task.cancel()
            explore_task.invoke(out.scenario, out.value)

        @reactive.effect
        @guarded
        def _explore_errors():
            if explore_task.status() != "success":
                return
            out = explore_task.result()
            if out.error:
                set_error("plan_explore", out.error)
            else:
                clear_error("plan_explore")

        @render.ui
        def plan_explore_results():
            status = explore_task.status()
            if status == "running":
                return ui.div(ui.span(class_="spinner-border spinner-border-sm me-2"), "searching designs…",
                              class_="alert alert-info py-1")
            if status != "success":
                return ui.div("Searches a few doses × delays × ISIs around the inputs above, at the N for the target "
                              "power (blockade explore).", class_="key-note")
            out = explore_task.result()
            if out.error:
                return ui.div(out.error, class_="key-warning")
            r = out.value
            frame = views.explore_frame(r)
            head = ui.div(views.explore_summary(r), class_="key-note mb-1")
            request = plan_request()
            if request.data is not None and json.dumps(request.data, sort_keys=True, default=str) != explored["key"]:
                head = ui.div(head, ui.div("searched around earlier Plan inputs; click Find the best design again "
                                           "for the current ones", class_="key-warning"))
            if frame.empty:
                return head
            return ui.div(head, ui.HTML(frame.to_html(index=False, classes="table table-sm table-striped",
                                                      border=0, na_rep="–")),
                          ui.input_action_button("plan_explore_use", "Use this design (the best)",
                                                 class_="btn-sm btn-outline-primary"))

        @reactive.effect
        @reactive.event(input.plan_explore_use)
        @guarded
        def _use_best_design():
            with reactive.isolate():
                if explore_task.status() != "success" or explore_task.result().error:
                    return
                out = explore_task.result()
                best = out.value.best()
                doses = int(input.dose_rows() or 1)
            if best is None:
                return
            design, search = best["design"], out.scenario
            if search.explore.dose_mg is not None:
                for i in range(doses):
                    ui.update_numeric(row_id("dose_mg", i), value=design["dose_mg"])
            index = next((i for i, a in enumerate(search.assessments) if a.label == search.primary().label), 0)
            ui.update_numeric(row_id("assess_h", index), value=search.schedule().last_dose_h + design["delay_h"])
            if design["isi_days"] is not None:
                ui.update_numeric("isi_days", value=design["isi_days"])
            ui.update_numeric("participants", value=design["participants"])

        @reactive.calc
        def plan_frames():
            return plan_result().frames()

        @reactive.effect
        @guarded
        def _plan_table_choices():
            names = list(plan_frames())
            with reactive.isolate():
                current = input.plan_table_choice()
            ui.update_select("plan_table_choice", choices={n: views.table_title(n) for n in names},
                             selected=current if current in names else names[0])

        def chosen(frames: dict, choice):
            return frames.get(choice) if choice in frames else next(iter(frames.values()))

        @render.data_frame
        def plan_table():
            return render.DataGrid(views.display_frame(chosen(plan_frames(), input.plan_table_choice())), width="100%")

        @render.download_button(filename=lambda: f"{input.plan_table_choice() or 'plan_table'}.csv")
        def download_plan_table():
            yield csv_text(chosen(plan_frames(), input.plan_table_choice()), index=False)  # as `blockade plan --out`

        # -- Reanalyse (worker thread, progress, cancellation) ------------------------------------------
        outcomes_file = reactive.value(None)  # (name, bytes, sha256)

        @reactive.effect
        @reactive.event(input.outcomes_upload)
        @guarded
        def _outcomes_upload():
            files = input.outcomes_upload()
            if not files:
                return
            try:
                name, content = upload_bytes(first_file(files), folder=session_upload_folder(session))
                read_outcomes_upload(name, content)  # validate now: the same one-line message as the CLI
            except InputError as exc:
                set_error("outcomes", error_line(exc))
                return
            outcomes_file.set((name, content, hashlib.sha256(content).hexdigest()))
            clear_error("outcomes")
            ui.update_radio_buttons("rea_source", selected="upload")

        @reactive.calc
        def rea_request():
            f = outcomes_file()
            try:
                values = read(rea_ids)
            except _UNREADABLE as exc:
                return Outcome(error=_unreadable(exc, "reanalyse"))
            return reanalysis_scenario(rea_form, values, None if f is None else f[:2])

        @reactive.extended_task
        async def rea_task(scenario, outcomes, control):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pools["reanalyse"], run_reanalysis, scenario, outcomes, control)

        @reactive.effect
        @guarded
        def _start_reanalysis():
            if input.tabs() != "reanalyse":
                return
            request = rea_request()
            if request.error:
                set_error("reanalyse", request.error)
                return
            clear_error("reanalyse")
            f = outcomes_file()
            uploaded = request.data.get("reanalysis", {}).get("data") is not None and f is not None
            key = json.dumps(request.data, sort_keys=True, default=str) + (f[2] if uploaded else "")
            if key == started["reanalyse"]:
                with reactive.isolate():
                    if rea_task.status() == "success" and rea_task.result().error:
                        set_error("reanalyse", rea_task.result().error)
                return
            started["reanalyse"] = key
            old = controls.get("current")
            if old is not None:
                old.cancelled.set()
            control = RunControl()
            controls["current"] = control
            rea_task.cancel()
            rea_task.invoke(request.scenario, f[:2] if uploaded else None, control)

        def rea_outcome() -> Outcome:
            return rea_task.result()

        @reactive.effect
        async def _rea_marks():
            if input.tabs() != "reanalyse":
                return
            request = rea_request()
            status = rea_task.status()
            with reactive.isolate():
                values = _values_or_empty(lambda: read(rea_ids))
            await show_field_errors("reanalyse", [request.error], {}, values)
            reason = ("these results are for earlier inputs; fix the field marked in red" if request.error else
                      "reanalysing with the new inputs…" if status == "running" else "")
            await show_outdated("reanalyse", reason)

        @reactive.effect
        @guarded
        def _rea_errors():
            if rea_task.status() != "success":
                return
            out = rea_outcome()
            if out.error:
                set_error("reanalyse", out.error)
            elif out.value is not None:
                clear_error("reanalyse")

        def rea_result():
            out = rea_outcome()
            req(not out.error and out.value is not None)
            return out.value

        @reactive.effect
        @reactive.event(input.reanalysis_cancel)
        @guarded
        def _cancel_reanalysis():
            current = controls.get("current")
            if current is not None and rea_task.status() == "running":
                current.cancelled.set()  # the worker stops at its next Monte Carlo draw
                notice.set("reanalysis cancelled; change a setting to run it again")

        # The progress bar is redrawn by a ticker task of our own while the reanalysis runs (Shiny's
        # invalidate_later can print a CancelledError traceback when a session ends mid-tick).
        tick = reactive.value(0)
        ticker: dict[str, asyncio.Task | None] = {"task": None}

        async def _tick_loop():
            try:
                while True:
                    await asyncio.sleep(0.3)
                    async with reactive.lock():
                        tick.set(tick.get() + 1)
                        await reactive.flush()
            except asyncio.CancelledError:
                return

        def _stop_ticker() -> None:
            if ticker["task"] is not None:
                ticker["task"].cancel()
                ticker["task"] = None

        session.on_ended(_stop_ticker)

        @reactive.effect
        def _progress_ticker():
            if rea_task.status() == "running":
                if ticker["task"] is None:
                    ticker["task"] = asyncio.get_running_loop().create_task(_tick_loop())
            else:
                _stop_ticker()

        @render.ui
        def reanalysis_progress():
            if rea_task.status() != "running":
                return None
            tick()
            c = controls.get("current")
            done, total = (c.done, c.total) if c else (0, 0)
            if total:
                pct = 100.0 * done / total
                text = f"reanalysing: Monte Carlo draw {done} of {total}"
            else:
                pct, text = 0.0, "reanalysing: annotating outcomes, pooling, sensitivity…"
            return ui.div(ui.div(text, class_="small mb-1"),
                          ui.div(ui.div(class_="progress-bar", role="progressbar", style=f"width:{pct:.0f}%",
                                        **{"aria-label": "reanalysis progress", "aria-valuenow": f"{pct:.0f}",
                                           "aria-valuemin": "0", "aria-valuemax": "100"}),
                                 class_="progress"),
                          id="reanalysis_running", class_="alert alert-info py-2")

        @render.ui
        def reanalysis_preliminary():
            """The pooled and adjusted g the library reported before its draws, marked preliminary while the run
            lasts; gone (the final result shows instead) once it ends or is cancelled."""
            if rea_task.status() != "running":
                return None
            tick()
            c = controls.get("current")
            p = None if c is None else c.partial
            if p is None:
                return None
            from occupancy.workflows.reanalysis.result import format_estimate_ci

            running = (f"Monte Carlo running ({c.done} of {c.total} draws)" if c.total else
                       "sensitivity and small-study checks running")
            return ui.div(ui.div(ui.tags.strong("Preliminary"), f" — {running}; the final result replaces this",
                                 id="reanalysis_preliminary_status"),
                          ui.div("pooled g ",
                                 ui.tags.b(format_estimate_ci(p.pooled), id="reanalysis_preliminary_pooled"),
                                 f"; adjusted (rescaled) {format_estimate_ci(p.rescaled)}; {p.mode}-level model, "
                                 f"k = {p.k}"),
                          ui.div(f"still running: {', '.join(p.pending)}", class_="small"),
                          class_="alert alert-warning py-2 mb-2", role="status")

        @render.data_frame
        def reanalysis_estimates():
            return render.DataGrid(views.display_frame(views.reanalysis_estimates(rea_result())), width="100%")

        @render.ui
        def reanalysis_text():
            from occupancy.workflows.reanalysis.result import format_estimate_ci

            r = rea_result()
            lines = [ui.span("pooled g ", ui.tags.b(format_estimate_ci(r.pooled_dict()), id="reanalysis_pooled"),
                             f"; adjusted (rescaled) {format_estimate_ci(r.adjusted['rescaled'])}"),
                     f"{r.mode}-level model, k = {len(r.units)}; {r.settings.annotation.describe()}",
                     views.heterogeneity_text(r), views.monte_carlo_text(r),
                     f"median per-study power for g = {r.settings.power_effect:g}: {r.median_power:.3f}"]
            return ui.div(*[ui.div(x) for x in lines if x],
                          *[ui.div(f"warning: {w}", class_="key-warning") for w in r.warnings], class_="key-note")

        @render.ui
        def forest_plot():
            from occupancy.report.reanalysis import forest_figure

            return figure_div(forest_figure(rea_result()), "Forest plot: each unit's Hedges' g with its MOR contrast")

        def _reanalysis_figure(name: str):
            from occupancy.report.reanalysis import bubble_figure, forest_figure

            fig = {"forest_plot": forest_figure, "bubble_plot": bubble_figure}[name](rea_result())
            req(fig is not None)  # no meta-regression: nothing to download
            return fig

        figure_downloads(output, ("forest_plot", "bubble_plot"), _reanalysis_figure)

        @render.ui
        def bubble_plot():
            import matplotlib.pyplot as plt

            from occupancy.report.reanalysis import bubble_figure

            fig = bubble_figure(rea_result())
            if fig is None:
                return ui.div("meta-regression not fitted (see the warnings)", class_="key-note")
            try:
                return figure_div(fig, "Meta-regression: Hedges' g against the MOR blockade contrast")
            finally:
                plt.close(fig)

        @reactive.calc
        def rea_tables():
            return views.reanalysis_tables(rea_result())

        @reactive.effect
        @guarded
        def _rea_table_choices():
            names = list(rea_tables())
            with reactive.isolate():
                current = input.rea_table_choice()
            ui.update_select("rea_table_choice", choices={n: views.table_title(n) for n in names},
                             selected=current if current in names else names[0])

        @render.data_frame
        def rea_table():
            return render.DataGrid(views.display_frame(chosen(rea_tables(), input.rea_table_choice())), width="100%")

        @render.download_button(filename=lambda: f"{input.rea_table_choice() or 'table'}.csv")
        def download_rea_table():
            yield csv_text(chosen(rea_tables(), input.rea_table_choice()), index=False, float_format="%.6g")

        # -- scenario download and upload -------------------------------------------------------------
        def current_tab() -> str:
            tab = input.tabs()
            return tab if tab in SOURCES else "simulate"

        @render.download_button(filename=lambda: f"blockade-{current_tab()}.toml", media_type="application/toml")
        async def scenario_download():
            tab = current_tab()
            note = ""
            if tab == "plan":  # a blank N: the N the app planned (off the event loop when not cached)
                out, note = await asyncio.to_thread(plan_with_planned_n, plan_request(), schedules)
            elif tab == "reanalyse":
                out = rea_request()
            else:
                out = sim()
            yield scenario_toml(out, tab, note)

        def push(values: dict) -> None:
            """Set inputs to ``values`` (by each input's kind)."""
            if "drug" in values:
                drug_seen["pushed"] = values["drug"]  # the upload sets its own dose
            for key, value in values.items():
                d = kinds.get(key)
                if d is None:
                    continue
                if d.kind in ("number", "integer"):
                    if value is None:
                        session.send_input_message(key, {"value": ""})
                    else:
                        ui.update_numeric(key, value=value)
                elif d.kind in ("text", "numbers"):
                    ui.update_text(key, value="" if value is None else str(value))
                elif d.kind == "choice":
                    ui.update_select(key, selected=value)
                elif d.kind == "radio":
                    ui.update_radio_buttons(key, selected=value)
                elif d.kind == "bool":
                    ui.update_switch(key, value=bool(value))
                elif d.kind == "choices":
                    ui.update_checkbox_group(key, selected=list(value or ()))

        # -- the inputs in the page's URL (a link restores them) ------------------------------------------
        all_defs = list(kinds.values())
        url_state = {"restored": False}

        @reactive.effect
        @guarded
        def _restore_from_url():
            if url_state["restored"]:
                return
            with reactive.isolate():
                try:
                    search = session.clientdata.url_search()
                except (ValueError, KeyError, TypeError):  # a client that sends no URL (not a browser page)
                    search = ""
                search = search if isinstance(search, str) else ""
            url_state["restored"] = True
            values, tab = values_from_query(all_defs, search)
            if values:
                push(values)
            if tab:
                ui.update_navset("tabs", selected=tab)

        @reactive.effect
        async def _write_url():
            values = read(list(kinds))
            tab = input.tabs()
            if not url_state["restored"]:
                return
            await session.send_custom_message("blockade_url", {"query": query_from_values(all_defs, values, tab)})

        @reactive.effect
        @reactive.event(input.scenario_upload)
        @guarded
        def _scenario_upload():
            files = input.scenario_upload()
            if not files:
                return
            notice.set("")
            try:
                name, content = upload_bytes(first_file(files), folder=session_upload_folder(session))
                task, scenario, note = restore_target(*read_scenario_upload(name, content), name)
                if note:
                    notice.set(note)
                if task == "simulate":
                    push(sim_form.values_from_scenario(scenario))
                elif task == "plan":
                    sim_values_, plan_values = plan_form.values_from_scenario(scenario)
                    push(sim_values_)
                    push(plan_values)
                else:
                    values = rea_form.values_from_scenario(scenario)
                    wanted = scenario.reanalysis.data
                    f = outcomes_file()
                    have = f is not None and wanted is not None and f[0] == wanted.replace("\\", "/").split("/")[-1]
                    values["rea_source"] = "upload" if have else "bundled"
                    push(values)
                    if wanted is not None and not have:
                        notice.set(f"{name} names the outcome file {wanted!r}; the app never opens files named in "
                                   "an upload: upload that CSV in the Reanalyse tab (the bundled review is used "
                                   "until then)")
            except InputError as exc:
                set_error("upload", error_line(exc))
                return
            clear_error("upload")
            if not notice():
                notice.set(f"restored {name} ({task})")
            ui.update_navset("tabs", selected=task)

        @reactive.effect
        @reactive.event(input.upload_rejected)
        @guarded
        def _upload_rejected():
            info = input.upload_rejected()
            if not isinstance(info, dict):
                raise InputError("upload: malformed message about a refused upload from the page")
            source = "outcomes" if info.get("input") == "outcomes_upload" else "upload"
            name = str(info.get("name", "upload"))
            try:
                size = int(info.get("size") or 0)
            except (TypeError, ValueError, OverflowError):
                raise InputError(f"{safe_name(name)}: malformed file size from the page (refused)") from None
            set_error(source, error_line(InputError(too_large_message(name, size, MAX_UPLOAD_BYTES))))

    return server
