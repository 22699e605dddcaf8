"""The ``market-data`` command line. Every command that changes data runs through Dagster,
so its runs are in the instance's history and the UI shows them."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from datetime import date, timedelta

from market_data import settings
from market_data.calendar import parse_day, today_in_new_york

log = logging.getLogger("market_data")


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _symbols(text: str) -> list[str]:
    from market_data.datasets import InvalidSymbolError, normalize_symbol

    try:
        return [normalize_symbol(s) for s in text.split(",") if s.strip()]
    except InvalidSymbolError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def resolve_range(start: date | None, end: date | None, days: int | None) -> tuple[date, date]:
    """``--start/--end``, or the last ``--days`` days up to yesterday (New York)."""
    if start is None and days is None:
        raise ValueError("give --start (and --end) or --days")
    end = end or today_in_new_york() - timedelta(days=1)
    start = start or end - timedelta(days=days - 1)
    if start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    return start, end


def run_chain(start: date, end: date, tags: dict[str, str] | None = None) -> bool:
    """Materialize ``*historical_bars`` for the days as one Dagster run."""
    from market_data.definitions import defs
    from market_data.instance import get_instance

    instance = get_instance()
    job = defs.resolve_job_def("historical_bars_job")
    run_tags = {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
        **(tags or {}),
    }
    print(f"materializing *historical_bars for {start} … {end} ({(end - start).days + 1} days)")
    result = job.execute_in_process(
        instance=instance,
        tags=run_tags,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        raise_on_error=False,
    )
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_key:
                error = event.event_specific_data.error  # type: ignore[union-attr]
                while error.cause is not None:  # the project's own error, not Dagster's wrapper
                    error = error.cause
                print(f"  {event.step_key}: {error.message.strip()}", file=sys.stderr)
    return result.success


def print_table_summary() -> None:
    from market_data.defs.resources import resources_from_env

    query = (
        "SELECT symbol, timeframe, COUNT(*) as rows, MIN(to_timestamp(timestamp/1000)) as oldest_date,"
        " MAX(to_timestamp(timestamp/1000)) as newest_date FROM historical_bars"
        " GROUP BY symbol, timeframe ORDER BY symbol, timeframe"
    )
    warehouse = resources_from_env()["warehouse"]
    with warehouse.connection() as conn:
        rows = conn.execute(query).fetchall()
        options = conn.execute(
            "SELECT underlying, COUNT(DISTINCT symbol), COUNT(*) FROM historical_bars"
            " WHERE dataset = 'options' GROUP BY underlying ORDER BY underlying"
        ).fetchall()
    stock_rows = [r for r in rows if not r[0].startswith("O:")]
    print(
        f"\n{'symbol':<10}{'timeframe':<10}{'rows':>9}  {'oldest bar (UTC)':<26}{'newest bar (UTC)'}"
    )
    for symbol, timeframe, count, oldest, newest in stock_rows:
        print(
            f"{symbol:<10}{timeframe:<10}{count:>9,}  {oldest:%Y-%m-%d %H:%M:%S%z}  "
            f"{newest:%Y-%m-%d %H:%M:%S%z}"
        )
    for underlying, contracts, count in options:
        print(f"{underlying} options: {contracts:,} contracts, {count:,} bars")


def cmd_demo(args: argparse.Namespace) -> int:
    from market_data.defs.resources import resources_from_env
    from market_data.local.demo_source import DEMO_END, DEMO_START
    from market_data.warehouse.watchlist import add_to_watchlist

    warehouse = resources_from_env()["warehouse"]
    with warehouse.connection() as conn:
        for symbol, options in (("SPX", False), ("NDX", False), ("SPY", True), ("QQQ", False)):
            add_to_watchlist(conn, symbol, include_options=options)
    print("watchlist: SPX, NDX, SPY (with options), QQQ")
    ok = run_chain(DEMO_START, DEMO_END)
    print_table_summary()
    print("\nOpen the UI with: market-data ui")
    return 0 if ok else 1


def cmd_backfill(args: argparse.Namespace) -> int:
    start, end = resolve_range(args.start, args.end, args.days)
    return 0 if run_chain(start, end, {"market_data/symbols": ",".join(args.symbols)}) else 1


def cmd_ui(args: argparse.Namespace) -> int:
    """Dagster webserver and daemon on the project's workspace and PostgreSQL instance."""
    import os
    import signal
    import socket
    import subprocess
    import time
    from pathlib import Path

    from market_data.instance import prepare_dagster_home

    with socket.socket() as probe:
        if probe.connect_ex((args.host, args.port)) == 0:
            print(
                f"market-data ui: port {args.port} on {args.host} is taken; use --port",
                file=sys.stderr,
            )
            return 1
    prepare_dagster_home()
    workspace = str(Path(__file__).resolve().parents[1] / "workspace.yaml")
    bindir = Path(sys.executable).parent
    commands = [
        [str(bindir / "dagster-webserver"), "-w", workspace, "-h", args.host, "-p", str(args.port)],
        [str(bindir / "dagster-daemon"), "run", "-w", workspace],
    ]
    processes = [
        subprocess.Popen(c, env=os.environ.copy(), start_new_session=True) for c in commands
    ]
    print(f"Dagster UI: http://{args.host}:{args.port}  (Ctrl-C stops webserver and daemon)")
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("market-data ui: a Dagster process exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="market-data", description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="embedded default end to end: local PostgreSQL, local S3, generated days"
    )
    demo.set_defaults(func=cmd_demo)

    backfill = commands.add_parser("backfill", help="load the given symbols for a range of days")
    backfill.add_argument("--symbols", type=_symbols, required=True, help="e.g. SPX,NDX,SPY")
    backfill.add_argument("--days", type=int, help="the last N days up to yesterday")
    backfill.add_argument("--start", "--startDate", type=_day, help="first day, YYYY-MM-DD")
    backfill.add_argument("--end", "--endDate", type=_day, help="last day, YYYY-MM-DD")
    backfill.set_defaults(func=cmd_backfill)

    ui = commands.add_parser("ui", help="Dagster webserver + daemon on the project's instance")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ui.add_argument("--port", type=int, default=3000, help="port to listen on")
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("market_data").setLevel(level)
    if not args.verbose:
        from dagster import BetaWarning, PreviewWarning

        warnings.filterwarnings("ignore", category=BetaWarning)
        warnings.filterwarnings("ignore", category=PreviewWarning)
    settings.load_env_file()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for people; --verbose for the traceback
        if args.verbose:
            raise
        print(f"market-data {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
