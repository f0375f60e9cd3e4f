"""POST findings to a webhook as JSON (the shape Slack-compatible relays and simple receivers accept)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from otel_llmcost.alerts.findings import Finding
from otel_llmcost.errors import OtelLlmCostError

_TIMEOUT_SECONDS = 10


class WebhookError(OtelLlmCostError):
    """The webhook did not take the findings."""


def post_findings(url: str, findings: list[Finding]) -> None:
    """One POST with every finding; raises WebhookError unless the answer is 2xx."""
    body = json.dumps({
        "source": "otel-llmcost",
        "text": "\n".join(finding.message for finding in findings),
        "findings": [finding.as_json() for finding in findings],
    }).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise WebhookError(f"webhook {url} answered HTTP {error.code}") from error
    except (urllib.error.URLError, OSError) as exc:
        raise WebhookError(f"webhook {url} did not answer: {exc}") from exc
