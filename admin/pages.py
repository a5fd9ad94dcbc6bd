"""The admin home page is the dashboard (dashboard.py)."""
