"""One fault run: the stack as processes, the seeded lifecycles, the chaos loop, then the checks.

``python -m tests.faults.run`` (``make faults``) is the long variant: 100 lifecycles, 8 worker kills, a
2-minute SMTP outage (then a minute of 421 and 451), a 1-minute database outage and 2 API restarts. It prints
a table of figures and writes them as JSON (``--out``); it exits 1 when any check found a problem.
tests/faults/test_fault_suite.py runs the short variant of the same code in ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.faults.chaos import Chaos, Faults
from tests.faults.checks import Findings, check
from tests.faults.driver import Driver
from tests.faults.stack import Stack


@dataclass
class Run:
    seed: int
    pledges: int
    spread: float  # seconds over which the lifecycles start
    faults: Faults
    settle_timeout: float  # after the driver and the chaos loop are done, how long the pledges have to end


LONG = Run(seed=14, pledges=100, spread=240.0,
           faults=Faults(window=300.0, worker_kills=8, smtp_outage=120.0, database_outage=60.0, api_restarts=2),
           settle_timeout=600.0)  # fmt: skip
SHORT = Run(seed=14, pledges=20, spread=20.0,
            faults=Faults(window=40.0, worker_kills=2, smtp_outage=8.0, database_outage=4.0, api_restarts=1),
            settle_timeout=240.0)  # fmt: skip


async def execute(run: Run, directory: Path) -> dict[str, Any]:
    """Run it in ``directory`` (the parts' logs and the sink's record stay there); the figures."""
    began = time.monotonic()
    stack = Stack(directory)
    await stack.start()
    driver = Driver(stack, run.seed)
    try:
        lifecycles = driver.plan(run.pledges)
        chaos = Chaos(stack, run.faults, run.seed)
        await asyncio.gather(driver.run(lifecycles, run.spread), chaos.run())
        findings = await check(
            stack, lifecycles, driver.server_errors, run.settle_timeout, len(chaos.done.worker_kills)
        )
    finally:
        await driver.close()
        await stack.stop()
    return {
        "seed": run.seed,
        "pledges": run.pledges,
        "faults_asked": asdict(run.faults),
        "faults_done": asdict(chaos.done),
        "transport_errors_seen_by_clients": driver.transport_errors,
        "seconds": round(time.monotonic() - began, 1),
        "counts": findings.counts,
        "problems": {name: len(items) for name, items in _all(findings).items()},
        "details": findings.problems(),
        "stranded_unconfirmed": sorted(findings.stranded.values()),
        "plans": {plan: sum(lc.plan == plan for lc in lifecycles) for plan in sorted({lc.plan for lc in lifecycles})},
    }


def _all(findings: Findings) -> dict[str, list[str]]:
    return {name: value for name, value in vars(findings).items() if isinstance(value, list)}


def table(figures: dict[str, Any]) -> Table:
    done = figures["faults_done"]
    result = Table(title=f"Fault run, seed {figures['seed']}, {figures['seconds']} s")
    result.add_column("figure")
    result.add_column("value", justify="right")
    rows = [
        ("lifecycles", figures["pledges"]),
        *[(f"  plan {plan}", count) for plan, count in figures["plans"].items()],
        *[(name.replace("_", " "), value) for name, value in figures["counts"].items() if name != "lifecycles"],
        ("worker kills", len(done["worker_kills"])),
        ("SMTP refused / 421 / 451 (s)", " / ".join(f"{s['seconds']:.0f}" for s in done["smtp"]) or "0"),
        ("database outage (s)", sum(float(d["seconds"]) for d in done["database"])),
        ("API restarts", len(done["api_restarts"])),
        ("requests without an answer (API down)", figures["transport_errors_seen_by_clients"]),
        *[(name.replace("_", " "), count) for name, count in figures["problems"].items()],
    ]
    for name, value in rows:
        result.add_row(str(name), str(value))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="make faults", description="The fault suite's long run (docs/reliability.md)."
    )
    parser.add_argument(
        "--seed", type=int, default=LONG.seed, help="the same seed draws the same plans and fault times"
    )
    parser.add_argument("--pledges", type=int, default=LONG.pledges, help="lifecycles to run")
    parser.add_argument("--kills", type=int, default=LONG.faults.worker_kills, help="worker SIGKILLs")
    parser.add_argument(
        "--smtp-outage",
        type=float,
        default=LONG.faults.smtp_outage,
        help="seconds the SMTP port refuses connections; then half as long each of 421 and 451",
    )
    parser.add_argument(
        "--db-outage", type=float, default=LONG.faults.database_outage, help="seconds the database refuses connections"
    )
    parser.add_argument("--api-restarts", type=int, default=LONG.faults.api_restarts, help="API SIGKILLs and restarts")
    parser.add_argument(
        "--smtp-hang",
        type=float,
        default=0.0,
        help="seconds the SMTP server takes DATA and never answers, after the 451s",
    )
    parser.add_argument("--out", type=Path, default=Path("faults.json"), help="where the figures go (JSON)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the parts' logs and the mail here")
    arguments = parser.parse_args()
    for name in ("pledges", "kills", "api_restarts", "smtp_outage", "db_outage", "smtp_hang"):
        if getattr(arguments, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more")
    run = Run(
        seed=arguments.seed,
        pledges=arguments.pledges,
        spread=LONG.spread,
        faults=Faults(
            window=LONG.faults.window,
            worker_kills=arguments.kills,
            smtp_outage=arguments.smtp_outage,
            database_outage=arguments.db_outage,
            api_restarts=arguments.api_restarts,
            smtp_hang=arguments.smtp_hang,
        ),
        settle_timeout=LONG.settle_timeout,
    )
    directory = arguments.keep or Path(tempfile.mkdtemp(prefix="pledgeflow-faults-"))
    figures = asyncio.run(execute(run, directory))
    arguments.out.write_text(json.dumps(figures, indent=2))
    Console().print(table(figures))
    Console().print(f"figures: {arguments.out}; logs and mail: {directory}")
    if arguments.keep is None and not any(figures["problems"].values()):
        shutil.rmtree(directory, ignore_errors=True)
    sys.exit(1 if any(figures["problems"].values()) else 0)


if __name__ == "__main__":
    main()
