"""The demo's corporate actions, and Massive's reference data that tells of them.

Inside the demo's weeks (2025-10-27 … 2025-11-30) the generated stocks files carry:

- NVDA's 4-for-1 forward split, executed 2025-11-10: before it the files' NVDA prices are
  4 times, its volumes a quarter of, the split-adjusted series;
- NA's 1-for-5 reverse split, executed 2025-11-18: before it the prices are a fifth (on
  4 decimals, as prices under a dollar are), the volumes 5 times;
- META's rename: the files name it FB until 2025-11-13 and META from 2025-11-14 on (no
  META rows before, no FB rows after);
- cash dividends with ex-dates inside the weeks: NVDA 0.04 (2025-11-05, before its split:
  0.01 on today's shares), AAPL 0.26 (2025-11-10), MSFT 0.91 (2025-11-20). Dividends do
  not change the files (they are unadjusted, like Massive's).

``demo_price_factor`` says what the files' prices are relative to the split-adjusted
series, ``demo_file_ticker`` which ticker a stock has in a day's file;
``demo_reference.demo_reference()`` is the same facts as Massive's endpoints list them,
for the local REST server. The facts are fixed (nothing depends on today), so the files and the
reference data agree whenever they are generated.

Identifiers: AAPL's and META's FIGIs and CIKs are those of Massive's published examples;
the other stocks' are made-up demo values (``BBG…DEMO…``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

DEMO_API_KEY = "demo-rest-key"
"""The key of the demo's REST server: not a secret, it serves generated data only."""


@dataclass(frozen=True)
class DemoSplit:
    """``split_from`` shares became ``split_to`` at the start of ``execution_date``."""

    ticker: str
    execution_date: date
    split_from: int
    split_to: int


@dataclass(frozen=True)
class DemoRename:
    """``symbol`` traded as ``former`` until the day before ``changed``."""

    symbol: str
    former: str
    changed: date


@dataclass(frozen=True)
class DemoDividend:
    ticker: str
    ex_dividend_date: date
    cash_amount: float  # on the shares of the ex-date, as Massive gives it
    declaration_date: date
    pay_date: date


@dataclass(frozen=True)
class DemoSecurity:
    ticker: str  # today's
    name: str
    kind: str  # Massive's type: CS (common stock), ETF
    exchange: str
    list_date: date
    composite_figi: str
    share_class_figi: str
    cik: str


DEMO_SPLITS = (
    DemoSplit("NVDA", date(2025, 11, 10), 1, 4),
    DemoSplit("NA", date(2025, 11, 18), 5, 1),
)
DEMO_RENAMES = (DemoRename("META", "FB", date(2025, 11, 14)),)
DEMO_DIVIDENDS = (
    DemoDividend("NVDA", date(2025, 11, 5), 0.04, date(2025, 10, 22), date(2025, 11, 26)),
    DemoDividend("AAPL", date(2025, 11, 10), 0.26, date(2025, 10, 30), date(2025, 11, 13)),
    DemoDividend("MSFT", date(2025, 11, 20), 0.91, date(2025, 9, 15), date(2025, 12, 11)),
)


def _demo_figi(kind: str, ticker: str) -> str:
    return "BBG" + f"{kind}{ticker}".rjust(9, "0")


def _demo_cik(ticker: str) -> str:
    digest = hashlib.blake2b(ticker.encode(), digest_size=8).digest()
    return f"{int.from_bytes(digest, 'little') % 10**9 + 10**9:010d}"


def _security(
    ticker: str, name: str, kind: str, exchange: str, listed: date, ids: tuple[str, str, str] | None
) -> DemoSecurity:
    figi, share_class, cik = ids or (
        _demo_figi("DEMO", ticker),
        _demo_figi("DEMOS", ticker),
        _demo_cik(ticker),
    )
    return DemoSecurity(ticker, name, kind, exchange, listed, figi, share_class, cik)


DEMO_SECURITIES = (
    _security("SPY", "SPDR S&P 500 ETF Trust", "ETF", "ARCX", date(1993, 1, 29), None),
    _security("QQQ", "Invesco QQQ Trust, Series 1", "ETF", "XNAS", date(1999, 3, 10), None),
    _security(
        "AAPL",
        "Apple Inc.",
        "CS",
        "XNAS",
        date(1980, 12, 12),
        ("BBG000B9XRY4", "BBG001S5N8V8", "0000320193"),
    ),
    _security("MSFT", "Microsoft Corp", "CS", "XNAS", date(1986, 3, 13), None),
    _security("NVDA", "Nvidia Corp", "CS", "XNAS", date(1999, 1, 22), None),
    _security("IWM", "iShares Russell 2000 ETF", "ETF", "ARCX", date(2000, 5, 26), None),
    _security("NA", "Nano Labs Ltd", "CS", "XNAS", date(2022, 7, 12), None),
    _security(
        "META",
        "Meta Platforms, Inc. Class A Common Stock",
        "CS",
        "XNAS",
        date(2012, 5, 18),
        ("BBG000MM2P62", _demo_figi("DEMOS", "META"), "0001326801"),
    ),
)


def demo_price_factor(symbol: str, day: date) -> float:
    """What the generated files' prices of ``symbol`` (today's ticker) on ``day`` are,
    relative to its split-adjusted series: the product of ``split_to / split_from`` over
    its splits executed after ``day`` (NVDA before 2025-11-10: 4.0). Volumes are divided
    by it."""
    factor = 1.0
    for split in DEMO_SPLITS:
        if split.ticker == symbol and split.execution_date > day:
            factor *= split.split_to / split.split_from
    return factor


def demo_file_ticker(symbol: str, day: date) -> str:
    """The ticker ``symbol`` (today's) has in the files of ``day`` (META before
    2025-11-14: FB)."""
    for rename in DEMO_RENAMES:
        if rename.symbol == symbol and day < rename.changed:
            return rename.former
    return symbol
