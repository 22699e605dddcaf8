"""``make screenshots``: the README's pictures of the Dagster UI, from the demo's own state.

On the embedded default (``MARKET_DATA_HOME``, ``./.market_data``): runs ``market-data demo``
if the demo's days are not loaded yet, starts ``market-data ui`` on a free port, launches
the one-day run whose price chart the README shows if it has not been run (the same
GraphQL mutation as the UI's "Materialize…" of one day), takes every picture in headless
Chromium, and writes them with ``docs/screenshots.json``: the facts the captions may cite,
read from the demo's database, the exchange calendar and the pages as they rendered
(market_data_tests/test_readme_pictures.py holds README's captions to them). The UI it
started is stopped at the end; the embedded servers keep running, as the demo leaves them
(``make stop`` stops them).

    python -m market_data_local.screenshots [--docs DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from market_data import settings
from market_data.calendar import day_window, session
from market_data.cli import DEMO_WATCHLIST
from market_data.ui import free_port
from market_data_local.browser import (
    PageDidNotRender,
    close_dialog,
    dismiss_first_visit_dialog,
    launch_chromium,
    open_markdown,
    wait_for_text,
)
from market_data_local.demo_source import DEMO_END, DEMO_START

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
FACTS = "screenshots.json"
FAILURE_SHOT = REPO / "artifacts" / "screenshots-failure.png"
# The one-day run whose price chart README shows: a regular session of the demo's weeks.
CHART_DAY = date(2025, 11, 25)
UI_START_SECONDS = 180
RUN_SECONDS = 600
DEMO_SECONDS = 1800
UI_STOP_SECONDS = 90
WIDTH = 1400


class ScreenshotError(RuntimeError):
    """``make screenshots`` could not take its pictures; the message says where."""


def say(line: str) -> None:
    print(f"screenshots: {line}", flush=True)


# --- the demo's state --------------------------------------------------------------------------


def demo_days() -> list[date]:
    return [DEMO_START + timedelta(days=i) for i in range((DEMO_END - DEMO_START).days + 1)]


@dataclass
class DemoFacts:
    """What the demo's database and the exchange calendar say of the demo's weeks."""

    rows_by_symbol: dict[str, int]
    sessions_by_symbol: dict[str, int]
    option_underlyings: list[str]
    option_contracts: int
    option_bars: int
    rows: int
    rows_without_session: int  # on the weekends and the holiday: none

    @property
    def symbols(self) -> list[str]:
        return [symbol for symbol, _ in DEMO_WATCHLIST]

    def loaded(self) -> bool:
        """Every watchlist symbol has bars on every session of the demo's weeks."""
        sessions = len(sessions_of(demo_days()))
        return all(self.sessions_by_symbol.get(s, 0) == sessions for s in self.symbols)

    def as_json(self) -> dict[str, Any]:
        days = demo_days()
        sessions = sessions_of(days)
        regular = [s for s in sessions if not s.early_close]
        return {
            "symbols": self.symbols,
            "option_underlyings": self.option_underlyings,
            "first_day": DEMO_START.isoformat(),
            "last_day": DEMO_END.isoformat(),
            "days": len(days),
            "weeks": len(days) // 7,
            "sessions": len(sessions),
            "holidays": [
                d.isoformat()
                for d in days
                if d.weekday() < 5 and d not in {s.day for s in sessions}
            ],
            "early_closes": [s.day.isoformat() for s in sessions if s.early_close],
            "session_minutes": regular[0].minutes,
            "early_close_minutes": min(s.minutes for s in sessions),
            "rows": self.rows,
            "rows_on_days_without_a_session": self.rows_without_session,
            "rows_by_symbol": self.rows_by_symbol,
            "option_contracts": self.option_contracts,
            "option_bars": self.option_bars,
        }


def sessions_of(days: list[date]) -> list[Any]:
    return [s for s in (session(d) for d in days) if s is not None]


def read_demo_facts(database_url: str) -> DemoFacts:
    import psycopg

    start, end = day_window(DEMO_START).start_ms, day_window(DEMO_END).end_ms
    symbols = [symbol for symbol, _ in DEMO_WATCHLIST]
    with psycopg.connect(database_url) as conn:
        per_symbol = conn.execute(
            "SELECT symbol, count(*), count(DISTINCT ("
            "  to_timestamp(timestamp / 1000) AT TIME ZONE 'America/New_York')::date)"
            " FROM historical_bars WHERE symbol = ANY(%s) AND timeframe = '1m'"
            " AND timestamp >= %s AND timestamp < %s GROUP BY symbol",
            (symbols, start, end),
        ).fetchall()
        options = conn.execute(
            "SELECT underlying, count(DISTINCT symbol), count(*) FROM historical_bars"
            " WHERE dataset = 'options' AND timestamp >= %s AND timestamp < %s"
            " GROUP BY underlying ORDER BY underlying",
            (start, end),
        ).fetchall()
        (rows,) = conn.execute(
            "SELECT count(*) FROM historical_bars WHERE timestamp >= %s AND timestamp < %s",
            (start, end),
        ).fetchone() or (0,)
        days = demo_days()
        sessions = {s.day for s in sessions_of(days)}
        closed = [day_window(d) for d in days if d not in sessions]
        without_session = sum(
            (
                conn.execute(
                    "SELECT count(*) FROM historical_bars WHERE timestamp >= %s AND timestamp < %s",
                    (w.start_ms, w.end_ms),
                ).fetchone()
                or (0,)
            )[0]
            for w in closed
        )
    # Extended-hours bars fall on the session's New York day: the distinct days are sessions.
    return DemoFacts(
        rows_by_symbol={s: n for s, n, _ in sorted(per_symbol)},
        sessions_by_symbol={s: d for s, _, d in per_symbol},
        option_underlyings=[u for u, _, _ in options],
        option_contracts=sum(c for _, c, _ in options),
        option_bars=sum(b for _, _, b in options),
        rows=rows,
        rows_without_session=without_session,
    )


def chart_symbols(database_url: str, day: date) -> list[str]:
    """The indices and stocks with bars on ``day``: the panels of its price chart."""
    import psycopg

    window = day_window(day)
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT DISTINCT symbol FROM historical_bars WHERE dataset IN ('indices', 'stocks')"
            " AND timeframe = '1m' AND timestamp >= %s AND timestamp < %s ORDER BY symbol",
            (window.start_ms, window.end_ms),
        ).fetchall()
    return [symbol for (symbol,) in found]


def complete_sessions(database_url: str, days: list[date], symbols: list[str]) -> int:
    """The sessions among ``days`` on which every symbol has all its regular-session minutes
    (the heatmap's fully green columns)."""
    import psycopg

    from market_data.reports.quality import coverage_shares

    with psycopg.connect(database_url) as conn:
        shares = coverage_shares(conn, days, symbols)
    columns = list(zip(*shares, strict=True))
    return sum(1 for column in columns if None not in column and min(column) >= 1)


def require_the_embedded_default() -> None:
    configured = [
        name
        for name, left in (
            ("DATABASE_URL", settings.wants_embedded_database()),
            ("MASSIVE_AWS_ACCESS_KEY / MASSIVE_S3_ENDPOINT", settings.wants_embedded_source()),
            ("MASSIVE_API_KEY", settings.wants_embedded_rest()),
            ("DAGSTER_PG_URL", settings.dagster_pg_url() is None),
        )
        if not left
    ]
    if configured:
        raise ScreenshotError(
            "the pictures are of the demo on the embedded default, but "
            + ", ".join(configured)
            + " is set (environment or .env): unset it for make screenshots"
        )


def ensure_the_demo(database_url: str) -> DemoFacts:
    import psycopg

    try:
        facts: DemoFacts | None = read_demo_facts(database_url)
    except psycopg.errors.UndefinedTable:  # a new cluster: no schema yet
        facts = None
    if facts is not None and facts.loaded():
        say(f"the demo's days are loaded ({facts.rows:,} rows, {DEMO_START} … {DEMO_END})")
        return facts
    say("the demo's days are not all loaded: running market-data demo")
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "market_data.cli", "demo"], timeout=DEMO_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise ScreenshotError(f"market-data demo did not finish within {DEMO_SECONDS}s") from None
    if demo.returncode != 0:
        raise ScreenshotError(f"market-data demo failed (exit {demo.returncode}); see above")
    facts = read_demo_facts(database_url)
    if not facts.loaded():
        raise ScreenshotError("market-data demo succeeded but the demo's days are not all loaded")
    return facts


# --- the UI -----------------------------------------------------------------------------------


@contextmanager
def running_ui() -> Iterator[str]:
    """``market-data ui`` on a free port for the duration; its URL. Stopped as Ctrl-C stops
    it (the daemon, the webserver, the code server), killed only if it does not stop."""
    port = free_port()
    say(f"starting market-data ui on port {port}")
    process = subprocess.Popen(
        [sys.executable, "-m", "market_data.cli", "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a signal to this command's group reaches it through us
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        url = _wait_for_url(process, lines)
        say(f"the UI answers at {url}")
        yield url
    finally:
        _stop_ui(process)


def _wait_for_url(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + UI_START_SECONDS
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if line.startswith("Dagster UI: "):
            return line.split()[2]
    said = "\n".join(seen[-20:]) or "(nothing)"
    ended = "exited" if process.poll() is not None else f"did not start in {UI_START_SECONDS}s"
    raise ScreenshotError(f"market-data ui {ended}; it said:\n{said}")


def _stop_ui(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        say("stopping the UI (daemon, webserver, code server)")
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=UI_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            say(f"the UI did not stop within {UI_STOP_SECONDS}s: killing it")
            process.kill()
            process.wait()
    if process.returncode not in (0, -signal.SIGINT):
        say(f"market-data ui exited with {process.returncode}")


def launch_day_run(url: str, day: date) -> None:
    """``historical_bars_job`` for one day, as the UI's "Materialize…" of one partition
    launches it, waited for."""
    from dagster import DagsterRunStatus
    from dagster_graphql import DagsterGraphQLClient

    host, port = url.removeprefix("http://").split(":")
    client = DagsterGraphQLClient(host, port_number=int(port))
    run_id = client.submit_job_execution(
        "historical_bars_job",
        repository_location_name="market_data",
        repository_name="__repository__",
        tags={"dagster/partition": day.isoformat()},
    )
    say(f"one-day run of {day} launched ({run_id[:8]}); waiting for it")
    deadline = time.monotonic() + RUN_SECONDS
    while (status := client.get_run_status(run_id)) not in (
        DagsterRunStatus.SUCCESS,
        DagsterRunStatus.FAILURE,
        DagsterRunStatus.CANCELED,
    ):
        if time.monotonic() > deadline:
            raise ScreenshotError(f"the one-day run {run_id} of {day} ran past {RUN_SECONDS}s")
        time.sleep(1)
    if status != DagsterRunStatus.SUCCESS:
        raise ScreenshotError(f"the one-day run {run_id} of {day} ended {status.value}")


# --- the pictures -----------------------------------------------------------------------------


@dataclass
class Picture:
    """One picture README shows: its file and what it shows, for the captions."""

    name: str
    shows: str
    symbols: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "shows": self.shows,
            "symbols": self.symbols,
            "days": self.days,
            "counts": self.counts,
        }


class Shooter:
    """One browser page on the UI; each method goes to a page, waits for it, shoots it
    into ``out`` and says what it shows."""

    def __init__(self, page: Any, url: str, out: Path, database_url: str, demo: DemoFacts):
        self.page, self.url, self.out = page, url, out
        self.database_url, self.demo = database_url, demo

    def go(self, path: str, where: str, ready: str, height: int = 900) -> str:
        self.page.set_viewport_size({"width": WIDTH, "height": height})
        self.page.goto(f"{self.url}{path}")
        return self.wait(ready, where)

    def wait(self, text: str, where: str, timeout: float = 60.0) -> str:
        return wait_for_text(self.page, text, where, timeout, failure_shot=FAILURE_SHOT)

    def shoot(self, name: str) -> None:
        self.page.screenshot(path=str(self.out / name))

    def ensure_chart_day_run(self) -> None:
        """The one-day run of ``CHART_DAY`` as that day's latest materialization (its price
        chart) and as missing_bars' latest result: launched unless both are so already
        (after the demo, or when the demo or a schedule has run since)."""
        where = f"the partition {CHART_DAY} of historical_bars"
        path = f"/assets/historical_bars?view=partitions&partition={CHART_DAY}"
        charted = "price_chart" in self.go(path, where, "coverage_heatmap")
        path = "/assets/historical_bars?view=checks&checkDetail=missing_bars"
        text = self.go(path, "the checks tab of historical_bars", "Evaluation result")
        latest = re.search(r"Partition\s+(\d{4}-\d{2}-\d{2})", text)
        if charted and latest is not None and latest[1] == CHART_DAY.isoformat():
            say(f"the one-day run of {CHART_DAY} is the latest: not run again")
            return
        launch_day_run(self.url, CHART_DAY)

    def asset_graph(self) -> Picture:
        where = "the asset graph"
        # Expanded, the US and the UTC assets stand in a graph taller than a screen.
        self.go("/asset-groups", where, "warehouse", height=1700)
        self.page.keyboard.press("Alt+e")  # expand all groups
        # The graph renders only the nodes in view: wait for each.
        for name in ("raw_files", "bars", "warehouse", "indices_day_file", "stocks_bars"):
            self.wait(name, where)
        for name in ("historical_bars", "daily_bars", "option_surface", "crypto_bars"):
            self.wait(name, where)
        self.page.wait_for_timeout(2_000)  # the re-layout after expanding is animated
        self.shoot("ui-asset-graph.png")
        return Picture(
            "ui-asset-graph.png",
            "the asset graph, every group expanded: raw files, bars, warehouse; the US"
            " datasets on New York days, crypto and forex on UTC days",
        )

    def partitions(self) -> Picture:
        """The demo's weeks in the partitions tab, the holiday selected."""
        where = "the partitions tab of historical_bars"
        days = demo_days()
        holiday = self.demo.as_json()["holidays"][0]
        self.go("/assets/historical_bars?view=partitions", where, "Materialized (")
        self.page.locator("input").first.fill(f"[{DEMO_START}...{DEMO_END}]")
        self.page.keyboard.press("Enter")
        self.wait(f"{len(days)} Partitions Selected", where)
        text = self.wait(f"Materialized ({len(days)})", where)  # the demo loaded them all
        materialized = _count_in(text, r"Materialized \((\d+)\)", where)
        self.page.get_by_text(holiday, exact=True).first.click()
        text = self.wait("rows_loaded", where)
        self.wait(f"with {DEMO_END}, the last day of this run", where)
        rows_loaded = _count_in(text, r"rows_loaded\s+(\d+)", where)
        self.shoot("ui-partitions.png")
        return Picture(
            "ui-partitions.png",
            "the partitions tab filtered to the demo's weeks, the holiday selected: its"
            " materialization by the demo's run, with that run's metadata",
            days=[DEMO_START.isoformat(), DEMO_END.isoformat(), holiday],
            counts={
                "partitions_selected": len(days),
                "materialized": materialized,
                "rows_loaded": rows_loaded,
            },
        )

    def heatmap(self) -> Picture:
        """The demo run's coverage heatmap, on its last day's materialization."""
        where = f"the coverage heatmap of {DEMO_END}"
        path = f"/assets/historical_bars?view=partitions&partition={DEMO_END}"
        self.go(path, where, "[Show Markdown]")
        dialog = open_markdown(self.page, "coverage_heatmap")
        caption = dialog.inner_text()
        found = re.search(r"rows: (.+); columns: (\S+) … (\S+)", caption)
        if found is None:
            raise PageDidNotRender(f"{where}: no 'rows: …; columns: …' under it:\n{caption}")
        self.shoot("ui-heatmap.png")
        close_dialog(self.page)
        symbols = found[1].split(", ")
        complete = complete_sessions(self.database_url, demo_days(), symbols)
        return Picture(
            "ui-heatmap.png",
            "the coverage heatmap of the demo's run in the metadata panel of its last day:"
            " symbols by calendar days, colour = share of the session's minutes",
            symbols=symbols,
            days=[found[2], found[3]],
            counts={
                "symbols": len(symbols),
                "days": len(demo_days()),
                "sessions": len(sessions_of(demo_days())),
                "complete_sessions": complete,
            },
        )

    def checks(self) -> Picture:
        """missing_bars in the checks tab: its latest result, the one-day run's day."""
        where = "the checks tab of historical_bars (missing_bars)"
        path = "/assets/historical_bars?view=checks&checkDetail=missing_bars"
        # Short enough to end at the latest result's metadata, above the plots of every run.
        self.go(path, where, "Latest execution", height=700)
        text = self.wait("symbols_short", where)
        listed = _count_in(text, r"Checks \((\d+)\)", where)
        # The list shows each check's status a moment after its name: a few seconds for all.
        deadline = time.monotonic() + 10
        while text.count("Succeeded") < listed and time.monotonic() < deadline:
            self.page.wait_for_timeout(250)
            text = self.page.inner_text("body")
        result = "Passed" if re.search(r"Evaluation result\s+Passed", text) else "not passed"
        partition = re.search(r"Partition\s+(\d{4}-\d{2}-\d{2})", text)
        if partition is None or partition[1] != CHART_DAY.isoformat():
            raise PageDidNotRender(
                f"{where}: the latest result is not the one-day run's {CHART_DAY}:\n{text[:1500]}"
            )
        succeeded = text.count("Succeeded")
        self.shoot("ui-checks.png")
        return Picture(
            "ui-checks.png",
            f"the checks tab: {succeeded} checks listed as succeeded; missing_bars"
            f" {result} on {CHART_DAY}, its latest result, with that day's metadata",
            days=[CHART_DAY.isoformat()],
            counts={
                "checks_succeeded": succeeded,
                "session_minutes": _count_in(text, r"session_minutes\s+(\d+)", where),
                "symbols_checked": _count_in(text, r"symbols_checked\s+(\d+)", where),
                "symbols_short": _count_in(text, r"symbols_short\s+(\d+)", where),
            },
        )

    def price_chart(self) -> Picture:
        """The one-day run's price chart."""
        where = f"the price chart of {CHART_DAY}"
        symbols = chart_symbols(self.database_url, CHART_DAY)
        path = f"/assets/historical_bars?view=partitions&partition={CHART_DAY}"
        # A panel per symbol: tall enough for the whole dialog.
        self.go(path, where, "price_chart", height=400 + 130 * len(symbols))
        dialog = open_markdown(self.page, "price_chart")
        alt = dialog.locator("img").get_attribute("alt")
        if alt != f"close {CHART_DAY}":
            raise PageDidNotRender(f"{where}: the dialog's picture is {alt!r}")
        self.shoot("ui-price-chart.png")
        close_dialog(self.page)
        return Picture(
            "ui-price-chart.png",
            "the price chart of the one-day run in the metadata panel: each symbol's close by"
            " minute, extended hours around the shaded regular session",
            symbols=symbols,
            days=[CHART_DAY.isoformat()],
            counts={"symbols": len(symbols)},
        )


def _count_in(text: str, pattern: str, where: str) -> int:
    found = re.search(pattern, text)
    if found is None:
        raise PageDidNotRender(f"{where}: {pattern!r} not found in the page:\n{text[:1500]}")
    return int(found[1])


def take_pictures(url: str, out: Path, database_url: str, demo: DemoFacts) -> list[Picture]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{url}/asset-groups")
            dismiss_first_visit_dialog(page, "warehouse")
            shooter = Shooter(page, url, out, database_url, demo)
            shooter.ensure_chart_day_run()
            steps: list[tuple[str, Callable[[], Picture]]] = [
                ("the asset graph", shooter.asset_graph),
                ("the partitions tab", shooter.partitions),
                ("the coverage heatmap", shooter.heatmap),
                ("the checks tab", shooter.checks),
                ("the price chart", shooter.price_chart),
            ]
            pictures = []
            for i, (what, step) in enumerate(steps, 1):
                start = time.monotonic()
                picture = step()
                took = time.monotonic() - start
                say(f"[{i}/{len(steps)}] {what}: {picture.name} ({took:.1f}s)")
                pictures.append(picture)
            return pictures
        finally:
            browser.close()


def write_facts(path: Path, demo: DemoFacts, pictures: list[Picture]) -> None:
    facts = {
        "produced_by": "make screenshots (python -m market_data_local.screenshots)",
        "demo": demo.as_json(),
        "pictures": {p.name: p.as_json() for p in pictures},
    }
    path.write_text(json.dumps(facts, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m market_data_local.screenshots",
        description="README's pictures of the UI, from the demo's own state, into docs/",
    )
    parser.add_argument("--docs", type=Path, default=DOCS, help="where to write them (docs/)")
    args = parser.parse_args(argv)
    # SIGTERM (a supervisor, `kill`) ends the run the way Ctrl-C does: the UI is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    start = time.monotonic()
    try:
        require_the_embedded_default()
        say(f"MARKET_DATA_HOME {settings.home()}")
        from market_data_local.embedded import ensure_embedded_database

        database_url = ensure_embedded_database()
        demo = ensure_the_demo(database_url)
        with (
            tempfile.TemporaryDirectory(prefix="screenshots-") as scratch,
            running_ui() as url,
        ):
            pictures = take_pictures(url, Path(scratch), database_url, demo)
            demo = read_demo_facts(database_url)  # after the one-day run
            # All or nothing: docs/ keeps its pictures and facts unless every picture was taken.
            args.docs.mkdir(parents=True, exist_ok=True)
            for picture in pictures:
                shutil.move(os.path.join(scratch, picture.name), args.docs / picture.name)
            write_facts(args.docs / FACTS, demo, pictures)
    except (ScreenshotError, PageDidNotRender) as error:
        print(f"make screenshots: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("make screenshots: interrupted; the UI was stopped", file=sys.stderr)
        return 130
    took = time.monotonic() - start
    names = ", ".join(p.name for p in pictures)
    say(f"wrote {names} and {FACTS} to {args.docs} in {took:.0f}s")
    say("the embedded servers keep running, as the demo leaves them: make stop stops them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
