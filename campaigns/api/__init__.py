"""The campaigns REST API: one module per domain; urls.py routes them."""
