"""Issue 18, items 2, 3 and 7: output folders and files never reach outside themselves or delete a user's file.

A forged marker plus a symlink must delete nothing; a file is deleted only when it is a regular file whose
content still has the SHA-256 the marker recorded; a user's lock file survives; an empty folder is reused
in place; device nodes, FIFOs and ``/dev/stdout`` are refused as single-file targets; leftovers of an
interrupted single-file write are cleaned by the next write.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from meta.atomic_write import check_output_file, clean_leftovers, write_atomic, write_text_atomic
from meta.errors import MetaInputError
from occupancy.atomic_output import MARKER, claim_output_folder, remove_marked_folder
from occupancy.cli import main
from occupancy.errors import InputError

QUICK = ["simulate", "--drug", "naltrexone", "--dose", "50mg@0h", "--assess", "2h", "--quiet"]


def _tree(folder: Path) -> dict[str, str]:
    out = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(top) / name
            rel = str(p.relative_to(folder))
            out[rel] = ("link:" + os.readlink(p)) if p.is_symlink() else "dir" if p.is_dir() else p.read_text()
    return out


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("hashes", [False, True])
def test_forged_marker_and_symlink_delete_nothing(tmp_path, monkeypatch, hashes):
    """The issue's reproduction (with and without a forged hash of the victim's content)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.txt").write_text("x\n")
    (tmp_path / "s").mkdir()
    os.symlink("../precious", tmp_path / "s" / "link")
    marker = {"files": ["link/thesis.txt", "link"]}
    if hashes:
        marker["sha256"] = {"link/thesis.txt": _sha("x\n")}
    (tmp_path / "s" / MARKER).write_text(json.dumps(marker))
    before = _tree(tmp_path)
    r = CliRunner().invoke(main, [*QUICK, "--out", "s"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert "link" in r.stderr
    assert _tree(tmp_path) == before
    # the library call used for leftovers does not follow the link either
    removed, kept = remove_marked_folder(tmp_path / "s")
    assert not removed and sorted(kept) == ["link", "link/thesis.txt"]
    assert _tree(tmp_path) == before


def test_a_listed_file_whose_content_changed_is_not_deleted(tmp_path):
    out = tmp_path / "res"
    assert CliRunner().invoke(main, [*QUICK, "--out", str(out)]).exit_code == 0
    marker = json.loads((out / MARKER).read_text())
    assert set(marker["sha256"]) == set(marker["files"])
    assert marker["sha256"]["simulation.json"] == hashlib.sha256((out / "simulation.json").read_bytes()).hexdigest()
    (out / "simulation.json").write_text("my edits\n")
    r = CliRunner().invoke(main, [*QUICK, "--out", str(out)])
    assert r.exit_code == 2 and "simulation.json" in r.stderr and "changed" in r.stderr
    assert (out / "simulation.json").read_text() == "my edits\n"


def test_a_marker_without_hashes_deletes_nothing(tmp_path):
    s = tmp_path / "s"
    s.mkdir()
    (s / "data.csv").write_text("mine\n")
    (s / MARKER).write_text(json.dumps({"files": ["data.csv"]}))
    r = CliRunner().invoke(main, [*QUICK, "--out", str(s)])
    assert r.exit_code == 2 and "no content hashes" in r.stderr
    assert (s / "data.csv").read_text() == "mine\n"


def test_a_forged_leftover_old_folder_keeps_what_it_cannot_verify(tmp_path):
    """Recovery deletes only verified files of a `.NAME.old-*` folder and says what it left (one line)."""
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "a.txt").write_text("a")
    old = tmp_path / ".out.old-0123456789ab"
    old.mkdir()
    os.symlink("../precious", old / "link")
    (old / "ours.txt").write_text("ours")
    (old / MARKER).write_text(json.dumps({"files": ["link/a.txt", "ours.txt"],
                                          "sha256": {"link/a.txt": _sha("a"), "ours.txt": _sha("ours")}}))
    (tmp_path / "out").mkdir()  # so that the old folder is not restored but cleaned up
    with claim_output_folder(tmp_path / "out", "test") as out:
        notes = list(out.notes)
    assert (tmp_path / "precious" / "a.txt").read_text() == "a"
    assert not (old / "ours.txt").exists()  # verified: removed
    assert len(notes) == 1 and "left link/a.txt" in notes[0], notes


def test_a_users_lock_file_is_kept_and_blockades_own_is_removed(tmp_path):
    mine = tmp_path / ".res.blockade-lock"
    mine.write_text("my notes\n")
    assert CliRunner().invoke(main, [*QUICK, "--out", str(tmp_path / "res")]).exit_code == 0
    assert mine.read_text() == "my notes\n"
    assert CliRunner().invoke(main, [*QUICK, "--out", str(tmp_path / "other")]).exit_code == 0
    assert not (tmp_path / ".other.blockade-lock").exists()


def test_a_lock_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    from occupancy.atomic_output import LOCK_SIGNATURE

    (tmp_path / ".res.blockade-lock").write_bytes(LOCK_SIGNATURE)
    assert CliRunner().invoke(main, [*QUICK, "--out", str(tmp_path / "res")]).exit_code == 0
    assert sorted(os.listdir(tmp_path)) == ["res"]


def test_an_empty_folder_is_reused_in_place(tmp_path):
    out = tmp_path / "res"
    out.mkdir(mode=0o700)
    os.chmod(out, 0o700)
    r = CliRunner().invoke(main, [*QUICK[:-1], "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "kept" not in r.stderr and "warning" not in r.stderr, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    assert sorted(os.listdir(tmp_path)) == ["res"] and (out / MARKER).is_file()


def test_a_mount_point_is_refused_before_computing(tmp_path, monkeypatch):
    out = tmp_path / "mnt"
    out.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == out or real(p))
    with pytest.raises(InputError, match="mount point"):
        with claim_output_folder(out, "test"):
            pytest.fail("claimed a mount point")
    assert sorted(os.listdir(tmp_path)) == ["mnt"]


def test_a_full_disk_names_the_output_folder(tmp_path):
    def full(_):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(InputError, match=r"--out .*res: cannot write the output in .*No space left on device"):
        with claim_output_folder(tmp_path / "res", "test") as out:
            out.write(full)
    with pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "t.csv", lambda handle: full(handle))
    assert caught.value.filename == str(tmp_path / "t.csv")
    assert sorted(os.listdir(tmp_path)) == []


# -- single files -----------------------------------------------------------------------------------------


def test_non_regular_targets_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"
    os.symlink("/proc/self/fd/1", link)
    for target in (fifo, link, Path("/dev/null"), Path("/dev/stdout")):
        with pytest.raises(MetaInputError, match="not a regular file"):
            check_output_file(target)
    for target in (fifo, link):
        with pytest.raises(MetaInputError, match="not a regular file"):
            write_text_atomic(target, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.path.islink(link)
    r = CliRunner().invoke(main, ["annotate", "--out", str(fifo), "--quiet"])
    assert r.exit_code == 2 and "pipe (FIFO)" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_leftovers_of_an_interrupted_single_file_write_are_cleaned(tmp_path):
    import fcntl

    target = tmp_path / "ann.csv"
    stale = tmp_path / ".ann.csv.blockade-abcd1234.tmp.csv"
    busy = tmp_path / ".ann.csv.blockade-busy5678.tmp.csv"
    mine = tmp_path / ".ann.csv.mine.tmp.csv"
    for p in (stale, busy, mine):
        p.write_text("partial")
    os.symlink(mine, tmp_path / ".ann.csv.blockade-link1234.tmp.csv")
    held = os.open(busy, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        assert clean_leftovers(target) == [stale.name]
    finally:
        os.close(held)
    assert busy.exists() and mine.exists() and os.path.islink(tmp_path / ".ann.csv.blockade-link1234.tmp.csv")
    stale.write_text("partial")
    r = CliRunner().invoke(main, ["annotate", "--out", str(target), "--quiet"])
    assert r.exit_code == 0, r.output
    assert not stale.exists() and not busy.exists() and mine.exists() and target.is_file()
