"""The Grafana ClickHouse data source plugin, emulated, and the dashboards of grafana/dashboards/ as data.

`expand()` emulates the ClickHouse data source plugin (grafana-clickhouse-datasource v4): first the frontend's
$__conditionalAll, then Grafana's variable interpolation, then the backend's time macros. tests/test_grafana.py
tests it; bench/query_speed.py times the dashboards' queries through it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: file name -> dashboard, as grafana/dashboards/ holds them when this module is imported
DASHBOARDS = {path.name: json.loads(path.read_text()) for path in sorted(ROOT.glob("grafana/dashboards/*.json"))}
ALL = "$__all"

# --- the plugin, emulated --------------------------------------------------------------------------------

#: The default range and interval: the tests' day of seeded rows, hourly buckets.
FROM = datetime(2026, 11, 1, tzinfo=timezone.utc)
TO = datetime(2026, 11, 2, tzinfo=timezone.utc)
HOUR_S = 3600


def expand(sql: str, variables: dict[str, str | list[str]], time_range: tuple[datetime, datetime] = (FROM, TO),
           interval_s: int = HOUR_S) -> str:
    """The SQL the server receives for `sql` with these variable values (lists for multi-value variables),
    over `time_range`, with Grafana's interval for the panel `interval_s` seconds."""
    sql = _conditional_all(sql, variables)
    sql = _interpolate(sql, variables)
    return _time_macros(sql, *time_range, interval_s)


def _conditional_all(sql: str, variables: dict) -> str:
    """$__conditionalAll(cond, $var) is `cond`, or 1=1 when $var is All or empty.

    As CHDatasource.applyConditionalAll: innermost-last first, arguments split at top-level commas.
    """
    macro = "$__conditionalAll("
    while (start := sql.rfind(macro)) != -1:
        depth, args, arg_start = 0, [], start + len(macro)
        for i in range(start + len(macro) - 1, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            if (sql[i] == "," and depth == 1) or depth == 0:
                args.append(sql[arg_start:i])
                arg_start = i + 1
            if depth == 0:
                break
        condition, var_ref = args
        value = variables[re.fullmatch(r"\$\{?(\w+)\}?", var_ref.strip()).group(1)]
        current = ",".join(value) if isinstance(value, list) else value  # JS Array.toString()
        phrase = "1=1" if current in ("", ALL) else condition
        sql = sql.replace(f"{macro}{condition},{var_ref})", phrase, 1)
    return sql


def _interpolate(sql: str, variables: dict) -> str:
    """$var, ${var} and ${var:singlequote}, as Grafana's templateSrv and the plugin's format() write them."""

    def replace(match: re.Match) -> str:
        name, fmt = match.group(1) or match.group(3), match.group(2)
        if name.startswith("__"):
            return match.group(0)  # a backend macro
        value = variables[name]
        values = value if isinstance(value, list) else [value]
        assert ALL not in values, f"${name} is All outside $__conditionalAll: Grafana would inline all values"
        if fmt == "singlequote":  # Grafana: each value in '...', with ' escaped as \'
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        assert fmt is None, f"format {fmt!r} is not emulated"
        return "'" + "','".join(value) + "'" if isinstance(value, list) else value  # the plugin's format()

    return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)", replace, sql)


def _time_macros(sql: str, since: datetime, until: datetime, interval_s: int) -> str:
    """The backend macros (pkg/macros/macros.go) for the range since..until and the interval `interval_s`."""
    start, end = f"toDateTime({int(since.timestamp())})", f"toDateTime({int(until.timestamp())})"
    bucket = f"INTERVAL {max(interval_s, 1)} second"
    sql = re.sub(r"\$__timeFilter\(([^()]*)\)", lambda m: f"{m[1]} >= {start} AND {m[1]} <= {end}", sql)
    sql = re.sub(r"\$__timeInterval\(([^()]*)\)",
                 lambda m: f"toStartOfInterval(toDateTime({m[1]}), {bucket})", sql)
    sql = re.sub(r"\$__interval_s\b", str(max(interval_s, 1)), sql)
    sql = re.sub(r"\$__fromTime\b", start, sql)
    sql = re.sub(r"\$__toTime\b", end, sql)
    assert "$" not in sql, f"unexpanded macro or variable in: {sql}"
    return sql


# --- the dashboards as data ------------------------------------------------------------------------------


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.extend(panel.get("panels", []) if panel["type"] == "row" else [panel])
    return found


def variables_of(dashboard: dict) -> dict[str, dict]:
    return {var["name"]: var for var in dashboard["templating"]["list"]}


def sql_texts(dashboard: dict) -> list[tuple[dict, str, str]]:
    """(query variable or panel, the panel target's refId or "" for a variable, SQL) of every SQL text of the
    dashboard, variables first."""
    found = [(var, "", var["query"]["rawSql"]) for var in variables_of(dashboard).values() if var["type"] == "query"]
    for panel in panels(dashboard):
        found.extend((panel, target["refId"], target["rawSql"]) for target in panel["targets"])
    return found


def queries(dashboard: dict) -> dict[str, str]:
    """Every SQL text of the dashboard, query variables and panel targets, by a readable name."""
    return {f"panel {owner['title']!r} {ref_id}" if ref_id else f"var {owner['name']}": sql
            for owner, ref_id, sql in sql_texts(dashboard)}


def by_uid(uid: str) -> dict:
    return next(board for board in DASHBOARDS.values() if board["uid"] == uid)


def settings(uid: str, **chosen: str) -> dict[str, str | list[str]]:
    """Variable values: All for the query variables unless chosen, as lists for multi-value variables."""
    values = {}
    for name, var in variables_of(by_uid(uid)).items():
        if var["type"] == "query":
            value = chosen.get(name, ALL)
            values[name] = [value] if var["multi"] else value
        elif var["type"] == "textbox":
            values[name] = chosen.get(name, "")
    return values
