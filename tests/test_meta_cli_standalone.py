"""``meta`` owns its command line: it runs on its own (``python -m meta``) and mounted as ``blockade meta``."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "scenarios" / "my_outcomes.csv"


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)


def test_python_m_meta_pools_like_blockade_meta():
    alone = _run("-m", "meta", "pool", str(EXAMPLE), "--yi", "yi", "--vi", "vi", "--json")
    mounted = _run("-c", "from occupancy.cli import main; main()", "meta", "pool", str(EXAMPLE), "--yi", "yi",
                   "--vi", "vi", "--json")
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["k"] == 11
    assert mounted.stdout == alone.stdout


def test_standalone_errors_are_one_line_named_after_the_program():
    done = _run("-m", "meta", "pool", "missing.csv", "--yi", "yi", "--vi", "vi")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["meta: error: data file 'missing.csv' not found"]
    bogus = _run("-m", "meta", "--bogus")
    assert bogus.returncode == 2 and bogus.stderr.startswith("meta: error: No such option '--bogus'")
    assert len(bogus.stderr.strip().splitlines()) == 1
