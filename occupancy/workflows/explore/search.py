"""Running a search: chunks of the design grid as Dask tasks, streamed to resumable Parquet parts.

* **Chunks.**  The grid (:func:`~occupancy.workflows.explore.space.design_grid`) is cut into consecutive
  chunks of ``chunk_size`` designs; chunk ``i`` is one task, :func:`~occupancy.workflows.explore.evaluate.
  evaluate_chunk`, and one Parquet part ``chunk-<i>.parquet`` in the state folder.
* **Where the tasks run.**  ``scheduler`` (``tcp://HOST:PORT``) sends them to an existing Dask cluster;
  otherwise a :class:`dask.distributed.LocalCluster` with one single-threaded worker process per core
  (``workers`` changes it) — or, for a grid of one chunk or ``workers = 0``, the caller's process (no cluster
  at all; the synchronous scheduler in effect).  The tasks are the same in every case; the results come back
  to this process, which writes them (the workers need no shared file system).
* **Resume.**  The state folder holds ``manifest.json`` (a fingerprint of the scenario, the chunk size and the
  blockade version) and the finished parts, each written atomically.  ``resume=True`` with a matching
  manifest skips the finished parts; Ctrl-C leaves them in place.
* **Reproducible.**  No randomness is drawn per task: the model draws and the virtual population come from
  the scenario's seeds once (:func:`~occupancy.workflows.explore.evaluate.build_context`) and every design is
  evaluated with the same draws and the same people (common random numbers, so the differences between
  designs are not Monte Carlo noise).  A design's row therefore depends on the scenario only, and the
  assembled table (sorted by ``design_id``) is byte-identical for any number of workers or chunk size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from occupancy.errors import InputError
from occupancy.workflows.explore.evaluate import CRITERIA, SearchContext, build_context, evaluate_chunk
from occupancy.workflows.explore.space import CONSTRAINTS, DesignGrid, ExploreScenario, axes, count_designs, design_grid

MANIFEST = "manifest.json"
#: Designs × model draws below which a search runs in the caller's process unless ``workers`` is given
#: (a few seconds of work; a LocalCluster takes several seconds to start).
IN_PROCESS_WORK = 250_000
#: Seconds to wait for an existing scheduler before giving up (one line, exit 2).
CONNECT_TIMEOUT_S = 10


def result_schema(constraints):
    """The Parquet schema of the design table (fixed column order and types)."""
    import pyarrow as pa

    fields = [("design_id", pa.int64()), ("kind", pa.string()), ("dose_mg", pa.float64()), ("delay_h", pa.float64()),
              ("isi_days", pa.float64()), ("sessions", pa.int64()), ("participants", pa.int64())]
    for name in CRITERIA:
        fields += [(name, pa.float64()), (f"{name}_median", pa.float64())]
    fields += [(f"p_{c}", pa.float64()) for c in CONSTRAINTS if c in constraints]
    fields += [("p_all_constraints", pa.float64()), ("feasible", pa.bool_()), ("participant_days", pa.float64()),
               ("tablets", pa.float64()), ("cost", pa.float64())]
    return pa.schema(fields)


def to_table(columns: dict, schema):
    import pyarrow as pa

    return pa.table({f.name: pa.array(np.asarray(columns[f.name]), type=f.type) for f in schema}, schema=schema)


@dataclass(frozen=True)
class SearchPlan:
    """What a search will do: the grid, its chunks and the context every chunk needs."""

    scenario: ExploreScenario
    grid: DesignGrid
    chunk_size: int
    context: SearchContext
    fingerprint: str

    @property
    def n_chunks(self) -> int:
        return -(-len(self.grid) // self.chunk_size)

    def chunk(self, i: int) -> tuple[DesignGrid, np.ndarray]:
        a, b = i * self.chunk_size, min(len(self.grid), (i + 1) * self.chunk_size)
        return self.grid.take(slice(a, b)), np.arange(a, b, dtype=np.int64)


def fingerprint(scenario: ExploreScenario, chunk_size: int) -> str:
    """Hash of everything a finished part depends on (scenario, chunk size, blockade version)."""
    from occupancy.version import __version__

    text = json.dumps({"scenario": scenario.model_dump(mode="json"), "chunk_size": chunk_size,
                       "version": __version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def prepare(scenario: ExploreScenario, *, force: bool = False, chunk_size: int | None = None) -> SearchPlan:
    """Check the space (non-empty, bounded, under the cap unless ``force``) and build grid and context."""
    values = axes(scenario)
    total = count_designs(values)
    cap = scenario.explore.max_designs
    if total > cap and not force:
        raise InputError(f"explore: {total} designs exceed the cap of {cap} (explore.max_designs); narrow the space, "
                         "raise the cap or pass --force")
    size = int(chunk_size or scenario.explore.chunk_size)
    if size < 1:
        raise InputError(f"--chunk-size: must be >= 1 (got {size})")
    grid = design_grid(values)
    context = build_context(scenario, values)
    return SearchPlan(scenario, grid, size, context, fingerprint(scenario, size))


# ----------------------------------------------------------------------------------------------------
# State folder (resumable parts)
# ----------------------------------------------------------------------------------------------------


def _part_name(i: int) -> str:
    return f"chunk-{i:06d}.parquet"


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _manifest(state: Path) -> dict | None:
    try:
        data = json.loads((state / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("blockade_explore") == 1 else None


def clear_state(state: Path) -> None:
    """Remove what a search wrote into ``state`` (the parts its manifest names, then the manifest and the folder
    when nothing else is left); other files are never touched."""
    state = Path(state)
    manifest = _manifest(state)
    if manifest is None:
        return
    for i in range(int(manifest.get("n_chunks", 0))):
        with contextlib.suppress(FileNotFoundError):
            (state / _part_name(i)).unlink()
    with contextlib.suppress(FileNotFoundError):
        (state / MANIFEST).unlink()
    with contextlib.suppress(OSError):
        state.rmdir()


def open_state(state: Path, plan: SearchPlan, resume: bool) -> set[int]:
    """Prepare the state folder; returns the chunks already finished (empty unless ``resume``)."""
    state = Path(state)
    existing = _manifest(state)
    if state.exists() and existing is None and any(state.iterdir()):
        raise InputError(f"{state}: exists and was not written by blockade explore; remove it or give another --out")
    if existing is not None and (not resume or existing.get("fingerprint") != plan.fingerprint):
        if resume:
            raise InputError(f"--resume: {state} holds a search of a different scenario or chunk size; run without "
                             "--resume to start afresh")
        clear_state(state)
    state.mkdir(parents=True, exist_ok=True)
    manifest = {"blockade_explore": 1, "fingerprint": plan.fingerprint, "chunk_size": plan.chunk_size,
                "n_designs": len(plan.grid), "n_chunks": plan.n_chunks}
    _write_bytes_atomic(state / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    if not resume:
        return set()
    return {i for i in range(plan.n_chunks) if (state / _part_name(i)).is_file()}


def _table_bytes(table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


# ----------------------------------------------------------------------------------------------------
# Dask
# ----------------------------------------------------------------------------------------------------


def connect(scheduler: str | None, workers: int | None, n_tasks: int, work: int = 0):
    """``(client, cluster)``: the scheduler at ``scheduler``, a LocalCluster, or ``(None, None)`` (in process).

    In process when ``workers`` is 0, when there is at most one task, or (``workers`` not given) when the search
    is small (``work`` = designs × model draws ≤ :data:`IN_PROCESS_WORK`): starting worker processes would take
    longer than the search.

    Raises
    ------
    InputError
        The scheduler cannot be reached (one line naming the address).
    """
    if scheduler:
        from dask.distributed import Client

        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as exc:
            why = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise InputError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({why})") from None
    if workers == 0 or n_tasks <= 1 or (workers is None and work <= IN_PROCESS_WORK):
        return None, None
    import logging

    from dask.distributed import Client, LocalCluster

    n = max(1, min(int(workers or os.cpu_count() or 1), n_tasks))
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster, set_as_default=False), cluster


def run_chunks(plan: SearchPlan, *, state: Path | None = None, resume: bool = False, scheduler: str | None = None,
               workers: int | None = None, progress: bool = True,
               on_chunk: Callable[[int], None] | None = None):
    """Evaluate every chunk not yet finished; returns ``(table sorted by design_id, chunks computed)``.

    ``state``: the resumable state folder (None: keep everything in memory).  ``on_chunk(i)`` is called after
    part ``i`` is safely written (progress hooks; raising there stops the search like Ctrl-C does).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    schema = result_schema(plan.context.constraints)
    client = cluster = None
    if scheduler:  # before anything is written: an unreachable scheduler leaves no trace
        client, cluster = connect(scheduler, workers, 0)
    try:
        done = open_state(state, plan, resume) if state is not None else set()
    except BaseException:
        if client is not None:
            client.close()
        raise
    todo = [i for i in range(plan.n_chunks) if i not in done]
    tables: dict[int, object] = {}
    for i in sorted(done):
        try:
            tables[i] = pq.read_table(Path(state) / _part_name(i), schema=schema)
        except (OSError, pa.ArrowException):  # a damaged part: compute it again
            todo.append(i)
    todo.sort()

    def finish(i: int, columns: dict) -> None:
        table = to_table(columns, schema)
        if state is not None:
            _write_bytes_atomic(Path(state) / _part_name(i), _table_bytes(table))
        tables[i] = table
        bar.update(1)
        if on_chunk is not None:
            on_chunk(i)

    if not scheduler:
        work = sum(min(plan.chunk_size, len(plan.grid) - i * plan.chunk_size) for i in todo) * (plan.context.n_draws + 1)
        client, cluster = connect(None, workers, len(todo), work)
    bar = tqdm(total=plan.n_chunks, initial=plan.n_chunks - len(todo), desc="explore: chunks", unit="chunk",
               disable=not progress, leave=False)
    try:
        if client is None:
            for i in todo:
                finish(i, evaluate_chunk(plan.context, *plan.chunk(i)))
        else:
            from dask.distributed import as_completed

            ctx = client.scatter(plan.context, broadcast=True)
            futures = {client.submit(evaluate_chunk, ctx, *plan.chunk(i), key=f"explore-{plan.fingerprint}-{i}",
                                     pure=False): i for i in todo}
            for future in as_completed(futures, loop=client.loop):
                finish(futures[future], future.result())
    finally:
        bar.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    table = pa.concat_tables([tables[i] for i in range(plan.n_chunks)]) if tables else schema.empty_table()
    return table.combine_chunks(), len(todo)


def write_designs(table, path: Path) -> Path:
    """``designs.parquet``: the whole table in one file (zstd), written atomically; identical bytes for identical
    content."""
    _write_bytes_atomic(Path(path), _table_bytes(table))
    return Path(path)
