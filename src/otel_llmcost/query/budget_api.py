"""GET /api/v1/budgets/status?tenant=&feature=&user=&project=&key= : may this call go ahead? What a gateway asks
before it (`key`: the id of the ingest key the call will be sent with).

For every budget the call counts against (the tenant's month and day, its feature's, user's, project's and
key's: alerts.yaml, alerts/budgets.py): the budget, what is spent in the period, what remains, whether it is
allowed (something remains) and when the period resets; `allowed` overall is all of them. Answered from the
receiver's spend ledger (alerts/ledger.py: the rollups at start, advanced by every INSERT), with no query:
the listener runs in the process that holds the store, which every ingest worker's rows pass through. The
key is checked as for every query: a tenant key asks about its own tenant only (the tenant parameter defaults
to the key's). bench/budget_status.py measures it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from otel_llmcost.alerts import budgets
from otel_llmcost.alerts.ledger import SpendLedger
from otel_llmcost.alerts.rules import AlertRules
from otel_llmcost.query.errors import ACCESS_DENIED, QueryError

_BAD_ARGUMENTS = 36


def add_routes(app: web.Application, listener, rules: AlertRules, ledger: SpendLedger) -> None:
    by_tenant: dict[str, list[budgets.Budget]] = {}  # of a platform's thousands of budgets, a tenant's are read
    for budget in tuple(budgets.Budget(tenant, "tenant", "", "monthly", usd) for tenant, usd in
                        sorted(rules.budgets.items())) + rules.scoped_budgets:
        by_tenant.setdefault(budget.tenant, []).append(budget)

    async def status(request: web.Request) -> web.Response:
        params = request.query
        try:
            who = listener.admit(request)
            tenant = params.get("tenant", "")
            if who.tenant is not None:
                if tenant and tenant != who.tenant:
                    raise QueryError(ACCESS_DENIED, "a tenant key reads only its own tenant's budgets")
                tenant = who.tenant
            if not tenant:
                raise QueryError(_BAD_ARGUMENTS, "tenant is required with an admin key")
        except QueryError as exc:
            return web.json_response({"error": exc.message, "code": exc.code, "name": exc.name}, status=exc.status)
        scopes = {level: params.get(level, "") for level in budgets.LEVELS[1:]}
        applying = budgets.applying(by_tenant.get(tenant, []), tenant, scopes)
        rows = budgets.status(applying, ledger.spent(tenant, scopes), datetime.now(timezone.utc))
        return web.json_response({"tenant": tenant, **scopes,
                                  "allowed": all(row["allowed"] for row in rows), "budgets": rows})

    app.router.add_get("/api/v1/budgets/status", status)
