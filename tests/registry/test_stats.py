"""The registry statistics' pure rules: which time frame a pledge falls in, and when an amount is an outlier."""

from __future__ import annotations

import datetime as dt

import pytest

from pledgeflow.registry.facets import TimeFrame, time_frame
from pledgeflow.registry.stats import far_out_fence


@pytest.mark.parametrize(
    ("start", "end", "frame"),
    [
        ("2026-01-01", "2027-01-01", TimeFrame.up_to_1y),
        ("2026-01-01", "2027-01-02", TimeFrame.from_1_to_3y),
        ("2026-01-01", "2029-01-01", TimeFrame.from_1_to_3y),
        ("2024-02-29", "2029-02-28", TimeFrame.from_3_to_5y),
        ("2024-02-29", "2029-03-01", TimeFrame.over_5y),
        ("2026-01-01", None, TimeFrame.open_ended),
    ],
)
def test_time_frame_boundaries(start: str, end: str | None, frame: TimeFrame) -> None:
    end_date = dt.date.fromisoformat(end) if end else None
    assert time_frame(dt.date.fromisoformat(start), end_date, end is None) == frame


def test_outlier_fence_needs_four_amounts() -> None:
    assert far_out_fence([1.0, 2.0, 1e9]) is None
    assert far_out_fence([1.0, 2.0, 3.0, 4.0, 5.0]) == 4.0 + 3 * 2.0
