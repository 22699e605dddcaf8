"""The alert sensors under a real ``dagster-daemon`` on the project's instance: a failed check
arrives once by webhook and e-mail, a restarted daemon does not repeat it, the fix
arrives as one "resolved", and the next tick from the cursors the daemon saved sends nothing."""

from __future__ import annotations

import os

import pytest
from dagster import materialize

from market_data.alerts.delivery import AlertCursor
from market_data.defs.alert_sensors import (
    AlertChannelsResource,
    check_failure_alerts,
    run_failure_alerts,
)
from market_data.ui import CODE_SERVER_ARGS, write_grpc_workspace
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.alerts.test_sensors import GAP, GAP_DAY, tick
from market_data_tests.conftest import free_port
from market_data_tests.defs.test_checks import ASSETS
from market_data_tests.defs.test_scale_out import (
    BIN,
    background,
    dagster_cli_all,
    port_answers,
    subprocess_environment,
    wait_for,
)

pytestmark = pytest.mark.slow  # a real daemon, restarted

ALERT_WAIT_SECONDS = 120  # sensors tick every 30 s; the daemon's first pass comes at once


def wait_until(condition, what: str, process, log) -> None:
    wait_for(condition, ALERT_WAIT_SECONDS, what, process, log)


def test_the_daemon_delivers_once_across_a_restart(
    instance,
    gap_day_resources,
    database_url,
    s3_endpoint,
    bucket,
    http_receiver,
    mail_receiver,
    tmp_path,
):
    dagster_home = os.environ["DAGSTER_HOME"]
    env = subprocess_environment(
        {
            "DAGSTER_HOME": dagster_home,
            "DAGSTER_PG_URL": os.environ["DAGSTER_PG_URL"],
            "DATABASE_URL": database_url,
            "MASSIVE_S3_ENDPOINT": s3_endpoint,
            "MASSIVE_S3_BUCKET": bucket,
            "MASSIVE_AWS_ACCESS_KEY": "test-access",
            "MASSIVE_AWS_SECRET_KEY": "test-secret",
            "MASSIVE_API_KEY": "",
            "MARKET_DATA_HOME": str(tmp_path / "home"),
            "MARKET_DATA_ALERT_WEBHOOK_URL": http_receiver.webhook_url,
            "MARKET_DATA_ALERT_SMTP_URL": mail_receiver.url(),
            "MARKET_DATA_ALERT_EMAIL_TO": "oncall@example.com",
        }
    )
    assert materialize(
        ASSETS, resources=gap_day_resources, instance=instance, partition_key=GAP
    ).success
    code_port = free_port()
    workspace = write_grpc_workspace(tmp_path / "workspace.yaml", code_port)
    cli_args = ["-w", str(workspace)]
    code_log, daemon_log = tmp_path / "code-server.log", tmp_path / "daemon.log"
    with background(
        [str(BIN / "dagster"), *CODE_SERVER_ARGS, "-p", str(code_port)],
        env,
        tmp_path,
        code_log,
    ) as code_server:
        wait_for(lambda: port_answers(code_port), 120, "the code server", code_server, code_log)
        # Only the alert sensors: the watchlist sensor would queue a backfill of its own.
        dagster_cli_all([["sensor", "stop", "watchlist_backfill", *cli_args]], env, tmp_path)
        daemon_args = [str(BIN / "dagster-daemon"), "run", *cli_args]
        with background(daemon_args, env, tmp_path, daemon_log) as daemon:
            wait_until(
                lambda: http_receiver.webhooks and mail_receiver.messages,
                "the check alert",
                daemon,
                daemon_log,
            )
            # The tick ends by saving its cursor: stopped before that, the daemon would
            # evaluate those records again (this test is about a daemon stopped between ticks).
            wait_until(
                lambda: open_alerts(instance) == 1, "the tick's saved cursor", daemon, daemon_log
            )
        [hook] = http_receiver.webhooks
        assert hook["status"] == "open" and hook["partitions"] == [GAP] and "SPX" in hook["summary"]
        assert "11:00-11:59" in mail_receiver.messages[0]["Subject"]

        # Fixed while the daemon is down; the restarted daemon sends the fix only.
        fixed = tmp_path / "fixed"
        generate_source(fixed, GAP_DAY, GAP_DAY)
        seed_bucket(s3_endpoint, bucket, fixed)
        assert materialize(
            ASSETS, resources=gap_day_resources, instance=instance, partition_key=GAP
        ).success
        with background(daemon_args, env, tmp_path, daemon_log) as daemon:
            wait_until(
                lambda: len(http_receiver.webhooks) >= 2 and len(mail_receiver.messages) >= 2,
                "the resolved alert",
                daemon,
                daemon_log,
            )
            wait_until(
                lambda: (
                    open_alerts(instance) == 0 and saved_cursor(instance, run_failure_alerts.name)
                ),
                "the ticks' saved cursors",
                daemon,
                daemon_log,
            )
        assert [h["status"] for h in http_receiver.webhooks] == ["open", "resolved"]
        assert len(mail_receiver.messages) == 2

    # The next tick, from the cursors the daemon saved, finds nothing more to send.
    channels = AlertChannelsResource(
        webhook_url=http_receiver.webhook_url,
        smtp_url=mail_receiver.url(),
        email_to="oncall@example.com",
    )
    for sensor in (check_failure_alerts, run_failure_alerts):
        cursor = saved_cursor(instance, sensor.name)
        assert cursor, f"the daemon saved no cursor for {sensor.name}"
        assert tick(sensor, instance, cursor, channels)[1] == "no new alerts", sensor.name
    assert len(http_receiver.webhooks) == 2 and len(mail_receiver.messages) == 2


def open_alerts(instance) -> int | None:
    """The failed checks open in check_failure_alerts' saved cursor (None: none saved yet)."""
    cursor = saved_cursor(instance, check_failure_alerts.name)
    return len(AlertCursor.load(cursor).open) if cursor else None


def saved_cursor(instance, sensor_name: str) -> str | None:
    """The cursor the daemon stored for a sensor after its last tick."""
    states = [s for s in instance.all_instigator_state() if s.instigator_name == sensor_name]
    assert len(states) <= 1, states
    return states[0].instigator_data.cursor if states and states[0].instigator_data else None
