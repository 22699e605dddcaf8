"""Market data pipeline: Massive flat files and REST aggregates into PostgreSQL."""
