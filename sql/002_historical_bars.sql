-- One row per bar. Range-partitioned by month of `timestamp` (epoch ms, UTC) so that
-- retention drops whole months; the loader creates the months it needs.
CREATE TABLE IF NOT EXISTS historical_bars (
    symbol       text             NOT NULL,
    timeframe    text             NOT NULL,
    "timestamp"  bigint           NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       double precision,
    vwap         double precision,
    transactions integer,
    source       text             NOT NULL CHECK (source IN ('flat_file', 'rest')),
    dataset      text             NOT NULL,
    underlying   text             NOT NULL,
    PRIMARY KEY (symbol, timeframe, "timestamp")
) PARTITION BY RANGE ("timestamp");

-- A partition is (re)loaded per dataset and underlying over a New York day.
CREATE INDEX IF NOT EXISTS historical_bars_dataset_underlying_idx
    ON historical_bars (dataset, underlying, "timestamp");
