"""How big a run is: the full run's sizes, ``--quick``'s (a CI smoke run, minutes), and where it works."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

Progress = Callable[[str], None]  # tells the progress display what the run is doing now


@dataclass(frozen=True)
class Scale:
    folder: Path  # scratch space: servers' files, the SQLite registries
    engine_workflows: int = 500  # no-op and one-activity workflows each
    engine_pledges: int = 200  # submitted, approved, published, then one report cycle each
    in_flight: int = 100  # pledges submitted at once, each approved once in review, for the decision latency
    emails: int = 1_000
    registry_pledges: int = 100_000
    registry_samples: int = 40  # requests per registry query, for its p50 and p95
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    postgres_url: str = "postgresql+psycopg://127.0.0.1:5432/test"
    open_pledges: int = 10_000
    history_years: int = 10
    seed: int = 2026
    timeout: float = 1_800.0  # longest wait for any one step before the run fails

    def quick(self) -> Scale:
        return replace(
            self,
            engine_workflows=30,
            engine_pledges=10,
            in_flight=20,
            emails=40,
            registry_pledges=min(self.registry_pledges, 300),
            registry_samples=5,
            open_pledges=min(self.open_pledges, 50),
            timeout=120.0,
        )
