-- market_data_reader: SELECT on the bar tables and nothing else (no watchlist, no writes).
-- NOLOGIN on purpose: it is a group role holding the privileges, and each backtest logs in
-- as its own member with its own password, which an administrator creates:
--     CREATE ROLE backtest LOGIN PASSWORD '…' IN ROLE market_data_reader;
-- (README "Reading bars"). Roles belong to the server, not the database: a server holding
-- several market-data databases shares the one role, and each database grants it here.
-- A login without CREATEROLE cannot create it: the migration then says so and goes on.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'market_data_reader') THEN
        BEGIN
            CREATE ROLE market_data_reader NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it meanwhile
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role market_data_reader not created: % may not create roles; '
                    'run sql/005_reader_role.sql as an administrator', current_user;
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'market_data_reader') THEN
        -- Partitions are read through their parent, so new months need no grant.
        GRANT SELECT ON historical_bars, daily_bars, daily_bars_days TO market_data_reader;
        BEGIN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO market_data_reader', current_schema());
        EXCEPTION
            WHEN insufficient_privilege THEN
                NULL;  -- not the schema's owner: PUBLIC's USAGE (the default) must do
        END;
    END IF;
END
$$;
