"""Where each ingest worker spools: the spool directory itself with one worker (the layout of every release
before workers), `worker-<n>` under it with several.

When the number of workers changes between runs, segments no current worker would read are handed to one
that will, before any spool is opened: the spool directory's own segments to worker 0, those of a worker
beyond the count to worker n % count, a worker's to the spool directory when one worker remains. A
segment is moved whole by a rename, after the segments its new worker has (so it is replayed like them);
a crash in between leaves each file in one place or the other. Spans of a trace that was in flight across
the change may meet their trace's later spans in another worker: each part is then attributed on its own
(as a trace whose spans come after the buffer forgot it); nothing is lost or stored twice.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

_WORKER_DIR = re.compile(r"worker-(\d+)")


def worker_spool_dir(spool_dir: str, worker: int, workers: int) -> str:
    return spool_dir if workers == 1 else str(Path(spool_dir) / f"worker-{worker}")


def adopt_orphans(spool_dir: str, workers: int) -> int:
    """Move every segment no worker of `workers` reads to one that does; returns the segments moved."""
    root = Path(spool_dir)
    if not root.is_dir():
        return 0
    sources: list[tuple[Path, int]] = [] if workers == 1 else [(root, 0)]
    for entry in sorted(root.iterdir()):
        match = _WORKER_DIR.fullmatch(entry.name)
        if match and entry.is_dir() and (workers == 1 or int(match[1]) >= workers):
            sources.append((entry, int(match[1]) % workers))
    moved = 0
    for source, worker in sources:
        target = Path(worker_spool_dir(spool_dir, worker, workers))
        segments = _segments(source)
        if not segments:
            continue
        target.mkdir(parents=True, exist_ok=True)
        following = max(_segments(target), default=0) + 1
        for segment in segments:
            (source / f"{segment:012d}.jsonl").rename(target / f"{following:012d}.jsonl")
            following += 1
            moved += 1
        logger.info("spool segments of %s (%d) handed to %s: the number of workers changed", source,
                    len(segments), target)
    return moved


def _segments(directory: Path) -> list[int]:
    return sorted(int(path.stem) for path in directory.glob("*.jsonl") if path.stem.isdigit())
