"""Hooks campaigns offers to other modules (challenges, notifications)."""

from django.dispatch import Signal

# Sent after the commit of every newly recorded action event (capped ones included, never a replay), with
# `event` (campaigns.models.ActionEvent). See campaigns.services.actions.
action_recorded = Signal()
