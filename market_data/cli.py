"""The ``market-data`` command line: the existing deployments' commands, kept by name.

Every command that changes data runs as a Dagster run on the project's instance, so
it shows in the UI's history, and shows its progress here (``terminal.RunProgress``):
a bar per step on a terminal, one line per day in a pipe. A failure ends with a
one-line reason per failed step and exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from market_data import settings
from market_data.calendar import parse_day, today_in_new_york
from market_data.errors import ConfigurationError
from market_data.run_tags import FETCH_TAG, RANGE_END_TAG, RANGE_START_TAG, SYMBOLS_TAG

if TYPE_CHECKING:
    from market_data.defs.resources import WarehouseResource

log = logging.getLogger("market_data")

DEMO_WATCHLIST = (
    ("SPX", False),
    ("NDX", False),
    ("SPY", True),
    ("QQQ", False),
    # The demo's corporate actions (local/demo_reference.py): NVDA's 4-for-1 split of
    # 2025-11-10, AAPL's dividend, META traded as FB until 2025-11-13.
    ("NVDA", False),
    ("AAPL", False),
    ("META", False),
)


# The commands that read or write data: without DATABASE_URL or Massive's credentials they
# start the embedded servers first (and leave them running for the UI and the next command).
USES_THE_SERVERS = frozenset(
    {"download", "parse", "backfill", "backfill-watchlist", "verify", "cleanup", "demo", "ui"}
)


# What `market-data --help` opens with: for a person at a terminal, not the module's docstring.
HELP = """\
Keeps 1-minute bars from Massive.com's flat files complete and fresh in PostgreSQL.

Each command that changes data runs through Dagster (it shows in the UI's history) and
shows a progress bar per step; in a pipe or a log, one line per day. A failed step
ends with one line saying why, and exit status 1.

With no DATABASE_URL and no Massive credentials, the commands start a local PostgreSQL
and a local S3 server holding generated day files under MARKET_DATA_HOME (./.market_data)
and leave them running for the UI; `market-data stop` stops them.
"""


class UsageError(ConfigurationError):
    """Bad command-line input, reported as one line."""


def _day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _symbols(text: str) -> list[str]:
    from market_data.datasets import InvalidSymbolError, normalize_symbol

    try:
        symbols = [normalize_symbol(s) for s in text.split(",") if s.strip()]
    except InvalidSymbolError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not symbols:
        raise argparse.ArgumentTypeError("no symbols given")
    return symbols


def _symbol(text: str) -> str:
    symbols = _symbols(text)
    if len(symbols) != 1:
        raise argparse.ArgumentTypeError("one symbol")
    return symbols[0]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def resolve_range(
    start: date | None, end: date | None, days: int | None, *, until_today: bool = False
) -> tuple[date, date]:
    """``--start/--end``, or the last ``--days`` days up to yesterday (New York)."""
    today = today_in_new_york()
    if start is None and days is None:
        raise UsageError("give --start (and --end) or --days")
    end = end or (today if until_today else today - timedelta(days=1))
    start = start or end - timedelta(days=days - 1)  # type: ignore[operator]
    first = settings.start_date()
    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    if start < first:
        raise UsageError(
            f"--start {start} is before the first partition, {first} (MARKET_DATA_START_DATE)"
        )
    if end > today:
        raise UsageError(f"--end {end} is in the future (today is {today} in New York)")
    return start, end


def _error_text(event: Any) -> str:
    error = event.event_specific_data.error
    # Dagster wraps the project's own error (which names the day and the object) once.
    # A Dagster SerializableErrorInfo: its message is a str.
    return cast(str, (error.cause or error).message.strip())


def run_job(
    job_name: str,
    *,
    days: tuple[date, date] | None = None,
    tags: dict[str, str] | None = None,
    assets: list[str] | None = None,
    run_config: dict[str, Any] | None = None,
) -> bool:
    """Execute one of the project's jobs as a run on the instance; True on success."""
    from dagster import AssetKey

    from market_data.definitions import defs
    from market_data.instance import get_instance
    from market_data.terminal import RunProgress

    run_tags = dict(tags or {})
    if days:
        start, end = days
        run_tags |= {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
        print(f"{job_name}: {start} … {end} ({(end - start).days + 1} days)")
    # --verbose: Dagster's own log lines; otherwise a bar per step (plain lines in a pipe).
    verbose = log.isEnabledFor(logging.DEBUG)
    instance = get_instance()
    progress = RunProgress(live=False if verbose else None)
    if not verbose:
        progress.listen(instance)
    console_level = "DEBUG" if verbose else "CRITICAL"
    with progress:
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance,
            run_id=progress.run_id,
            tags=run_tags,
            asset_selection=[AssetKey(a) for a in assets] if assets else None,
            run_config={"loggers": {"console": {"config": {"log_level": console_level}}}}
            | (run_config or {}),
            raise_on_error=False,
        )
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    for event in result.all_events:
        if event.is_step_failure and event.step_key:
            print(f"  {event.step_key}: {_error_text(event)}", file=sys.stderr)
    return result.success


def _datasets(name: str) -> list[str]:
    """``all`` is the US datasets; crypto and forex are asked for by name."""
    from market_data.datasets import DATASETS, get_dataset

    return list(DATASETS) if name == "all" else [get_dataset(name).name]


# Crypto and forex days are UTC days: their assets run in their own job.
UTC_JOB = "historical_bars_utc_job"


def _on_utc_days(dataset: str) -> bool:
    from market_data.datasets import UTC_DATASETS

    return dataset in UTC_DATASETS


def _are_pairs(symbols: list[str]) -> tuple[list[str], list[str]]:
    """The symbols split into US ones and crypto/forex pairs."""
    from market_data.datasets import is_pair

    pairs = [s for s in symbols if is_pair(s)]
    return [s for s in symbols if s not in pairs], pairs


def _warehouse() -> WarehouseResource:
    """The warehouse for direct reads (outside a run, EnvVars are not resolved)."""
    from market_data.defs.resources import direct_warehouse

    return direct_warehouse()


def cmd_download(args: argparse.Namespace) -> int:
    days = resolve_range(args.start, args.end, args.days)
    names = _datasets(args.dataset)
    # Asked for by name, a dataset's files are landed even if no watchlist symbol reads it.
    tags = {FETCH_TAG: "all"}
    ok = True
    for job, chosen in (
        ("day_files_job", [d for d in names if not _on_utc_days(d)]),
        (UTC_JOB, [d for d in names if _on_utc_days(d)]),
    ):
        if chosen:
            assets = [f"{d}_day_file" for d in chosen]
            ok &= run_job(job, days=days, tags=tags, assets=assets)
    return 0 if ok else 1


def _landed_days(dataset: str) -> tuple[date, date]:
    """The first and last day with a landed file, for ``parse`` without dates."""
    from market_data.datasets import get_dataset
    from market_data.defs.resources import FlatFilesResource

    description = get_dataset(dataset)
    root = FlatFilesResource().landing_root() / description.prefix / description.table
    days = sorted(parse_day(p.name[:10]) for p in root.rglob("*.csv.gz"))
    if not days:
        raise UsageError(f"no landed {dataset} files under {root}: run market-data download first")
    return days[0], days[-1]


def cmd_parse(args: argparse.Namespace) -> int:
    ok = True
    for dataset in _datasets(args.dataset):
        if args.start or args.days:
            days = resolve_range(args.start, args.end, args.days)
        else:
            days = _landed_days(dataset)
        tags = {SYMBOLS_TAG: ",".join(args.symbols)} if args.symbols else {}
        job = UTC_JOB if _on_utc_days(dataset) else "bars_job"
        ok &= run_job(job, days=days, tags=tags, assets=[f"{dataset}_bars"])
    return 0 if ok else 1


def cmd_backfill(args: argparse.Namespace) -> int:
    days = resolve_range(args.start, args.end, args.days)
    us, pairs = _are_pairs(args.symbols)
    ok = True
    for job, symbols in (("historical_bars_job", us), (UTC_JOB, pairs)):
        if symbols:
            ok &= run_job(job, days=days, tags={SYMBOLS_TAG: ",".join(symbols)})
    return 0 if ok else 1


def cmd_backfill_watchlist(args: argparse.Namespace) -> int:
    from market_data.warehouse.watchlist import read_watchlist

    with _warehouse().connection() as conn:
        watchlist = read_watchlist(conn)
    if not watchlist.entries:
        raise UsageError("the watchlist is empty: INSERT INTO watchlist(symbol) VALUES ('SPX')")
    print(f"watchlist: {', '.join(watchlist.symbols)}")
    days = resolve_range(args.start, args.end, args.days)
    us, pairs = _are_pairs(watchlist.symbols)
    ok = True
    if us:
        ok &= run_job("historical_bars_job", days=days)
    if pairs:
        ok &= run_job(UTC_JOB, days=days)
    if ok and args.cleanup:
        ok = _cleanup(args.retention_days)
    return 0 if ok else 1


def _cleanup(days: int) -> bool:
    config = {"ops": {"prune_old_data": {"config": {"days": days}}}}
    print(f"retention: removing data older than {days} days")
    return run_job("retention_job", run_config=config)


def cmd_cleanup(args: argparse.Namespace) -> int:
    return 0 if _cleanup(args.days) else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from market_data.reports.verify import print_report

    if args.adjusted:
        return _verify_adjusted(args)
    with _warehouse().connection() as conn:
        return print_report(conn, symbols=args.symbols, sessions=args.days, plot=args.plot)


def _verify_adjusted(args: argparse.Namespace) -> int:
    """Our split-adjusted minutes against Massive's ``adjusted=true`` ones."""
    from market_data.reports.against_massive import compare_adjusted
    from market_data.reports.verify import print_adjusted_comparison
    from market_data.sources.rest import RestAggregates

    api_key = settings.massive_api_key()
    if not api_key:
        print("market-data verify: --adjusted asks Massive's REST API; set MASSIVE_API_KEY")
        return 2
    end = args.end or today_in_new_york() - timedelta(days=1)
    start = args.start or end - timedelta(days=args.days - 1)
    client = RestAggregates(
        settings.massive_api_base_url(), api_key, settings.rest_requests_per_minute()
    )
    try:
        comparison = compare_adjusted(client, args.adjusted, start, end, _warehouse().url())
    except ValueError as error:
        print(f"market-data verify: {error}")
        return 2
    return 0 if print_adjusted_comparison(comparison) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from market_data.embedded import demo_days
    from market_data.reports.verify import print_row_counts
    from market_data.warehouse.watchlist import add_to_watchlist

    with _warehouse().connection() as conn:
        for symbol, options in DEMO_WATCHLIST:
            add_to_watchlist(conn, symbol, include_options=options)
    print("watchlist: SPX, NDX, SPY (with options), QQQ, NVDA, AAPL, META")
    # Corporate actions first: the load then knows META's days as FB.
    ok = run_job("corporate_actions_job")
    ok = run_job("historical_bars_job", days=demo_days()) and ok
    with _warehouse().connection() as conn:
        print_row_counts(conn)
    if ok:
        _print_adjusted_series(_warehouse().url())
    _print_what_is_left_running()
    return 0 if ok else 1


def _print_adjusted_series(database_url: str) -> None:
    """NVDA's daily closes across its split, as stored and split-adjusted
    (docs/corporate-actions.md)."""
    from market_data.read import bars
    from market_data.terminal import console, table

    first, last = date(2025, 11, 5), date(2025, 11, 12)
    raw = bars("NVDA", first, last, timeframe="1d", session="regular", database_url=database_url)
    adjusted = bars(
        "NVDA",
        first,
        last,
        timeframe="1d",
        session="regular",
        adjust="splits",
        database_url=database_url,
    )
    series = table(
        "NVDA, regular session",
        "close as stored",
        "adjust='splits'",
        right=("close as stored", "adjust='splits'"),
    )
    for stamp, stored, split_adjusted in zip(
        raw["timestamp"], raw["close"], adjusted["close"], strict=True
    ):
        series.add_row(f"{stamp:%Y-%m-%d}", f"{stored:,.2f}", f"{split_adjusted:,.2f}")
    console().print(series)
    print("NVDA split 4-for-1 on 2025-11-10: market_data.read.bars(..., adjust='splits')")


def _own_command() -> str:
    """How to type ``market-data`` here: the bare name if PATH finds this one, else its path."""
    import shutil

    script = Path(sys.executable).parent / "market-data"
    if shutil.which("market-data") == str(script):
        return "market-data"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _print_what_is_left_running() -> None:
    """The demo's last lines: where to look next, and what still runs and how to stop it."""
    from market_data.embedded import running_embedded

    command = _own_command()
    print(f"\nOpen the UI:  {command} ui     (or: make ui)")
    running = running_embedded()
    if running:
        print("Still running, for the UI and the next commands: " + "; ".join(running))
        print(f"Stop them:    {command} stop   (or: make stop)")


def cmd_stop(args: argparse.Namespace) -> int:
    from market_data.embedded import stop_embedded

    stopped = stop_embedded()
    print("stopped: " + "; ".join(stopped) if stopped else "no embedded server was running")
    return 0


def cmd_alerts_test(args: argparse.Namespace) -> int:
    from market_data.alerts.channels import channels_from_settings
    from market_data.alerts.delivery import send_trial

    channels = channels_from_settings()
    if not channels:
        print(
            "no alert channel configured: set MARKET_DATA_ALERT_WEBHOOK_URL, "
            "MARKET_DATA_ALERT_SLACK_TOKEN + _CHANNEL or MARKET_DATA_ALERT_SMTP_URL + "
            "MARKET_DATA_ALERT_EMAIL_TO (README, Alerts)",
            file=sys.stderr,
        )
        return 1
    results = send_trial(channels, settings.ui_url())
    for where, reason in results:
        print(f"{where}: {reason or 'delivered'}")
    return 1 if any(reason for _, reason in results) else 0


def _read_command(command: str, args: argparse.Namespace, read: Any) -> int:
    """A read (not a Dagster run) written as CSV or Parquet: ``read(database_url)`` gives
    the table; a bad request is one line and exit 2."""
    from market_data.corporate_actions.adjust import AdjustmentWarning
    from market_data.read.export import FORMATS, write_bars

    if args.format not in FORMATS:
        print(
            f"market-data {command}: --format must be csv or parquet, not {args.format!r}",
            file=sys.stderr,
        )
        return 2
    url = settings.read_database_url()
    if url is None:  # the embedded cluster alone: a read needs no S3 server
        from market_data.embedded import ensure_embedded_database

        url = ensure_embedded_database()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AdjustmentWarning)
            table = read(url)
    except ValueError as error:
        print(f"market-data {command}: {error}", file=sys.stderr)
        return 2
    for warning in caught:  # a corporate action that could not be applied: one line each
        print(f"market-data {command}: warning: {warning.message}", file=sys.stderr)
    if args.output:
        with open(args.output, "wb") as sink:
            write_bars(table, sink, args.format)
    else:
        write_bars(table, sys.stdout.buffer, args.format)
        sys.stdout.buffer.flush()
    return 0


def cmd_bars(args: argparse.Namespace) -> int:
    """Bars to CSV or Parquet."""
    from market_data.read import bars_arrow

    return _read_command(
        "bars",
        args,
        lambda url: bars_arrow(
            args.symbols,
            args.start,
            args.end,
            timeframe=args.timeframe,
            session=args.session,
            adjust=args.adjust,
            database_url=url,
        ),
    )


def cmd_greeks(args: argparse.Namespace) -> int:
    """Option bars with implied volatility and greeks, to CSV or Parquet."""
    from market_data.read import option_greeks_arrow

    return _read_command(
        "greeks",
        args,
        lambda url: option_greeks_arrow(
            args.underlying,
            args.start,
            args.end,
            expiration=args.expiration,
            right=args.right,
            strike=args.strike,
            timeframe=args.timeframe,
            session=args.session,
            rate=args.rate,
            database_url=url,
        ),
    )


def cmd_chain(args: argparse.Namespace) -> int:
    """Every contract's last bar ended by ``--at``, with implied volatility and greeks."""
    from market_data.read import option_chain_arrow

    return _read_command(
        "chain",
        args,
        lambda url: option_chain_arrow(
            args.underlying,
            args.at,
            expiration=args.expiration,
            right=args.right,
            strike=args.strike,
            session=args.session,
            rate=args.rate,
            database_url=url,
        ),
    )


def cmd_ui(args: argparse.Namespace) -> int:
    from market_data.ui import serve

    return serve(args.host, args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="market-data", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging and tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_range(p: argparse.ArgumentParser, what: str = "days") -> None:
        p.add_argument("--start", "--startDate", type=_day, help=f"first of the {what}, YYYY-MM-DD")
        p.add_argument(
            "--end",
            "--endDate",
            type=_day,
            help="last day, YYYY-MM-DD (default: yesterday, New York)",
        )
        p.add_argument("--days", type=_positive, help="the last N days up to --end")

    dataset_help = "indices, stocks, options, crypto, forex, or all (the US ones)"
    download = commands.add_parser("download", help="download day files into the landing area")
    download.add_argument("--dataset", default="all", help=dataset_help)
    add_range(download)
    download.set_defaults(func=cmd_download)

    parse = commands.add_parser("parse", help="parse landed day files into Parquet bars")
    parse.add_argument("--dataset", default="all", help=dataset_help)
    parse.add_argument("--symbols", type=_symbols, help="only these symbols (default: watchlist)")
    add_range(parse)
    parse.set_defaults(func=cmd_parse)

    backfill = commands.add_parser(
        "backfill", help="hybrid backfill of symbols: flat files, REST for recent days"
    )
    backfill.add_argument("--symbols", type=_symbols, required=True, help="e.g. SPX,NDX,SPY")
    add_range(backfill)
    backfill.set_defaults(func=cmd_backfill)

    watch = commands.add_parser("backfill-watchlist", help="backfill every watchlist symbol")
    add_range(watch)
    watch.add_argument("--cleanup", action="store_true", help="run retention afterwards")
    watch.add_argument(
        "--retention-days",
        type=_positive,
        default=365,
        help="retention for --cleanup (default 365)",
    )
    watch.set_defaults(func=cmd_backfill_watchlist)

    verify = commands.add_parser("verify", help="row counts and bars per day against the calendar")
    verify.add_argument("--symbols", type=_symbols, help="only these symbols")
    verify.add_argument("--days", type=_positive, default=10, help="sessions to show (default 10)")
    verify.add_argument(
        "--adjusted",
        type=_symbol,
        metavar="SYMBOL",
        help="compare SYMBOL's split-adjusted minutes of --start … --end with Massive's own",
    )
    verify.add_argument("--start", type=_day, help="with --adjusted: first day, YYYY-MM-DD")
    verify.add_argument("--end", type=_day, help="with --adjusted: last day (default yesterday)")
    verify.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="write the coverage heatmap PNG here (default: MARKET_DATA_HOME/reports/coverage.png)",
    )
    verify.set_defaults(func=cmd_verify)

    cleanup = commands.add_parser("cleanup", help="retention: remove data older than N days")
    cleanup.add_argument("--days", type=_positive, default=365, help="keep this many days")
    cleanup.set_defaults(func=cmd_cleanup)

    demo = commands.add_parser(
        "demo", help="embedded default end to end: local PostgreSQL, local S3, generated days"
    )
    demo.set_defaults(func=cmd_demo)

    ui = commands.add_parser("ui", help="Dagster webserver + daemon on the project's instance")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on")
    ui.add_argument("--port", type=int, default=3000, help="port to listen on")
    ui.set_defaults(func=cmd_ui)

    read = commands.add_parser("bars", help="read bars: any timeframe and session, CSV or Parquet")
    read.add_argument("--symbols", required=True, help="e.g. SPY,SPX or an OCC option ticker")
    read.add_argument("--start", required=True, help="first day, YYYY-MM-DD (New York)")
    read.add_argument("--end", required=True, help="last day, YYYY-MM-DD (inclusive)")
    read.add_argument("--timeframe", default="1min", help="1min, 5min, 15min, 30min, 1h or 1d")
    read.add_argument("--session", default="all", help="regular, extended or all")
    read.add_argument("--adjust", default="none", help="none, splits or all")
    read.add_argument("--format", default="csv", help="csv (default) or parquet")
    read.add_argument("--output", help="file to write (default: standard output)")
    read.set_defaults(func=cmd_bars)

    def add_option_filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--underlying", required=True, help="e.g. SPY or SPX (SPXW included)")
        p.add_argument("--expiration", help="only this expiration, YYYY-MM-DD")
        p.add_argument("--right", help="call or put (the forward still uses both)")
        p.add_argument("--strike", help="only this strike")
        p.add_argument("--session", default="all", help="regular, extended or all")
        p.add_argument(
            "--rate", type=float, help="risk-free rate, e.g. 0.04 (MARKET_DATA_RISK_FREE_RATE)"
        )
        p.add_argument("--format", default="csv", help="csv (default) or parquet")
        p.add_argument("--output", help="file to write (default: standard output)")

    greeks = commands.add_parser(
        "greeks", help="option bars with implied volatility and greeks, CSV or Parquet"
    )
    greeks.add_argument("--start", required=True, help="first day, YYYY-MM-DD (New York)")
    greeks.add_argument("--end", required=True, help="last day, YYYY-MM-DD (inclusive)")
    greeks.add_argument("--timeframe", default="1min", help="1min, 5min, 15min, 30min, 1h or 1d")
    add_option_filters(greeks)
    greeks.set_defaults(func=cmd_greeks)

    chain = commands.add_parser(
        "chain", help="every contract's last bar ended by --at, with implied volatility and greeks"
    )
    chain.add_argument(
        "--at",
        required=True,
        help="an instant, e.g. 2025-01-02T15:30:00-05:00 (New York if no offset)",
    )
    add_option_filters(chain)
    chain.set_defaults(func=cmd_chain)

    alerts = commands.add_parser("alerts", help="alert channels (README, Alerts)")
    alert_commands = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    alert_commands.add_parser(
        "test", help="send a test alert to every configured channel; exit 1 if one fails"
    ).set_defaults(func=cmd_alerts_test)

    stop = commands.add_parser(
        "stop", help="stop the embedded PostgreSQL and S3 servers that demo and ui leave running"
    )
    stop.set_defaults(func=cmd_stop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("market_data").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:
        from dagster import BetaWarning, PreviewWarning

        warnings.filterwarnings("ignore", category=BetaWarning)
        warnings.filterwarnings("ignore", category=PreviewWarning)
    settings.load_env_file()
    try:
        if args.command in USES_THE_SERVERS:
            from market_data.embedded import start_embedded

            start_embedded()  # whichever of them the settings leave to the embedded default
        # Every subcommand's func is a cmd_* function: it returns the exit status.
        return cast(int, args.func(args))
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
