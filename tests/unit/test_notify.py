"""The orchestration's webhook (synnefo_orch.notify): a JSON POST with Salt's own HTTP
client; a hook that is down or answers an error is a warning, never an exception."""

import http.server
import json
import threading

import pytest

from tests.formula import load


@pytest.fixture(scope="module")
def orch():
    return load("_utils/synnefo_orch.py")


@pytest.fixture
def receiver():
    """A webhook on localhost: what it was sent, and the status it answers (settable)."""
    got, answer = [], {"status": 204}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            got.append((self.headers["Content-Type"], json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(answer["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got, answer
    server.shutdown()


def test_a_message_is_posted_as_json(orch, receiver):
    url, got, _ = receiver
    message = {"phase": "ganeti", "cluster": "gnt1", "node": "gnt2", "step": "node", "outcome": "started", "time": 1.5}
    assert orch.notify(url, message) is None
    assert got == [("application/json", message)]


def test_a_hook_that_fails_is_a_warning_not_an_error(orch, receiver):
    url, got, answer = receiver
    answer["status"] = 500
    warning = orch.notify(url, {"node": "gnt2", "step": "drain", "outcome": "failed"})
    assert warning.startswith("notify: gnt2 drain/failed not delivered to the webhook: HTTP status 500")
    assert "not delivered" in orch.notify("http://127.0.0.1:9/nowhere", {"node": "gnt2", "step": "node", "outcome": "done"})


def test_which_moments_are_told(orch):
    assert orch.notified("node", "started") and orch.notified("node", "done") and orch.notified("run", "stopped")
    assert orch.notified("phase", "started") and orch.notified("drain", "failed") and orch.notified("health-gate", "failed")
    assert not orch.notified("drain", "started") and not orch.notified("reboot", "done")
