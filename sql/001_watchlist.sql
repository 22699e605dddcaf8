-- The symbols market-data keeps: `INSERT INTO watchlist(symbol) VALUES ('SPX')` is enough.
CREATE TABLE IF NOT EXISTS watchlist (
    symbol          text PRIMARY KEY,
    asset_class     text CHECK (asset_class IN ('index', 'stock')),
    include_options boolean NOT NULL DEFAULT false,
    added_at        timestamptz NOT NULL DEFAULT now()
);

-- A watchlist made by hand before the project first ran may hold only `symbol`.
ALTER TABLE watchlist ADD COLUMN IF NOT EXISTS asset_class text;
ALTER TABLE watchlist ADD COLUMN IF NOT EXISTS include_options boolean NOT NULL DEFAULT false;
ALTER TABLE watchlist ADD COLUMN IF NOT EXISTS added_at timestamptz NOT NULL DEFAULT now();
