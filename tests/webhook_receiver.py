"""A real HTTP receiver for webhooks on 127.0.0.1: keeps every request it is sent, and
answers as the test says (a status, a delay, a Retry-After), or is stopped so that
connections are refused, and started again on the same port."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.services import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    status: int = 200
    delay: float = 0.0
    retry_after: str | None = None
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    # Requests being answered at this moment, by webhook-id (to catch a double send).
    inflight: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                msg = headers.get("webhook-id", "")
                with receiver._lock:
                    if receiver.inflight.get(msg):
                        receiver.overlaps.append(msg)
                    receiver.inflight[msg] = receiver.inflight.get(msg, 0) + 1
                    receiver.received.append(Received(headers, body, time.time()))
                    status, delay, after = receiver.status, receiver.delay, receiver.retry_after
                try:
                    if delay:
                        time.sleep(delay)
                    self.send_response(status)
                    if after is not None:
                        self.send_header("Retry-After", after)
                    answer = b'{"ok": true}' if status < 300 else b"receiver says no"
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                finally:
                    with receiver._lock:
                        receiver.inflight[msg] -= 1

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Closed: connections to the port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> set[str]:
        with self._lock:
            return {r.id for r in self.received}

    def of_type(self, kind: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.json["type"] == kind]

    def wait(self, predicate, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.02)
        raise AssertionError(f"not received in {timeout} s: {len(self.received)} requests")
