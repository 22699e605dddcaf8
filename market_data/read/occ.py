"""OCC option tickers as Massive writes them: ``O:`` + root + YYMMDD + C/P + strike x 1000.

``O:SPXW251121C06000000`` is the SPX weekly call expiring 2025-11-21 at 6000. The root
is whatever precedes the last 15 characters: ``SPXW`` (an alias of SPX), ``AMC2`` (an
adjusted contract of AMC after a corporate action), ``BRKB`` (BRK.B: OCC roots carry
no dot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from market_data.datasets import option_underlying
from market_data.errors import ConfigurationError

Right = Literal["call", "put"]

OCC_TICKER = re.compile(r"^O:(?P<root>[A-Z0-9.]{1,6})(?P<ymd>\d{6})(?P<cp>[CP])(?P<strike>\d{8})$")
_RIGHTS: dict[str, Right] = {"C": "call", "P": "put"}


@dataclass(frozen=True)
class OptionContract:
    ticker: str
    root: str
    expiration: date
    right: Right
    strike: float

    @property
    def underlying(self) -> str:
        """The watchlist symbol the contract trades on (``SPXW`` → ``SPX``, ``AMC2`` → ``AMC``)."""
        return option_underlying(self.root)


def is_option_ticker(ticker: str) -> bool:
    return OCC_TICKER.fullmatch(ticker) is not None


def parse_occ(ticker: str) -> OptionContract:
    """Expiration, right and strike of an OCC ticker; a ValueError names a malformed one."""
    match = OCC_TICKER.fullmatch(ticker.strip().upper())
    if match is None:
        raise ConfigurationError(
            f"{ticker!r} is not an OCC option ticker like O:SPXW251121C06000000 "
            "(O: + root + YYMMDD + C or P + strike x 1000 in 8 digits)"
        )
    ymd = match["ymd"]
    try:
        expiration = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
    except ValueError:
        raise ConfigurationError(f"{ticker!r} has an impossible expiration date {ymd}") from None
    return OptionContract(
        ticker=match.group(0),
        root=match["root"],
        expiration=expiration,
        right=_RIGHTS[match["cp"]],
        strike=int(match["strike"]) / 1000,
    )


def option_roots_of(underlying: str) -> set[str]:
    """The stored ``underlying`` values an underlying's contracts may carry: the symbol
    itself and, for a class share like ``BRK.B``, its dotless OCC root ``BRKB``."""
    return {underlying, underlying.replace(".", "")}
