"""Issue 18, item 1: only the app's own page may talk to ``blockade app``, and uploads are read only from the
session's own upload folder.

The app runs as the user runs it (``blockade app --no-browser``); the tests speak Shiny's websocket
protocol directly with the ``websockets`` package (a dependency of Shiny), as a hostile page or client would.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.app_server import running_app

pytestmark = pytest.mark.skipif(importlib.util.find_spec("shiny") is None,
                                reason="the app's extra is not installed (pip install '.[app]')")

TIMEOUT = 60


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as (url, log):
        yield url
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text


def _ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "websocket/"


def _origin(url: str) -> str:
    return url.rstrip("/")


def _http(url: str, path: str = "/", *, host: str | None = None, origin: str | None = None,
          method: str = "GET", body: bytes | None = None) -> tuple[int, bytes, dict]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host if host is not None else parts.netloc)
        if origin is not None:
            conn.putheader("Origin", origin)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


class Session:
    """One Shiny session over the websocket, as the page would hold it."""

    OUTPUTS = ("app_error", "mor_at_assessment", "app_notice")

    def __init__(self, url: str, origin: str | None = None):
        from websockets.sync.client import connect

        self.url = url
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(_ws_url(url), origin=origin or _origin(url),
                                                    open_timeout=TIMEOUT))
        self.config = json.loads(self.ws.recv(timeout=TIMEOUT))["config"]
        self.values: dict = {}
        self.input_messages: list = []
        self.responses: dict = {}
        data = {f".clientdata_output_{o}_hidden": False for o in self.OUTPUTS}
        data.update({"tabs": "simulate", "drug": "naltrexone", "dose_mg": 50, "assess_h": 2})
        self.send({"method": "init", "data": data})

    def send(self, message) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def pump(self, until, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; values {self.values}, input messages {self.input_messages}")
            message = json.loads(self.ws.recv(timeout=left))
            self.values.update(message.get("values") or {})
            self.input_messages.extend(message.get("inputMessages") or [])
            if "response" in message:
                self.responses[message["response"]["tag"]] = message["response"].get("value")

    def value(self, output: str, predicate) -> str:
        self.pump(lambda: output in self.values and predicate(self.values[output]))
        return self.values[output]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def session(app):
    s = Session(app)
    s.value("mor_at_assessment", lambda v: bool(v))
    yield s
    s.close()


def test_a_websocket_from_a_foreign_origin_is_refused(app):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    for origin in ("http://evil.example", "null", _origin(app).replace("127.0.0.1", "evil.example"),
                   _origin(app) + "0", "https://" + _origin(app).split("://")[1]):
        with pytest.raises(InvalidStatus) as refused, connect(_ws_url(app), origin=origin, open_timeout=TIMEOUT):
            pass
        assert refused.value.response.status_code == 403
    same = Session(app)  # the app's own origin still works, also spelled localhost
    assert same.config["sessionId"]
    same.close()
    other_name = Session(app.replace("127.0.0.1", "localhost"))
    other_name.close()


def test_http_answers_only_requests_to_its_own_address(app):
    port = urlsplit(app).port
    status, body, headers = _http(app)
    assert status == 200 and b"<html" in body.lower() and headers.get("x-frame-options") == "SAMEORIGIN"
    assert _http(app, host=f"localhost:{port}")[0] == 200
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", ""):  # DNS rebinding etc.
        status, body, _ = _http(app, host=host)
        assert status == 403 and b"refused" in body, host
    status, _, _ = _http(app, origin="http://evil.example")
    assert status == 403
    # a foreign page cannot post an upload into a session either
    status, _, _ = _http(app, "/session/x/upload/y?w=", origin="http://evil.example", method="POST", body=b"x")
    assert status == 403


def test_a_forged_datapath_is_refused_and_never_read(session, tmp_path):
    secret = tmp_path / "secret.toml"
    secret.write_text("[drug]\nname = 'naltrexone'\n[[doses]]\ntime_h = 0\namount_mg = 37.5\n", encoding="utf-8")
    for path in (str(secret), "/etc/passwd", f"{tmp_path}/../{tmp_path.name}/secret.toml"):
        session.send({"method": "update", "data": {"scenario_upload": [
            {"name": "secret.toml", "size": 60, "type": "", "datapath": path}]}})
        error = session.value("app_error", lambda v: "not an upload" in v)
        assert error.startswith("blockade: error: secret.toml: not an upload this app received")
        assert "\n" not in error
        session.values.pop("app_error")
    assert not any("37.5" in json.dumps(m) for m in session.input_messages)  # nothing of the file came back
    # a file input value of Shiny's bookmark type (which would restore a file from a path) is refused too
    session.send({"method": "update", "data": {"scenario_upload:shiny.file": {
        "name": ["secret.toml"], "size": [60], "type": [""], "datapath": ["secret.toml"]}}})
    assert "malformed shiny.file value" in session.value("app_error", lambda v: "shiny.file" in v)
    # the session lives on and computes
    session.send({"method": "update", "data": {"dose_mg": 12.5}})
    session.value("app_error", lambda v: v == "")
    assert session.values["mor_at_assessment"]


def test_an_upload_through_the_page_is_still_read(session):
    content = b"[drug]\nname = 'naltrexone'\n[[doses]]\ntime_h = 0\namount_mg = 37.5\n"
    session.send({"method": "uploadInit", "args": [[{"name": "mine.toml", "size": len(content), "type": ""}]],
                  "tag": 1})
    session.pump(lambda: 1 in session.responses)
    job = session.responses[1]
    status, _, _ = _http(session.url, "/" + job["uploadUrl"], origin=_origin(session.url), method="POST",
                         body=content)
    assert status == 200
    session.send({"method": "uploadEnd", "args": [job["jobId"], "scenario_upload"], "tag": 2})
    session.pump(lambda: any(m.get("id") == "dose_mg" and m["message"].get("value") == 37.5
                             for m in session.input_messages))
    assert session.value("app_notice", lambda v: "restored" in json.dumps(v))


@pytest.mark.parametrize("message, expected", [
    ({"method": "update", "data": {"upload_rejected": {"input": "scenario_upload", "name": "x.toml",
                                                       "size": "abc"}}}, "x.toml: malformed file size"),
    ({"method": "update", "data": {"upload_rejected": "oops"}}, "malformed message about a refused upload"),
    ({"method": "update", "data": {"scenario_upload": "not a list"}}, "malformed file information"),
    ({"method": "update", "data": {"drug": [1, 2]}}, "Simulate tab: "),
    ({"method": "update", "data": {"assess_h": {"a": 1}}}, "Simulate tab: "),
    ("this is not json", "the page sent a message that is not JSON"),
    ({"no": "method"}, "the page sent a message without a method"),
    ({"method": "update", "data": [1, 2]}, "the page sent an update without input values"),
    ({"method": "update", "data": {"a:b:c": 1}}, "malformed input name"),
    ({"method": "update", "data": {"x:shiny.datetime": "soon"}}, "of a type this page never sends"),
    ({"method": "init", "data": {}}, "a second init"),
])
def test_malformed_client_messages_give_one_line_and_the_session_lives_on(session, message, expected):
    session.send(message)
    error = session.value("app_error", lambda v: expected in v)
    assert error.startswith("blockade") and "\n" not in error and "Traceback" not in error
    session.send({"method": "update", "data": {"dose_mg": 7.5, "drug": "naltrexone", "assess_h": 2}})  # alive
    session.value("app_error", lambda v: v == "")


def test_the_origin_check_follows_the_address_served():
    from occupancy.app.guard import SameOrigin

    guard = SameOrigin(None, names=("lab-pc",))

    def scope(host, origin=None, server=("127.0.0.1", 8000)):
        headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
        return {"type": "websocket", "headers": headers, "server": server}

    assert guard.refusal(scope("127.0.0.1:8000", "http://127.0.0.1:8000")) is None
    assert guard.refusal(scope("[::1]:8000", "http://[::1]:8000", ("::1", 8000))) is None
    assert guard.refusal(scope("localhost:8000", "http://127.0.0.1:8000")) is not None  # cross-origin
    assert guard.refusal(scope("attacker.example:8000", "http://attacker.example:8000")) is not None
    # listening on the network (--host 0.0.0.0): the connection's own address and the machine's names only
    lan = ("192.168.1.5", 8000)
    assert guard.refusal(scope("192.168.1.5:8000", "http://192.168.1.5:8000", lan)) is None
    assert guard.refusal(scope("lab-pc:8000", "http://lab-pc:8000", lan)) is None
    assert guard.refusal(scope("192.168.1.5:8000", "http://evil.example", lan)) is not None
    assert guard.refusal(scope("evil.example:8000", None, lan)) is not None
    assert guard.refusal(scope("localhost:8000", None, lan)) is not None  # loopback names only on loopback


def test_the_guard_checks_each_message_shape():
    from occupancy.app.guard import message_problem

    assert message_problem(json.dumps({"method": "init", "data": {"drug": "naltrexone", "x:shiny.number": 3,
                                                                   "f:shiny.file": None}}), False) is None
    assert message_problem(json.dumps({"method": "update", "data": {"go:shiny.action": True}}), True)
    assert message_problem(json.dumps({"method": "uploadEnd", "args": ["a", "b"], "tag": 3}), True) is None
    assert message_problem(json.dumps({"method": "uploadEnd", "args": "a"}), True)
    assert message_problem("[" * 100_000, True)  # deep nesting: one line, no RecursionError
