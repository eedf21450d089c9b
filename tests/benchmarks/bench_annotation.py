"""Benchmark: blockade annotation of a large outcome table (default 200,000 rows), reading and annotating.

The rows are the synthetic example table (``my_outcomes.csv``, 11 designs) repeated with new study ids,
effect sizes and, with ``--distinct``, a different assessment window in every row (no two rows share a
design, the worst case).  Outcomes that share a design are computed once and designs that share a schedule
are evaluated together in bounded blocks (``occupancy.annotation.annotate``); before that, every row was a
separate set of model calls (about 5 ms per row with 1000 virtual subjects: ~17 min for 200,000 rows).
Prints the time to read and validate the table, the time to annotate it and the peak memory.

Run:  python tests/benchmarks/bench_annotation.py [--rows 200000] [--n 1000] [--distinct]
(named bench_*.py so pytest does not collect it; speed is reported, never asserted)
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from occupancy.annotation.annotate import AnnotationSettings, annotate_outcomes
from occupancy.annotation.literature import load_outcomes
from occupancy.bundled import examples_dir


def make_table(rows: int, distinct: bool, seed: int = 0) -> pd.DataFrame:
    base = pd.read_csv(examples_dir() / "my_outcomes.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    big = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    big["study_id"] = [f"s{i // 4}" for i in range(rows)]
    big["outcome"] = [str(i % 4 + 1) for i in range(rows)]
    big["yi"] = np.round(rng.normal(-0.2, 0.3, rows), 4).astype(str)
    big["vi"] = np.round(rng.uniform(0.02, 0.1, rows), 4).astype(str)
    if distinct:  # every row its own window: nothing can be shared but the schedule
        start = np.round(rng.uniform(1.0, 2.0, rows), 6)
        big["assess_min_h"] = start.astype(str)
        big["assess_max_h"] = np.round(start + 0.5, 6).astype(str)
    return big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--n", type=int, default=1000, help="virtual subjects (0 = typical subject only)")
    parser.add_argument("--distinct", action="store_true", help="a different window in every row (worst case)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outcomes.csv"
        make_table(args.rows, args.distinct).to_csv(path, index=False)
        t0 = time.perf_counter()
        table = load_outcomes(path)
        t1 = time.perf_counter()
        ann = annotate_outcomes(table, AnnotationSettings(n=args.n), keep_draws=False)
        t2 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    designs = int(ann.design_index.max()) + 1
    print(f"rows: {args.rows:,} ({designs:,} distinct designs), virtual subjects: {args.n:,}")
    print(f"read + validate: {t1 - t0:.2f} s ({(t1 - t0) / args.rows * 1e6:.1f} µs per row)")
    print(f"annotate:        {t2 - t1:.2f} s ({(t2 - t1) / args.rows * 1e6:.1f} µs per row)")
    print(f"peak RSS of the process: {rss_mb:.0f} MB")
    print(f"mean MOR contrast: {ann.table['MOR_contrast'].mean():.2f} pp")


if __name__ == "__main__":
    main()
