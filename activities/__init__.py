"""Side effects of the pledge lifecycle, one effect each, idempotent by a business key."""
