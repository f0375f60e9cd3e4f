"""RateLimitedLog: one line per key per interval, the next one saying how many were held back."""

from __future__ import annotations

import logging
import time

from otel_llmcost.ops.ratelog import RateLimitedLog


def test_one_line_per_key_per_interval_then_the_count_held_back(caplog):
    limited = RateLimitedLog(logging.getLogger("ratelog-test"), interval_seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="ratelog-test"):
        for index in range(50):
            limited.warn_rarely("rejected", "rejected span %d", index)
        limited.warn_rarely("refused", "refused an export")
        assert [record.getMessage() for record in caplog.records] == ["rejected span 0", "refused an export"]
        time.sleep(0.3)  # longer than the interval: the next line may go out
        limited.warn_rarely("rejected", "rejected span %d", 50)
    assert caplog.records[-1].getMessage() == "rejected span 50 (49 more like this in the last 0.2s)"
