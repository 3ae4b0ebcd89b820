"""``pledgeflow report`` on a seeded registry: the HTML with its charts, a CSV per table, the workbook, and the
registry as it stood on a past day (``--as-of``), all from the same statistics as ``/stats``."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner, Result

from pledgeflow.cli.main import app
from tests.api.registry_seeding import EPOCH, Registry, registry_fixture, registry_url_fixture  # noqa: F401
from tests.cli.conftest import clean_env
from workflows.state import ClosureReason, PledgeStatus

DAY = dt.timedelta(days=1)
SECTIONS = [
    "Overall numbers",
    "SDG coverage",
    "Geographic coverage",
    "Time frame",
    "Partners",
    "Resources",
    "Reporting compliance",
]


def report(registry: Registry, out: Path, *args: str) -> Result:
    env = clean_env(database_url=registry.url, home=str(out.parent / "home"))
    return CliRunner().invoke(app, ["report", "--out", str(out), *args], env=env)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


async def test_the_report_has_every_section_with_charts_csvs_and_a_workbook_of_the_stats(
    registry: Registry, tmp_path: Path
) -> None:
    registry.publish(report_cycles=(1,), cycle=2)
    registry.publish(sdgs=[13], sdg_targets=[], countries=["FJI", "TON"], regions=["Pacific"], pledge_type="policy")
    registry.publish(status=PledgeStatus.closed, closure_reason=ClosureReason.completed, resources={"financial_usd": 0})
    registry.publish(status=PledgeStatus.in_review)
    out = tmp_path / "report"
    result = report(registry, out, "--format", "html,csv,xlsx")
    assert result.exit_code == 0, result.output

    html = (out / "report.html").read_text()
    assert [heading for heading in SECTIONS if f". {heading}</h2>" in html] == SECTIONS
    assert html.count("<svg") == 6 and "<script" not in html and "http://" not in html.split("<svg")[0][-2000:]
    assert '<figure role="img" aria-label="Bar chart of pledges by SDG' in html

    stats = (await registry.http.get("/api/v1/registry/stats")).json()
    sdgs = {row["SDG"]: int(row["pledges"]) for row in rows(out / "sdgs.csv")}
    assert sdgs == {f"SDG {share['key']}": share["count"] for share in stats["by_sdg"]}
    countries = {row["country (ISO 3166-1 alpha-3)"]: int(row["pledges"]) for row in rows(out / "countries.csv")}
    assert (
        countries == {share["key"]: share["count"] for share in stats["by_country"]} == {"KEN": 2, "FJI": 1, "TON": 1}
    )
    money = {row["figure"]: row["value"] for row in rows(out / "resources.csv")}
    assert float(money["sum"]) == stats["financial"]["sum_usd"] == 5_000_000
    assert {path.name for path in out.glob("*.csv")} >= {"status.csv", "regions.csv", "reporting.csv", "outliers.csv"}

    workbook = load_workbook(out / "report.xlsx")
    assert workbook.sheetnames == SECTIONS
    assert workbook["SDG coverage"]["A1"].value == "SDG coverage"


async def test_as_of_a_past_day_counts_what_was_published_then_in_the_status_it_had(
    registry: Registry, tmp_path: Path
) -> None:
    registry.publish(status=PledgeStatus.closed, closure_reason=ClosureReason.removed, history=True)  # closed day 400
    registry.publish(published_at=EPOCH + 500 * DAY, history=True)

    def status_counts(as_of: dt.datetime) -> dict[str, int]:
        out = tmp_path / f"as-of-{as_of:%Y%m%d}"
        result = report(registry, out, "--format", "csv", "--as-of", as_of.strftime("%Y-%m-%dT%H:%M:%S"))
        assert result.exit_code == 0, result.output
        return {row["status"]: int(row["pledges"]) for row in rows(out / "status.csv") if int(row["pledges"])}

    assert status_counts(EPOCH - DAY) == {}
    assert status_counts(EPOCH + 100 * DAY) == {"published": 1}
    assert status_counts(EPOCH + 380 * DAY) == {"report_due": 1}
    assert status_counts(EPOCH + 450 * DAY) == {"closed": 1}
    assert status_counts(EPOCH + 600 * DAY) == {"closed": 1, "published": 1}
    assert report(registry, tmp_path / "x", "--as-of", "2999-01-01").exit_code == 2
    assert report(registry, tmp_path / "x", "--format", "pdf").exit_code == 2
