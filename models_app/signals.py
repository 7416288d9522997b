"""Signals other apps listen to; sent by the services inside the change's transaction."""

from django.dispatch import Signal

# Sent after a version is registered, with `version` and `actor`. approvals_app creates
# the empty model card on it.
version_registered = Signal()
