"""Superset for Hub Warehouse: settings, the provisioned asset bundle, security, the server.

Only `provision.py` imports Superset itself; it runs in its own process with the Superset app.
"""
