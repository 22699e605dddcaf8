"""The run tags market-data reads and writes, in one Dagster-free place.

The command line sets them without importing Dagster (so ``--help`` stays fast); the
assets and sensors read them.
"""

# A run tagged with symbols loads only those (the watchlist sensor, ``market-data backfill``).
SYMBOLS_TAG = "market_data/symbols"
# A run tagged ``market_data/fetch: all`` lands every dataset's files, watched or not
# (``market-data download``).
FETCH_TAG = "market_data/fetch"
# Dagster's own tags for a range of partitions in one run.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
