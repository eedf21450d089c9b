"""Uploads: size-limited, parsed as data only (TOML with :mod:`tomllib`, CSV with pandas), in temporary folders.

An uploaded scenario is validated exactly as ``blockade run FILE`` validates it: the bytes are copied under
the file's own name into a fresh temporary folder, read with the CLI's reader and checked against the
task's schema, so a malformed file gives the same one-line message the CLI prints.  Nothing named inside an
uploaded file is opened (a reanalysis scenario's ``data = "..."`` path is reported, not read).  The
temporary folder is removed at once; Shiny's own upload folder is a temporary folder removed when the
browser session ends.

Three layers keep uploads small (:data:`MAX_UPLOAD_BYTES`): the page refuses larger files before sending
them, :class:`UploadLimit` refuses larger request bodies on the server, and :func:`upload_bytes` checks the
size of what arrived.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from occupancy.errors import InputError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_UPLOAD_PATH = re.compile(r"^/session/[^/]+/upload/")


def error_line(exc: BaseException) -> str:
    """The line the ``blockade`` command prints for a user error: ``blockade: error: <message>``."""
    return f"blockade: error: {' '.join(str(exc).split()) or type(exc).__name__}"


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def safe_name(name: str, default: str = "upload") -> str:
    """The file's base name only (no folders, no control characters), never empty."""
    base = Path(str(name).replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable() and ch not in "/\\\0").strip().lstrip(".")
    return base[:120] or default


def too_large_message(name: str, size: int, limit: int = MAX_UPLOAD_BYTES) -> str:
    return f"{safe_name(name)}: the file is {_megabytes(size)}; uploads are limited to {_megabytes(limit)}"


def session_upload_folder(session) -> str | None:
    """The folder where Shiny writes this session's uploads (None when it cannot be found).

    Notes
    -----
    Shiny keeps it as ``session._file_upload_manager._basedir`` (a fresh ``mkdtemp`` per session, removed
    when the session ends); there is no public accessor, so a Shiny that renames it makes every upload
    refused (with one line), never accepted unchecked.
    """
    root = getattr(session, "root_scope", lambda: session)()
    manager = getattr(root, "_file_upload_manager", None)
    folder = getattr(manager, "_basedir", None)
    return folder if isinstance(folder, str) and folder else None


def _upload_refused(name: str) -> InputError:
    return InputError(f"{name}: not an upload this app received (refused; the app reads only files "
                      "uploaded through its own page)")


def upload_bytes(fileinfo, limit: int = MAX_UPLOAD_BYTES, *, folder: str | None) -> tuple[str, bytes]:
    """``(name, content)`` of one Shiny upload (its ``name``, ``size`` and ``datapath``), at most ``limit`` bytes.

    ``datapath`` must be a regular file inside ``folder``, the server's upload folder for this session
    (:func:`session_upload_folder`), once every symlink is resolved; anything else a client names is
    refused with one line and never opened (issue 18: a forged ``datapath`` read any file on the disk).
    """
    if not isinstance(fileinfo, dict):
        raise InputError("upload: malformed file information from the page (refused)")
    name = safe_name(fileinfo.get("name", "upload"))
    try:
        declared = int(fileinfo.get("size") or 0)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name}: malformed file size from the page (refused)") from None
    path = fileinfo.get("datapath")
    if folder is None or not isinstance(path, str) or not path or "\0" in path:
        raise _upload_refused(name)
    base = os.path.realpath(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([base, real]) != base or real == base or os.path.islink(path):
        raise _upload_refused(name)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise _upload_refused(name) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _upload_refused(name)
    with os.fdopen(fd, "rb") as handle:
        if max(declared, info.st_size) > limit:
            raise InputError(too_large_message(name, max(declared, info.st_size), limit))
        content = handle.read(limit + 1)
    if len(content) > limit:
        raise InputError(too_large_message(name, len(content), limit))
    return name, content


def _materialise(name: str, content: bytes, folder: str) -> Path:
    path = Path(folder) / safe_name(name)
    path.write_bytes(content)
    return path


def read_scenario_upload(name: str, content: bytes):
    """``(task, scenario)`` of an uploaded scenario file, or the CLI's one-line :class:`InputError`."""
    from occupancy.simulation.scenario import read_scenario_toml
    from occupancy.workflows.run import validate_scenario

    with tempfile.TemporaryDirectory(prefix="blockade-app-") as folder:
        path = _materialise(name, content, folder)
        data, _ = read_scenario_toml(path)
        return validate_scenario(data, path.name)


def restore_target(task: str, scenario, name: str):
    """``(tab, scenario, note)``: where an uploaded scenario is restored, what is restored, and a note ("" if none).

    Notes
    -----
    The app has no Explore tab: an explore scenario's plan part (everything but ``[explore]``) is restored
    into the Plan tab, and the note says that the ``[explore]`` section is used by ``blockade explore``.
    """
    if task == "explore":
        return "plan", scenario.plan_part(), (
            f"restored the plan part of {name} into the Plan tab; its [explore] section (the design search) is "
            f"used by `blockade explore {name}` or `blockade run {name}`, not by the app")
    return task, scenario, ""


def read_outcomes_upload(name: str, content: bytes, default_window_h=None):
    """The validated :class:`~occupancy.annotation.literature.OutcomeTable` of an uploaded outcome CSV."""
    from occupancy.annotation.literature import DEFAULT_WINDOW_H, load_outcomes

    with tempfile.TemporaryDirectory(prefix="blockade-app-") as folder:
        path = _materialise(name, content, folder)
        return load_outcomes(path, default_window_h=DEFAULT_WINDOW_H if default_window_h is None else default_window_h)


class UploadLimit:
    """ASGI middleware: a POST to Shiny's upload endpoint with a body over ``limit`` bytes gets 413.

    The declared ``Content-Length`` is checked first; a body that turns out longer is cut off (the upload
    fails) after ``limit`` bytes, so no more than that is ever written to the upload folder.
    """

    def __init__(self, app, limit: int = MAX_UPLOAD_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or not _UPLOAD_PATH.match(
                scope.get("path", "")):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > self.limit:
            return await _reject(send, self.limit)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    return {"type": "http.disconnect"}
            return message

        return await self.app(scope, limited_receive, send)


async def _reject(send, limit: int) -> None:
    body = f"upload refused: larger than {_megabytes(limit)}".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
