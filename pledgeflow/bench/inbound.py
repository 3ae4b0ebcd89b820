"""The inbound corpus figures: how many people's replies are read right, how much machine mail is known."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pledgeflow.bench.figures import Goal, Part
from pledgeflow.bench.scale import Progress, Scale
from pledgeflow.inbound.corpus import measure

# The corpus ships with the repository's tests (built from public test suites), beside this package.
CORPUS = Path(__file__).resolve().parents[2] / "tests" / "inbound" / "corpus"


async def run(scale: Scale, progress: Progress) -> Part:
    if not CORPUS.is_dir():
        raise FileNotFoundError(f"the inbound corpus is not at {CORPUS}; run the bench from a clone of the repository")
    progress("inbound: reading the corpus")
    figures = await asyncio.to_thread(measure, CORPUS)
    part = Part("inbound")
    part.add("replies read right", figures.reply_share * 100, "%", Goal(">=", 80))
    part.add("machine mail recognised", figures.machine_share * 100, "%", Goal(">=", 98))
    part.add("replies taken for machine mail", figures.replies_taken_for_machine, "replies", Goal("<=", 0))
    part.details = {**figures.as_json(), "misread": figures.misread}
    return part
