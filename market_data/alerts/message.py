"""The alert message: the webhook object docs/alerts.md fixes, and the summaries that keep alerts few.

Every channel renders the same ``Alert``; the webhook posts ``Alert.payload()`` as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

from market_data.errors import ConfigurationError

Kind = Literal["check_failed", "run_failed", "stale", "rest_not_superseded", "test"]
Status = Literal["open", "resolved"]
KINDS: tuple[str, ...] = ("check_failed", "run_failed", "stale", "rest_not_superseded", "test")
STATUSES: tuple[str, ...] = ("open", "resolved")

# More new alerts of one kind, check and status than this in one tick (a failing backfill)
# become one summary naming every partition.
BATCH_LIMIT = 5
# Lines of a summary's details; the partitions field still lists every partition.
DETAIL_LINES = 40


@dataclass(frozen=True)
class Alert:
    """One message, exactly the webhook fields docs/alerts.md lists (``None`` where a field does not apply)."""

    kind: Kind
    status: Status
    summary: str
    details: str
    url: str
    asset: str | None = None
    check: str | None = None
    partitions: Sequence[str] = field(default_factory=tuple)
    severity: str = "ERROR"

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.status not in STATUSES:
            raise ConfigurationError(
                f"alert kind {self.kind!r} / status {self.status!r} not among the documented ones"
            )
        object.__setattr__(self, "partitions", tuple(self.partitions))

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON object (also how a pending alert is kept in a sensor cursor)."""
        data = asdict(self)
        data["partitions"] = list(self.partitions)
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Alert:
        return cls(**data)

    @property
    def title(self) -> str:
        """A subject line: what happened, marked resolved when it is over."""
        mark = "RESOLVED" if self.status == "resolved" else self.severity
        return f"[market-data {mark}] {self.summary}"

    def text(self) -> str:
        """Plain text for e-mail and chat: summary, details, link."""
        return f"{self.summary}\n\n{self.details}\n\n{self.url}\n"


# -- links into the Dagster UI --------------------------------------------------------------


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def asset_url(ui_url: str, asset: str, *, check: str | None = None) -> str:
    base = f"{ui_url.rstrip('/')}/assets/{quote(asset)}"
    return f"{base}?view=checks&checkDetail={quote(check)}" if check else f"{base}?view=partitions"


# -- summaries --------------------------------------------------------------------------------


def span(partitions: Sequence[str]) -> str:
    ordered = sorted(partitions)
    if not ordered:
        return "no partition"
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]} … {ordered[-1]}"


def _summary_title(kind: str, status: str, check: str | None, count: int, days: str) -> str:
    if kind == "check_failed":
        verb = "passes again" if status == "resolved" else "failed"
        return f"{check} {verb} on {count} days ({days})"
    if kind == "run_failed":
        return f"{count} runs failed ({days})"
    if kind == "rest_not_superseded":
        verb = "now loaded from flat files" if status == "resolved" else "still REST-sourced"
        return f"{count} days {verb} ({days})"
    return f"{count} {kind} alerts ({status})"


def summarize(alerts: Sequence[Alert]) -> Alert:
    """One message for many alerts of one kind, check and status (a 90-day backfill)."""
    first = alerts[0]
    partitions = sorted({p for a in alerts for p in a.partitions})
    lines = [f"- {a.summary}" for a in alerts[:DETAIL_LINES]]
    if len(alerts) > DETAIL_LINES:
        lines.append(f"- … and {len(alerts) - DETAIL_LINES} more")
    severity = "ERROR" if any(a.severity == "ERROR" for a in alerts) else first.severity
    title = _summary_title(first.kind, first.status, first.check, len(alerts), span(partitions))
    return replace(
        first, summary=title, details="\n".join(lines), partitions=partitions, severity=severity
    )


def batch(alerts: Iterable[Alert], limit: int = BATCH_LIMIT) -> list[Alert]:
    """Alerts as sent: a group of more than ``limit`` of one (kind, check, status) becomes
    one summary; smaller groups go one by one. Order of first appearance is kept."""
    groups: dict[tuple[str, str | None, str], list[Alert]] = {}
    for alert in alerts:
        groups.setdefault((alert.kind, alert.check, alert.status), []).append(alert)
    sent: list[Alert] = []
    for group in groups.values():
        sent.extend([summarize(group)] if len(group) > limit else group)
    return sent
