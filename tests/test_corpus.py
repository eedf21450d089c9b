"""Issue 12's acceptance: malformed and extreme inputs to every command (``tests/corpus/cases.toml``).

All cases run in one child process under a 2 GiB address-space limit (``RLIMIT_AS``, what ``ulimit -v``
sets), each in an empty folder.  Every case must end in exit 2 with exactly one ``blockade: error:`` line
naming the file and the field, option or row, and leave the folder untouched, or in exit 0 with the expected
output.  Never a traceback, never "out of memory", and the child's peak RSS stays under 2 GB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "corpus"
CASES = tomllib.loads((HERE / "cases.toml").read_text(encoding="utf-8"))["case"]
LIMIT_GB = 2.0


def test_the_corpus_is_large_and_covers_every_command():
    assert len(CASES) >= 60
    commands = {c["args"][0] if c["args"][0] != "meta" else "meta " + c["args"][1] for c in CASES}
    assert {"run", "simulate", "plan", "reanalyse", "annotate", "examples", "dose-curve", "meta pool",
            "meta plot", "meta bias", "meta power", "meta study-power", "meta effect-size"} <= commands
    assert len({c["name"] for c in CASES}) == len(CASES)
    # every command that writes gets a path in /proc and a path below a file
    writers = {"run", "simulate", "plan", "reanalyse", "annotate", "meta effect-size", "meta plot", "dose-curve"}
    proc = {c["args"][0] if c["args"][0] != "meta" else "meta " + c["args"][1] for c in CASES
            if any(str(a).startswith("/proc/") for a in c["args"])}
    assert writers <= proc


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "report.json"
    done = subprocess.run([sys.executable, str(HERE / "run_corpus.py"), str(HERE / "cases.toml"), str(out),
                           "--limit-gb", str(LIMIT_GB)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return {r["name"]: r for r in json.loads(out.read_text(encoding="utf-8"))}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(report, case):
    r = report[case["name"]]
    assert r["exception"] is None, r["exception"]
    assert "Traceback" not in r["stderr"] + r["stdout"]
    assert "out of memory" not in r["stderr"]
    if case["expect"] == "error":
        assert r["exit_code"] == 2, (r["exit_code"], r["stdout"], r["stderr"])
        lines = r["stderr"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("blockade: error: "), r["stderr"]
        for fragment in case.get("match", []):
            assert fragment in lines[0], (fragment, lines[0])
        assert r["after"] == r["before"], "a failed run must write nothing"
    else:
        assert r["exit_code"] == 0, (r["stdout"], r["stderr"])
        for fragment in case.get("stdout", []):
            assert fragment in r["stdout"], (fragment, r["stdout"][-1500:])
        for fragment in case.get("stdout_absent", []):
            assert fragment not in r["stdout"], fragment
        if case.get("stderr_empty"):
            assert r["stderr"] == "", r["stderr"]
        assert not any(name.startswith(".") and ("staging" in name or "old-" in name or "lock" in name)
                       for name in r["after"]), r["after"]


def test_peak_memory_of_the_whole_corpus_stays_under_2_gb(report):
    peak = max(r["maxrss_mb"] for r in report.values())
    assert peak < LIMIT_GB * 1024, f"peak RSS {peak:.0f} MB"
