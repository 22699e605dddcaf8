"""Reading bars: ``bars``, ``bars_arrow``, ``option_bars`` (docs/reading.md), and
option analytics: ``option_greeks``, ``option_chain`` (docs/options.md).

from market_data.read import bars
df = bars(["SPY", "SPX"], "2025-01-02", "2025-03-31", timeframe="5min", session="regular")
"""

from market_data.corporate_actions.adjust import ADJUSTMENTS
from market_data.read.api import (
    BAR_SCHEMA,
    TIMEFRAMES,
    BadReadRequest,
    bars,
    bars_arrow,
    option_bars,
    option_bars_arrow,
)
from market_data.read.greeks import (
    option_chain,
    option_chain_arrow,
    option_greeks,
    option_greeks_arrow,
)
from market_data.read.occ import OptionContract, parse_occ
from market_data.read.sessions import SESSIONS

__all__ = [
    "ADJUSTMENTS",
    "BAR_SCHEMA",
    "SESSIONS",
    "TIMEFRAMES",
    "BadReadRequest",
    "OptionContract",
    "bars",
    "bars_arrow",
    "option_bars",
    "option_bars_arrow",
    "option_chain",
    "option_chain_arrow",
    "option_greeks",
    "option_greeks_arrow",
    "parse_occ",
]
