"""Health and the HTTP server for /metrics, /healthz and /readyz.

``prometheus_client.start_http_server`` answers every path with metrics, so the health
endpoints are served here by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest

__all__ = ["READY", "Health", "serve"]

# Defined beside what sets it; consumer.observe.metrics lists it with the others.
READY = Gauge("selftaught_ready", "1 when /readyz answers ready.")


@dataclass
class Health:
    """What /healthz and /readyz report. Written by the runner, read by the HTTP thread."""

    # /healthz fails when the loop has not polled for this long: well below librdkafka's
    # max.poll.interval.ms (300 s), so Kubernetes restarts a wedged pod before the group
    # evicts it.
    stuck_after_s: float = 60.0
    last_poll: float = field(default_factory=time.monotonic)
    producer_ready: bool = False
    group_joined: bool = False
    stopped_because: str | None = None
    # Other reasons not to be ready, asked at each check (e.g. the generator's spend cap).
    blockers: list[Callable[[], str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def polled(self) -> None:
        self.last_poll = time.monotonic()

    def stop(self, why: str) -> None:
        with self._lock:
            self.stopped_because = why
        READY.set(0)

    def live(self) -> tuple[bool, str]:
        idle = time.monotonic() - self.last_poll
        if idle > self.stuck_after_s:
            return False, f"the consumer loop has not polled for {idle:.0f}s\n"
        return True, f"ok: last poll {idle:.1f}s ago\n"

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            reasons = []
            if self.stopped_because:
                reasons.append(f"stopped: {self.stopped_because}")
            if not self.producer_ready:
                reasons.append("the transactional producer is not initialised")
            if not self.group_joined:
                reasons.append("the consumer has not joined its group")
            blockers = list(self.blockers)
        reasons.extend(why for why in (b() for b in blockers) if why)
        ok = not reasons
        READY.set(1 if ok else 0)
        return ok, ("ready\n" if ok else "not ready: " + "; ".join(reasons) + "\n")


def serve(health: Health, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start the HTTP server on a daemon thread; ``port`` 0 picks a free one."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok, text = health.live()
                self._send(200 if ok else 503, text.encode())
            elif path == "/readyz":
                ok, text = health.ready()
                self._send(200 if ok else 503, text.encode())
            else:
                self._send(404, b"not found: try /metrics, /healthz or /readyz\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the service's own log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
