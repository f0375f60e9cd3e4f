#!/usr/bin/env python
"""Fault suite: a real receiver under real OTLP traffic, one fault per scenario, then what was lost.

    python bench/faults.py [--only NAME ...] [--data-dir DIR] [--workers N] [--fuzz N]

Every LLM call the driver sends has its own (trace_id, span_id). After the fault and a recovery (a
restart that replays what the spool still holds, then SIGTERM), the rows are counted per call: sent,
acknowledged (the exporter got 200), stored (in llmcost.llm_usage, clamped values included), dead
(dead-lettered in llmcost.rejected_calls: kept with its reason, so not lost), duplicated (rows beyond one
per call, both tables together), lost (acknowledged but in neither table). Target: 0 lost and 0
duplicated everywhere. Scenarios that need tmpfs mounts (store-full-chdb, disk-full) must run as root.
`--workers N` runs every receiver with N ingest worker processes (receiver.workers; default: the receiver's
own, one per core); kill9-early/-midflush/-twice then kill the process that owns the store, kill9-worker
and kill9-workers-during-insert the workers (with one worker there is none: they kill nothing).
`--fuzz N` runs tests/test_fuzz.py with N examples per property instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fault_receiver import CONFIG
from fault_scenarios import SCENARIOS, Scenario
from throughput import table  # bench/ is on sys.path when this file is run as a script

HEADER = ["scenario", "sent", "acked", "stored", "dead", "dup", "lost", "notes"]


def run(name: str, root: Path) -> list[str]:
    s = Scenario(root, name)
    try:
        SCENARIOS[name](s)
        return [name, *s.settle()] if s.counted else [name, "0", "0", "-", "-", "-", "-", "; ".join(s.notes)]
    except Exception as exc:  # one broken scenario must not hide the others' rows
        return [name, "-", "-", "-", "-", "-", "-", f"driver error: {type(exc).__name__}: {exc}"]
    finally:
        if s.receiver and s.receiver.alive():
            s.receiver.kill()
        if s.unmount:
            subprocess.run(["umount", str(s.unmount)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--data-dir", type=Path, help="keep each scenario's data and log under DIR")
    parser.add_argument("--fuzz", type=int, metavar="N", help="run tests/test_fuzz.py with N examples instead")
    parser.add_argument("--workers", type=int, metavar="N", help="receiver.workers of every receiver")
    args = parser.parse_args()
    if args.workers:
        CONFIG["receiver"] = {"workers": args.workers}
    if args.fuzz:
        tests = Path(__file__).resolve().parent.parent / "tests" / "test_fuzz.py"
        env = {**os.environ, "FUZZ_EXAMPLES": str(args.fuzz)}
        sys.exit(subprocess.run([sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"],
                                env=env).returncode)
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="llmcost-faults-"))
    rows = []
    for name in args.only or SCENARIOS:
        began = time.monotonic()
        rows.append(run(name, root))
        rows[-1][-1] = f"{time.monotonic() - began:.0f}s; {rows[-1][-1]}"
        print("  ".join(rows[-1]), flush=True)
    print()
    table(HEADER[:-1], [row[:-1] for row in rows])
    print("\nnotes:")
    for row in rows:
        print(f"  {row[0]}: {row[-1]}")
    if not args.data_dir:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"data and receiver logs kept under {root}")
    # Exit 1 when the target (0 lost, 0 duplicated, every scenario run) is missed.
    sys.exit(int(any(row[5] != "0" or row[6] != "0" for row in rows if row[3] != "-" or row[1] == "-")))


if __name__ == "__main__":
    main()
