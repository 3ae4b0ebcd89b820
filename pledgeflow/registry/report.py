"""The registry's summary report (``pledgeflow report``): the sections of the UN Secretary-General's report on
partnerships for sustainable development, from the same statistics as ``/stats`` (pledgeflow/registry/stats.py).

One self-contained HTML file (styles and SVG charts inline, each chart beside the table of its numbers), a
CSV file per table, and optionally a workbook with a sheet per section. Charts are drawn by matplotlib.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from pledgeflow.registry.stats import RegistryStats, Share

FORMATS = ("html", "csv", "xlsx")
TOP_COUNTRIES = 15


class Fraction(float):
    """A share of a whole (0 to 1): a number in the CSV and the workbook, a percentage in the HTML."""


Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    name: str  # its CSV file's name, without .csv
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


@dataclass
class Section:
    title: str
    lead: str
    tables: list[Table]
    chart: str = ""  # inline SVG
    chart_label: str = ""


@dataclass
class Report:
    title: str
    as_of: dt.datetime
    computed_at: dt.datetime
    pledges: int
    sections: list[Section] = field(default_factory=list)


def _share_rows(shares: Sequence[Share]) -> list[tuple[Cell, ...]]:
    return [(share.key, share.count, Fraction(share.share)) for share in shares]


def _share_table(name: str, title: str, what: str, shares: Sequence[Share]) -> Table:
    return Table(name, title, (what, "pledges", "share"), _share_rows(shares))


def build(stats: RegistryStats, as_of: dt.datetime, title: str = "Pledgeflow registry") -> Report:
    """The report's sections, in the order of the Secretary-General's partnerships report."""
    report = Report(title=title, as_of=as_of, computed_at=stats.computed_at, pledges=stats.pledges)
    total = stats.pledges
    status = _share_table("status", "Pledges by status", "status", stats.by_status)
    report.sections.append(
        Section(
            "Overall numbers",
            f"{total} pledges have been published in the registry as of {as_of:%d %B %Y}.",
            [status],
            bar_chart(stats.by_status, "pledges by status"),
            "Bar chart of pledges by status; the numbers are in the table beside it.",
        )
    )
    sdgs = [Share(key=f"SDG {s.key}", count=s.count, share=s.share) for s in stats.by_sdg]
    most = max(stats.by_sdg, key=lambda share: share.count, default=None)
    report.sections.append(
        Section(
            "SDG coverage",
            "A pledge names one or more Sustainable Development Goals, so the shares add up to more than 1."
            + (f" The most named is SDG {most.key} ({most.count} pledges)." if most and most.count else ""),
            [_share_table("sdgs", "Pledges by SDG", "SDG", sdgs)],
            bar_chart(sdgs, "pledges by SDG", horizontal=True),
            "Bar chart of pledges by SDG; the numbers are in the table beside it.",
        )
    )
    countries = stats.by_country
    report.sections.append(
        Section(
            "Geographic coverage",
            f"By scope, by region, and by country ({len(countries)} countries named).",
            [
                _share_table("scope", "Pledges by geographic scope", "scope", stats.by_scope),
                _share_table("regions", "Pledges by region", "region", stats.by_region),
                _share_table("countries", "Pledges by country", "country (ISO 3166-1 alpha-3)", countries),
            ],
            bar_chart(countries[:TOP_COUNTRIES], f"the {TOP_COUNTRIES} countries most named", horizontal=True),
            f"Bar chart of the {TOP_COUNTRIES} countries named by most pledges; every country is in the table.",
        )
    )
    report.sections.append(
        Section(
            "Time frame",
            "From each pledge's start date to its end date; open-ended pledges have none.",
            [_share_table("time_frame", "Pledges by time frame", "time frame", stats.by_time_frame)],
            bar_chart(stats.by_time_frame, "pledges by time frame"),
            "Bar chart of pledges by time frame; the numbers are in the table beside it.",
        )
    )
    report.sections.append(
        Section(
            "Partners",
            "Who pledges, by the type of the pledging organisation, and what kind of pledge it is.",
            [
                _share_table(
                    "organization_types",
                    "Pledges by organisation type",
                    "organisation type",
                    stats.by_organization_type,
                ),
                _share_table("pledge_types", "Pledges by type of pledge", "pledge type", stats.by_pledge_type),
            ],
            bar_chart(stats.by_organization_type, "pledges by organisation type", horizontal=True),
            "Bar chart of pledges by organisation type; the numbers are in the table beside it.",
        )
    )
    money = stats.financial
    outliers = money.outliers
    report.sections.append(
        Section(
            "Resources",
            f"{money.pledges_with_amount} pledges name an amount. Medians sit beside the sums, and outliers "
            f"({outliers.rule}) are flagged, so that a few very large pledges cannot pass for a trend.",
            [
                Table(
                    "resources",
                    "Pledged resources (USD)",
                    ("figure", "value"),
                    [
                        ("pledges with an amount", money.pledges_with_amount),
                        ("pledges without an amount", money.pledges_without_amount),
                        ("sum", money.sum_usd),
                        ("median", money.median_usd),
                        ("sum without outliers", money.sum_without_outliers_usd),
                        ("median without outliers", money.median_without_outliers_usd),
                        ("outlier fence", outliers.fence_usd),
                        ("outliers", outliers.count),
                        ("share of the sum in outliers", Fraction(outliers.share_of_sum)),
                    ],
                ),
                Table(
                    "outliers",
                    "The outliers, largest first",
                    ("pledge", "title", "USD"),
                    [(p.id, p.title, p.financial_usd) for p in outliers.pledges],
                ),
            ],
        )
    )
    reporting = stats.reporting
    share = "—" if reporting.share is None else f"{reporting.share:.0%}"
    compliance = [
        ("pledges asked for a report", reporting.pledges_considered),
        ("with a report for their last due cycle", reporting.with_report),
        ("share reporting", None if reporting.share is None else Fraction(reporting.share)),
        ("report due", reporting.report_due),
        ("overdue", reporting.report_overdue),
        ("non-reporting", reporting.non_reporting),
        ("delisted", reporting.delisted),
    ]
    chart = [
        Share(key=key, count=int(value or 0), share=0.0)
        for key, value in compliance[3:]  # the counts of pledges by how far behind they are
    ]
    report.sections.append(
        Section(
            "Reporting compliance",
            f"{share} of the pledges asked for a report have given it ({reporting.rule}).",
            [Table("reporting", "Reporting compliance", ("figure", "value"), list(compliance))],
            bar_chart(chart, "pledges behind on reporting"),
            "Bar chart of pledges due, overdue, non-reporting and delisted; the numbers are in the table beside it.",
        )
    )
    return report


def bar_chart(shares: Sequence[Share], title: str, horizontal: bool = False) -> str:
    """A bar chart of the counts, as SVG text to inline (no file, no script)."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = [share.key.replace("_", " ") for share in shares]
    counts = [share.count for share in shares]
    height = max(2.4, 0.32 * len(shares) + 0.9) if horizontal else 3.2
    figure = Figure(figsize=(6.4, height), layout="constrained")
    axes = figure.add_subplot()
    if horizontal:
        axes.barh(labels[::-1], counts[::-1], color="#2b6cb0")
        axes.set_xlabel("pledges")
    else:
        axes.bar(labels, counts, color="#2b6cb0")
        axes.set_ylabel("pledges")
        axes.tick_params(axis="x", labelrotation=30 if len(labels) > 4 else 0)
    (axes.xaxis if horizontal else axes.yaxis).set_major_locator(MaxNLocator(integer=True))  # counts: whole
    axes.set_title(title, loc="left", fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    svg = io.StringIO()
    # Text stays text (no glyph outlines with shared ids), and the salt keeps each chart's clip ids its own.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": title}):
        figure.savefig(svg, format="svg", metadata={"Date": None})
    # Inline in HTML: no XML declaration or doctype, and ids unique to this chart.
    text = svg.getvalue()
    return re.sub(r"^.*?(<svg)", r"\1", text, count=1, flags=re.DOTALL)


def write(report: Report, out: Path, formats: Sequence[str]) -> list[Path]:
    """The report's files in ``out``: ``report.html``, a CSV per table, ``report.xlsx``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "html" in formats:
        written.append(out / "report.html")
        written[-1].write_text(render_html(report), encoding="utf-8")
    if "csv" in formats:
        for section in report.sections:
            for table in section.tables:
                path = out / f"{table.name}.csv"
                with path.open("w", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle, lineterminator="\r\n")
                    writer.writerow(table.headers)
                    writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)
                written.append(path)
    if "xlsx" in formats:
        written.append(out / "report.xlsx")
        write_workbook(report, written[-1])
    return written


def render_html(report: Report) -> str:
    environment = Environment(
        loader=PackageLoader("pledgeflow.registry", "templates"), autoescape=select_autoescape(["html"])
    )
    return environment.get_template("report.html").render(report=report, formatted=_formatted)


def _formatted(cell: Cell) -> str:
    if cell is None:
        return "—"
    if isinstance(cell, Fraction):
        return f"{cell:.1%}"
    if isinstance(cell, float | int) and not isinstance(cell, bool):
        return f"{cell:,.0f}"
    return str(cell)


def write_workbook(report: Report, path: Path) -> None:
    """One sheet per section, its tables one under the other with a bold header row each."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for section in report.sections:
        sheet = workbook.create_sheet(section.title[:31])
        sheet.append([section.title])
        sheet["A1"].font = Font(bold=True, size=13)
        sheet.append([section.lead])
        for table in section.tables:
            sheet.append([])
            sheet.append([table.title])
            sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
            sheet.append(list(table.headers))
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
            for row in table.rows:
                sheet.append(list(row))
        sheet.column_dimensions["A"].width = 42
    workbook.save(path)
