"""Every SQL text of grafana/dashboards/*.json, as bench/query_speed.py times it: classified, with its target,
and expanded by tests/grafana_plugin.py as the Grafana ClickHouse plugin would send it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from grafana_plugin import DASHBOARDS, expand, settings, sql_texts  # noqa: E402

TARGET_MS = {"overview": 100, "variable": 100, "list": 300}  # issue 9's targets; variables held to the overview's
DRILL_DOWN = "llmcost-drilldown"
#: Title words of the drill-down's panels that list single requests, attempts, spans or calls.
LISTED = ("request", "attempt", "trace", "span", "call")
PANEL_WIDTH_PX = 1000  # Grafana asks for about one point per pixel (maxDataPoints = the panel's width)
#: Grafana's roundInterval (rangeutil.ts), from a second up: (below this many ms, the interval in seconds).
NICE_INTERVALS = ((1500, 1), (3500, 2), (7500, 5), (12500, 10), (17500, 15), (25000, 20), (45000, 30),
                  (90000, 60), (210000, 120), (450000, 300), (750000, 600), (1050000, 900), (1500000, 1200),
                  (2700000, 1800), (5400000, 3600), (9000000, 7200), (16200000, 10800), (32400000, 21600),
                  (86400000, 43200), (604800000, 86400), (1814400000, 604800), (3628800000, 2592000))


@dataclass(frozen=True)
class DashboardQuery:
    dashboard: str  # uid
    name: str  # the panel's title (+ refId when it has several targets), or "var <name>"
    kind: str  # a key of TARGET_MS
    sql: str  # as the dashboard holds it, macros and variables unexpanded

    @property
    def label(self) -> str:
        return f"{self.dashboard.removeprefix('llmcost-')}: {self.name}"

    def expanded(self, time_range: tuple[datetime, datetime], **chosen: str) -> str:
        """The SQL Grafana sends over `time_range` with these variables chosen (the others All or empty)."""
        since, until = time_range
        return expand(self.sql, settings(self.dashboard, **chosen), time_range,
                      grafana_interval((until - since).total_seconds()))


def grafana_interval(range_s: float) -> int:
    """$__interval_s for a PANEL_WIDTH_PX wide panel: range / width, rounded as Grafana rounds it."""
    per_point_ms = range_s * 1000 / PANEL_WIDTH_PX
    return next((seconds for below, seconds in NICE_INTERVALS if per_point_ms < below), 31536000)


def kind_of(dashboard: str, owner: dict, ref_id: str) -> str:
    """variable, list (a drill-down table or trace view that lists single items, by its title's words) or
    overview (every other panel)."""
    if not ref_id:
        return "variable"
    listing = owner["type"] in ("table", "traces") and any(word in owner["title"].lower() for word in LISTED)
    return "list" if dashboard == DRILL_DOWN and listing else "overview"


def dashboard_queries(only: str = "") -> list[DashboardQuery]:
    """Every panel target and query variable of every dashboard whose label contains `only`."""
    found = []
    for board in DASHBOARDS.values():
        for owner, ref_id, sql in sql_texts(board):
            several = bool(ref_id) and len(owner["targets"]) > 1
            name = (f"{owner['title']} {ref_id}" if several else owner["title"]) if ref_id else f"var {owner['name']}"
            found.append(DashboardQuery(board["uid"], name, kind_of(board["uid"], owner, ref_id), sql))
    return [query for query in found if only.lower() in query.label.lower()]
