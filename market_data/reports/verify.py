"""``market-data verify``: the row-count report and bars per day against the calendar."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import psycopg

from market_data import settings
from market_data.calendar import is_session
from market_data.reports.against_massive import AdjustedComparison
from market_data.reports.plots import calendar_days, write_coverage_heatmap
from market_data.reports.quality import DayCoverage, session_coverage
from market_data.terminal import console, table

# The existing deployments' verification query, unchanged.
ROW_COUNTS = (
    "SELECT symbol, timeframe, COUNT(*) as rows, MIN(to_timestamp(timestamp/1000)) as oldest_date,"
    " MAX(to_timestamp(timestamp/1000)) as newest_date FROM historical_bars"
    " GROUP BY symbol, timeframe ORDER BY symbol, timeframe;"
)
# An index day below this share of its session is an error, not a warning.
ERROR_SHARE = 0.5


def print_row_counts(conn: psycopg.Connection, symbols: list[str] | None = None) -> None:
    rows = [r for r in conn.execute(ROW_COUNTS).fetchall() if not r[0].startswith("O:")]
    if symbols:
        rows = [r for r in rows if r[0] in symbols]
    counts = table(
        "symbol", "timeframe", "rows", "oldest bar (UTC)", "newest bar (UTC)", right=("rows",)
    )
    for symbol, timeframe, count, oldest, newest in rows:
        counts.add_row(
            symbol,
            timeframe,
            f"{count:,}",
            f"{oldest:%Y-%m-%d %H:%M%z}",
            f"{newest:%Y-%m-%d %H:%M%z}",
        )
    out = console()
    out.print()
    out.print(counts)
    options = conn.execute(
        "SELECT underlying, COUNT(DISTINCT symbol), COUNT(*) FROM historical_bars"
        " WHERE dataset = 'options' GROUP BY underlying ORDER BY underlying"
    ).fetchall()
    for underlying, contracts, count in options:
        if not symbols or underlying in symbols:
            out.print(f"{underlying} options: {contracts:,} contracts, {count:,} bars")


def _coverage_cell(c: DayCoverage) -> str:
    """``bars/expected``, red when most of the session is missing, yellow for a gap."""
    text = f"{c.bars}/{c.expected}"
    if c.share >= 1:
        return text
    return f"[red]{text}[/]" if c.share < ERROR_SHARE else f"[yellow]{text}[/]"


def _recent_sessions(count: int, until: date) -> list[date]:
    days: list[date] = []
    day = until
    for _ in range(count * 3 + 10):
        if len(days) == count:
            break
        if is_session(day):
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)


def print_report(
    conn: psycopg.Connection,
    symbols: list[str] | None = None,
    sessions: int = 10,
    plot: Path | None = None,
) -> int:
    """Print both reports and write the heatmap (to ``plot``, or under MARKET_DATA_HOME);
    1 when an index lacks most of a session it should have, else 0.

    Sessions are counted back from the newest bar in the table, since the table may lag.
    """
    print_row_counts(conn, symbols)
    spans = {
        symbol: (dataset, first, last)
        for symbol, dataset, first, last in conn.execute(
            "SELECT symbol, min(dataset),"
            " (to_timestamp(min(\"timestamp\") / 1000.0) AT TIME ZONE 'America/New_York')::date,"
            " (to_timestamp(max(\"timestamp\") / 1000.0) AT TIME ZONE 'America/New_York')::date"
            " FROM historical_bars WHERE dataset <> 'options' GROUP BY symbol"
        ).fetchall()
        if not symbols or symbol in symbols
    }
    if not spans:
        return 0
    # The last sessions up to the newest bar loaded (not today: the table may lag).
    days = _recent_sessions(sessions, max(last for _, _, last in spans.values()))
    chosen = sorted(spans)
    coverage = {d: {c.symbol: c for c in session_coverage(conn, d, chosen)} for d in days}
    per_day = table(
        "symbol",
        *(f"{d:%m-%d}" for d in days),
        right=[f"{d:%m-%d}" for d in days],
        title=f"regular-session bars per day (last {len(days)} sessions)",
    )
    for symbol in chosen:
        per_day.add_row(symbol, *(_coverage_cell(coverage[d][symbol]) for d in days))
    out = console()
    out.print()
    out.print(per_day)
    # Indices are expected complete on every session inside the span they were loaded for.
    gaps = [
        coverage[d][symbol]
        for symbol, (dataset, first, last) in sorted(spans.items())
        if dataset == "indices"
        for d in days
        if first <= d <= last and coverage[d][symbol].share < 1
    ]
    # The heatmap spans the calendar, so weekends and holidays show between the sessions.
    span = calendar_days(days[0], days[-1])
    shares = [[coverage[d][s].share if d in coverage else None for d in span] for s in chosen]
    heatmap = write_coverage_heatmap(
        plot or settings.home() / "reports" / "coverage.png", chosen, span, shares
    )
    out.print(
        f"\ncoverage heatmap ({', '.join(chosen)} by {days[0]} … {days[-1]}): {heatmap}",
        markup=False,
        soft_wrap=True,
    )
    errors = 0
    for c in gaps:
        level = "ERROR" if c.share < ERROR_SHARE else "WARN"
        errors += level == "ERROR"
        out.print(
            f"{level} {c.symbol} {c.day}: {c.expected - c.bars} of {c.expected} minutes "
            f"missing ({c.missing_text()})",
            style="red" if level == "ERROR" else "yellow",
            markup=False,
        )
    return 1 if errors else 0


def print_adjusted_comparison(comparison: AdjustedComparison) -> bool:
    """The ``verify --adjusted`` table; whether every field agrees within Massive's rounding."""
    out = console()
    out.print(
        f"{comparison.symbol} {comparison.start} … {comparison.end}, split-adjusted: "
        f"{comparison.minutes_compared:,} minutes compared, {comparison.only_ours:,} only ours, "
        f"{comparison.only_massive:,} only Massive's"
    )
    differences = table(
        "field",
        "largest difference",
        "relative",
        "Massive's rounding",
        "at",
        "agrees",
        right=("largest difference", "relative", "Massive's rounding"),
    )
    for f in comparison.fields:
        differences.add_row(
            f.name,
            f"{f.max_abs:.3g}",
            f"{f.max_rel:.3g}",
            f"{f.rounding:.3g}",
            f.worst_at or "-",
            "yes" if f.within_rounding else "NO",
        )
    out.print(differences)
    return comparison.agrees
