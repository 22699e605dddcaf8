"""The alert sensors on a real instance (the project's PostgreSQL storage) holding real check
evaluations and run failures, made by materializing the asset graph; real receivers."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    SensorDefinition,
    build_sensor_context,
    materialize,
)
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from market_data.alerts.delivery import AlertCursor
from market_data.alerts.records import read_new_records, rest_day_alerts, stale_alerts
from market_data.calendar import is_session
from market_data.definitions import defs
from market_data.defs.alert_sensors import (
    AlertChannelsResource,
    check_failure_alerts,
    run_failure_alerts,
)
from market_data.warehouse.watchlist import add_to_watchlist
from market_data_local.generate import generate_source
from market_data_local.s3 import seed_bucket
from market_data_tests.alerts.conftest import (
    SLACK_CHANNEL,
    SLACK_TOKEN,
    SMTP_PASSWORD,
    WEBHOOK_PATH,
)
from market_data_tests.conftest import chain_resources
from market_data_tests.defs.test_checks import ASSETS, GAP_DAY

pytestmark = pytest.mark.slow  # alerts of real runs

GAP = GAP_DAY.isoformat()
SECRETS = (SLACK_TOKEN, SMTP_PASSWORD, WEBHOOK_PATH)


@pytest.fixture
def channels(http_receiver, mail_receiver) -> AlertChannelsResource:
    return AlertChannelsResource(
        webhook_url=http_receiver.webhook_url,
        slack_token=SLACK_TOKEN,
        slack_channel=SLACK_CHANNEL,
        slack_base_url=http_receiver.slack_base_url,
        smtp_url=mail_receiver.url(),
        email_to="oncall@example.com",
        ui_url="http://ui.example:3000",
    )


def tick(sensor: SensorDefinition, instance, cursor: str | None, channels) -> tuple[str, str]:
    """One evaluation as the daemon runs it: (its cursor, its tick message)."""
    context = build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"alert_channels": channels}
    )
    data = sensor.evaluate_tick(context)
    assert not data.run_requests
    for secret in SECRETS:
        assert secret not in (data.cursor or "") and secret not in (data.skip_message or "")
    return data.cursor, data.skip_message


def assert_no_secret_sent(http_receiver, mail_receiver) -> None:
    sent = str(http_receiver.webhooks) + str(http_receiver.slack_posts)
    sent += "".join(m.as_string() for m in mail_receiver.messages)
    assert not [s for s in SECRETS if s in sent]


def test_a_missing_hour_alerts_once_and_resolves_once(
    instance,
    gap_day_resources,
    channels,
    http_receiver,
    mail_receiver,
    s3_endpoint,
    bucket,
    tmp_path,
):
    result = materialize(ASSETS, resources=gap_day_resources, instance=instance, partition_key=GAP)
    assert result.success

    cursor, message = tick(check_failure_alerts, instance, None, channels)
    [hook] = http_receiver.webhooks
    assert hook["kind"] == "check_failed" and hook["status"] == "open"
    assert (hook["asset"], hook["check"], hook["partitions"]) == (
        "historical_bars",
        "missing_bars",
        [GAP],
    )
    assert hook["severity"] == "WARN"
    assert (
        hook["summary"]
        == f"missing_bars failed on {GAP}: SPX: 60 of 390 minutes missing (11:00-11:59)"
    )
    assert hook["url"].startswith("http://ui.example:3000/assets/historical_bars")
    assert "/runs/" in hook["details"]
    [mail] = mail_receiver.messages
    assert "SPX" in mail["Subject"] and GAP in mail["Subject"] and "11:00-11:59" in mail["Subject"]
    assert "60 of 390 minutes missing (11:00-11:59)" in mail.get_content()
    [post] = http_receiver.slack_posts
    assert "SPX: 60 of 390" in post["text"]
    assert "webhook: 1 delivered" in message and "email: 1 delivered" in message

    # Nothing new: nothing sent.
    cursor, message = tick(check_failure_alerts, instance, cursor, channels)
    assert (len(http_receiver.webhooks), len(mail_receiver.messages)) == (1, 1)
    assert message == "no new alerts"

    # The same failure evaluated again (a re-run of the checks) is not news either.
    assert materialize(
        ASSETS, resources=gap_day_resources, instance=instance, partition_key=GAP
    ).success
    cursor, _ = tick(check_failure_alerts, instance, cursor, channels)
    assert (len(http_receiver.webhooks), len(mail_receiver.messages)) == (1, 1)

    # The day file republished whole, the day reloaded: one "resolved".
    fixed = tmp_path / "fixed"
    generate_source(fixed, GAP_DAY, GAP_DAY)
    seed_bucket(s3_endpoint, bucket, fixed)
    assert materialize(
        ASSETS, resources=gap_day_resources, instance=instance, partition_key=GAP
    ).success
    cursor, _ = tick(check_failure_alerts, instance, cursor, channels)
    assert [(h["status"], h["summary"]) for h in http_receiver.webhooks[1:]] == [
        ("resolved", f"missing_bars passes again on {GAP}")
    ]
    assert len(mail_receiver.messages) == 2 and "RESOLVED" in mail_receiver.messages[1]["Subject"]
    assert len(http_receiver.slack_posts) == 2
    tick(check_failure_alerts, instance, cursor, channels)
    assert len(http_receiver.webhooks) == 2
    assert_no_secret_sent(http_receiver, mail_receiver)


def test_a_receiver_answering_500_gets_the_alert_on_a_later_tick(
    instance, gap_day_resources, channels, http_receiver, mail_receiver
):
    assert materialize(
        ASSETS, resources=gap_day_resources, instance=instance, partition_key=GAP
    ).success
    http_receiver.status = 500
    cursor, message = tick(check_failure_alerts, instance, None, channels)
    assert http_receiver.webhooks == [] and len(mail_receiver.messages) == 1
    assert "webhook: 0 delivered, 1 waiting (refused: HTTP 500)" in message
    # Still down: still waiting, the e-mail is not sent again.
    cursor, _ = tick(check_failure_alerts, instance, cursor, channels)
    assert len(AlertCursor.load(cursor).pending["webhook"]) == 1
    http_receiver.status = 200
    cursor, message = tick(check_failure_alerts, instance, cursor, channels)
    [hook] = http_receiver.webhooks
    assert hook["partitions"] == [GAP] and "SPX" in hook["summary"]
    assert len(mail_receiver.messages) == 1 and len(http_receiver.slack_posts) == 1
    assert AlertCursor.load(cursor).pending == {}


def test_no_channel_configured_still_records_the_alert(instance, gap_day_resources):
    assert materialize(
        ASSETS, resources=gap_day_resources, instance=instance, partition_key=GAP
    ).success
    nowhere = AlertChannelsResource()
    cursor, message = tick(check_failure_alerts, instance, None, nowhere)
    assert message.startswith(f"1 alert(s): missing_bars failed on {GAP}: SPX")
    assert message.endswith("no channel configured (README, Alerts)")
    assert tick(check_failure_alerts, instance, cursor, nowhere)[1] == "no new alerts"


def test_a_failing_90_day_backfill_sends_one_summary(
    instance,
    db,
    database_url,
    s3_endpoint,
    bucket,
    tmp_path,
    channels,
    http_receiver,
    mail_receiver,
):
    """No day file in the bucket: every session day of the range fails its load and
    ``missing_bars``; the checks' alert is one summary, the run's failure one message."""
    add_to_watchlist(db, "SPX")
    first, last = date(2025, 8, 31), date(2025, 11, 28)
    empty_bucket = chain_resources(s3_endpoint, bucket, database_url, tmp_path)
    result = materialize(
        ASSETS,
        resources=empty_bucket,
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    assert not result.success
    sessions = [
        (first + timedelta(days=i)).isoformat()
        for i in range((last - first).days + 1)
        if is_session(first + timedelta(days=i))
    ]

    tick(check_failure_alerts, instance, None, channels)
    [summary] = http_receiver.webhooks
    assert (summary["kind"], summary["status"], summary["check"]) == (
        "check_failed",
        "open",
        "missing_bars",
    )
    assert summary["partitions"] == sessions and summary["severity"] == "ERROR"
    assert (
        summary["summary"]
        == f"missing_bars failed on {len(sessions)} days ({sessions[0]} … {sessions[-1]})"
    )
    assert len(mail_receiver.messages) == 1 and len(http_receiver.slack_posts) == 1

    tick(run_failure_alerts, instance, None, channels)
    [run] = http_receiver.webhooks[1:]
    assert run["kind"] == "run_failed" and run["url"].endswith(result.run_id)
    assert len(run["partitions"]) == 90 and run["partitions"][0] == first.isoformat()
    assert "failed (2025-08-31 … 2025-11-28): " in run["summary"]
    assert sessions[0] in run["summary"]  # the first error names the first failed day


def _report_freshness(instance, previous: FreshnessState, new: FreshnessState) -> None:
    instance.report_runless_asset_event(
        FreshnessStateChange(
            key=AssetKey("historical_bars"),
            previous_state=previous,
            new_state=new,
            state_change_timestamp=time.time(),
        )
    )


def test_stale_data_alerts_on_trading_days_and_resolves(instance):
    _report_freshness(instance, FreshnessState.PASS, FreshnessState.FAIL)
    records, after = read_new_records(instance, DagsterEventType.FRESHNESS_STATE_CHANGE, None)
    assert stale_alerts(records, {}, "http://ui", trading_day=False) == []
    open: dict[str, str] = {}
    [stale] = stale_alerts(records, open, "http://ui", trading_day=True)
    assert (stale.kind, stale.status, stale.asset) == ("stale", "open", "historical_bars")
    assert stale_alerts(records, open, "http://ui", trading_day=True) == []  # once
    _report_freshness(instance, FreshnessState.FAIL, FreshnessState.PASS)
    records, _ = read_new_records(instance, DagsterEventType.FRESHNESS_STATE_CHANGE, after)
    [fresh] = stale_alerts(records, open, "http://ui", trading_day=True)
    assert fresh.status == "resolved" and open == {}


def test_rest_days_without_their_file_after_two_days():
    today, open = date(2025, 11, 28), {}
    rest = {
        date(2025, 11, 24): {"indices"},
        date(2025, 11, 26): {"stocks"},
        date(2025, 11, 27): {"indices"},
    }
    [late] = rest_day_alerts(rest, published=set(), today=today, open=open, ui_url="http://ui")
    assert late.kind == "rest_not_superseded" and late.partitions == ("2025-11-24",)
    assert "indices day file is not published after 4 days" in late.summary
    # Published but not reloaded yet: the supersession sensor's job, no alert.
    assert rest_day_alerts({date(2025, 11, 25): {"x"}}, {date(2025, 11, 25)}, today, {}, "u") == []
    del rest[date(2025, 11, 24)]
    [done] = rest_day_alerts(rest, set(), today, open, "http://ui")
    assert done.status == "resolved" and done.partitions == ("2025-11-24",) and open == {}
