"""Output folders that are swapped in whole, so a failure never leaves a half-written folder behind.

Folders are built in a temporary sibling directory and swapped in at the end; single files are written
with :func:`meta.atomic_write.write_text_atomic` (a temporary sibling renamed over the target).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from meta.atomic_write import current_umask


#: Files one of the ``blockade`` commands puts at the top of its output folder (run, simulate, plan,
#: reanalyse).  An existing non-empty folder is replaced only if it holds one of them.
OUTPUT_MARKERS = frozenset({"report.html", "simulation.json", "plan.json", "results.json"})


def check_replaceable(target: str | os.PathLike) -> Path:
    """Refuse (:class:`~occupancy.errors.InputError`) to replace a folder that is not a blockade output.

    ``--out .`` or ``--out ~/project`` must never delete the user's files: the current folder, any folder
    containing it, the home folder and the file-system root are refused, and so is an existing non-empty
    folder without any of :data:`OUTPUT_MARKERS`.  Returns the resolved path.
    """
    from occupancy.errors import InputError

    target = Path(target).resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents or target == Path.home().resolve() or target == Path(target.anchor):
        raise InputError(f"{target}: the output folder is replaced as a whole, so it cannot be the current "
                         "folder, a folder containing it or the home folder; give a new folder name")
    if target.is_dir():
        names = sorted(os.listdir(target))
        if names and not OUTPUT_MARKERS.intersection(names):
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise InputError(f"{target}: folder exists and is not a blockade output folder (it holds {shown}); "
                             "the output folder is replaced as a whole, so give a new or empty folder")
    return target


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces ``target`` (any old content is dropped).

    On an exception the temporary folder is removed and ``target`` is left exactly as it was.  When
    ``target`` already exists it is first renamed aside and deleted only after the new folder is in place,
    so an interruption leaves either the complete old folder or the complete new one.  A folder that is
    not a previous blockade output is never replaced (:func:`check_replaceable`).
    """
    target = check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders; give the usual permissions
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
