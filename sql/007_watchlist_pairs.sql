-- Crypto (X:BTCUSD) and currency (C:EURUSD) pairs join indices and stocks on the watchlist.
ALTER TABLE watchlist DROP CONSTRAINT IF EXISTS watchlist_asset_class_check;
ALTER TABLE watchlist ADD CONSTRAINT watchlist_asset_class_check
    CHECK (asset_class IN ('index', 'stock', 'crypto', 'forex'));
