"""``market-data alerts test``: per channel delivered or a one-line reason, exit 1 on any failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from market_data_tests.alerts.conftest import SLACK_CHANNEL, SLACK_TOKEN, SMTP_PASSWORD
from market_data_tests.conftest import free_port

CLI = Path(sys.executable).parent / "market-data"


def alerts_test(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MARKET_DATA_ALERT_")}
    return subprocess.run(
        [str(CLI), "alerts", "test"],
        env=kept | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_channel_delivered(http_receiver, mail_receiver, tmp_path):
    done = alerts_test(
        {
            "MARKET_DATA_ALERT_WEBHOOK_URL": http_receiver.webhook_url,
            "MARKET_DATA_ALERT_SMTP_URL": mail_receiver.url(),
            "MARKET_DATA_ALERT_EMAIL_TO": "oncall@example.com, desk@example.com",
        },
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"webhook {http_receiver.url}: delivered",
        f"email oncall@example.com, desk@example.com via 127.0.0.1:{mail_receiver.port}: delivered",
    ]
    [hook] = http_receiver.webhooks
    assert hook["kind"] == "test" and hook["url"] == "http://127.0.0.1:3000"
    assert mail_receiver.recipients == [["oncall@example.com", "desk@example.com"]]


def test_failures_give_one_line_each_exit_1_and_no_secret(http_receiver, mail_receiver, tmp_path):
    http_receiver.status = 503
    # A receiver answering 503, a wrong SMTP password, Slack's token without its channel.
    done = alerts_test(
        {
            "MARKET_DATA_ALERT_WEBHOOK_URL": http_receiver.webhook_url,
            "MARKET_DATA_ALERT_SLACK_TOKEN": SLACK_TOKEN,
            "MARKET_DATA_ALERT_SMTP_URL": mail_receiver.url("wrong-" + SMTP_PASSWORD),
            "MARKET_DATA_ALERT_EMAIL_TO": "oncall@example.com",
        },
        tmp_path,
    )
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"webhook {http_receiver.url}: refused: HTTP 503",
        "slack: refused: MARKET_DATA_ALERT_SLACK_CHANNEL is not set",
        f"email oncall@example.com via 127.0.0.1:{mail_receiver.port}: bad credentials: SMTP 535",
    ]
    output = done.stdout + done.stderr
    assert SMTP_PASSWORD not in output and SLACK_TOKEN not in output and "/hooks/" not in output
    assert SLACK_CHANNEL not in output


def test_unreachable_and_nothing_configured(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/hook"
    done = alerts_test({"MARKET_DATA_ALERT_WEBHOOK_URL": closed}, tmp_path)
    assert done.returncode == 1
    assert done.stdout.strip().endswith(
        ": unreachable: cannot connect to " + closed[: -len("/hook")]
    )
    nothing = alerts_test({}, tmp_path)
    assert nothing.returncode == 1 and "no alert channel configured" in nothing.stderr
