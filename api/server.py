"""How `vmo serve` runs the app under uvicorn: time limits on reading a request, a cap on connections, and
the error envelope for the 4xx answers uvicorn gives before the app sees a request.

uvicorn has a keep-alive timeout between requests but none for the head of a
request: 1,100 half-sent requests held every connection and file descriptor.
`GuardedH11Protocol` (uvicorn's h11 protocol, subclassed) closes a connection
whose request head has not arrived within `VMO_HEADER_TIMEOUT_S`, answers 503 in
the envelope when `VMO_MAX_CONNECTIONS` connections are open, and answers a
request h11 cannot parse (a bad Content-Length, a broken header) with the
envelope instead of uvicorn's plain text. The body has its own limit in the app
(`VMO_BODY_TIMEOUT_S`, api/app.py).
"""

from __future__ import annotations

import json
import logging
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.settings import ApiSettings

log = logging.getLogger("vmo.api")


def envelope(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()


class GuardedH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0
    max_connections: int = 1000

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._answer(503, envelope("busy", "too many open connections; retry later"), retry_after=True)
            return
        self._arm()

    def _arm(self) -> None:
        """Wait for the next request head for at most the header timeout."""
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._idle():  # a head has arrived: the app limits the body from here
            self._head_timer.cancel()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # a kept-alive connection: its next head has the same deadline
            self._head_timer.cancel()
            self._arm()

    def _head_timed_out(self) -> None:
        if self._idle() and not self.transport.is_closing():
            log.info("closing a connection that sent no request head within %.0f s", self.header_timeout_s)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._answer(400, envelope("malformed_request", f"the request cannot be read as HTTP: {msg}"))

    def _answer(self, status: int, body: bytes, retry_after: bool = False) -> None:
        """A whole JSON response written at the protocol level, then the connection closed."""
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        if retry_after:
            headers.append((b"retry-after", b"5"))
        try:
            for event in (h11.Response(status_code=status, headers=headers), h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # h11 is past the point of answering: just close
            pass
        self.transport.close()


def guarded_protocol(settings: ApiSettings) -> type[GuardedH11Protocol]:
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_s": settings.header_timeout_s, "max_connections": settings.max_connections},
    )


def uvicorn_options(settings: ApiSettings) -> dict[str, Any]:
    """The uvicorn settings `vmo serve` uses (README: Limits and timeouts)."""
    return {
        "http": guarded_protocol(settings),
        "server_header": False,  # no software name and version for a scanner
        "timeout_keep_alive": settings.keep_alive_s,
        "h11_max_incomplete_event_size": 64 * 1024,  # a request head larger than this is a 400
    }


def raise_file_limit(connections: int) -> None:
    """Room for the connection cap plus the solver pipes and the database: without it, a burst of connections
    ends in "too many open files" and a log line per refused accept."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
