"""Local stand-ins for PostgreSQL and S3, so the project runs with no accounts."""
