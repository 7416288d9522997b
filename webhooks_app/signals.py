"""Signals of the webhook worker, for whoever watches it (the site's metrics)."""

from django.dispatch import Signal

# Sent by the worker after each attempt's outcome is committed, with `delivery` (the
# Delivery as stored after the attempt), `succeeded` (bool) and `dead` (True when this
# attempt was the last one allowed and the delivery is now dead-lettered).
delivery_attempted = Signal()
