"""What an API key says about an export: what clients send under its attributes is dropped, what the key says
is set (its tenant, for a tenant key; its id, for every key: the row's api_key_id, never the secret).

Stripping happens on the parsed request, before anything else reads it, so a forged attribute never
reaches the spool; binding sets the attributes on every span, so they survive the spool and a restart.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.config import AUTH_KEY_ID_KEY, AUTH_PREFIX, AUTH_TENANT_KEY

#: Protobuf strings are raw UTF-8, so a body that does not contain these bytes cannot carry such an attribute.
AUTH_TENANT_BYTES = AUTH_PREFIX.encode()


def strip_auth_tenant(request: PB2ExportTraceServiceRequest) -> None:
    """Remove every resource and span attribute under AUTH_PREFIX (clients cannot forge them)."""
    for resource_spans in request.resource_spans:
        _strip(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _strip(span.attributes)


def bind_key(request: PB2ExportTraceServiceRequest, key_id: str, tenant: str | None) -> None:
    """Set AUTH_KEY_ID_KEY = key_id and, for a tenant key, AUTH_TENANT_KEY = tenant on every span (after
    strip_auth_tenant: they are then the only ones)."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.attributes.add(key=AUTH_KEY_ID_KEY).value.string_value = key_id
                if tenant is not None:
                    span.attributes.add(key=AUTH_TENANT_KEY).value.string_value = tenant


def _strip(attributes) -> None:
    forged = [index for index, kv in enumerate(attributes) if kv.key.startswith(AUTH_PREFIX)]
    for index in reversed(forged):
        del attributes[index]
