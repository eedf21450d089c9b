"""``blockade app``: the simulator, planner and reanalysis as an interactive web page (Shiny for Python).

Floor 6, beside the command line: it builds scenarios from its inputs and calls the same library functions
as the CLI (:func:`~occupancy.simulation.simulate.simulate`,
:func:`~occupancy.workflows.planning.plan.plan_study`, :func:`~occupancy.workflows.reanalysis.analysis.reanalyse`),
so it holds no science of its own.  Shiny is the optional extra ``[app]`` (``pip install ".[app]"``).

Modules: :mod:`~occupancy.app.forms` (inputs ↔ scenario dicts, built from the model registry and the
scenario schema), :mod:`~occupancy.app.views` (formatting results), :mod:`~occupancy.app.uploads`
(size-limited, data-only uploads, read only from the session's own upload folder),
:mod:`~occupancy.app.guard` (only the app's own page may talk to it), :mod:`~occupancy.app.ui` (the page),
:mod:`~occupancy.app.server`.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from occupancy.errors import InputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MISSING_EXTRA = ("the web app needs Shiny for Python, the optional extra [app]: pip install \"blockade[app]\" "
                 "(from a checkout: pip install \".[app]\")")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def shiny_available() -> bool:
    """True when the ``[app]`` extra (Shiny for Python and uvicorn) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("shiny", "uvicorn"))


def create_app(names: tuple[str, ...] = ()):
    """The ASGI application: the Shiny app behind the upload size limit, answering only its own origin.

    ``names`` are extra host names that reach the server (the ``--host`` value when it is a name); see
    :class:`occupancy.app.guard.SameOrigin`.
    """
    if not shiny_available():
        raise InputError(MISSING_EXTRA)
    from shiny import App

    from occupancy.app.guard import SameOrigin
    from occupancy.app.server import make_server
    from occupancy.app.ui import build_ui
    from occupancy.app.uploads import UploadLimit

    return SameOrigin(UploadLimit(App(build_ui(), make_server())), names)


def _open_when_listening(url: str, host: str, port: int, timeout: float = 30.0) -> None:
    import webbrowser

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host if host not in ("0.0.0.0", "::") else "127.0.0.1", port), 0.5):
                webbrowser.open(url)
                return
        except OSError:
            time.sleep(0.2)


def run_app(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, launch_browser: bool = True,
            log_level: str = "warning") -> None:
    """Serve the app on ``host:port`` until interrupted (Ctrl+C); open a browser tab unless told not to."""
    if shiny_available():  # first: before any thread (Shiny's imports start some) has made its own arena
        from occupancy.app.server import limit_malloc_arenas

        limit_malloc_arenas()  # a long-running server: closed sessions' memory must go back to the OS
    app = create_app(() if host in ("0.0.0.0", "::", "") else (host,))
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    if host not in LOOPBACK:
        print(f"blockade app: warning: listening on {host}, so other machines can reach the app "
              "(it has no login); use the default 127.0.0.1 to keep it private", file=sys.stderr)
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a closed port is free
            probe.bind((host, port))
    except OSError as exc:
        raise InputError(f"--port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    print(f"blockade app: serving on {url} (Ctrl+C to stop)", file=sys.stderr, flush=True)
    if launch_browser:
        threading.Thread(target=_open_when_listening, args=(url, host, port), daemon=True).start()
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="off")
