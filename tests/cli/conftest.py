"""Running the ``pledgeflow`` console script the way a developer or an operator does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PLEDGEFLOW = str(Path(sys.executable).parent / "pledgeflow")


def clean_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any PLEDGEFLOW_* leaking in, plus these settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLEDGEFLOW_")}
    env.update({f"PLEDGEFLOW_{key.upper()}": value for key, value in settings.items()})
    return env
