"""A local HTTP server that speaks Massive's REST aggregates API, for the demo and the tests.

It answers ``GET /v2/aggs/ticker/{ticker}/range/1/minute/{from}/{to}`` from bars it is
given (or reads from generated day files), in the response shapes of Massive's aggregates API:
pages of ``limit`` bars linked by ``next_url`` with a cursor, no ``results`` key on an
empty day, indices without ``v``/``vw``/``n``. Scripted faults (429 with
``Retry-After``, 5xx, 403, a malformed body) can be queued per request, and a plan's
request limit can be enforced (429 above ``max_per_second``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# ticker, day -> list of REST result dicts (t in ms), or None when unknown
BarSource = Callable[[str, date], list[dict]]


@dataclass
class Fault:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # answer late (a client timeout)


@dataclass
class RestServerState:
    api_key: str
    source: BarSource
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The plan's limit, as Massive enforces it: more than this many requests in any
    # second are answered 429 (and counted in ``rate_limited``). None: no limit.
    max_per_second: int | None = None
    accepted_at: deque[float] = field(default_factory=deque)
    rate_limited: int = 0

    def over_limit(self) -> bool:
        """Whether a request now exceeds ``max_per_second`` (call under ``lock``)."""
        if self.max_per_second is None:
            return False
        now = time.monotonic()
        while self.accepted_at and self.accepted_at[0] <= now - 1.0:
            self.accepted_at.popleft()
        if len(self.accepted_at) >= self.max_per_second:
            self.rate_limited += 1
            return True
        self.accepted_at.append(now)
        return False


def _handler(state: RestServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with state.lock:
                state.requests.append(self.path)
                fault = state.faults.popleft() if state.faults else None
                if fault is None and state.over_limit():
                    fault = Fault(429, json.dumps({"status": "ERROR"}), {"Retry-After": "1"})
            if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._send(401, json.dumps({"status": "ERROR", "error": "Unknown API Key"}))
                return
            if fault is not None:
                time.sleep(fault.delay_seconds)
                self._send(fault.status, fault.body, fault.headers)
                return
            segments = parts.path.strip("/").split("/")
            if (
                len(segments) != 9
                or segments[:3] != ["v2", "aggs", "ticker"]
                or segments[4] != "range"
                or segments[5:7] != ["1", "minute"]
            ):
                self._send(404, json.dumps({"status": "NOT_FOUND"}))
                return
            ticker, start = segments[3], segments[7]
            # A US day as a date; a crypto or forex UTC day as its first epoch millisecond.
            day = (
                datetime.fromtimestamp(int(start) / 1000, timezone.utc).date()
                if start.isdigit()
                else date.fromisoformat(start)
            )
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            cursor = query.get("cursor")
            if cursor:
                decoded = dict(parse_qs(base64.urlsafe_b64decode(cursor.encode()).decode()))
                offset = int(decoded["offset"][0])
                limit = int(decoded["limit"][0])
            else:
                offset, limit = 0, int(query.get("limit", "5000"))
            bars = state.source(ticker, day)
            page = bars[offset : offset + limit]
            body: dict = {
                "ticker": ticker,
                "queryCount": len(page),
                "resultsCount": len(page),
                "status": "OK",
                "request_id": f"local-{len(state.requests)}",
            }
            if not ticker.startswith("I:"):
                body["adjusted"] = query.get("adjusted", "true") == "true"
            if page:
                body["results"] = page
            if offset + limit < len(bars):
                token = base64.urlsafe_b64encode(
                    f"offset={offset + limit}&limit={limit}".encode()
                ).decode()
                body["next_url"] = f"https://api.massive.com{parts.path}?cursor={token}"
            self._send(200, json.dumps(body))

    return Handler


class LocalRestServer:
    """A threaded aggregates server on 127.0.0.1; use as a context manager."""

    def __init__(self, api_key: str, source: BarSource, port: int = 0) -> None:
        self.state = RestServerState(api_key=api_key, source=source)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.state))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue_fault(
        self,
        status: int,
        body: str = "",
        headers: dict[str, str] | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(status, body, headers or {}, delay_seconds))

    def start(self) -> LocalRestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalRestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
