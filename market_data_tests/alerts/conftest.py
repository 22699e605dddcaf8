"""Real receivers on loopback: an HTTP server that records webhook POSTs and stands in for
Slack's Web API (``chat.postMessage``), and an SMTP server (aiosmtpd) that records mail."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from dagster import DagsterInstance

from market_data_tests.conftest import free_port
from market_data_tests.defs import test_checks
from market_data_tests.defs.test_scale_out import use_environment, write_instance_yaml

SLACK_TOKEN = "xoxb-test-secret-token-1234"
SLACK_CHANNEL = "#market-data"
SMTP_USER, SMTP_PASSWORD = "alerts@example.com", "smtp-secret-pw-5678"
WEBHOOK_PATH = "/hooks/secret-path-9abc"


@dataclass
class HttpReceiver:
    """What the server was sent; ``status`` is what the webhook path answers next."""

    url: str
    status: int = 200
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    slack_posts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    @property
    def slack_base_url(self) -> str:
        return self.url + "/api/"

    def clear(self) -> None:
        with self.lock:
            self.webhooks.clear()
            self.slack_posts.clear()


def _handler(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == WEBHOOK_PATH:
                if receiver.status != 200:
                    return self._answer(receiver.status, {"error": "down"})
                with receiver.lock:
                    receiver.webhooks.append(json.loads(body))
                    receiver.content_types.append(self.headers.get("Content-Type", ""))
                return self._answer(200, {"ok": True})
            if self.path == "/api/chat.postMessage":
                # Slack's Web API: HTTP 200 with ok=false for a wrong token.
                if self.headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
                    return self._answer(200, {"ok": False, "error": "invalid_auth"})
                with receiver.lock:
                    receiver.slack_posts.append(json.loads(body))
                return self._answer(200, {"ok": True, "channel": "C1", "ts": "1.0"})
            return self._answer(404, {"ok": False, "error": "unknown_method"})

    return Handler


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = HttpReceiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@dataclass
class MailReceiver:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)

    def url(self, password: str = SMTP_PASSWORD) -> str:
        return f"smtp://{SMTP_USER.replace('@', '%40')}:{password}@{self.host}:{self.port}"


class _RecordingHandler:
    def __init__(self, receiver: MailReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.receiver.messages.append(
            message_from_bytes(envelope.original_content, policy=policy.default)
        )
        self.receiver.recipients.append(list(envelope.rcpt_tos))
        self.receiver.encrypted.append(session.ssl is not None)
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (SMTP_USER, SMTP_PASSWORD)
    return AuthResult(success=ok, handled=False)


def start_mail_receiver(
    tls_context: ssl.SSLContext | None = None,
) -> tuple[Controller, MailReceiver]:
    receiver = MailReceiver("127.0.0.1", free_port())
    controller = Controller(
        _RecordingHandler(receiver),
        hostname=receiver.host,
        port=receiver.port,
        authenticator=_authenticator,
        auth_require_tls=tls_context is not None,
        tls_context=tls_context,
        require_starttls=tls_context is not None,
    )
    controller.start()
    return controller, receiver


@pytest.fixture
def mail_receiver() -> Iterator[MailReceiver]:
    """Plain SMTP with AUTH LOGIN/PLAIN (no STARTTLS offered)."""
    controller, receiver = start_mail_receiver()
    yield receiver
    controller.stop()


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with openssl: STARTTLS without the internet."""
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def starttls_mail_receiver(self_signed_cert) -> Iterator[tuple[MailReceiver, ssl.SSLContext]]:
    """SMTP that requires STARTTLS before AUTH; with the client context trusting its cert."""
    cert, key = self_signed_cert
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    controller, receiver = start_mail_receiver(server_context)
    yield receiver, ssl.create_default_context(cafile=str(cert))
    controller.stop()


@pytest.fixture
def instance(pg_cluster, tmp_path, monkeypatch):
    """The project's instance (``dagster.yaml``: PostgreSQL storage) on a database of its own."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    use_environment(
        monkeypatch,
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": pg_cluster.ensure_database(f"dagster_{uuid.uuid4().hex[:12]}"),
        },
    )
    write_instance_yaml(home)
    instance = DagsterInstance.get()
    yield instance
    instance.dispose()


# test_checks' world: day files of 2025-11-25..28, SPX's 11:00-11:59 withdrawn on GAP_DAY.
gap_day_resources = test_checks.resources
