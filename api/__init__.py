"""The thin HTTP surface: validate, call Temporal or read the registry, map the outcome to a status."""
