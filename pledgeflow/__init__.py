"""Pledgeflow's shared core: settings, the registry database, the worker, the CLI and the dev runner.

Workflow code lives in ``workflows/``, side effects in ``activities/``, the HTTP surface in ``api/``.
"""
