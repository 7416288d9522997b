"""Signals other apps listen to; sent by the services inside the change's transaction."""

from django.dispatch import Signal

# Sent after a version is registered, with `version` and `actor`. approvals_app creates
# the empty model card on it.
version_registered = Signal()

# Sent when the guards refuse a promotion, with `version`, `actor` and `failures` (the
# failed GuardResults), just before GuardsFailed is raised. The refusal's transaction
# rolls back; the signal is how the site counts refusals by guard (registry_site.metrics).
promotion_refused = Signal()

# Sent after a production health signal is stored (models_app.services.signal_record),
# inside its transaction, with `health_signal` (the stored HealthSignal) and `actor`. Nothing
# listens yet: it is where rules that act on a version's health can hook in.
health_signal_recorded = Signal()
