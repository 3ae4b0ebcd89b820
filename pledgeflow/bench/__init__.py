"""``pledgeflow bench``: every figure of SPEC.md §9 in one run on one machine (docs/benchmark.md).

A module per part, each an ``async def run(scale, progress) -> Part``: ``engine`` (bare engine rates, pledge
and report-cycle throughput, decision latency), ``email``, ``history``, ``registry``, ``memory`` and
``inbound``. ``figures`` holds what a part measures and whether its goal holds, ``servers`` the real
servers they run against, ``run`` the order, the progress display, the JSON file and the summary table.
"""
