"""GET /api/v1/budgets/status?tenant=&feature=&user=&project=&key= : may this call go ahead? What a gateway asks
before it (`key`: the id of the ingest key the call will be sent with).

For every budget the call counts against (the tenant's month and day, its feature's, user's, project's and
key's: alerts.yaml, alerts/budgets.py): the budget, what is spent in the period, what remains, whether it is
allowed (something remains) and when the period resets; `allowed` overall is all of them. One query over the
rollups (usage_daily, users_daily, projects_hourly), through the same guarded, tenant-scoped path as every
query: a tenant key asks about its own tenant only (the tenant parameter defaults to the key's), and its row
policy limits the read too. bench/budget_status.py measures it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from aiohttp import web

from otel_llmcost.alerts import budgets
from otel_llmcost.alerts.queries import bind
from otel_llmcost.alerts.rules import AlertRules
from otel_llmcost.query.errors import ACCESS_DENIED, QueryError
from otel_llmcost.query.executor import QueryRequest

_BAD_ARGUMENTS = 36
_JSON_SETTINGS = {"output_format_json_quote_decimals": "1", "output_format_json_quote_64bit_integers": "0"}


def add_routes(app: web.Application, listener, rules: AlertRules) -> None:
    configured = tuple(budgets.Budget(tenant, "tenant", "", "monthly", usd) for tenant, usd in
                       sorted(rules.budgets.items())) + rules.scoped_budgets

    async def status(request: web.Request) -> web.Response:
        params = dict(request.query)
        try:
            who = listener.admit(request)
            tenant = params.get("tenant", "")
            if who.tenant is not None:
                if tenant and tenant != who.tenant:
                    raise QueryError(ACCESS_DENIED, "a tenant key reads only its own tenant's budgets")
                tenant = who.tenant
            if not tenant:
                raise QueryError(_BAD_ARGUMENTS, "tenant is required with an admin key")
            scopes = {level: params.get(level, "") for level in budgets.LEVELS[1:]}
            now = datetime.now(timezone.utc)
            result = await listener.run(QueryRequest(
                bind(budgets.TENANT_SPEND, listener.database), who, "JSONEachRow",
                params=budgets.spend_parameters(tenant, scopes, now), settings=_JSON_SETTINGS))
        except QueryError as exc:
            return web.json_response({"error": exc.message, "code": exc.code, "name": exc.name}, status=exc.status)
        [spend] = [json.loads(line) for line in result.body.decode().splitlines() if line]
        rows = budgets.status(budgets.applying(configured, tenant, scopes), spend, now)
        return web.json_response({"tenant": tenant, **scopes,
                                  "allowed": all(row["allowed"] for row in rows), "budgets": rows})

    app.router.add_get("/api/v1/budgets/status", status)
