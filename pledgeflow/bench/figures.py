"""What a part measures: figures, each with its unit, its goal and whether the goal holds in this run."""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Comparison = Literal["<=", ">=", "<", ">"]
COMPARE: dict[Comparison, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Goal:
    comparison: Comparison
    threshold: float

    def holds(self, value: float) -> bool:
        return COMPARE[self.comparison](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.comparison} {self.threshold:g}"


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    goal: Goal | None = None  # None: a figure reported for context (a yardstick, a count), no goal of its own

    @property
    def holds(self) -> bool | None:
        return None if self.goal is None else self.goal.holds(self.value)

    def as_json(self) -> dict[str, Any]:
        return {
            "value": round(self.value, 4),
            "unit": self.unit,
            "goal": str(self.goal) if self.goal else None,
            "holds": self.holds,
        }


@dataclass
class Part:
    """One part's figures, and the settings it ran with (sizes, the server, the database)."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, goal: Goal | None = None) -> Figure:
        figure = Figure(name, value, unit, goal)
        self.figures.append(figure)
        return figure

    def add_latencies(self, name: str, seconds: Sequence[float], p95_goal_ms: float | None = None) -> None:
        """p50 and p95 in milliseconds; the goal, when there is one, is on the p95."""
        self.add(f"{name} p50", percentile(seconds, 50) * 1000, "ms")
        self.add(f"{name} p95", percentile(seconds, 95) * 1000, "ms", Goal("<=", p95_goal_ms) if p95_goal_ms else None)

    def as_json(self) -> dict[str, Any]:
        return {"figures": {f.name: f.as_json() for f in self.figures}, "details": self.details}


def percentile(values: Sequence[float], pct: int) -> float:
    """The ``pct``th percentile (inclusive method: p50 of an odd count is its median, p95 lies within range)."""
    if not values:
        raise ValueError("no samples to take a percentile of")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
