"""OCC option tickers: SPXW weeklies, numeric roots of adjusted contracts, class shares."""

from __future__ import annotations

from datetime import date

import pytest

from market_data.read import parse_occ
from market_data.read.occ import option_roots_of


@pytest.mark.parametrize(
    ("ticker", "root", "underlying", "expiration", "right", "strike"),
    [
        ("O:SPXW251121C06000000", "SPXW", "SPX", date(2025, 11, 21), "call", 6000.0),
        ("O:SPY251128P00655500", "SPY", "SPY", date(2025, 11, 28), "put", 655.5),
        ("O:AMC2260116C00002500", "AMC2", "AMC", date(2026, 1, 16), "call", 2.5),
        ("O:BRKB261218P00480000", "BRKB", "BRK.B", date(2026, 12, 18), "put", 480.0),
        ("O:F251219C00012000", "F", "F", date(2025, 12, 19), "call", 12.0),
        ("O:NDXP251231P21000000", "NDXP", "NDX", date(2025, 12, 31), "put", 21000.0),
        ("o:spxw251121c06000000", "SPXW", "SPX", date(2025, 11, 21), "call", 6000.0),
    ],
)
def test_parses_occ_tickers(ticker, root, underlying, expiration, right, strike):
    contract = parse_occ(ticker)
    assert (contract.root, contract.underlying, contract.expiration) == (
        root,
        underlying,
        expiration,
    )
    assert (contract.right, contract.strike) == (right, strike)


def test_a_class_share_finds_its_dotless_occ_root():
    assert option_roots_of("BRK.B") == {"BRK.B", "BRKB"}
    assert option_roots_of("SPY") == {"SPY"}


@pytest.mark.parametrize(
    "ticker",
    [
        "SPXW251121C06000000",
        "O:SPXW251121X06000000",
        "O:SPXW251321C06000000",
        "O:SPXW251121C0600000",
        "O:",
    ],
)
def test_malformed_tickers_are_value_errors(ticker):
    with pytest.raises(ValueError, match=r"OCC|expiration"):
        parse_occ(ticker)
