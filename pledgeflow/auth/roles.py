"""The staff roles, apart from the key machinery so the ``pledgeflow`` command names them without loading it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    vetter = "vetter"
    operator = "operator"
    admin = "admin"
