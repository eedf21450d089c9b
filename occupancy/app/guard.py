"""Same-origin guard for ``blockade app``: only pages the app itself served may talk to it.

The app has no login and runs on the user's own machine, so any web page the user happens to visit could
otherwise open ``ws://127.0.0.1:PORT/websocket/`` and drive it (issue 18).  :class:`SameOrigin` is an ASGI
middleware around the Shiny app that

* accepts a request (HTTP or websocket) only when its ``Host`` header names the address the connection
  came to: that address itself, the loopback names when it is a loopback address, or this machine's own
  host names when the app listens on the network.  A page whose domain merely *resolves* to 127.0.0.1
  (DNS rebinding) sends its own name as ``Host`` and is refused;
* accepts a request that carries an ``Origin`` only when the origin is ``http://`` + that same ``Host``
  (browsers send ``Origin`` with every websocket and every cross-origin request, so a foreign page is
  refused before Shiny sees it; ``Origin: null`` is refused too);
* adds ``X-Frame-Options: SAMEORIGIN`` so a foreign page cannot frame the app;
* checks every websocket message of Shiny's protocol before Shiny reads it: a message that is not a
  JSON object with a ``method``, an ``update`` whose data is not an object of input names, or an input
  type the page never sends (e.g. ``shiny.file``, which would make Shiny restore a bookmarked file) is
  replaced by an update of the hidden input :data:`CLIENT_ERROR_INPUT`, which the server shows as a
  one-line app error.  The session keeps running; a malformed message never ends it.

``--host`` other than loopback keeps every check (the names of this machine are added, nothing else).

Notes
-----
Why ``Host`` as well as ``Origin``: a DNS-rebinding page is same-origin with itself (``Origin`` and
``Host`` both name the attacker's domain), so only the ``Host`` check refuses it.  Why a missing ``Origin``
is accepted: browsers always send one where a foreign page could read the answer (websocket, CORS), and
command-line clients (tests, ``curl``) cannot be driven by a web page.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from urllib.parse import urlsplit

#: Hidden input through which the guard reports a malformed client message to the server.
CLIENT_ERROR_INPUT = "client_message_error"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
#: Input types (the part after ``:`` of an input name) that the app's page sends, with a check of the value.
_INPUT_TYPES = {
    "shiny.number": lambda v: v is None or isinstance(v, (int, float, str)) and not isinstance(v, bool),
    "shiny.action": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "shiny.password": lambda v: isinstance(v, str),
    "shiny.file": lambda v: v is None,  # the page sends null; a value would restore a file from a path
    "bslib.taskbutton": lambda v: isinstance(v, dict) and isinstance(v.get("value"), int)
    and not isinstance(v.get("value"), bool) and "autoReset" in v,
}
_MAX_REPORTED = 80


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _machine_names() -> frozenset[str]:
    names = set()
    for get in (socket.gethostname, socket.getfqdn):
        try:
            name = get().lower().rstrip(".")
        except OSError:
            continue
        if name:
            names.update({name, f"{name}.local"})
    return frozenset(names)


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``(hostname, port)`` of a ``Host`` header value (port None when absent), or None when malformed."""
    if not value or any(c in value for c in "/?#@\\ \t") or not value.isascii():
        return None
    try:
        parts = urlsplit("//" + value)
        return (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return None


class SameOrigin:
    """ASGI middleware: refuse requests from other origins or to other host names (see the module notes).

    Parameters
    ----------
    app
        The ASGI application (the Shiny app).
    names
        Extra host names that reach this server (the ``--host`` value when it is a name).
    """

    def __init__(self, app, names: tuple[str, ...] = ()):
        self.app = app
        self.names = frozenset(n.lower().strip("[]").rstrip(".") for n in names if n)
        self._machine = None

    # -- Host and Origin ------------------------------------------------------------------------------
    def allowed_hosts(self, server_host: str) -> frozenset[str]:
        """Host names that may appear in ``Host`` for a connection that came to ``server_host``."""
        host = server_host.lower().strip("[]")
        names = {host} | set(self.names)
        if _is_loopback(host):
            names |= LOOPBACK_NAMES
        else:
            if self._machine is None:
                self._machine = _machine_names()
            names |= {n for n in self._machine if not _is_loopback(n)}
        return frozenset(names)

    def refusal(self, scope) -> str | None:
        """Why ``scope`` is refused, or None when it comes from the app's own origin."""
        headers = {}
        for key, value in scope.get("headers") or ():
            headers.setdefault(key.lower(), value)
        try:
            host_header = headers.get(b"host", b"").decode("ascii")
            origin = headers.get(b"origin")
            origin = None if origin is None else origin.decode("ascii")
        except UnicodeDecodeError:
            return "malformed Host or Origin header"
        host = _split_host(host_header)
        if host is None:
            return "missing or malformed Host header"
        name, port = host
        server = scope.get("server")
        if server is not None:
            server_host, server_port = server[0], server[1]
            if name not in self.allowed_hosts(str(server_host)):
                return f"Host {name!r} is not the address this app serves"
            expected = server_port if server_port is not None else None
            if expected is not None and (port if port is not None else 80) != expected:
                return f"Host port {port} is not the port this app serves"
        if origin is None:
            return None
        parts = urlsplit(origin) if origin != "null" else None
        try:
            same = parts is not None and parts.scheme == "http" and not parts.path.strip("/") and (
                (parts.hostname or "").rstrip("."), parts.port if parts.port is not None else 80) == (
                name, port if port is not None else 80)
        except ValueError:
            same = False
        return None if same else f"Origin {origin[:_MAX_REPORTED]!r} is not this app's origin"

    async def __call__(self, scope, receive, send):
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        why = self.refusal(scope)
        if why is not None:
            if kind == "websocket":
                message = await receive()  # websocket.connect
                if message.get("type") == "websocket.connect":
                    await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
                return None
            return await _forbidden(send, why)
        if kind == "http":
            return await self.app(scope, receive, _frame_guard(send))
        return await self.app(scope, _checked_messages(receive), send)


def _frame_guard(send):
    async def guarded(message):
        if message.get("type") == "http.response.start":
            headers = [h for h in message.get("headers") or () if h[0].lower() != b"x-frame-options"]
            message = {**message, "headers": [*headers, (b"x-frame-options", b"SAMEORIGIN")]}
        await send(message)

    return guarded


async def _forbidden(send, why: str) -> None:
    body = f"refused: {why} (blockade app answers only its own page)".encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def message_problem(text: str | None, running: bool) -> str | None:
    """What is wrong with one client message of Shiny's websocket protocol (None when it is well formed)."""
    if text is None:
        return "a binary message"
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return "a message that is not JSON"
    if not isinstance(obj, dict) or not isinstance(obj.get("method"), str):
        return "a message without a method"
    method = obj["method"]
    if method in ("init", "update"):
        if method == "init" and running:
            return "a second init"
        if method == "update" and not running:
            return "an update before init"
        data = obj.get("data")
        if not isinstance(data, dict):
            return f"an {method} without input values"
        for key, value in data.items():
            name, _, kind = key.partition(":")
            if not name or ":" in kind:
                return f"a malformed input name {key[:_MAX_REPORTED]!r}"
            if kind:
                check = _INPUT_TYPES.get(kind)
                if check is None:
                    return f"input {name[:_MAX_REPORTED]!r} of a type this page never sends ({kind[:40]!r})"
                if not check(value):
                    return f"input {name[:_MAX_REPORTED]!r} with a malformed {kind[:40]} value"
        return None
    if not running:
        return f"method {method[:40]!r} before init"
    if "tag" not in obj or not isinstance(obj.get("args"), list):
        return f"method {method[:40]!r} without tag and arguments"
    return None


def _checked_messages(receive):
    """Wrap a websocket ``receive``: malformed messages become an update of :data:`CLIENT_ERROR_INPUT`."""
    state = {"running": False, "count": 0}

    async def checked():
        message = await receive()
        if message.get("type") != "websocket.receive":
            return message
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            try:
                text = message["bytes"].decode("utf-8")
            except UnicodeDecodeError:
                text = None
        problem = message_problem(text, state["running"])
        if problem is None:
            if not state["running"] and json.loads(text).get("method") == "init":
                state["running"] = True
            return message
        if not state["running"]:
            return {"type": "websocket.disconnect", "code": 1008}  # no session yet: nothing to keep alive
        state["count"] += 1
        report = {"method": "update", "data": {CLIENT_ERROR_INPUT: f"{problem} (#{state['count']})"}}
        return {"type": "websocket.receive", "text": json.dumps(report)}

    return checked
