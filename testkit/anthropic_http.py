"""The fake Messages API's HTTP side: a threading server sized for hundreds of clients, and
the handler that routes ``POST /v1/messages`` and ``/_control`` to its owner (the fake).

From another process: ``python -m testkit.anthropic_server --port 8089`` and
``POST /_control`` with one of::

    {"op": "then", "behaviour": "throttle", "times": 2, "params": {"retry_after": 1}}
    {"op": "during", "behaviour": "server_error", "seconds": 30, "params": {}}
    {"op": "configure", "latency_s": 0.2, "usage": {...}, "ratelimit": {...}}
    {"op": "reset"}

``GET /_control`` answers the request count (and how many were judge requests), the in-flight
high-water mark and the rules.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testkit.anthropic_server import FakeAnthropic


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Hundreds of clients connect at once; the default backlog (5) would make the kernel
    # drop SYNs and serialise them behind one-second retransmits.
    request_queue_size = 1024


def serve(owner: FakeAnthropic, host: str, port: int) -> ThreadingHTTPServer:
    """A server for ``owner`` on ``host:port`` (0 picks a free one), serving on a daemon
    thread."""

    class Bound(Handler):
        pass

    Bound.owner = owner
    server = _Server((host, port), Bound)
    threading.Thread(target=server.serve_forever, name="fake-anthropic", daemon=True).start()
    return server


def control(fake: FakeAnthropic, payload: dict[str, Any]) -> dict[str, Any]:
    """What ``POST /_control`` does with its JSON body."""
    op = payload.get("op")
    if op == "then":
        fake.then(payload["behaviour"], int(payload.get("times", 1)), **payload.get("params", {}))
    elif op == "during":
        fake.during(payload["behaviour"], float(payload["seconds"]), **payload.get("params", {}))
    elif op == "judge_then":
        fake.judge_then(
            payload["behaviour"], int(payload.get("times", 1)), **payload.get("params", {})
        )
    elif op == "judge_during":
        fake.judge_during(
            payload["behaviour"], float(payload["seconds"]), **payload.get("params", {})
        )
    elif op == "configure":
        fake.configure(
            latency_s=payload.get("latency_s"),
            usage=payload.get("usage"),
            ratelimit=payload.get("ratelimit"),
            usage_from_text=payload.get("usage_from_text"),
        )
    elif op == "reset":
        fake.reset()
    elif op is not None:
        raise ValueError(f"unknown op {op!r}: then, during, configure or reset")
    return fake.stats()


def _not_found(path: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "not_found_error", "message": path}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    # Small answers on a kept-alive connection otherwise wait ~40 ms for Nagle + delayed ACK.
    disable_nagle_algorithm = True
    owner: FakeAnthropic

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.reply(
                400,
                {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "body is not JSON"},
                },
            )
            return
        if path == "/v1/messages":
            self.owner.messages(self, body)
        elif path == "/_control":
            try:
                self.reply(200, control(self.owner, body))
            except (ValueError, KeyError, TypeError) as exc:
                self.reply(400, {"error": str(exc)})
        else:
            self.reply(404, _not_found(path))

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/_control":
            self.reply(200, self.owner.stats())
        else:
            self.reply(404, _not_found(self.path))

    def reply(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer

    def log_message(self, format: str, *args: object) -> None:
        return
