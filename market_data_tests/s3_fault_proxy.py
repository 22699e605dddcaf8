"""An HTTP proxy in front of the local S3-compatible server that strikes with armed faults.

The fault suite and the soak both put it between the code and the server. Requests pass
through unchanged unless an armed fault matches: ``forbidden`` answers 403 AccessDenied
(any request), ``5xx`` answers 503 SlowDown and 500 InternalError in turn (GET and HEAD),
``slow`` waits before answering (GET), and ``reset`` sends the headers and part of the body,
then drops the connection (GET: a reset mid-download). A fault matches a day file's key
and strikes its next ``times`` requests; each strike is recorded (when, which request).
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

KINDS = ("forbidden", "5xx", "slow", "reset")


@dataclass
class Fault:
    key: str  # a day file's key: matches requests whose path contains it
    kind: str  # one of KINDS
    times: int = 1
    seconds: float = 0.0  # slow: how long it waits
    reset_after_bytes: int | None = None  # reset: bytes sent before the drop (None: a third)
    id: int = 0
    hits: list[tuple[float, str]] = field(default_factory=list)  # (time, "GET /bucket/key")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}: one of {', '.join(KINDS)}")

    def matches(self, method: str, path: str) -> bool:
        if self.key not in path or len(self.hits) >= self.times:
            return False
        if self.kind == "forbidden":
            return True
        return method in ("GET", "HEAD") if self.kind == "5xx" else method == "GET"


class S3FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def arm(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def _take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.requests += 1
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits.append((time.time(), f"{method} {path}"))
                    return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _error(self, status: int, code: str, message: str) -> None:
                payload = (
                    f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                    f"<Message>{message}</Message></Error>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._take(self.command, self.path)
                if fault and fault.kind == "forbidden":
                    self._error(403, "AccessDenied", "Access Denied")
                    return
                if fault and fault.kind == "5xx":
                    status, code = (
                        (503, "SlowDown") if len(fault.hits) % 2 else (500, "InternalError")
                    )
                    self._error(status, code, code)
                    return
                if fault and fault.kind == "slow":
                    time.sleep(fault.seconds)
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=120
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = proxy.upstream.netloc
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                self.send_response(response.status)
                head = self.command == "HEAD"  # its Content-Length is the object's size
                for key, value in response.getheaders():
                    if key.lower() in ("transfer-encoding", "connection"):
                        continue
                    if key.lower() != "content-length" or head:
                        self.send_header(key, value)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if head:
                    return
                if fault and fault.kind == "reset":
                    sent = fault.reset_after_bytes or max(1, len(data) // 3)
                    self.wfile.write(data[:sent])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

        return Handler

    def start(self) -> S3FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> S3FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
