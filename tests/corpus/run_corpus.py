"""Run every case of ``cases.toml`` in one process under a memory limit and report the outcomes as JSON.

Used by ``tests/test_corpus.py`` (which starts this script with ``RLIMIT_AS`` = 2 GiB, the equivalent of
``ulimit -v``); it can also be run by hand::

    python tests/corpus/run_corpus.py tests/corpus/cases.toml report.json [--limit-gb 2] [--only NAME]

Each case runs in a fresh empty folder (the current directory during the case), optionally after
``blockade examples`` and with its own input files written there (``files``, ``generate``, ``binary``,
``folders``, ``nested`` brackets, a ``bom`` prefix, ``symlinks``), with extra environment variables ``env``.  The folder's files (names and bytes)
are recorded before and after, so the test can check that a failed run wrote nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path


def snapshot(folder: Path) -> dict[str, str]:
    import hashlib

    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        else:
            out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def materialise(case: dict, folder: Path) -> None:
    """Write the case's input files (inline text, or generated CSV rows) into ``folder``."""
    if case.get("examples"):
        from occupancy.bundled import write_examples

        write_examples(folder)
    for name, text in case.get("files", {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name, spec in case.get("generate", {}).items():
        rows = [spec["header"]] + [spec["row"].format(i=i, study=i // spec.get("per_study", 1))
                                   for i in range(int(spec["rows"]))]
        (folder / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name, data in case.get("binary", {}).items():
        (folder / name).write_bytes(bytes.fromhex(data))
    for name in case.get("folders", []):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for name, spec in case.get("nested", {}).items():  # e.g. an array nested 5000 deep
        depth = int(spec["depth"])
        (folder / name).write_text(spec.get("head", "") + spec["open"] * depth + spec["close"] * depth + "\n",
                                   encoding="utf-8")
    for name in case.get("bom", []):  # prefix a UTF-8 byte-order mark to a file written above
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    for name, target in case.get("symlinks", {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)


def clip(text: str, keep: int = 4000) -> str:
    """The start and the end of a long output (the report keeps what the checks look at)."""
    return text if len(text) <= 2 * keep else text[:keep] + "\n[...]\n" + text[-keep:]


def run_case(case: dict) -> dict:
    from click.testing import CliRunner

    from occupancy.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        materialise(case, folder)
        before = snapshot(folder)
        old = os.getcwd()
        os.chdir(folder)
        t0 = time.perf_counter()
        try:
            result = CliRunner().invoke(main, case["args"], catch_exceptions=True, env=case.get("env"))
        finally:
            os.chdir(old)
        elapsed = time.perf_counter() - t0
        after = snapshot(folder)
        exc = result.exception
        crashed = exc is not None and not isinstance(exc, SystemExit)
        return {
            "name": case["name"], "exit_code": result.exit_code, "stdout": clip(result.stdout),
            "stderr": clip(result.stderr), "before": before, "after": after, "seconds": round(elapsed, 2),
            "exception": None if not crashed else "".join(traceback.format_exception(exc))[-3000:],
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases")
    parser.add_argument("report")
    parser.add_argument("--limit-gb", type=float, default=None, help="RLIMIT_AS (like ulimit -v) in GiB")
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    if args.limit_gb:
        limit = int(args.limit_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("MPLBACKEND", "Agg")
    cases = tomllib.loads(Path(args.cases).read_text(encoding="utf-8"))["case"]
    results = []
    for case in cases:
        if args.only and case["name"] not in args.only:
            continue
        results.append(run_case(case))
        print(f"{case['name']}: exit {results[-1]['exit_code']} in {results[-1]['seconds']} s", file=sys.stderr)
    Path(args.report).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
