"""Handing alerts to channels, and the sensor cursor that makes delivery exactly-once per tick.

The cursor holds what a sensor has read (``after``), which problems are open (so a
check that passes again sends one "resolved", and a failure seen again sends nothing),
and per channel the alerts it has not accepted yet. A channel that is down keeps its
alerts until a later tick; the others get theirs now. The cursor is saved only with
the tick's result, so a daemon restarted between ticks resumes exactly where it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from market_data.alerts.channels import Channel, DeliveryError
from market_data.alerts.message import Alert

# A channel down for days must not grow the cursor without bound: the oldest go first.
MAX_PENDING_PER_CHANNEL = 200


@dataclass
class AlertCursor:
    after: int | None = None  # storage id read up to; None: never ticked
    open: dict[str, str] = field(default_factory=dict)  # problem key -> its severity
    pending: dict[str, list[Alert]] = field(default_factory=dict)  # channel -> undelivered

    @classmethod
    def load(cls, text: str | None) -> AlertCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            after=data.get("after"),
            open=dict(data.get("open", {})),
            pending={
                name: [Alert.from_payload(a) for a in alerts]
                for name, alerts in data.get("pending", {}).items()
            },
        )

    def dump(self) -> str:
        pending = {n: [a.payload() for a in alerts] for n, alerts in self.pending.items() if alerts}
        return json.dumps({"after": self.after, "open": self.open, "pending": pending})


@dataclass(frozen=True)
class ChannelOutcome:
    channel: str
    delivered: int
    waiting: int
    reason: str | None = None  # why the first waiting alert was not accepted
    dropped: int = 0

    def describe(self) -> str:
        text = f"{self.channel}: {self.delivered} delivered"
        if self.waiting:
            text += f", {self.waiting} waiting ({self.reason})"
        if self.dropped:
            text += f", {self.dropped} oldest dropped"
        return text


def _deliver_in_order(channel: Channel, queue: list[Alert]) -> tuple[int, str | None]:
    """Send until the first failure: later alerts wait behind it, so order is kept and a
    down receiver costs one timeout per tick, not one per alert."""
    for done, alert in enumerate(queue):
        try:
            channel.send(alert)
        except DeliveryError as error:
            return done, error.reason
        except Exception as error:  # a channel's bug must not cost the other channels
            return done, f"refused: {type(error).__name__}"
    return len(queue), None


def deliver(
    new: Sequence[Alert], cursor: AlertCursor, channels: Sequence[Channel]
) -> list[ChannelOutcome]:
    """Every channel gets what it still owes plus ``new``, side by side (one slow channel
    does not hold up the others); ``cursor.pending`` keeps what was not accepted."""
    queues = {c.name: [*cursor.pending.get(c.name, []), *new] for c in channels}
    if not channels:
        cursor.pending = {}
        return []
    with ThreadPoolExecutor(max_workers=len(channels)) as pool:
        results = list(pool.map(lambda c: _deliver_in_order(c, queues[c.name]), channels))
    outcomes, pending = [], {}
    for channel, (delivered, reason) in zip(channels, results, strict=True):
        left = queues[channel.name][delivered:]
        dropped = max(0, len(left) - MAX_PENDING_PER_CHANNEL)
        pending[channel.name] = left[dropped:]
        outcomes.append(
            ChannelOutcome(channel.name, delivered, len(left) - dropped, reason, dropped)
        )
    cursor.pending = pending  # channels no longer configured lose their backlog
    return outcomes


def record(
    log: logging.Logger | logging.LoggerAdapter[logging.Logger], alerts: Iterable[Alert]
) -> list[str]:
    """Every alert in the sensor's log, configured channel or not; returns the lines."""
    lines = [f"{a.kind} {a.status}: {a.summary}" for a in alerts]
    for line in lines:
        log.info(line)
    return lines


def tick_report(alerts: Sequence[Alert], outcomes: Sequence[ChannelOutcome]) -> str:
    """The tick's one-line result, shown in the UI's tick history."""
    if not alerts and not any(o.delivered or o.waiting for o in outcomes):
        return "no new alerts"
    head = f"{len(alerts)} alert(s): " + "; ".join(a.summary for a in alerts[:3])
    if len(alerts) > 3:
        head += f"; … {len(alerts) - 3} more"
    if not outcomes:
        return head + " | no channel configured (README, Alerts)"
    return head + " | " + "; ".join(o.describe() for o in outcomes)


def trial_alert(ui_url: str) -> Alert:
    """What ``market-data alerts test`` sends: kind ``test``, so receivers can filter it."""
    return Alert(
        kind="test",
        status="open",
        severity="INFO",
        summary="market-data test alert: this channel reaches you",
        details="Sent by `market-data alerts test`. Nothing needs to be done.",
        url=ui_url,
    )


def send_trial(channels: Sequence[Channel], ui_url: str) -> list[tuple[str, str | None]]:
    """(channel description, None when delivered or the one-line reason), per channel."""
    alert = trial_alert(ui_url)
    results = []
    for channel in channels:
        delivered, reason = _deliver_in_order(channel, [alert])
        results.append((channel.describe(), None if delivered else reason))
    return results
