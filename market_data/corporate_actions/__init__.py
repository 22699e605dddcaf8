"""Splits, dividends and ticker changes from Massive's reference endpoints
(docs/corporate-actions.md).

``model.py`` reads Massive's entries and refuses malformed ones; ``massive.py`` fetches
them; ``store.py`` keeps them in PostgreSQL; ``tickers.py`` says which ticker a renamed
stock had on a day; ``adjust.py`` applies splits and dividends to bars when they are
read. The bars in ``historical_bars`` are never changed: they stay as the files have them.
"""
