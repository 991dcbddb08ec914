"""Raw ASGI calls, for what TestClient cannot do: a body that stops arriving, a client that goes away."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi.testclient import TestClient


def post_scope(path: str, authorization: str) -> dict[str, Any]:
    """The ASGI scope of a JSON POST to `path` with an Authorization header."""
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"authorization", authorization.encode())],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
        "client": ("c", 1),
        "root_path": "",
        "state": {},
    }


class AbandonedPost:
    """A JSON POST with `client`'s key, sent whole from a thread through the client's event loop; its client
    goes away (an `http.disconnect`) when `leave` is called."""

    def __init__(self, client: TestClient, path: str, body: bytes):
        self._gone = threading.Event()
        scope = post_scope(path, client.headers["authorization"])
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            while not self._gone.is_set():
                await asyncio.sleep(0.05)
            return {"type": "http.disconnect"}

        async def send(_message: dict[str, Any]) -> None:
            pass  # the client is gone before any answer matters

        async def call() -> None:
            await client.app(scope, receive, send)

        self._caller = threading.Thread(target=lambda: client.portal.call(call), daemon=True)
        self._caller.start()

    def leave(self, timeout_s: float = 60) -> None:
        """The client goes away; the app's call must end."""
        self._gone.set()
        self._caller.join(timeout=timeout_s)
        assert not self._caller.is_alive(), "the app's call did not end after its client went away"
