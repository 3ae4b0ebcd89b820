"""Size limits (issue 13, 14): a body over PLEDGEFLOW_MAX_REQUEST_BYTES is 413, declared or chunked, and lists
in a submission are bounded, so nothing oversized reaches a workflow's history ("Temporal is unreachable"
was the old answer to a 6.3 MB submission)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.conftest import Stack
from tests.factories import submission_data


def _with_regions(count: int, name: str) -> dict[str, object]:
    return submission_data(geographic_scope="regional", regions=[name] * count)


@pytest.mark.parametrize("megabytes", [1.4, 2.7, 6.3])
async def test_a_body_over_the_limit_is_413_and_starts_nothing(stack: Stack, megabytes: float) -> None:
    regions = int(megabytes * 1_000_000 / 200)  # 7,000 regions of 200 characters make 1.4 MB
    response = await stack.http.post("/api/v1/pledges", json=_with_regions(regions, "R" * 196))
    assert response.status_code == 413, response.text[:200]
    assert response.headers["content-type"] == "application/problem+json"
    assert "larger than" in response.json()["detail"]
    assert stack.smtp.messages == []


async def test_a_chunked_body_over_the_limit_is_413_too(stack: Stack) -> None:
    body = json.dumps(_with_regions(2_000, "R" * 196)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    response = await stack.http.post("/api/v1/pledges", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text[:200]


async def test_lists_past_their_bound_are_422_naming_the_field(stack: Stack) -> None:
    response = await stack.http.post("/api/v1/pledges", json=_with_regions(7_000, "R1"))
    assert response.status_code == 422, response.text[:200]
    assert [error["field"] for error in response.json()["errors"]] == ["regions"]
