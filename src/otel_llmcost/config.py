"""Settings: one YAML file (every key optional) plus command-line overrides, validated once.

Defaults live only in the dataclasses below. `load_settings` reports every problem at once in a single
ConfigError rather than stopping at the first.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urlparse

import yaml

from otel_llmcost.errors import ConfigError, yaml_problem
from otel_llmcost.keys import KEYS_FILE

#: Where each attribution dimension is read from, first key found wins. Each dimension is looked up on
#: the call's span, then its ancestors (nearest first), then the resource.
DEFAULT_ATTRIBUTION_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "tenant_id": (
        "tenant.id", "tenant_id", "app.tenant.id", "ai.telemetry.metadata.tenantId", "ai.telemetry.metadata.tenant",
        "ai.settings.context.tenantId", "ai.settings.context.tenant",
        "traceloop.association.properties.tenant_id", "langfuse.trace.metadata.tenant_id",
    ),
    "environment": ("deployment.environment.name", "deployment.environment", "langfuse.environment"),
    "service_name": ("service.name",),
    # After the explicit keys: the name an app gave its AI function or workflow is the next best feature.
    "feature": (
        "feature.name", "feature", "app.feature", "ai.telemetry.functionId", "traceloop.workflow.name",
        "gen_ai.agent.name",
    ),
    "user_id": (
        "user.id", "enduser.id", "langfuse.user.id", "ai.telemetry.metadata.userId", "ai.settings.context.userId",
        "traceloop.association.properties.user_id", "gen_ai.user.id",
    ),
    "session_id": (
        "session.id", "gen_ai.conversation.id", "langfuse.session.id", "ai.telemetry.metadata.sessionId",
        "ai.settings.context.sessionId",
        "traceloop.association.properties.session_id", "gen_ai.session.id",
    ),
    "request_id": ("request.id", "request_id", "app.request.id"),
    "attempt": ("llm.attempt", "otel_llmcost.attempt"),
})

#: The tenant of the API key an export was sent with. Decode strips it from what clients send; the receiver
#: sets it on every span of a tenant key's export, and attribution puts it above every tenant key.
AUTH_TENANT_KEY = "otel_llmcost.auth.tenant"

#: Every attribute under these prefixes lands in the row's `metadata` map (prefix removed, nearest span wins).
METADATA_PREFIXES = (
    "otel_llmcost.metadata.", "ai.telemetry.metadata.", "ai.settings.context.", "traceloop.association.properties.",
    "langfuse.trace.metadata.",
)
#: JSON-object attributes merged into `metadata` (OpenInference's `metadata`).
METADATA_JSON_KEYS = ("metadata",)
#: Array (or JSON array) attributes whose values land in the row's `tags`.
TAG_KEYS = ("otel_llmcost.tags", "langfuse.trace.tags", "tag.tags")


@dataclass(frozen=True)
class ReceiverSettings:
    grpc_host: str | None = None  #: None: 127.0.0.1, or every interface when ingest keys are required
    grpc_port: int = 4317  #: 0 picks a free port (printed in the "ready" line)
    http_host: str | None = None  #: as grpc_host
    http_port: int = 4318
    max_request_bytes: int = 64 * 1024 * 1024  #: after decompression; the OTLP spec recommends 64 MiB
    #: refuse exports without a valid ingest key; once true, a missing key file or none left stops `serve`.
    #: None: false, unless the key file predates ingest/query keys (its keys required ingest keys then)
    require_keys: bool | None = None
    tls_cert_file: str | None = None  #: PEM certificate (chain) for both listeners; None = plain text
    tls_key_file: str | None = None  #: PEM private key of tls_cert_file
    tls_client_ca_file: str | None = None  #: PEM CAs; when set, clients must present a certificate they signed
    read_timeout_seconds: float = 30.0  #: HTTP: a request's headers and body must arrive within this
    max_connections: int = 1000  #: HTTP: open connections at most; a new one beyond closes the oldest

    def hosts(self, keys_required: bool) -> tuple[str, str]:
        """(gRPC, HTTP) addresses to bind: explicit hosts, else every interface only when keys are required
        (the setting, never the mere presence of keys)."""
        default = "0.0.0.0" if keys_required else "127.0.0.1"
        return self.grpc_host or default, self.http_host or default


@dataclass(frozen=True)
class StoreSettings:
    clickhouse: str | None = None  #: clickhouse://user:pass@host:9000/db; None = embedded chDB in data_dir
    database: str = "llmcost"
    batch_max_rows: int = 50_000  #: rows per INSERT at most
    flush_interval_seconds: float = 1.0  #: how often finished traces are priced and written
    cluster: str | None = None  #: a ClickHouse cluster name: replicated tables ON CLUSTER + Distributed ones
    #: llm_usage and requests rows are dropped this many days after their time (0 = never: an upgrade, or a
    #: backfill of old calls, must not delete rows nobody asked to expire)
    raw_ttl_days: int = 0
    rollup_ttl_days: int = 0  #: every rollup but requests; at least raw_ttl_days (0 = never)

    @property
    def database_name(self) -> str:
        """The database in the ClickHouse URL's path, if any, else `database`."""
        path = urlparse(self.clickhouse).path.strip("/") if self.clickhouse else ""
        return path or self.database


@dataclass(frozen=True)
class AttributionSettings:
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_ATTRIBUTION_KEYS)
    trace_wait_seconds: float = 5.0  #: idle time after which a trace whose only missing parents are remote is written
    max_trace_wait_seconds: float = 120.0  #: never hold a trace longer than this (raise it for long agent runs)
    #: approximate bytes of spans held (encoded size + 1 KiB per span); beyond this the receiver answers
    #: "retry later". 256 MiB keeps the receiver's RSS under 1 GB (bench/overload_rss.py).
    max_buffered_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class PricingSettings:
    price_books: tuple[str, ...] = ()  #: user price book files, layered over the bundled one in order


TRACE_KEEP = ("llm", "all", "none")


@dataclass(frozen=True)
class TracesSettings:
    keep: str = "llm"  #: spans stored in otel_traces: of traces holding an LLM call (llm), all, or none
    ttl_days: int = 30  #: otel_traces rows are dropped after this many days (0 = never)
    max_attributes: int = 128  #: per span and per resource; the rest are dropped
    max_attribute_bytes: int = 4096  #: longer values (prompts, completions) are cut to this many bytes


@dataclass(frozen=True)
class QuerySettings:
    """ClickHouse's HTTP interface over the embedded store (for Grafana and SQL clients); read-only."""

    enabled: bool = True  #: off with `serve --no-query-listener`; never on with store.clickhouse (use the server)
    host: str = "127.0.0.1"
    port: int = 8123
    #: every request needs a query key (the CLI's local secret aside); once true, a missing key file or none
    #: left stops `serve`. False: keys are needed once a query key exists, keyless loopback clients otherwise
    require_keys: bool = False
    max_execution_time: float = 60.0  #: seconds per query (clients may ask for less, never more)
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 256 * 1024 * 1024
    max_memory_usage: int = 512 * 1024 * 1024  #: bytes per query
    max_threads: int = 1  #: threads per query: dashboards must not starve ingest of cores
    max_concurrent_queries: int = 2  #: more wait (up to queue_seconds), beyond 4x this are refused
    queue_seconds: float = 30.0


@dataclass(frozen=True)
class AlertSettings:
    file: str | None = None  #: alerts.yaml: budgets, anomaly factor and floor, webhook (otel_llmcost.alerts.rules)


@dataclass(frozen=True)
class Settings:
    data_dir: str = "./llmcost-data"  #: chDB data (embedded store) and the spool
    spool_fsync: bool = True  #: fsync the spool before acknowledging an export
    keys_file: str | None = None  #: API keys (hashed) for ingest and queries; None = <data_dir>/keys.json
    log_level: str = "INFO"
    receiver: ReceiverSettings = field(default_factory=ReceiverSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    attribution: AttributionSettings = field(default_factory=AttributionSettings)
    pricing: PricingSettings = field(default_factory=PricingSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    traces: TracesSettings = field(default_factory=TracesSettings)
    query: QuerySettings = field(default_factory=QuerySettings)

    @property
    def chdb_path(self) -> str:
        return os.path.join(self.data_dir, "chdb")

    @property
    def spool_dir(self) -> str:
        return os.path.join(self.data_dir, "spool")

    @property
    def keys_path(self) -> str:
        return self.keys_file or os.path.join(self.data_dir, KEYS_FILE)


def load_settings(config_file: str | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the YAML file (if any), apply dotted-key overrides ("store.clickhouse": ...), validate."""
    document: dict[str, Any] = {}
    if config_file:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {config_file} is not valid YAML: {yaml_problem(exc)}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping at the top level")
        document = loaded or {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    errors: list[str] = []
    settings = _build(Settings, document, "", errors)
    errors.extend(_validate(settings))
    if errors:
        where = f" in {config_file}" if config_file else ""
        raise ConfigError(f"invalid configuration{where}: " + "; ".join(errors))
    return settings


def _build(cls, document: Any, path: str, errors: list[str]):
    if not isinstance(document, dict):
        errors.append(f"{path.rstrip('.') or 'top level'} must be a mapping")
        return cls()
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in document:
        if key not in known:
            errors.append(f"unknown key {path}{key}")
    values = {}
    for name, fld in known.items():
        if name not in document:
            continue
        value, default = document[name], getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            values[name] = _build(type(default), value, f"{path}{name}.", errors)
        elif name == "keys":
            values[name] = _attribution_keys(value, f"{path}{name}", errors)
        elif name == "price_books":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            values[name] = tuple(value) if ok else ()
            if not ok:
                errors.append(f"{path}{name} must be a list of file paths")
        else:
            values[name] = _scalar(value, fld.type, f"{path}{name}", errors, default)
    return cls(**values)


def _scalar(value: Any, type_name: str, where: str, errors: list[str], default: Any) -> Any:
    expected = {"int": int, "float": (int, float), "bool": bool, "str": str}
    if "None" in type_name and value is None:
        return None
    kind = type_name.replace(" | None", "")
    if isinstance(value, bool) and kind != "bool" or not isinstance(value, expected[kind]):
        errors.append(f"{where} must be {'a number' if kind == 'float' else 'a ' + kind}, got {value!r}")
        return default
    return float(value) if kind == "float" else value


def _attribution_keys(value: Any, where: str, errors: list[str]) -> Mapping[str, tuple[str, ...]]:
    merged = dict(DEFAULT_ATTRIBUTION_KEYS)
    if not isinstance(value, dict):
        errors.append(f"{where} must map a dimension to a list of attribute keys")
        return MappingProxyType(merged)
    for dimension, keys in value.items():
        if dimension not in DEFAULT_ATTRIBUTION_KEYS:
            errors.append(f"{where}.{dimension} is not a dimension ({', '.join(DEFAULT_ATTRIBUTION_KEYS)})")
        elif not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            errors.append(f"{where}.{dimension} must be a non-empty list of attribute keys")
        else:
            merged[dimension] = tuple(keys)
    return MappingProxyType(merged)


def _validate(settings: Settings) -> list[str]:
    errors = []
    receiver, store, attribution = settings.receiver, settings.store, settings.attribution
    for name in ("grpc_port", "http_port"):
        port = getattr(receiver, name)
        if not 0 <= port <= 65535:
            errors.append(f"receiver.{name} must be between 0 and 65535, got {port}")
    query = settings.query
    if not 0 <= query.port <= 65535:
        errors.append(f"query.port must be between 0 and 65535, got {query.port}")
    if query.max_execution_time <= 0 or min(query.max_result_rows, query.max_result_bytes, query.max_memory_usage,
                                            query.max_threads, query.max_concurrent_queries) < 1:
        errors.append("query limits (max_execution_time, max_result_*, max_memory_usage, max_threads, "
                      "max_concurrent_queries) must be positive")
    if receiver.grpc_port and receiver.grpc_port == receiver.http_port:
        errors.append("receiver.grpc_port and receiver.http_port must differ")
    if receiver.max_request_bytes < 1024:
        errors.append("receiver.max_request_bytes must be at least 1024")
    if receiver.read_timeout_seconds <= 0:
        errors.append("receiver.read_timeout_seconds must be positive")
    if receiver.max_connections < 1:
        errors.append("receiver.max_connections must be at least 1")
    if bool(receiver.tls_cert_file) != bool(receiver.tls_key_file):
        errors.append("receiver.tls_cert_file and receiver.tls_key_file go together")
    if receiver.tls_client_ca_file and not receiver.tls_cert_file:
        errors.append("receiver.tls_client_ca_file needs receiver.tls_cert_file and tls_key_file")
    for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
        path = getattr(receiver, name)
        if path and not os.path.isfile(path):
            errors.append(f"receiver.{name}: no such file {path}")
    if store.clickhouse is not None:
        url = urlparse(store.clickhouse)
        if url.scheme not in ("clickhouse", "clickhouses") or not url.hostname:
            errors.append(
                f"store.clickhouse must look like clickhouse://user:pass@host:9000/db, got {store.clickhouse!r}"
            )
        elif not store.database_name.isidentifier():  # it is spliced into SQL as an identifier
            errors.append(f"store.clickhouse: the database must be a plain identifier, got {store.database_name!r}")
    if not store.database.isidentifier():
        errors.append(f"store.database must be a plain identifier, got {store.database!r}")
    if store.cluster is not None and not store.cluster.isidentifier():
        errors.append(f"store.cluster must be a plain identifier, got {store.cluster!r}")
    for name in ("raw_ttl_days", "rollup_ttl_days"):
        if getattr(store, name) < 0:
            errors.append(f"store.{name} must be 0 (keep forever) or a number of days")
    if store.rollup_ttl_days and not 0 < store.raw_ttl_days <= store.rollup_ttl_days:
        errors.append("store.rollup_ttl_days must be 0 or at least store.raw_ttl_days (rollups outlive raw rows)")
    traces = settings.traces
    if traces.keep not in TRACE_KEEP:
        errors.append(f"traces.keep must be one of {', '.join(TRACE_KEEP)}, got {traces.keep!r}")
    if traces.ttl_days < 0 or traces.max_attributes < 0 or traces.max_attribute_bytes < 16:
        errors.append("traces.ttl_days and traces.max_attributes must be >= 0, traces.max_attribute_bytes >= 16")
    if store.batch_max_rows < 1:
        errors.append("store.batch_max_rows must be at least 1")
    if store.flush_interval_seconds <= 0:
        errors.append("store.flush_interval_seconds must be positive")
    if attribution.trace_wait_seconds < 0 or attribution.max_trace_wait_seconds < attribution.trace_wait_seconds:
        errors.append("attribution.trace_wait_seconds must be >= 0 and <= attribution.max_trace_wait_seconds")
    if attribution.max_buffered_bytes < 1024:
        errors.append("attribution.max_buffered_bytes must be at least 1024")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        errors.append(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
    for path in settings.pricing.price_books:
        if not os.path.isfile(path):
            errors.append(f"pricing.price_books: no such file {path}")
    if settings.alerts.file:
        from otel_llmcost.alerts.rules import load_alert_rules  # the file is read once here to reject it early

        try:
            load_alert_rules(settings.alerts.file)
        except ConfigError as exc:
            errors.append(f"alerts.file: {exc}")
    return errors
