"""Benchmark: three-level REML fits (study / outcome) of synthetic data, O(k) engine vs metafor's sparse fit.

Sizes from issue 3: k = 2,000 estimates in 400 clusters (target: ≥ 100× faster than metafor ``rma.mv``
with ``sparse=TRUE``, which took 5.4 s on the issue's machine, i.e. < 54 ms) and k = 10⁶ in 200,000
clusters (target: < 10 s).  Each size is fitted ``--repeats`` times after one warm-up; the median and the
minimum wall time (time.perf_counter) are printed, plus the estimates, so a fit can be checked.  With
``--metafor`` (and ``Rscript`` with metafor on the PATH) the same k = 2,000 data are written to a temporary
CSV and fitted once by ``rma.mv(..., sparse=TRUE)`` for a same-machine comparison.

Run:  .venv/bin/python tests/benchmarks/bench_multilevel.py [--repeats 7] [--skip-large] [--metafor]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from meta.multilevel import fit_multilevel


def synthetic(n_clusters: int, per_cluster: int, seed: int = 2026):
    """Balanced three-level data: σ²_study = 0.05, σ²_outcome = 0.03, v_i ~ U(0.01, 0.1), μ = 0.3."""
    rng = np.random.default_rng(seed)
    k = n_clusters * per_cluster
    study = np.repeat(np.arange(n_clusters), per_cluster)
    esid = np.tile(np.arange(per_cluster), n_clusters)
    vi = rng.uniform(0.01, 0.1, k)
    yi = (0.3 + rng.normal(0, np.sqrt(0.05), n_clusters)[study] + rng.normal(0, np.sqrt(0.03), k)
          + rng.normal(0, np.sqrt(vi)))
    return yi, vi, study, esid


def time_fit(n_clusters: int, per_cluster: int, repeats: int):
    yi, vi, study, esid = synthetic(n_clusters, per_cluster)
    levels = {"study": study, "esid": esid}
    res = fit_multilevel(yi, vi, levels)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fit_multilevel(yi, vi, levels)
        times.append(time.perf_counter() - t0)
    return res, np.array(times), (yi, vi, study, esid)


def metafor_time(yi, vi, study, esid) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        np.savetxt(csv, np.column_stack([yi, vi, study, esid]), delimiter=",", header="yi,vi,study,esid",
                   comments="")
        script = (
            "suppressPackageStartupMessages(library(metafor)); "
            f"d <- read.csv('{csv}'); "
            "t <- system.time(r <- rma.mv(yi, vi, random = ~ 1 | study/esid, data = d, sparse = TRUE)); "
            "cat(t[['elapsed']], r$sigma2, '\\n')"
        )
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            return None
        parts = out.stdout.split()
        print(f"  metafor sigma2 = {parts[1]}, {parts[2]}")
        return float(parts[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-large", action="store_true", help="only the k = 2,000 case")
    parser.add_argument("--metafor", action="store_true", help="also time metafor rma.mv(sparse=TRUE) at k = 2,000")
    args = parser.parse_args()

    sizes = [(400, 5)] + ([] if args.skip_large else [(200_000, 5)])
    small_data = None
    for n_clusters, per in sizes:
        repeats = args.repeats if n_clusters * per <= 10_000 else max(1, min(args.repeats, 3))
        res, times, data = time_fit(n_clusters, per, repeats)
        if small_data is None:
            small_data = data
        print(
            f"k = {res.k:>9,d} in {n_clusters:>7,d} clusters: median {np.median(times) * 1e3:9.1f} ms, "
            f"min {times.min() * 1e3:9.1f} ms over {times.size} fits; sigma2 = "
            f"{res.sigma2[0]:.6f}, {res.sigma2[1]:.6f}; b = {res.beta[0]:.6f}; converged = {res.converged}"
        )
    if args.metafor and small_data is not None:
        t = metafor_time(*small_data)
        if t is None:
            print("metafor: Rscript/metafor not available")
        else:
            print(f"metafor rma.mv(sparse=TRUE), k = 2,000: {t:.2f} s")


if __name__ == "__main__":
    main()
