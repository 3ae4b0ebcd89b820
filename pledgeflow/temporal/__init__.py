"""Connecting to Temporal, the worker, and the typed client of a pledge's workflow."""
