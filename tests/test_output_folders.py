"""Output folders: never delete a user's file, survive SIGKILL anywhere in the swap, refuse concurrent runs.

The interrupted runs are real: a child process is killed with SIGKILL at a chosen point of the swap (by
wrapping ``os.rename``/``os.unlink`` in that child only), and the next run must restore or finish the
output and leave no hidden folders behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from occupancy.atomic_output import MARKER, OutputFolder, atomic_directory, claim_output_folder
from occupancy.cli import main
from occupancy.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--quiet"]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# -- data loss ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [QUICK, ["reanalyse", "--draws", "0", "--quiet"],
                                     ["plan", "plan_between_50mg", "--quiet"], ["run", "single_dose_50mg", "--quiet"]])
def test_a_folder_with_a_users_file_is_never_replaced(tmp_path, monkeypatch, command):
    """The issue's case: `echo data > s/raw.csv; blockade reanalyse --out s` deleted raw.csv."""
    monkeypatch.chdir(tmp_path)
    s = tmp_path / "s"
    s.mkdir()
    (s / "results.json").write_text("{}\n")
    (s / "raw.csv").write_text("data\n")
    before = _snapshot(s)
    r = CliRunner().invoke(main, [*command, "--out", "s"])
    assert r.exit_code == 2, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "--out s" in r.stderr and "older blockade" in r.stderr
    assert _snapshot(s) == before and sorted(os.listdir(tmp_path)) == ["s"]


def test_marked_folder_with_an_added_file_is_refused_then_replaced_once_clean(tmp_path):
    out = tmp_path / "res"
    assert CliRunner().invoke(main, [*QUICK, "--out", str(out)]).exit_code == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["command"] == "simulate" and "simulation.json" in marker["files"]
    assert sorted(marker["files"]) == sorted(p for p in os.listdir(out) if p != MARKER)
    (out / "sub").mkdir()
    (out / "sub" / "notes.txt").write_text("mine")
    before = _snapshot(out)
    r = CliRunner().invoke(main, [*QUICK, "--out", str(out)])
    assert r.exit_code == 2 and "holds files blockade did not write (sub, sub/notes.txt)" in r.stderr
    assert _snapshot(out) == before
    (out / "sub" / "notes.txt").unlink()
    (out / "sub").rmdir()
    assert CliRunner().invoke(main, [*QUICK, "--out", str(out)]).exit_code == 0
    assert json.loads((out / MARKER).read_text())["run_id"] != marker["run_id"]
    assert _hidden(tmp_path) == []


def test_empty_folder_is_used_and_files_in_the_way_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    assert CliRunner().invoke(main, [*QUICK, "--out", str(tmp_path / "empty")]).exit_code == 0
    (tmp_path / "afile").write_text("x")
    for target, fragment in (("afile", "is a file"), ("afile/sub", "is a file, not a folder")):
        r = CliRunner().invoke(main, [*QUICK, "--out", str(tmp_path / target)])
        assert r.exit_code == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (tmp_path / "afile").read_text() == "x"


def test_failed_run_removes_the_parent_folders_it_created(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[drug]\nname = "naltrexone"\n[[doses]]\ntime_h = 0\namount_mg = 50\n[population]\nn = 1\n')
    r = CliRunner().invoke(main, ["simulate", str(bad), "--out", str(tmp_path / "a" / "b" / "c"), "--quiet"])
    assert r.exit_code == 2
    assert sorted(os.listdir(tmp_path)) == ["bad.toml"]


def test_library_atomic_directory_keeps_user_files(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "keep.txt").write_text("k")
    with pytest.raises(InputError, match="not written by blockade"):
        with atomic_directory(target):
            pass
    assert os.listdir(target) == ["keep.txt"]


# -- interrupted swaps (SIGKILL) ------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import os, signal, sys
    from occupancy.atomic_output import claim_output_folder

    target, phase, content = sys.argv[1], sys.argv[2], sys.argv[3]
    counts = {"rename": 0, "unlink": 0}
    real_rename, real_unlink = os.rename, os.unlink

    def die_at(kind, n):
        counts[kind] += 1
        if phase == f"{kind}{n}" and counts[kind] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    def rename(a, b):
        die_at("rename", int(phase[-1]) if phase.startswith("rename") else 0)
        return real_rename(a, b)

    def unlink(p, *args, **kw):
        die_at("unlink", int(phase[-1]) if phase.startswith("unlink") else 0)
        return real_unlink(p, *args, **kw)

    os.rename, os.unlink = rename, unlink
    with claim_output_folder(target, "test") as out:
        with out.staging() as staging:
            (staging / "sub").mkdir()
            (staging / "a.txt").write_text(content)
            (staging / "sub" / "b.txt").write_text(content)
            if phase == "building":
                os.kill(os.getpid(), signal.SIGKILL)
""")


def _child(target: Path, phase: str, content: str) -> int:
    return subprocess.run([sys.executable, "-c", _CHILD, str(target), phase, content], cwd=ROOT,
                          capture_output=True, text=True).returncode


def _recover(target: Path) -> list[str]:
    with claim_output_folder(target, "test") as out:
        return list(out.notes)


@pytest.mark.parametrize("phase, expected, note", [
    ("building", "old", "removed .out.staging-"),          # killed while the new files were written
    ("rename1", "old", "removed .out.staging-"),           # killed before the old folder was moved aside
    ("rename2", "new", "completed an interrupted run"),    # killed between the two renames: out/ missing
    ("unlink2", "new", "removed .out.old-"),               # killed while deleting the old folder
])
def test_sigkill_anywhere_in_the_swap_is_recovered_by_the_next_run(tmp_path, phase, expected, note):
    target = tmp_path / "out"
    assert _child(target, "none", "old") == 0
    assert (target / "a.txt").read_text() == "old"
    assert _child(target, phase, "new") == -signal.SIGKILL
    assert _hidden(tmp_path), "the kill should have left a hidden folder behind"
    notes = _recover(target)
    assert any(note in n for n in notes), notes
    assert (target / "a.txt").read_text() == expected and (target / "sub" / "b.txt").read_text() == expected
    assert _hidden(tmp_path) == []
    assert json.loads((target / MARKER).read_text())["files"] == ["a.txt", "sub/b.txt"]


def test_sigkill_before_a_first_output_is_moved_in_completes_it(tmp_path):
    target = tmp_path / "out"
    assert _child(target, "rename1", "first") == -signal.SIGKILL  # staging complete, out/ never created
    assert not target.exists()
    assert any("completed" in n for n in _recover(target))
    assert (target / "a.txt").read_text() == "first" and _hidden(tmp_path) == []


def test_old_folder_is_put_back_when_no_complete_new_one_exists(tmp_path):
    target = tmp_path / "out"
    assert _child(target, "none", "old") == 0
    os.rename(target, tmp_path / ".out.old-0123456789ab")  # as if killed after moving it aside, staging lost
    assert any("restored the previous output" in n for n in _recover(target))
    assert (target / "a.txt").read_text() == "old" and _hidden(tmp_path) == []


def test_hidden_folders_that_blockade_did_not_mark_are_left_alone(tmp_path):
    target = tmp_path / "out"
    stranger = tmp_path / ".out.staging-user"
    stranger.mkdir()
    (stranger / "x.txt").write_text("not ours")
    assert _recover(target) == []
    assert (stranger / "x.txt").read_text() == "not ours"


# -- concurrent runs and Ctrl-C --------------------------------------------------------------------------------


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the first run never took its lock"
        time.sleep(0.05)


def _slow_run(out: Path, cwd: Path) -> subprocess.Popen:
    # the bundled default (reanalysis with Monte Carlo draws + a plan) takes long enough to overlap
    code = "from occupancy.cli import main; main(prog_name='blockade')"
    return subprocess.Popen([sys.executable, "-c", code, "run", "--out", str(out)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_second_run_into_the_same_folder_fails_with_one_line(tmp_path):
    out = tmp_path / "out"
    first = _slow_run(out, tmp_path)
    try:
        _wait_for(tmp_path / ".out.blockade-lock", first)
        r = CliRunner().invoke(main, [*QUICK, "--out", str(out)])
        assert r.exit_code == 2, r.output
        assert len(r.stderr.strip().splitlines()) == 1 and "another blockade run is writing this folder" in r.stderr
        # a different folder next to it is not blocked
        assert CliRunner().invoke(main, [*QUICK, "--out", str(tmp_path / "other")]).exit_code == 0
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert CliRunner().invoke(main, [*QUICK, "--out", str(out)]).exit_code == 0  # recovers after the kill
    assert _hidden(tmp_path) == []


def test_ctrl_c_exits_130_with_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    proc = _slow_run(out, tmp_path)
    _wait_for(tmp_path / ".out.blockade-lock", proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and "\r" not in line and "%|" not in line]
    assert lines == ["blockade: interrupted: stopped by Ctrl-C; no output was written or replaced"]
    assert sorted(os.listdir(tmp_path)) == []


def test_output_folder_object_reports_the_lock_holder(tmp_path):
    with claim_output_folder(tmp_path / "x", "one"):
        with pytest.raises(InputError, match="another blockade run"):
            OutputFolder(tmp_path / "x", "two").claim()
    assert sorted(os.listdir(tmp_path)) == []
