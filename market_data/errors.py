"""Every error market-data raises on purpose, under one base, ``MarketDataError``.

The kind of an error decides what a range run does with it: a ``DayDataError`` is one
day's own problem (its file is missing or unreadable), so the other days go on; any
other error (a source refusing us, the database gone, a bug) would hit every day
alike, so the range stops. Each error is raised ``from`` its cause, so ``--verbose``
shows the whole chain while the command line prints one line.

    MarketDataError
    ├── ConfigurationError   a setting or argument that cannot be used (also a ValueError)
    ├── SourceError          the flat-file bucket or the REST API failed or refused
    ├── DayDataError         one day's file is missing or cannot be trusted
    ├── DatabaseUnavailable  PostgreSQL cannot be reached
    ├── LocalServerError     an embedded server could not be started or reached
    └── ChannelError         an alert channel could not deliver

The specific errors live beside the code that raises them (``FlatFileError`` in
``sources/flat_files.py``, ``DayFileError`` in ``transform/parse.py`` …).
"""


class MarketDataError(Exception):
    """Base of market-data's own errors; the message names the file, day or setting."""


class ConfigurationError(MarketDataError, ValueError):
    """A setting (environment variable, argument) that cannot be used."""


class SourceError(MarketDataError):
    """A data source (the flat-file bucket, the REST API) failed or refused a request."""


class DayDataError(MarketDataError):
    """One day's data is missing or cannot be trusted; the other days are not affected."""


class DatabaseUnavailable(MarketDataError):
    """PostgreSQL cannot be reached; the message names the server, never the password."""


class LocalServerError(MarketDataError):
    """An embedded server (PostgreSQL, S3, the UI) could not be started or reached."""


class ChannelError(MarketDataError):
    """An alert channel (webhook, Slack, e-mail) refused a message or could not be reached."""
