-- Corporate actions from Massive's reference endpoints (README "Corporate actions"),
-- applied when bars are read: the bars themselves stay as the files have them.

-- One row per split as Massive lists it, without its duplicates: a ticker splits at most
-- once a day (Massive lists some splits twice; a second, different ratio for the same day
-- is refused by the refresh rather than guessed at).
CREATE TABLE IF NOT EXISTS splits (
    ticker          text             NOT NULL,
    execution_date  date             NOT NULL,
    split_from      double precision NOT NULL CHECK (split_from > 0),
    split_to        double precision NOT NULL CHECK (split_to > 0),
    adjustment_type text,
    massive_id      text,
    refreshed_at    timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (ticker, execution_date)
);

-- Cash dividends; a regular and a special dividend may share an ex-date.
CREATE TABLE IF NOT EXISTS dividends (
    ticker            text             NOT NULL,
    ex_dividend_date  date             NOT NULL,
    distribution_type text             NOT NULL,
    cash_amount       double precision NOT NULL CHECK (cash_amount >= 0),
    currency          text,
    frequency         integer,
    declaration_date  date,
    record_date       date,
    pay_date          date,
    massive_id        text,
    refreshed_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (ticker, ex_dividend_date, distribution_type)
);

-- The tickers a watchlist stock has traded under: `ticker` is in force from `valid_from`
-- until the next row's `valid_from` (META: FB from 2012-05-18, META from 2022-06-09).
CREATE TABLE IF NOT EXISTS ticker_changes (
    symbol         text NOT NULL,
    valid_from     date NOT NULL,
    ticker         text NOT NULL,
    composite_figi text,
    PRIMARY KEY (symbol, valid_from)
);

-- When each watchlist stock's ticker history was last asked for, and its composite FIGI.
CREATE TABLE IF NOT EXISTS ticker_checks (
    symbol         text PRIMARY KEY,
    composite_figi text,
    checked_at     timestamptz NOT NULL DEFAULT now()
);

-- The ticker a bar has in its day file, where that is not the symbol it is stored under
-- (FB's rows of days before 2022-06-09, stored under META); null otherwise.
ALTER TABLE historical_bars ADD COLUMN IF NOT EXISTS file_ticker text;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'market_data_reader') THEN
        GRANT SELECT ON splits, dividends, ticker_changes TO market_data_reader;
    END IF;
END
$$;
