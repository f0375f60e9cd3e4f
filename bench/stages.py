#!/usr/bin/env python
"""Each write-path stage's CPU cost per span, in-process, for both ingest mixes side by side.

    python bench/stages.py [--spans N] [--repeat R] [--traces llm|all|none]

The stages are bench/throughput.py's in_process (the pipeline's own stage objects, one flush of ~51k
spans at a time, chDB's own threads included); each figure is the lowest of --repeat runs, as other
jobs on the machine only ever add time. Mixes as bench/ingest.py: half (half the spans LLM calls) and
firehose (5 % LLM calls in deep app traces). Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import sys

from throughput import in_process, table  # bench/ is on sys.path when this file is run as a script
from workload import make_batches, make_firehose


def stage_costs(mix: str, spans: int, repeat: int, keep: str) -> tuple[int, dict[str, tuple[float, str]]]:
    """(spans, stage -> (lowest CPU µs/span, side)) of `repeat` in-process runs of the mix."""
    if mix == "half":
        batches, counts, _traces, _calls = make_batches(spans, 0.5)
    else:
        batches, counts, _traces, _calls = make_firehose(spans, 0.05)
    n = sum(counts)
    best: dict[str, tuple[float, str]] = {}
    for _ in range(repeat):
        for name, cpu, _wall, side in in_process(batches, (False,), keep):
            us = cpu / n * 1e6
            if name not in best or us < best[name][0]:
                best[name] = (us, side)
    return n, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=50_000, help="spans per mix (default 50,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mix; the lowest figure is kept")
    parser.add_argument("--traces", choices=["llm", "all", "none"], default="llm", help="traces.keep")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}; "
          f"{args.spans:,} spans per mix, lowest of {args.repeat} runs, traces.keep {args.traces}, spool fsync off")
    results = {mix: stage_costs(mix, args.spans, args.repeat, args.traces) for mix in ("half", "firehose")}
    names = list(results["firehose"][1])
    rows = [[name, *(f"{results[mix][1][name][0]:.2f}" for mix in results)] for name in names]
    for side in ("ingest", "flush"):
        rows.append([f"= {side} total", *(
            f"{sum(us for us, s in results[mix][1].values() if s == side):.2f}" for mix in results)])
    totals = [sum(us for us, s in results[mix][1].values() if s) for mix in results]
    rows.append(["= all, one core", *(f"{total:.2f}" for total in totals)])
    rows.append(["  spans/s on one core", *(f"{1e6 / total:,.0f}" for total in totals)])
    print("\nCPU µs per span (of all spans of the mix)")
    table(["stage", "half", "firehose"], rows)
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
