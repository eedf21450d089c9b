"""Output folders that blockade marks, locks and swaps in whole, and never confuses with a user's folder.

Rules (README "Output folders"):

* Every folder blockade writes holds a marker file, :data:`MARKER` (JSON: run id, command, version, the
  list of files written and the SHA-256 of each).  An existing folder is replaced only when it carries a
  marker, holds nothing but the files the marker lists, and each of those that is still there is a regular
  file (not a symlink, not below a symlinked folder) whose content still has the recorded hash; any other
  non-empty folder is refused with one line (exit 2) and left untouched.  Folders written by older versions
  (no marker, or a marker without hashes) are refused with a line saying how to proceed.
* Deleting never follows a symlink: the folder is walked with ``O_NOFOLLOW`` file descriptors and a file is
  removed only when it is a regular file whose hash matches the marker, so a forged marker cannot make
  blockade delete anything outside the folder or anything it did not write (docs/explanation/safety.md).
* An existing *empty* folder is replaced by the new content in one ``rename`` (POSIX replaces an empty
  folder), keeping the folder's permissions; a mount point is refused before anything is computed.
* The folder is claimed *before* the long computation (:func:`claim_output_folder`): the path is checked
  (not the current folder, a folder containing it or the home folder; no file in the way; writable), a lock
  is taken (``fcntl.flock`` on the sibling ``.NAME.blockade-lock``), so a second run into the same folder
  fails at once with one line, and the leftovers of an interrupted run are recovered.
* The new content is built in the sibling ``.NAME.staging-RUNID`` (tagged with :data:`STAGING_TAG` while it is
  being built; the marker is written last), then swapped in: the old folder is renamed to
  ``.NAME.old-RUNID``, the staging folder to ``NAME``, and the old folder's listed files are removed.
  A SIGKILL anywhere leaves enough on disk for the next run to finish the job: a complete staging folder
  (it has the marker) is moved into place if ``NAME`` is missing, otherwise a marked old folder is put
  back, and stale staging/old folders that blockade created are removed.  Only files a marker lists with a
  matching hash (or the contents of a tagged staging folder) are ever deleted; anything else is left and
  reported in one warning line.
* The lock file is removed at the end only when blockade created it (it holds :data:`LOCK_SIGNATURE`); a
  user's own file of that name is used as the lock but never deleted.

Single files are written with :func:`meta.atomic_write.write_atomic` (a temporary sibling renamed over the
target); :func:`meta.atomic_write.check_output_file` checks their path before any computation.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Callable, Iterator

from meta.atomic_write import current_umask
from occupancy.errors import InputError

#: The marker file blockade puts into every output folder it writes.
MARKER = ".blockade-output"
#: The tag file inside a staging folder while it is being built (removed once the marker is written).
STAGING_TAG = ".blockade-staging"
#: What blockade writes into a lock file it creates (so that it never deletes a user's file of that name).
LOCK_SIGNATURE = b"blockade lock file: removed when the run that holds it ends\n"
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
               and "\0" not in f for f in data["files"]):
        return None
    return data


def unlisted_entries(folder: Path, marker: dict) -> list[str]:
    """Files and folders in ``folder`` that its marker does not account for (sorted)."""
    listed = set(marker["files"])
    parents = {str(p) for f in listed for p in Path(f).parents if str(p) != "."}
    files, dirs = _listing(folder)
    extra = (files - listed - {MARKER, STAGING_TAG}) | (dirs - parents)
    return sorted(extra)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRFLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW


def _open_dir(folder: Path, parts=()) -> int | None:
    """A descriptor of ``folder/parts...`` reached without following any symlink (``None`` if impossible)."""
    try:
        fd = os.open(folder, _DIRFLAGS)
    except OSError:
        return None
    for part in parts:
        try:
            child = os.open(part, _DIRFLAGS, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = child
    return fd


def _hash_at(dir_fd: int, name: str) -> str | None:
    """SHA-256 of the regular file ``name`` in ``dir_fd`` (not following a symlink); ``None`` for anything else."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0), dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def _exists_at(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def file_hashes(folder: Path, files) -> dict[str, str | None]:
    """SHA-256 of each relative path in ``files`` under ``folder`` (``None``: not a regular file reached
    without a symlink)."""
    out = {}
    for rel in files:
        parts = Path(rel).parts
        fd = _open_dir(Path(folder), parts[:-1])
        if fd is None:
            out[rel] = None
            continue
        try:
            out[rel] = _hash_at(fd, parts[-1])
        finally:
            os.close(fd)
    return out


def _check_listed(folder: Path, marker: dict) -> tuple[list[str], list[str]]:
    """(deletable, kept) among the files the marker lists that are present in ``folder``.

    Deletable: a regular file reached without following a symlink whose SHA-256 equals the marker's.  Kept:
    anything else that is there (a symlink, a file below a symlinked folder, a folder, a changed file, or any
    file of a marker without hashes).  Listed files that are gone are in neither list.
    """
    hashes = marker.get("sha256") if isinstance(marker.get("sha256"), dict) else {}
    deletable, kept = [], []
    for rel in marker["files"]:
        parts = Path(rel).parts
        fd = _open_dir(Path(folder), parts[:-1])
        if fd is None:  # a parent is missing, a symlink or not a folder
            if os.path.lexists(Path(folder) / parts[0]):
                kept.append(rel)
            continue
        try:
            if not _exists_at(fd, parts[-1]):
                continue
            digest = _hash_at(fd, parts[-1])
        finally:
            os.close(fd)
        (deletable if digest is not None and hashes.get(rel) == digest else kept).append(rel)
    return deletable, kept


def remove_marked_folder(folder: Path) -> tuple[bool, list[str]]:
    """Delete the files the marker of ``folder`` lists (those still as blockade wrote them), then its empty
    sub-folders, the marker and the folder.

    Returns ``(removed, kept)``: whether the folder is gone, and the listed entries left alone because they
    are not regular files reached without a symlink or their content no longer has the marker's hash.
    Files the marker does not list are never touched: if any remain, the folder stays.  Nothing is reached
    through a symlink (every step opens the next folder with ``O_NOFOLLOW``).  The marker goes last, so an
    interrupted removal can be finished by the next run.
    """
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None:
        return False, []
    deletable, kept = _check_listed(folder, marker)
    for rel in deletable:
        parts = Path(rel).parts
        fd = _open_dir(folder, parts[:-1])
        if fd is None:
            continue
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(parts[-1], dir_fd=fd)
        finally:
            os.close(fd)
    parents = sorted({p for f in marker["files"] for p in Path(f).parents if str(p) != "."},
                     key=lambda p: len(p.parts), reverse=True)
    for rel in parents:
        fd = _open_dir(folder, rel.parts[:-1])
        if fd is None:
            continue
        try:
            with contextlib.suppress(OSError):
                os.rmdir(rel.parts[-1], dir_fd=fd)  # fails on a symlink or a non-empty folder
        finally:
            os.close(fd)
    if kept or unlisted_entries(folder, marker):
        return False, kept
    for name in (STAGING_TAG, MARKER):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            if not (folder / name).is_symlink():
                (folder / name).unlink()
    try:
        folder.rmdir()
    except OSError:
        return False, kept
    return True, kept


def _kept_note(where: str, place: str, kept: list[str]) -> str:
    shown = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
    return (f"{where}: left {shown} in {place}: not a regular file blockade wrote, or changed since (blockade "
            "deletes only files whose content it recorded)")


def _tagged_by_blockade(folder: Path) -> bool:
    """Whether ``folder`` (``.NAME.staging-RUNID``) holds blockade's staging tag for that same run id."""
    tag = folder / STAGING_TAG
    if tag.is_symlink() or not tag.is_file():
        return False
    try:
        data = json.loads(tag.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("run_id")) and folder.name.endswith(f"-{data['run_id']}")


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
    _, kept = _check_listed(path, marker)
    if kept:
        shown = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
        if not isinstance(marker.get("sha256"), dict):
            raise InputError(f"{where}: written by an older blockade version (its {MARKER} marker records no "
                             f"content hashes), so blockade cannot tell its files from yours (it holds {shown}); "
                             "delete or rename the folder yourself, or give a new folder name")
        raise InputError(f"{where}: holds {shown}, which blockade did not write as they are now (a symlink, "
                         "a file below a symlinked folder, or content changed since); blockade deletes only "
                         "files it wrote, so move them out of the folder or give another folder name")
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
        """Take ``fcntl.flock`` on ``.NAME.blockade-lock`` (created with :data:`LOCK_SIGNATURE` when absent).

        An existing file of that name (a user's, or one left by a killed run) is opened read-only without
        following a symlink and used as the lock; :meth:`release` deletes it only if it holds the signature.
        """
        for _ in range(10):
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW,
                             0o666 & ~current_umask())
                os.write(fd, LOCK_SIGNATURE)
            except FileExistsError:
                try:
                    fd = os.open(self._lock_path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
                except FileNotFoundError:
                    continue  # released between the two calls: try to create it again
                except OSError as exc:
                    raise InputError(f"{self.where}: cannot use the lock file {self._lock_path} "
                                     f"({exc.strerror or exc})") from None
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
                same = os.fstat(fd).st_ino == os.stat(self._lock_path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                return
            os.close(fd)  # the previous holder removed the file after we opened it: lock the new one
        raise InputError(f"{self.where}: could not lock the folder (lock file {self._lock_path.name} keeps changing)")

    def _lock_is_ours(self) -> bool:
        """Whether the locked file is one blockade created (it holds exactly :data:`LOCK_SIGNATURE`)."""
        try:
            if not stat.S_ISREG(os.fstat(self._lock_fd).st_mode):
                return False
            return os.pread(self._lock_fd, len(LOCK_SIGNATURE) + 1, 0) == LOCK_SIGNATURE
        except OSError:
            return False

    def _check_swappable(self) -> None:
        """Refuse, before any computation, what only the final swap would find out: a mount point as the
        output folder (it cannot be renamed) and a parent folder where the staging folder cannot be made."""
        try:
            here = os.lstat(self.path)
        except FileNotFoundError:
            here = None
        if here is not None and stat.S_ISDIR(here.st_mode):
            if here.st_dev != os.lstat(self.path.parent).st_dev or os.path.ismount(self.path):
                raise InputError(f"{self.where}: is a mount point, and blockade replaces its output folder as a "
                                 "whole (by renaming); give a folder inside it, e.g. "
                                 f"{Path(self.given) / 'results'}")
        probe = self.path.parent / f".{self.path.name}.staging-{self.run_id}"
        try:
            os.mkdir(probe, 0o700)
            os.rmdir(probe)
        except OSError as exc:
            raise InputError(f"{self.where}: cannot create the staging folder in {self.path.parent} "
                             f"({exc.strerror or exc})") from None

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
            if _tagged_by_blockade(s) and read_marker(s) is None:
                shutil.rmtree(s, ignore_errors=True)  # a tagged, incomplete staging folder: all ours
                self.notes.append(f"{self.where}: removed {s.name}, left by an interrupted run")
            elif read_marker(s) is not None:
                self._remove_leftover(s)
        for o in olds:
            self._remove_leftover(o)

    def _remove_leftover(self, folder: Path) -> None:
        removed, kept = remove_marked_folder(folder)
        if removed:
            self.notes.append(f"{self.where}: removed {folder.name}, left by an interrupted run")
        elif kept:
            self.notes.append(_kept_note(self.where, folder.name, kept))

    def claim(self) -> "OutputFolder":
        """Create missing parents, lock, recover, and check that the folder may be replaced."""
        self._make_parents()
        self._lock()
        self._recover()
        check_replaceable(self.path, self.option, given=self.given)
        self._check_swappable()
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
            try:
                yield staging
            except OSError as exc:
                self._output_error(exc)
            files, _ = _listing(staging)
            files = tuple(sorted(files - {STAGING_TAG, MARKER}))
            hashes = file_hashes(staging, files)
            marker = {"blockade_output": 2, "version": __version__, "run_id": self.run_id,
                      "command": self.command, "files": list(files),
                      "sha256": {f: h for f, h in hashes.items() if h is not None}}
            try:
                (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            except OSError as exc:
                self._output_error(exc)
            (staging / STAGING_TAG).unlink()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        old = None
        try:
            if self._replace_empty(staging):
                pass
            else:
                if self.path.exists():
                    check_replaceable(self.path, self.option, given=self.given)  # nothing added since the claim
                    old = parent / f".{self.path.name}.old-{self.run_id}"
                    os.rename(self.path, old)
                os.rename(staging, self.path)
        except BaseException:
            if old is not None and old.exists() and not self.path.exists():
                os.rename(old, self.path)  # put the previous output back
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._written = True
        self.files = files
        if old is not None:
            removed, kept = remove_marked_folder(old)
            if kept:
                self.notes.append(_kept_note(self.where, old.name, kept))
            elif not removed:
                self.notes.append(f"{self.where}: files added to the old folder while this run was writing were "
                                  f"kept in {old.name}")

    def _replace_empty(self, staging: Path) -> bool:
        """Swap ``staging`` in for an existing *empty* folder in one rename, keeping its permissions.

        Returns False (nothing done) when the folder is absent or not empty.
        """
        try:
            here = os.lstat(self.path)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(here.st_mode) or os.listdir(self.path):
            return False
        os.chmod(staging, stat.S_IMODE(here.st_mode))
        try:
            os.rename(staging, self.path)  # POSIX: renaming onto an empty folder replaces it atomically
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False  # something arrived meanwhile: the ordinary path refuses or swaps it
            raise
        return True

    def _output_error(self, exc: OSError) -> None:
        """One line for a write that failed (full disk, quota, ...), naming the output folder."""
        if exc.errno == errno.EPIPE:
            raise exc
        raise InputError(f"{self.where}: cannot write the output in {self.path.parent} ({exc.strerror or exc}); "
                         "nothing was replaced") from None

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
                if (os.stat(self._lock_path, follow_symlinks=False).st_ino == os.fstat(self._lock_fd).st_ino
                        and self._lock_is_ours()):
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
