"""Deterministic workflow code: the pledge lifecycle, its policy and its types."""
