-- One REST request rate for every run of the instance: each request reserves the next
-- free slot in its limiter's row (market_data/warehouse/rate_limit.py).
CREATE TABLE IF NOT EXISTS rest_rate_limit (
    name    text PRIMARY KEY,
    next_at double precision NOT NULL DEFAULT 0  -- epoch seconds of the next free slot
);
