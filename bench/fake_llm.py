"""testkit/anthropic_server.py as the benchmark runs it, with TCP_NODELAY set or not on the
handler of its HTTP side (testkit/anthropic_http.py).

The fake writes each answer's headers and body with two ``send`` calls. With Nagle's algorithm
on, the body waits for the client's (delayed) ACK of the headers: about 40 ms added to every
call on Linux, whatever the configured latency, which is the fake's cost and not the
service's. The fake sets TCP_NODELAY itself since 9e1e4ba; this wrapper makes sure of it
either way, and ``--nagle`` turns it off to measure what that floor was.

    python -m bench.fake_llm --port N --latency S [--nagle]
"""

from __future__ import annotations

import socket
import sys

from testkit import anthropic_server
from testkit.anthropic_http import Handler

_original_setup = Handler.setup


def _nodelay_setup(self: Handler) -> None:
    _original_setup(self)
    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def main(argv: list[str]) -> None:
    if "--nagle" in argv:
        argv = [a for a in argv if a != "--nagle"]
        Handler.disable_nagle_algorithm = False  # the fake before 9e1e4ba
    else:
        Handler.setup = _nodelay_setup  # type: ignore[method-assign]
    anthropic_server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
