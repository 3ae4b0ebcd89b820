"""``pledgeflow bench``: every figure of SPEC.md §9 in one run, to a JSON file and a summary table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PARTS = ("engine", "email", "history", "registry", "memory", "inbound")
DATABASES = ("sqlite", "postgresql")


def _names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        given = ", ".join(unknown) or "nothing"
        raise typer.BadParameter(f"{given} is not one of {', '.join(allowed)}", param_hint=option)
    return names


def bench(
    out: Annotated[
        Path, typer.Option(help="Where the JSON with every figure, its goal and whether it holds goes.")
    ] = Path("bench.json"),
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes (a few minutes): CI's smoke run.")] = False,
    only: Annotated[str, typer.Option(help=f"Parts to run, comma-separated: {','.join(PARTS)}.")] = ",".join(PARTS),
    pledges: Annotated[
        int, typer.Option(min=1, help="Published pledges in the registry part (--quick: at most 300).")
    ] = 100_000,
    databases: Annotated[str, typer.Option(help="Registry databases: sqlite,postgresql.")] = ",".join(DATABASES),
    postgres_url: Annotated[
        str, typer.Option(help="A PostgreSQL server and a database to connect to; the bench creates and drops its own.")
    ] = "postgresql+psycopg://127.0.0.1:5432/test",
    open_pledges: Annotated[
        int, typer.Option(min=1, help="Open pledges for the worker memory figure (--quick: at most 50).")
    ] = 10_000,
    keep: Annotated[
        Path | None,
        typer.Option(help="Leave the SQLite registry the bench built in DIR/registry.sqlite.", metavar="DIR"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated pledges.")] = 2026,
) -> None:
    """Benchmark the whole stack on this machine: engine, pledges, email, history, registry, memory, inbound.

    Each part starts its own real servers (Temporal dev and time-skipping servers, an SMTP sink, uvicorn,
    the databases) on free ports. docs/benchmark.md says what each figure means and its goal.
    """
    parts = _names(only, PARTS, "--only")
    chosen = tuple(_names(databases, DATABASES, "--databases"))
    if keep is not None and ("sqlite" not in chosen or "registry" not in parts):
        raise typer.BadParameter(
            "--keep keeps the registry part's SQLite registry: run the registry part with sqlite in --databases",
            param_hint="--keep",
        )

    from pledgeflow.bench.run import bench as run_bench

    holds = run_bench(
        {
            "registry_pledges": pledges,
            "databases": chosen,
            "postgres_url": postgres_url,
            "open_pledges": open_pledges,
            "seed": seed,
        },
        quick,
        parts,
        out,
        keep,
    )
    typer.echo(f"figures written to {out}; every goal holds: {'yes' if holds else 'no'}")
    if keep is not None:
        kept = keep.resolve() / "registry.sqlite"
        typer.echo(f"registry kept: PLEDGEFLOW_DATABASE_URL=sqlite:///{kept} pledgeflow api")
