"""Where alerts go: a JSON webhook, Slack (slack_sdk) and e-mail (smtplib).

A channel either delivers or raises ``DeliveryError`` with a one-line reason that
starts with what an operator must do about it: ``refused``, ``unreachable`` or
``bad credentials``. Reasons are built from status codes and host names only, never
from exception text, since that may carry a URL with a token or an SMTP password.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.error import URLError
from urllib.parse import unquote, urlsplit

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from market_data.alerts.message import Alert
from market_data.errors import ChannelError, ConfigurationError

TIMEOUT_SECONDS = 10.0
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Slack's error codes that mean the token is wrong, not the request.
SLACK_AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


class DeliveryError(ChannelError):
    """A message a channel could not deliver; ``reason`` is one line, free of secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def describe(self) -> str:
        """Where it delivers, for people (host and channel, never a token)."""
        ...

    def send(self, alert: Alert) -> None: ...


def _http_reason(status: int) -> str:
    if status in (401, 403):
        return f"bad credentials: HTTP {status}"
    return f"refused: HTTP {status}"


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True)
class WebhookChannel:
    """``POST`` of the alert's JSON object (docs/alerts.md) to ``MARKET_DATA_ALERT_WEBHOOK_URL``."""

    url: str
    timeout: float = TIMEOUT_SECONDS
    name: str = "webhook"

    def describe(self) -> str:
        return f"webhook {_host_of(self.url)}"  # a webhook's path often is its secret

    def send(self, alert: Alert) -> None:
        try:
            response = requests.post(self.url, json=alert.payload(), timeout=self.timeout)
        except requests.Timeout:
            raise DeliveryError(f"unreachable: no answer within {self.timeout:.0f} s") from None
        except requests.RequestException:
            raise DeliveryError(f"unreachable: cannot connect to {_host_of(self.url)}") from None
        if response.status_code >= 300:
            raise DeliveryError(_http_reason(response.status_code))


@dataclass(frozen=True)
class SlackChannel:
    """``chat.postMessage`` through slack_sdk; ``base_url`` points tests at a local stand-in."""

    token: str
    channel: str
    base_url: str = DEFAULT_SLACK_API_URL
    timeout: float = TIMEOUT_SECONDS
    name: str = "slack"

    def describe(self) -> str:
        return f"slack {self.channel}"

    def send(self, alert: Alert) -> None:
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        client = WebClient(token=self.token, base_url=base, timeout=int(self.timeout))
        text = f"*{alert.title}*\n{alert.details[:3000]}\n<{alert.url}|Open in Dagster>"
        try:
            client.chat_postMessage(channel=self.channel, text=text, mrkdwn=True)
        except SlackApiError as error:
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            if code in SLACK_AUTH_ERRORS:
                raise DeliveryError(f"bad credentials: Slack says {code}") from None
            if code:
                raise DeliveryError(f"refused: Slack says {code}") from None
            raise DeliveryError(_http_reason(error.response.status_code)) from None
        except (URLError, TimeoutError, OSError):
            raise DeliveryError(f"unreachable: cannot connect to {_host_of(base)}") from None
        except ValueError:  # a body that is not Slack's JSON (a proxy's error page)
            raise DeliveryError("refused: the answer is not Slack's API") from None


@dataclass(frozen=True)
class SmtpServer:
    """``MARKET_DATA_ALERT_SMTP_URL``: ``smtp://user:pass@host:port`` (``smtps://`` for TLS
    from the first byte)."""

    host: str
    port: int
    user: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """Raise ValueError naming what is wrong, never echoing the URL (it holds a password)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigurationError("must look like smtp://user:password@host:port")
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError("has a port that is not a number") from None
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 587),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
        )


@dataclass(frozen=True)
class EmailChannel:
    """An e-mail per alert through SMTP, upgraded with STARTTLS whenever the server offers it."""

    server: SmtpServer
    to: Sequence[str]
    sender: str = ""
    timeout: float = TIMEOUT_SECONDS
    tls_context: ssl.SSLContext | None = None  # None: the system's trusted CAs
    name: str = "email"

    def describe(self) -> str:
        return f"email {', '.join(self.to)} via {self.server.host}:{self.server.port}"

    def _sender(self) -> str:
        if self.sender:
            return self.sender
        user = self.server.user or ""
        return user if "@" in user else f"market-data@{socket.getfqdn()}"

    def message(self, alert: Alert) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = alert.title[:200]
        message["From"] = self._sender()
        message["To"] = ", ".join(self.to)
        message.set_content(alert.text())
        return message

    def send(self, alert: Alert) -> None:
        context = self.tls_context or ssl.create_default_context()
        try:
            with self._connect(context) as smtp:
                if not self.server.implicit_tls:
                    smtp.ehlo()
                    if smtp.has_extn("starttls"):
                        smtp.starttls(context=context)
                        smtp.ehlo()
                if self.server.user:
                    smtp.login(self.server.user, self.server.password or "")
                smtp.send_message(self.message(alert))
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"bad credentials: SMTP {error.smtp_code}") from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError("refused: the server offers no login (AUTH)") from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(f"refused: recipients {', '.join(self.to)}") from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(f"refused: SMTP {error.smtp_code}") from None
        except ssl.SSLError:
            raise DeliveryError(f"refused: TLS with {self.server.host} failed") from None
        except (smtplib.SMTPException, OSError):
            where = f"{self.server.host}:{self.server.port}"
            raise DeliveryError(f"unreachable: cannot connect to {where}") from None

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        if self.server.implicit_tls:
            return smtplib.SMTP_SSL(
                self.server.host, self.server.port, timeout=self.timeout, context=context
            )
        return smtplib.SMTP(self.server.host, self.server.port, timeout=self.timeout)


@dataclass(frozen=True)
class MisconfiguredChannel:
    """A channel whose settings are incomplete: every send fails with the reason, so the
    other channels still deliver and the reason shows where deliveries are reported."""

    name: str
    reason: str

    def describe(self) -> str:
        return self.name

    def send(self, alert: Alert) -> None:
        raise DeliveryError(self.reason)


def channels_from(
    *,
    webhook_url: str | None = None,
    slack_token: str | None = None,
    slack_channel: str | None = None,
    slack_base_url: str = DEFAULT_SLACK_API_URL,
    smtp_url: str | None = None,
    email_to: Sequence[str] = (),
    tls_context: ssl.SSLContext | None = None,
) -> list[Channel]:
    """The channels the settings configure, in a fixed order; none when nothing is set."""
    channels: list[Channel] = []
    if webhook_url:
        channels.append(WebhookChannel(webhook_url))
    if slack_token or slack_channel:
        if slack_token and slack_channel:
            channels.append(SlackChannel(slack_token, slack_channel, slack_base_url))
        else:
            missing = "CHANNEL" if slack_token else "TOKEN"
            reason = f"refused: MARKET_DATA_ALERT_SLACK_{missing} is not set"
            channels.append(MisconfiguredChannel("slack", reason))
    if smtp_url or email_to:
        channels.append(_email_channel(smtp_url, email_to, tls_context))
    return channels


def _email_channel(
    smtp_url: str | None, email_to: Sequence[str], tls_context: ssl.SSLContext | None
) -> Channel:
    if not smtp_url:
        return MisconfiguredChannel("email", "refused: MARKET_DATA_ALERT_SMTP_URL is not set")
    if not email_to:
        return MisconfiguredChannel("email", "refused: MARKET_DATA_ALERT_EMAIL_TO is not set")
    try:
        server = SmtpServer.parse(smtp_url)
    except ValueError as error:
        return MisconfiguredChannel("email", f"refused: MARKET_DATA_ALERT_SMTP_URL {error}")
    return EmailChannel(server, tuple(email_to), tls_context=tls_context)


def channels_from_settings() -> list[Channel]:
    """The channels the environment (or ``.env``) configures, for code outside Dagster."""
    from market_data import settings

    return channels_from(
        webhook_url=settings.alert_webhook_url(),
        slack_token=settings.alert_slack_token(),
        slack_channel=settings.alert_slack_channel(),
        smtp_url=settings.alert_smtp_url(),
        email_to=settings.alert_email_to(),
    )
