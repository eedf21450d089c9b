"""Output folders that blockade marks, locks and swaps in whole, and never confuses with a user's folder.

Rules (README "Output folders"):

* Every folder blockade writes holds a marker file, :data:`MARKER` (JSON: run id, command, version and the
  list of files written).  An existing folder is replaced only when it carries a marker and holds nothing
  but the files the marker lists; any other non-empty folder is refused with one line (exit 2) and left
  untouched.  Folders written by older versions (no marker) are refused with a line saying how to proceed.
* The folder is claimed *before* the long computation (:func:`claim_output_folder`): the path is checked
  (not the current folder, a folder containing it or the home folder; no file in the way; writable), a lock
  is taken (``fcntl.flock`` on the sibling ``.NAME.blockade-lock``), so a second run into the same folder
  fails at once with one line, and the leftovers of an interrupted run are recovered.
* The new content is built in the sibling ``.NAME.staging-RUNID`` (tagged with :data:`STAGING_TAG` while it is
  being built; the marker is written last), then swapped in: the old folder is renamed to
  ``.NAME.old-RUNID``, the staging folder to ``NAME``, and the old folder's listed files are removed.
  A SIGKILL anywhere leaves enough on disk for the next run to finish the job: a complete staging folder
  (it has the marker) is moved into place if ``NAME`` is missing, otherwise a marked old folder is put
  back, and stale staging/old folders that blockade created are removed.  Only files a marker lists (or
  the contents of a tagged staging folder) are ever deleted.

Single files are written with :func:`meta.atomic_write.write_atomic` (a temporary sibling renamed over the
target); :func:`meta.atomic_write.check_output_file` checks their path before any computation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterator

from meta.atomic_write import current_umask
from occupancy.errors import InputError

#: The marker file blockade puts into every output folder it writes.
MARKER = ".blockade-output"
#: The tag file inside a staging folder while it is being built (removed once the marker is written).
STAGING_TAG = ".blockade-staging"
#: Top-level names of older blockade outputs (before the marker existed), used only to word the refusal.
LEGACY_NAMES = frozenset({"report.html", "simulation.json", "plan.json", "results.json"})

try:  # POSIX; without fcntl (Windows) concurrent runs are not detected
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


def _describe(option: str, given: str) -> str:
    return f"{option} {given}" if option else given


def _listing(root: Path) -> tuple[set[str], set[str]]:
    """Relative paths of the files (symlinks included, not followed) and of the folders under ``root``."""
    files, dirs = set(), set()
    for top, dirnames, filenames in os.walk(root, followlinks=False):
        rel = Path(top).relative_to(root)
        for d in list(dirnames):
            p = Path(top) / d
            if p.is_symlink():
                files.add(str(rel / d))
                dirnames.remove(d)
            else:
                dirs.add(str(rel / d))
        for f in filenames:
            files.add(str(rel / f))
    return files, dirs


def read_marker(folder: Path) -> dict | None:
    """The marker of ``folder`` (``None`` when absent or not a blockade marker)."""
    path = Path(folder) / MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return None
    if not all(isinstance(f, str) and f and not f.startswith("/") and ".." not in Path(f).parts
               for f in data["files"]):
        return None
    return data


def unlisted_entries(folder: Path, marker: dict) -> list[str]:
    """Files and folders in ``folder`` that its marker does not account for (sorted)."""
    listed = set(marker["files"])
    parents = {str(p) for f in listed for p in Path(f).parents if str(p) != "."}
    files, dirs = _listing(folder)
    extra = (files - listed - {MARKER, STAGING_TAG}) | (dirs - parents)
    return sorted(extra)


def remove_marked_folder(folder: Path) -> bool:
    """Delete the files the marker of ``folder`` lists, then its empty sub-folders, the marker and the folder.

    Files the marker does not list are never touched: if any remain, the folder stays (returns False).
    The marker goes last, so an interrupted removal can be finished by the next run.
    """
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None:
        return False
    for rel in marker["files"]:
        p = folder / rel
        if p.is_symlink() or p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    parents = sorted({p for f in marker["files"] for p in Path(f).parents if str(p) != "."},
                     key=lambda p: len(p.parts), reverse=True)
    for rel in parents:
        with contextlib.suppress(OSError):
            (folder / rel).rmdir()
    if unlisted_entries(folder, marker):
        return False
    with contextlib.suppress(FileNotFoundError):
        (folder / STAGING_TAG).unlink()
    with contextlib.suppress(FileNotFoundError):
        (folder / MARKER).unlink()
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def _is_complete(folder: Path) -> bool:
    marker = read_marker(folder)
    return marker is not None and not unlisted_entries(folder, marker)


def check_target(target: str | os.PathLike, option: str = "--out") -> Path:
    """Check an output folder's path before anything is computed; returns the resolved path.

    Refused (one-line :class:`InputError`): the current folder, a folder containing it, the home folder
    and the file-system root (the folder is replaced as a whole); an existing file; a path below a file.
    """
    given = str(target)
    try:
        path = Path(target).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        raise InputError(f"{_describe(option, given)}: not a usable path ({exc})") from None
    cwd = Path.cwd().resolve()
    if path == cwd or path in cwd.parents or path == Path.home().resolve() or path == Path(path.anchor):
        raise InputError(f"{_describe(option, given)}: the output folder is replaced as a whole, so it cannot be "
                         "the current folder, a folder containing it or the home folder; give a new folder name")
    if path.exists() and not path.is_dir():
        raise InputError(f"{_describe(option, given)}: exists and is a file, not a folder; give a folder name")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{_describe(option, given)}: {ancestor} is a file, not a folder")
    return path


def check_replaceable(target: str | os.PathLike, option: str = "--out", given: str | None = None) -> Path:
    """Refuse (:class:`InputError`) to replace a folder that blockade did not write, or that holds other files.

    An absent or empty folder is fine.  A non-empty folder must carry the marker and hold nothing but the
    files it lists.  Returns the resolved path.
    """
    path = check_target(target, option) if given is None else Path(target)
    given = str(target) if given is None else given
    where = _describe(option, given)
    if not path.is_dir():
        return path
    names = sorted(os.listdir(path))
    if not names:
        return path
    marker = read_marker(path)
    if marker is None:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        if LEGACY_NAMES.intersection(names):
            raise InputError(f"{where}: written by an older blockade version (no {MARKER} marker), so blockade "
                             f"cannot tell its files from yours (it holds {shown}); delete or rename the folder "
                             "yourself, or give a new folder name")
        raise InputError(f"{where}: folder exists and was not written by blockade (it holds {shown}); blockade "
                         "replaces only folders it wrote, so give a new or empty folder")
    extra = unlisted_entries(path, marker)
    if extra:
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        raise InputError(f"{where}: holds files blockade did not write ({shown}); move them out of the folder "
                         "or give another folder name (the folder is replaced as a whole)")
    return path


class OutputFolder:
    """An output folder claimed by one run: checked, locked and recovered; see :func:`claim_output_folder`.

    Attributes
    ----------
    path : Path
        The resolved folder.
    notes : list of str
        What the recovery did (shown as warnings by the CLI).
    files : tuple of str
        Files written by :meth:`write` (relative to the folder), once it has run.
    """

    def __init__(self, target: str | os.PathLike, command: str, option: str = "--out") -> None:
        self.given = str(target)
        self.option = option
        self.command = command
        self.run_id = uuid.uuid4().hex[:12]
        self.path = check_target(target, option)
        self.notes: list[str] = []
        self.files: tuple[str, ...] = ()
        self._lock_fd: int | None = None
        self._lock_path = self.path.parent / f".{self.path.name}.blockade-lock"
        self._created: list[Path] = []
        self._written = False

    # -- claiming -------------------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return _describe(self.option, self.given)

    def _make_parents(self) -> None:
        missing = []
        p = self.path.parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        for p in reversed(missing):
            try:
                p.mkdir()
            except OSError as exc:
                raise InputError(f"{self.where}: cannot create {p} ({exc.strerror or exc})") from None
            self._created.append(p)

    def _lock(self) -> None:
        for _ in range(10):
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666 & ~current_umask())
            except OSError as exc:
                raise InputError(f"{self.where}: cannot write in {self.path.parent} ({exc.strerror or exc})") from None
            if fcntl is None:  # pragma: no cover
                self._lock_fd = fd
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise InputError(f"{self.where}: another blockade run is writing this folder (lock "
                                 f"{self._lock_path.name}); wait for it to finish or give another folder name") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self._lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                return
            os.close(fd)  # the previous holder removed the file after we opened it: lock the new one
        raise InputError(f"{self.where}: could not lock the folder (lock file {self._lock_path.name} keeps changing)")

    def _siblings(self, kind: str) -> list[Path]:
        prefix = f".{self.path.name}.{kind}-"
        try:
            return sorted((p for p in self.path.parent.iterdir() if p.name.startswith(prefix) and p.is_dir()
                           and not p.is_symlink()), key=lambda p: p.stat().st_mtime)
        except OSError:
            return []

    def _recover(self) -> None:
        """Finish or undo what an interrupted run left behind (we hold the lock, so nobody else is writing)."""
        stagings = self._siblings("staging")
        olds = self._siblings("old")
        if not self.path.exists() and not self.path.is_symlink():
            complete = [s for s in stagings if _is_complete(s)]
            restorable = [o for o in olds if _is_complete(o)]
            if complete:
                chosen = complete[-1]
                os.rename(chosen, self.path)
                stagings.remove(chosen)
                self.notes.append(f"{self.where}: completed an interrupted run's output (from {chosen.name})")
            elif restorable:
                chosen = restorable[-1]
                os.rename(chosen, self.path)
                olds.remove(chosen)
                self.notes.append(f"{self.where}: restored the previous output after an interrupted run "
                                  f"(from {chosen.name})")
        for s in stagings:
            if (s / STAGING_TAG).is_file() and read_marker(s) is None:
                shutil.rmtree(s, ignore_errors=True)  # a tagged, incomplete staging folder: all ours
                self.notes.append(f"{self.where}: removed {s.name}, left by an interrupted run")
            elif read_marker(s) is not None and remove_marked_folder(s):
                self.notes.append(f"{self.where}: removed {s.name}, left by an interrupted run")
        for o in olds:
            if remove_marked_folder(o):
                self.notes.append(f"{self.where}: removed {o.name}, left by an interrupted run")

    def claim(self) -> "OutputFolder":
        """Create missing parents, lock, recover, and check that the folder may be replaced."""
        self._make_parents()
        self._lock()
        self._recover()
        check_replaceable(self.path, self.option, given=self.given)
        return self

    # -- writing --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """Yield a fresh staging folder; when the block succeeds it is marked and swapped in for :attr:`path`.

        On any exception (Ctrl-C included) the staging folder is removed and the old folder is untouched.
        The files written are then in :attr:`files` (relative paths, sorted).
        """
        from occupancy.version import __version__

        parent = self.path.parent
        staging = parent / f".{self.path.name}.staging-{self.run_id}"
        os.mkdir(staging, 0o777 & ~current_umask())
        try:
            (staging / STAGING_TAG).write_text(json.dumps({"run_id": self.run_id, "command": self.command}) + "\n",
                                               encoding="utf-8")
            yield staging
            files, _ = _listing(staging)
            files = tuple(sorted(files - {STAGING_TAG, MARKER}))
            marker = {"blockade_output": 1, "version": __version__, "run_id": self.run_id,
                      "command": self.command, "files": list(files)}
            (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            (staging / STAGING_TAG).unlink()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        old = None
        if self.path.exists():
            check_replaceable(self.path, self.option, given=self.given)  # nothing added since the claim
            old = parent / f".{self.path.name}.old-{self.run_id}"
            os.rename(self.path, old)
        os.rename(staging, self.path)
        self._written = True
        self.files = files
        if old is not None and not remove_marked_folder(old):
            self.notes.append(f"{self.where}: files added to the old folder while this run was writing were kept "
                              f"in {old.name}")

    def write(self, build: Callable[[Path], object]) -> tuple[str, ...]:
        """``build(staging)`` inside :meth:`staging`; returns the files written."""
        with self.staging() as staging:
            build(staging)
        return self.files

    # -- releasing ------------------------------------------------------------------------------------

    def release(self, failed: bool = False) -> None:
        """Drop the lock (and its file); after a failure, remove the parent folders this run created."""
        if self._lock_fd is not None:
            try:
                if os.stat(self._lock_path).st_ino == os.fstat(self._lock_fd).st_ino:
                    os.unlink(self._lock_path)
            except OSError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None
        if failed and not self._written:
            for p in reversed(self._created):
                with contextlib.suppress(OSError):
                    p.rmdir()


@contextlib.contextmanager
def claim_output_folder(target: str | os.PathLike, command: str, option: str = "--out") -> Iterator[OutputFolder]:
    """Claim an output folder for the duration of a run (use it before the long computation).

    Example
    -------
    .. code-block:: python

        with claim_output_folder("results", "simulate") as out:
            result = simulate(...)                      # a second run into results/ fails at once
            out.write(lambda staging: write_simulation_outputs(result, staging))
    """
    folder = OutputFolder(target, command, option)
    try:
        folder.claim()
        yield folder
    except BaseException:
        folder.release(failed=True)
        raise
    folder.release()


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike, command: str = "library") -> Iterator[Path]:
    """Yield a staging folder that replaces ``target`` when the block succeeds (library convenience).

    Same rules as :func:`claim_output_folder` (marker, lock, recovery; a folder blockade did not write is
    refused); on an exception the staging folder is removed and ``target`` is left as it was.
    """
    with claim_output_folder(target, command, option="") as out:
        with out.staging() as staging:
            yield staging
