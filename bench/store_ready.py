"""A receiver's store, open: `serve` prints its ready line once it accepts exports (spool replayed, listeners
up) and opens the store after that (GET /storez: 200 once open). A benchmark that times storing, or that
fills the store's disk, waits for both, as the ready line alone meant before.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable


def wait_store_open(http_port: int, timeout: float = 120.0, alive: Callable[[], bool] = lambda: True) -> float | None:
    """time.perf_counter() when GET /storez first answered 200; None when the receiver stopped first (`alive`:
    whether it still runs; a store that cannot open stops it). SystemExit after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/storez", timeout=10) as response:
                if response.status == 200:
                    return time.perf_counter()
        except OSError:  # 503 while it opens
            pass
        time.sleep(0.01)
    raise SystemExit(f"the receiver's store did not open within {timeout:.0f} s")
