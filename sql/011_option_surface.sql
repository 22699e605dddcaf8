-- The `option_surface` asset: per watched underlying with options, NYSE session and
-- settlement (root and expiration) alive at the close, the numbers a volatility surface
-- is summed up by, from the contracts' last prices at the session's close
-- (market_data/options/surface.py). Rebuilt per day in one transaction.
CREATE TABLE IF NOT EXISTS option_surface (
    underlying        text             NOT NULL,
    day               date             NOT NULL,
    root              text             NOT NULL,  -- SPXW and SPX settle apart
    expiration        date             NOT NULL,
    "timestamp"       bigint           NOT NULL,  -- the session's close, epoch ms UTC
    t_years           double precision NOT NULL,  -- close to settlement, ACT/365 minutes
    forward           double precision,
    forward_source    text             NOT NULL CHECK (forward_source IN ('parity', 'underlying', 'none')),
    parity_spread     double precision,           -- max - min of the forwards around K*
    parity_tolerance  double precision NOT NULL,
    atm_iv            double precision,
    put25_iv          double precision,
    call25_iv         double precision,
    contracts         integer          NOT NULL,
    near_money        integer          NOT NULL,  -- strikes within 2 % of the forward
    near_money_solved integer          NOT NULL,  -- of those, with an implied volatility
    PRIMARY KEY (underlying, day, root, expiration)
);

CREATE INDEX IF NOT EXISTS option_surface_day ON option_surface (day);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'market_data_reader') THEN
        GRANT SELECT ON option_surface TO market_data_reader;
    END IF;
END
$$;
