"""Alerts that reach a person: failed checks, failed runs, stale data, REST days not superseded.

Open-source Dagster delivers no alerts by itself, so the sensors in
``defs/alert_sensors.py`` turn Dagster's records into ``Alert`` messages
(``records.py``), remember what is open in their cursor (``state.py``) and hand the
messages to every configured channel (``channels.py``: webhook, Slack, e-mail).
The message's fields are the webhook contract in docs/alerts.md.
"""

from market_data.alerts.channels import Channel, DeliveryError, channels_from
from market_data.alerts.message import Alert

__all__ = ["Alert", "Channel", "DeliveryError", "channels_from"]
