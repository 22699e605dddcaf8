"""Option analytics: Black-76 implied volatility and greeks, forwards, settlement times."""
