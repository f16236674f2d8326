"""Campaign services, one module per domain (promotions, ...)."""
