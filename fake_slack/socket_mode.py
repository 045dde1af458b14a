"""A loopback Socket Mode endpoint (websockets' threaded server) for one client at a time.

`FakeSlack.socket_url` points apps.connections.open here. On connect it sends Slack's `hello`;
`send(envelope)` pushes an envelope (events_api, interactive, slash_commands) to the connected
client, and every message the client sends back (the acks: `{"envelope_id": ...}`) is recorded
in `acks`.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self._conn: ServerConnection | None = None
        self._cond = threading.Condition()
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, ping_interval=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=fake"

    def start(self) -> "FakeSocketMode":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _handle(self, conn: ServerConnection) -> None:
        conn.send(json.dumps({"type": "hello", "num_connections": 1,
                              "connection_info": {"app_id": "A0RAGBOT"}}))
        with self._cond:
            self._conn = conn
            self._cond.notify_all()
        try:
            for raw in conn:
                with self._cond:
                    self.acks.append(json.loads(raw))
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if self._conn is conn:
                    self._conn = None

    def wait_connected(self, timeout: float = 10.0) -> None:
        self._wait(lambda: self._conn is not None, timeout)

    def send(self, envelope: dict[str, Any]) -> None:
        self.wait_connected()
        self._conn.send(json.dumps(envelope))

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        self._wait(lambda: any(a.get("envelope_id") == envelope_id for a in self.acks), timeout)
        return next(a for a in self.acks if a.get("envelope_id") == envelope_id)

    def _wait(self, predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fake Socket Mode: condition not met in {timeout}s")
                self._cond.wait(min(left, 0.2))
