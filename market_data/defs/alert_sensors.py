"""Sensors that deliver alerts: failed checks, failed runs, stale data, REST days not superseded.

Open-source Dagster has no alert policies, so each kind of problem has a sensor (on by
default, every 30 s) that reads what is new since its cursor, turns it into messages
(``market_data/alerts/records.py``) and hands them to the configured channels. The
cursor also holds the problems still open and the messages a channel has not accepted,
so a restarted daemon neither repeats nor drops an alert and a channel that is down
gets its messages on a later tick. Sensors start no runs: a data run never waits on,
or fails because of, an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dagster import (
    ConfigurableResource,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from market_data.alerts.channels import DEFAULT_SLACK_API_URL, Channel, channels_from
from market_data.alerts.delivery import AlertCursor, deliver, record, tick_report
from market_data.alerts.message import Alert, batch
from market_data.alerts.records import (
    REST_GRACE_DAYS,
    check_alerts,
    read_new_records,
    rest_day_alerts,
    run_failed_alert,
    stale_alerts,
)
from market_data.calendar import session, today_in_new_york
from market_data.defs.resources import FlatFilesResource, WarehouseResource, secret
from market_data.settings import DEFAULT_UI_URL, Settings
from market_data.supersession import published_rest_days, rest_sourced_days

TICK_SECONDS = 30


# Unsubscripted like the resources of defs/resources.py (which say why).
class AlertChannelsResource(ConfigurableResource):  # type: ignore[type-arg]
    """The alert channels as the environment configures them; secrets arrive as ``EnvVar``s,
    so the UI shows their names only."""

    webhook_url: str | None = None
    slack_token: str | None = None
    slack_channel: str | None = None
    slack_base_url: str = DEFAULT_SLACK_API_URL
    smtp_url: str | None = None
    email_to: str | None = None  # comma-separated
    ui_url: str = DEFAULT_UI_URL

    def channels(self) -> list[Channel]:
        return channels_from(
            webhook_url=self.webhook_url,
            slack_token=self.slack_token,
            slack_channel=self.slack_channel,
            slack_base_url=self.slack_base_url,
            smtp_url=self.smtp_url,
            email_to=[a.strip() for a in (self.email_to or "").split(",") if a.strip()],
        )


def alert_channels_from_settings(config: Settings) -> AlertChannelsResource:
    return AlertChannelsResource(
        webhook_url=secret(config, "MARKET_DATA_ALERT_WEBHOOK_URL"),
        slack_token=secret(config, "MARKET_DATA_ALERT_SLACK_TOKEN"),
        slack_channel=config.alert_slack_channel,
        smtp_url=secret(config, "MARKET_DATA_ALERT_SMTP_URL"),
        email_to=",".join(config.alert_email_to) or None,
        ui_url=config.ui_url,
    )


def send_and_report(
    context: SensorEvaluationContext,
    cursor: AlertCursor,
    alerts: Sequence[Alert],
    alert_channels: AlertChannelsResource,
) -> SensorResult:
    """Batch, log (the record when no channel is configured), deliver, save the cursor."""
    sent = batch(alerts)
    record(context.log, sent)
    outcomes = deliver(sent, cursor, alert_channels.channels())
    return SensorResult(skip_reason=tick_report(sent, outcomes), cursor=cursor.dump())


def alert_sensor(description: str) -> Callable[[Callable[..., SensorResult]], SensorDefinition]:
    return sensor(
        minimum_interval_seconds=TICK_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        description=description,
    )


@alert_sensor(
    "Alerts once per (check, day, outcome) when an asset check fails for a partition, and "
    "once more when it passes again; many failing days of a backfill make one summary."
)
def check_failure_alerts(
    context: SensorEvaluationContext, alert_channels: AlertChannelsResource
) -> SensorResult:
    cursor = AlertCursor.load(context.cursor)
    records, cursor.after = read_new_records(
        context.instance, DagsterEventType.ASSET_CHECK_EVALUATION, cursor.after
    )
    alerts = check_alerts(records, cursor.open, alert_channels.ui_url)
    return send_and_report(context, cursor, alerts, alert_channels)


@alert_sensor("Alerts on every failed run: its job, partitions and the first error line.")
def run_failure_alerts(
    context: SensorEvaluationContext, alert_channels: AlertChannelsResource
) -> SensorResult:
    cursor = AlertCursor.load(context.cursor)
    records, cursor.after = read_new_records(
        context.instance, DagsterEventType.RUN_FAILURE, cursor.after
    )
    # A run Dagster launches again (dagster.yaml's run_retries) is told by its last attempt.
    records = [r for r in records if not will_retry(context.instance, r.event_log_entry.run_id)]
    alerts = [run_failed_alert(context.instance, r, alert_channels.ui_url) for r in records]
    return send_and_report(context, cursor, alerts, alert_channels)


def will_retry(instance: DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is not None and run.tags.get("dagster/will_retry") == "true"


def _is_trading_day() -> bool:
    try:
        return session(today_in_new_york()) is not None
    except ValueError:  # beyond the exchange calendar: better an alert than silence
        return True


@alert_sensor(
    "Alerts when historical_bars is overdue by its freshness policy (not on days without "
    "a session), and when it is fresh again."
)
def freshness_alerts(
    context: SensorEvaluationContext, alert_channels: AlertChannelsResource
) -> SensorResult:
    cursor = AlertCursor.load(context.cursor)
    records, cursor.after = read_new_records(
        context.instance, DagsterEventType.FRESHNESS_STATE_CHANGE, cursor.after
    )
    alerts = stale_alerts(
        records, cursor.open, alert_channels.ui_url, trading_day=_is_trading_day()
    )
    return send_and_report(context, cursor, alerts, alert_channels)


@alert_sensor(
    f"Alerts on days still holding REST bars {REST_GRACE_DAYS} days later whose flat file "
    "is not published, and when such a day is reloaded from its file."
)
def rest_supersession_alerts(
    context: SensorEvaluationContext,
    alert_channels: AlertChannelsResource,
    warehouse: WarehouseResource,
    flat_files: FlatFilesResource,
) -> SensorResult:
    cursor = AlertCursor.load(context.cursor)
    with warehouse.connection() as conn:
        rest_days = rest_sourced_days(conn)
    today = today_in_new_york()
    overdue = {d: s for d, s in rest_days.items() if (today - d).days > REST_GRACE_DAYS}
    # Only days not alerted yet cost a HEAD request each.
    unasked = {d: s for d, s in overdue.items() if f"rest|{d.isoformat()}" not in cursor.open}
    published = (
        {p.day for p in published_rest_days(unasked, flat_files.get_client(), flat_files.bucket)}
        if unasked
        else set()
    )
    alerts = rest_day_alerts(rest_days, published, today, cursor.open, alert_channels.ui_url)
    return send_and_report(context, cursor, alerts, alert_channels)


ALERT_SENSORS = [
    check_failure_alerts,
    run_failure_alerts,
    freshness_alerts,
    rest_supersession_alerts,
]
