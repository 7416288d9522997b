"""Signals other apps listen to; sent by the services inside the change's transaction."""

from django.dispatch import Signal

# Sent after a version is registered, with `version` and `actor`. approvals_app creates
# the empty model card on it.
version_registered = Signal()

# Sent when the guards refuse a promotion, with `version`, `actor` and `failures` (the
# failed GuardResults), just before GuardsFailed is raised. The refusal's transaction
# rolls back; the signal is how the site counts refusals by guard (registry_site.metrics).
promotion_refused = Signal()
