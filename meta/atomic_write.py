"""Write a file so that a failure never leaves a half-written one behind.

The content goes to a temporary sibling that is renamed over the target (``os.replace`` is atomic on
POSIX), so readers see either the old file or the complete new one.  Used for every file :mod:`meta`
writes (CSV tables, figures) and by :mod:`occupancy` for its single files.

Notes
-----
* Only a regular file (or a new path) is ever replaced: a device node (``/dev/null``), a FIFO, a socket,
  ``/dev/stdout`` or a folder as the target is refused with one line, because renaming over it would
  replace the node itself.
* The temporary sibling is named ``.NAME.blockade-XXXXXXXX.tmpSUFFIX`` and ``flock``-ed while it is
  written.  A run killed between writing and renaming leaves it behind; the next write of the same target
  deletes such leftovers (regular files with exactly that name pattern that no running writer holds), and
  nothing else.
* A write that fails (full disk, quota) is reported with the target's path, so the one-line error names
  where blockade was writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Callable, IO

try:  # POSIX; without fcntl, leftovers are not cleaned (a running writer could not be told apart)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

#: The tag in the name of blockade's temporary siblings (``.NAME.blockade-XXXXXXXX.tmpSUFFIX``).
TMP_TAG = "blockade-"


def current_umask() -> int:
    """The process umask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _refuse_non_regular(path: Path, where: str) -> None:
    """One-line error when ``path`` exists and is not a regular file (following symlinks, so ``/dev/stdout``
    counts as the pipe or terminal it points to)."""
    from meta.errors import MetaInputError

    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError:
        return  # unreadable metadata: the write itself reports the problem
    hops = [os.path.abspath(path), os.path.realpath(path)]
    if os.path.islink(path):  # /dev/stdout -> /proc/self/fd/1 -> a regular file when output is redirected
        hops.append(os.path.join(os.path.dirname(os.path.abspath(path)), os.readlink(path)))
    if stat.S_ISREG(mode) and not any(h.startswith(("/dev/", "/proc/")) for h in hops):
        return
    kind = ("a folder" if stat.S_ISDIR(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device or process file" if stat.S_ISREG(mode) else "not a file")
    raise MetaInputError(f"{where}: is {kind}, not a regular file; blockade writes only regular files (it would "
                         "replace the node itself), so give a file name")


def _leftover_pattern(path: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(path.name)}\.{TMP_TAG}[A-Za-z0-9_]{{8}}\.tmp{re.escape(path.suffix)}\Z")


def clean_leftovers(path: str | os.PathLike) -> list[str]:
    """Delete the temporary siblings of ``path`` that an interrupted write left behind; returns their names.

    Only regular files (not symlinks) named exactly ``.NAME.blockade-XXXXXXXX.tmpSUFFIX`` that no running
    writer holds (``flock``) are deleted.
    """
    if fcntl is None:  # pragma: no cover
        return []
    path = Path(path)
    pattern = _leftover_pattern(path)
    removed = []
    try:
        names = [n for n in os.listdir(path.parent if str(path.parent) else ".") if pattern.match(n)]
    except OSError:
        return []
    for name in names:
        leftover = path.parent / name
        try:
            fd = os.open(leftover, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a write in progress
            if os.stat(leftover, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                os.unlink(leftover)
                removed.append(name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def write_atomic(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, then rename it into place.

    The file gets the permissions of an ordinary new file (``0o666`` minus the umask), not ``mkstemp``'s
    0600.  On any exception the temporary file is removed and ``path`` is left as it was.  A target that
    exists and is not a regular file is refused (:class:`meta.errors.MetaInputError`); leftovers of earlier
    interrupted writes of the same target are removed first (:func:`clean_leftovers`).
    """
    path = Path(path)
    _refuse_non_regular(path, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TMP_TAG}", suffix=f".tmp{path.suffix}", dir=path.parent)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until closed: tells clean_leftovers this one is in use
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        try:
            with os.fdopen(fd, mode, **kwargs) as handle:
                write(handle)
        except OSError as exc:
            if exc.filename is None and exc.errno not in (errno.EPIPE, None):
                raise OSError(exc.errno, exc.strerror, str(path)) from None  # name the file in the message
            raise
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def check_output_file(path: str | os.PathLike, what: str = "--out", *, inputs=()) -> Path:
    """Check, before any computation, that ``path`` can be written as a file; returns it as a Path.

    Raises :class:`meta.errors.MetaInputError` (one line naming ``what`` and the path) when the path is a
    folder, lies below a file, is one of the ``inputs`` (the command would overwrite its own data), or its
    folder cannot be written (probed by creating and removing a temporary file there; nothing else is
    created, so a failure later leaves no trace).
    """
    from meta.errors import MetaInputError

    given = str(path)
    path = Path(path).expanduser()
    if path.is_dir():
        raise MetaInputError(f"{what} {given}: is a folder; give a file name")
    _refuse_non_regular(path, f"{what} {given}")
    for source in inputs:
        try:
            if source is not None and path.exists() and Path(source).exists() and path.samefile(source):
                raise MetaInputError(f"{what} {given}: is the input file; give another file name (the input "
                                     "would be overwritten)")
        except OSError:
            pass
    ancestor = path.parent if str(path.parent) else Path(".")
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise MetaInputError(f"{what} {given}: {ancestor} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".blockade-probe-", dir=ancestor)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise MetaInputError(f"{what} {given}: cannot write in {ancestor} ({exc.strerror or exc})") from None
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines untranslated) to ``path`` atomically; returns the path."""
    return write_atomic(path, lambda handle: handle.write(text))
