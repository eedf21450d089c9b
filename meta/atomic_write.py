"""Write a file so that a failure never leaves a half-written one behind.

The content goes to a temporary sibling that is renamed over the target (``os.replace`` is atomic on
POSIX), so readers see either the old file or the complete new one.  Used for every file :mod:`meta`
writes (CSV tables, figures) and by :mod:`occupancy` for its single files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, IO


def current_umask() -> int:
    """The process umask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, then rename it into place.

    The file gets the permissions of an ordinary new file (``0o666`` minus the umask), not ``mkstemp``'s
    0600.  On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    try:
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as handle:
            write(handle)
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
