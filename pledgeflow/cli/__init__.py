"""The ``pledgeflow`` command."""
