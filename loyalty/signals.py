"""Hooks other apps subscribe to; loyalty never imports campaigns or rewards."""

from django.dispatch import Signal

# Sent after the commit of every ledger transaction, with `transaction`.
points_posted = Signal()
