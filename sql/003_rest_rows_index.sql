-- REST rows are few and recent; the supersession sensor finds them through this index.
CREATE INDEX IF NOT EXISTS historical_bars_rest_idx
    ON historical_bars (dataset, "timestamp") WHERE source = 'rest';
