-- One bar per symbol, NYSE session and session kind, built from historical_bars by the
-- `daily_bars` asset, so that daily reads over years and hundreds of symbols are instant.
-- `session`: 'regular' = [09:30, close) by the exchange calendar, 'all' = every stored
-- minute of the New York day. `timestamp` is that day's 00:00 New York, epoch ms UTC.
CREATE TABLE IF NOT EXISTS daily_bars (
    symbol       text             NOT NULL,
    session      text             NOT NULL CHECK (session IN ('regular', 'all')),
    day          date             NOT NULL,
    "timestamp"  bigint           NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       double precision,
    transactions bigint,
    dataset      text             NOT NULL,
    underlying   text             NOT NULL,
    PRIMARY KEY (symbol, session, day)
);

-- The days the asset has built (with or without bars): a daily read uses daily_bars
-- only when every session of its range is here, and the minutes otherwise.
CREATE TABLE IF NOT EXISTS daily_bars_days (
    day      date        PRIMARY KEY,
    built_at timestamptz NOT NULL DEFAULT now()
);
