"""Grafana JSON for panels, variables and links, in the shapes the ClickHouse plugin's own dashboards use."""

from __future__ import annotations

from otel_llmcost.alerts.grafana import DATASOURCE_UID, PLUGIN
from scripts.dashboards.sql import DB, EVERY_TENANT, VARIABLES, cond

DATASOURCE = {"type": PLUGIN, "uid": "${datasource}"}
FORMATS = {"timeseries": 0, "table": 1, "stat": 1, "barchart": 1, "traces": 3}


class Layout:
    """Places panels left to right in rows 24 units wide; gives each panel a unique id."""

    def __init__(self):
        self.panels: list[dict] = []
        self._x = self._y = self._row_height = 0

    def add(self, panel: dict, w: int, h: int) -> None:
        if self._x + w > 24:
            self._x, self._y, self._row_height = 0, self._y + self._row_height, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self._x, "y": self._y, "w": w, "h": h}
        self._x += w
        self._row_height = max(self._row_height, h)
        self.panels.append(panel)


def panel(kind: str, title: str, sql: str, description: str, unit: str = "short", overrides: list | None = None,
          options: dict | None = None) -> dict:
    defaults: dict = {"unit": unit}
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                              "spanNulls": False}
    elif kind == "table":
        defaults["custom"] = {"align": "auto", "filterable": True, "cellOptions": {"type": "auto"}}
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or _OPTIONS.get(kind, {}),
        "targets": [{"datasource": DATASOURCE, "editorType": "sql", "format": FORMATS[kind],
                     "queryType": "traces" if kind == "traces" else "table", "rawSql": sql.strip(), "refId": "A"}],
    }


_OPTIONS = {
    "stat": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value",
             "graphMode": "none", "justifyMode": "auto", "orientation": "auto", "textMode": "auto"},
    "timeseries": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                   "tooltip": {"mode": "multi", "sort": "desc"}},
    "table": {"showHeader": True, "cellHeight": "sm"},
}


def units(**by_column: str) -> list[dict]:
    return [{"matcher": {"id": "byName", "options": column}, "properties": [{"id": "unit", "value": unit}]}
            for column, unit in by_column.items()]


def link(column: str, title: str, target_uid: str, **params: str) -> dict:
    """A data link on `column` to dashboard `target_uid`, setting its variables (values are link templates)
    and keeping the time range and data source."""
    query = "&".join(f"var-{name}={value}" for name, value in params.items())
    url = f"/d/{target_uid}?{query}&${{__url_time_range}}&var-datasource=${{datasource}}"
    return {"matcher": {"id": "byName", "options": column},
            "properties": [{"id": "links", "value": [{"title": title, "url": url}]}]}


CLICKED = "${__value.raw}"
ROW_TENANT = "${__data.fields.tenant_id}"


def variables(textboxes: tuple[str, ...] = (), more: tuple[tuple[str, str, str, str], ...] = ()) -> list[dict]:
    """The data source, then one multi-value variable per dimension (values in the range, narrowed by the
    tenant), then `more` of them ((name, column, label, the daily or hourly rollup their values come from)),
    then free-text ones."""
    found = [{"type": "datasource", "name": "datasource", "label": "Data source", "query": PLUGIN,
              "current": {"selected": False, "text": "llmcost ClickHouse", "value": DATASOURCE_UID},
              "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1, "regex": ""}]
    # each from the smallest daily rollup that has it: tenants and features from features_daily, users from
    # users_daily, the other dimensions over all tenants from usage_all_daily (else usage_daily)
    tables = {"tenant": "features_daily", "feature": "features_daily", "user": "users_daily"}
    dimensions = [(name, column, label, tables.get(name, "usage_daily")) for name, column, label in VARIABLES]
    for name, column, label, table in dimensions + list(more):
        narrowed = "" if name == "tenant" else f"\n  AND {cond('tenant_id', 'tenant')}"
        named = " AND user_id != ''" if name == "user" else ""
        time = "day" if table.endswith("_daily") else "toDate(hour)"
        where = f"WHERE {time} >= toDate($__fromTime) AND {time} <= toDate($__toTime){narrowed}{named}"
        sql = f"SELECT DISTINCT {column} FROM {DB}.{table}\n{where}\nORDER BY {column}"
        if table == "usage_daily":
            sql = (f"SELECT DISTINCT {column} FROM (\n  SELECT {column} FROM {DB}.usage_all_daily\n  {where}"
                   f" AND {EVERY_TENANT}\n  UNION ALL\n  SELECT {column} FROM {DB}.{table}\n  {where}"
                   f" AND NOT ({EVERY_TENANT}))\nORDER BY {column}")
        found.append({
            "type": "query", "name": name, "label": label, "datasource": DATASOURCE, "definition": sql,
            "query": {"editorType": "sql", "format": 1, "rawSql": sql}, "refresh": 2, "multi": True,
            "includeAll": True, "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [], "sort": 1, "hide": 0, "regex": ""})
    for name in textboxes:
        found.append({"type": "textbox", "name": name, "label": name, "query": "", "hide": 0,
                      "current": {"text": "", "value": ""}, "options": []})
    return found


def dashboard(uid: str, title: str, description: str, layout: Layout, textboxes: tuple[str, ...] = (),
              more: tuple[tuple[str, str, str, str], ...] = ()) -> dict:
    return {
        "uid": uid, "title": title, "description": description, "id": None, "editable": True, "graphTooltip": 1,
        "schemaVersion": 39, "version": 1, "tags": ["llmcost"], "time": {"from": "now-7d", "to": "now"},
        "timepicker": {}, "timezone": "utc", "refresh": "", "fiscalYearStartMonth": 0, "liveNow": False,
        "links": [{"type": "dashboards", "tags": ["llmcost"], "title": "LLM cost dashboards", "asDropdown": True,
                   "includeVars": True, "keepTime": True, "icon": "external link"}],
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables(textboxes, more)},
        "panels": layout.panels,
    }
