"""Each channel against a real receiver on loopback: delivered, and the one-line reasons."""

from __future__ import annotations

import ssl

import pytest

from market_data.alerts.channels import (
    DeliveryError,
    EmailChannel,
    SlackChannel,
    SmtpServer,
    WebhookChannel,
    channels_from,
)
from market_data.alerts.message import Alert, batch
from market_data_tests.alerts.conftest import (
    SLACK_CHANNEL,
    SLACK_TOKEN,
    SMTP_PASSWORD,
    SMTP_USER,
)
from market_data_tests.conftest import free_port

ALERT = Alert(
    kind="check_failed",
    status="open",
    asset="historical_bars",
    check="missing_bars",
    partitions=["2025-11-21"],
    severity="ERROR",
    summary="missing_bars failed on 2025-11-21: SPX: 60 of 390 minutes missing (10:00-10:59)",
    details="- SPX: 60 of 390 minutes missing (10:00-10:59)",
    url="http://127.0.0.1:3000/assets/historical_bars?view=checks&checkDetail=missing_bars",
)
DESIGN_FIELDS = {
    "kind",
    "status",
    "asset",
    "check",
    "partitions",
    "severity",
    "summary",
    "details",
    "url",
}


def reason_of(channel, alert: Alert = ALERT) -> str:
    with pytest.raises(DeliveryError) as caught:
        channel.send(alert)
    return caught.value.reason


def test_the_webhook_posts_designs_json_object(http_receiver):
    WebhookChannel(http_receiver.webhook_url).send(ALERT)
    assert http_receiver.webhooks == [ALERT.payload()]
    assert set(http_receiver.webhooks[0]) == DESIGN_FIELDS
    assert http_receiver.content_types == ["application/json"]


def test_webhook_reasons_name_the_problem_never_the_secret_path(http_receiver):
    http_receiver.status = 500
    assert reason_of(WebhookChannel(http_receiver.webhook_url)) == "refused: HTTP 500"
    http_receiver.status = 401
    assert reason_of(WebhookChannel(http_receiver.webhook_url)) == "bad credentials: HTTP 401"
    closed = f"http://127.0.0.1:{free_port()}/hooks/secret-path"
    reason = reason_of(WebhookChannel(closed))
    assert reason.startswith("unreachable: cannot connect to http://127.0.0.1:")
    assert "secret" not in reason


def test_slack_posts_through_the_sdk_to_the_stand_in(http_receiver):
    SlackChannel(SLACK_TOKEN, SLACK_CHANNEL, base_url=http_receiver.slack_base_url).send(ALERT)
    [post] = http_receiver.slack_posts
    assert post["channel"] == SLACK_CHANNEL
    assert "SPX: 60 of 390 minutes missing" in post["text"] and ALERT.url in post["text"]
    wrong = SlackChannel("xoxb-wrong", SLACK_CHANNEL, base_url=http_receiver.slack_base_url)
    assert reason_of(wrong) == "bad credentials: Slack says invalid_auth"
    down = SlackChannel(SLACK_TOKEN, SLACK_CHANNEL, base_url=f"http://127.0.0.1:{free_port()}/api")
    assert reason_of(down).startswith("unreachable:")


def test_email_logs_in_and_names_the_problem(mail_receiver):
    channel = EmailChannel(SmtpServer.parse(mail_receiver.url()), ["oncall@example.com"])
    channel.send(ALERT)
    [message] = mail_receiver.messages
    assert mail_receiver.recipients == [["oncall@example.com"]]
    assert message["Subject"] == f"[market-data ERROR] {ALERT.summary}"
    assert message["From"] == SMTP_USER
    body = message.get_content()
    assert "SPX: 60 of 390 minutes missing (10:00-10:59)" in body and ALERT.url in body
    wrong = EmailChannel(SmtpServer.parse(mail_receiver.url("nope")), ["oncall@example.com"])
    assert reason_of(wrong) == "bad credentials: SMTP 535"
    closed = SmtpServer("127.0.0.1", free_port(), None, None, implicit_tls=False)
    assert reason_of(EmailChannel(closed, ["a@example.com"])).startswith("unreachable:")


def test_email_uses_starttls_when_the_server_offers_it(starttls_mail_receiver):
    receiver, trusting = starttls_mail_receiver
    server = SmtpServer.parse(receiver.url())
    EmailChannel(server, ["oncall@example.com"], tls_context=trusting).send(ALERT)
    assert receiver.encrypted == [True]
    # A certificate nobody vouches for is refused, not silently accepted.
    untrusted = EmailChannel(server, ["x@example.com"], tls_context=ssl.create_default_context())
    assert reason_of(untrusted) == "refused: TLS with 127.0.0.1 failed"


def test_incomplete_settings_fail_that_channel_only(http_receiver):
    channels = channels_from(
        webhook_url=http_receiver.webhook_url,
        slack_token=SLACK_TOKEN,
        smtp_url=f"smtp://u:{SMTP_PASSWORD}@host:notaport",
        email_to=["a@example.com"],
    )
    assert [c.name for c in channels] == ["webhook", "slack", "email"]
    channels[0].send(ALERT)
    assert reason_of(channels[1]) == "refused: MARKET_DATA_ALERT_SLACK_CHANNEL is not set"
    reason = reason_of(channels[2])
    assert reason == "refused: MARKET_DATA_ALERT_SMTP_URL has a port that is not a number"
    assert SMTP_PASSWORD not in reason
    assert channels_from() == []


def test_many_alerts_of_one_check_make_one_summary():
    days = [f"2025-08-{d:02d}" for d in range(1, 31)]
    alerts = [
        Alert(
            kind="check_failed",
            status="open",
            asset="historical_bars",
            check="missing_bars",
            partitions=[d],
            severity="WARN" if i else "ERROR",
            summary=f"missing_bars failed on {d}",
            details="",
            url="u",
        )
        for i, d in enumerate(days)
    ]
    [summary] = batch(alerts)
    assert summary.partitions == tuple(days) and summary.severity == "ERROR"
    assert summary.summary == "missing_bars failed on 30 days (2025-08-01 … 2025-08-30)"
    assert batch(alerts[:5]) == alerts[:5]
