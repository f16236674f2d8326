"""Portal pages of the campaigns, one module per domain; campaigns/urls.py routes them."""
