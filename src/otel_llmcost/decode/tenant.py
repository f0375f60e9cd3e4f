"""The tenant an API key binds: what clients send under its attribute is dropped, what the key says is set.

Stripping happens on the parsed request, before anything else reads it, so a forged attribute never
reaches the spool; binding sets the attribute on every span, so it survives the spool and a restart.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.config import AUTH_TENANT_KEY

#: Protobuf strings are raw UTF-8, so a body that does not contain these bytes cannot carry the attribute.
AUTH_TENANT_BYTES = AUTH_TENANT_KEY.encode()


def strip_auth_tenant(request: PB2ExportTraceServiceRequest) -> None:
    """Remove every resource and span attribute named AUTH_TENANT_KEY (clients cannot forge it)."""
    for resource_spans in request.resource_spans:
        _strip(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _strip(span.attributes)


def bind_tenant(request: PB2ExportTraceServiceRequest, tenant: str) -> None:
    """Set AUTH_TENANT_KEY = tenant on every span (after strip_auth_tenant: it is then the only one)."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.attributes.add(key=AUTH_TENANT_KEY).value.string_value = tenant


def _strip(attributes) -> None:
    forged = [index for index, kv in enumerate(attributes) if kv.key == AUTH_TENANT_KEY]
    for index in reversed(forged):
        del attributes[index]
