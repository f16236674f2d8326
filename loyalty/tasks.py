"""Celery tasks: thin wrappers around the job services."""
