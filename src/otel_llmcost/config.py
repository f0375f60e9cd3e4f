"""Settings: one YAML file (every key optional) plus command-line overrides, validated once.

Defaults live only in the dataclasses below. `load_settings` reports every problem at once in a single
ConfigError rather than stopping at the first.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
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
    # the project a call is charged to (the Node tracker's projectName, the Tinybird template's project)
    "project": (
        "llm.project", "project.name", "project", "app.project", "ai.telemetry.metadata.projectName",
        "ai.telemetry.metadata.project", "traceloop.association.properties.project", "langfuse.trace.metadata.project",
    ),
    "attempt": ("llm.attempt", "otel_llmcost.attempt"),
})

#: What the receiver knows of the API key an export was sent with, as span attributes under AUTH_PREFIX.
#: Decode strips every attribute under the prefix from what clients send; the receiver sets the key's tenant
#: (a tenant key's export), which attribution puts above every tenant key, and the key's id (any key), which
#: is the row's api_key_id (never the secret).
AUTH_PREFIX = "otel_llmcost.auth."
AUTH_TENANT_KEY = AUTH_PREFIX + "tenant"
AUTH_KEY_ID_KEY = AUTH_PREFIX + "key_id"

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
    #: ingest worker processes (decode, spool, trace buffer, rows; each trace's spans go to one of them);
    #: None: one per core this process may run on. 1 (the default): everything in the receiver's own process.
    #: Not one per core by default: on 2 cores (bench/ingest.py, 200k spans, load 13-21, after the stuck
    #: trace was fixed) 2 workers were slower end to end (half-LLM mix 2.3k spans/s against 3.0k for 1;
    #: firehose 7.0k against 7.8k) at more CPU per span, and their peak RSS is over 1 GB (half 1,992 MB
    #: against 1,364: the store's owner alone 1,103, each worker ~440; firehose 1,368 against 1,004).
    workers: int | None = 1

    @property
    def worker_count(self) -> int:
        return self.workers or len(os.sched_getaffinity(0))

    def hosts(self, keys_required: bool) -> tuple[str, str]:
        """(gRPC, HTTP) addresses to bind: explicit hosts, else every interface only when keys are required
        (the setting, never the mere presence of keys)."""
        default = "0.0.0.0" if keys_required else "127.0.0.1"
        return self.grpc_host or default, self.http_host or default


@dataclass(frozen=True)
class StoreSettings:
    clickhouse: str | None = None  #: clickhouse://user:pass@host:9000/db; None = embedded chDB in data_dir
    #: false (`serve --store none`): nothing is stored; the receiver prices spans and forwards them only
    enabled: bool = True
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
    #: idle time after its root arrived before a trace with an LLM call is written: another service's spans
    #: of the call (an LLM proxy's exporter) may come after the app's root, and merge with it only if they
    #: meet before the trace is written. The OTel SDKs' batch span processors export every 5 s by default.
    root_settle_seconds: float = 6.0
    #: approximate bytes of spans held (encoded size + 1 KiB per span); beyond this the receiver answers
    #: "retry later". Python holds 1.0-1.3x this in objects: bench/ingest.py (200k spans, 1 worker) peaked at
    #: 1.15 GB (half-LLM mix) and 0.92 GB (firehose) with 256 MiB, 1.03 and 0.78-0.81 GB with 160 MiB. It
    #: bounds sustained spans/s to ~cap / (root_settle_seconds x charged bytes per span): 160 MiB, ~10k/s half
    #: mix (2.6 KB per span), ~20k/s firehose (1.4 KB).
    max_buffered_bytes: int = 160 * 1024 * 1024


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
    max_concurrent_queries_per_key: int = 1  #: so one key (tenant, dashboard) never takes every slot
    queue_seconds: float = 30.0


FORWARD_PROTOCOLS = ("grpc", "http/protobuf")


@dataclass(frozen=True)
class ForwardDestination:
    """One OTLP destination every accepted span (and metric and log) is sent on to."""

    endpoint: str = ""  #: grpc: host:port or http(s)://host:port; http/protobuf: base URL (/v1/traces is added)
    name: str = ""  #: names its queue cursor and its /metrics series; default: the endpoint
    protocol: str = "grpc"  #: grpc or http/protobuf
    headers: Mapping[str, str] = field(default_factory=dict)  #: sent with every export (e.g. an API key)
    compression: str = "gzip"  #: gzip or none
    timeout_seconds: float = 10.0  #: per export attempt
    tls: bool | None = None  #: None: TLS when the endpoint starts with https://
    ca_file: str | None = None  #: PEM CAs to trust instead of the system's
    cert_file: str | None = None  #: PEM client certificate (mutual TLS)
    key_file: str | None = None  #: PEM private key of cert_file

    @property
    def label(self) -> str:
        return self.name or self.endpoint

    @property
    def uses_tls(self) -> bool:
        return self.tls if self.tls is not None else self.endpoint.startswith("https://")


@dataclass(frozen=True)
class ForwardSettings:
    """The processor role: spans go on to these destinations, LLM calls with their cost (forward/)."""

    destinations: tuple[ForwardDestination, ...] = ()
    #: bytes the forward queue may hold on disk; beyond it the oldest unsent data of the destinations that
    #: are behind is dropped (counted in llmcost_forward_dropped_spans_total), never ingest slowed
    max_queue_bytes: int = 1024 * 1024 * 1024
    max_retry_delay_seconds: float = 30.0  #: backoff cap between attempts to a destination that fails
    max_batch_bytes: int = 4 * 1024 * 1024  #: an export to a destination carries at most this much


#: Row attributes cost metrics may be keyed by (ops/costmetrics.py SERIES_ATTRIBUTES, the row's text fields).
METRIC_ATTRIBUTES = ("tenant_id", "environment", "service_name", "feature", "user_id", "session_id", "request_id",
                     "provider", "operation", "request_model", "response_model", "status", "error_type",
                     "cost_status", "price_id", "service_tier", "instrumentation")


@dataclass(frozen=True)
class MetricsSettings:
    """Cost as metrics (ops/costmetrics.py): on /metrics, and as OTLP to the forward destinations."""

    #: the attributes of each series; every one multiplies the series count (user_id or request_id rarely fit)
    attributes: tuple[str, ...] = ("tenant_id", "feature", "service_name", "environment", "provider",
                                   "request_model")
    max_series: int = 2000  #: beyond, calls go to one overflow series (otel_metric_overflow="true"), counted
    export_interval_seconds: float = 60.0  #: how often OTLP metrics go to the forward destinations


@dataclass(frozen=True)
class AlertSettings:
    file: str | None = None  #: alerts.yaml: budgets, anomaly factor and floor, webhook (otel_llmcost.alerts.rules)


@dataclass(frozen=True)
class ChargebackSettings:
    #: chargeback.yaml: tenants' markups and currencies, dated exchange rates (otel_llmcost.reports.chargeback);
    #: `serve` stores them when it starts, for the dashboards' billed cost
    file: str | None = None


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
    chargeback: ChargebackSettings = field(default_factory=ChargebackSettings)
    traces: TracesSettings = field(default_factory=TracesSettings)
    query: QuerySettings = field(default_factory=QuerySettings)
    forward: ForwardSettings = field(default_factory=ForwardSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @property
    def forward_dir(self) -> str:
        return os.path.join(self.data_dir, "forward")

    @property
    def chdb_path(self) -> str:
        return os.path.join(self.data_dir, "chdb")

    @property
    def spool_dir(self) -> str:
        return os.path.join(self.data_dir, "spool")

    @property
    def keys_path(self) -> str:
        return self.keys_file or os.path.join(self.data_dir, KEYS_FILE)


def load_yaml(path: str, what: str) -> Any:
    """The document of a YAML file (None when empty); ConfigError naming `what` ("alerts file"), the file
    and the problem: unreadable, not UTF-8, or the line and column where the YAML goes wrong."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {yaml_problem(exc)}") from exc


def load_settings(config_file: str | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the YAML file (if any), apply dotted-key overrides ("store.clickhouse": ...), validate."""
    document: dict[str, Any] = {}
    if config_file:
        loaded = load_yaml(config_file, "config file")
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
        elif name == "attributes":
            ok = isinstance(value, list) and all(isinstance(v, str) and v in METRIC_ATTRIBUTES for v in value)
            values[name] = tuple(value) if ok else ()
            if not ok:
                errors.append(f"{path}{name} must be a list of: {', '.join(METRIC_ATTRIBUTES)}")
        elif name == "destinations":
            values[name] = _destinations(value, f"{path}{name}", errors)
        elif name == "headers":
            ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            values[name] = MappingProxyType(dict(value)) if ok else MappingProxyType({})
            if not ok:
                errors.append(f"{path}{name} must map header names to string values")
        elif name == "keys":
            values[name] = _attribution_keys(value, f"{path}{name}", errors)
        elif name == "price_books":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            values[name] = tuple(value) if ok else ()
            if not ok:
                errors.append(f"{path}{name} must be a list of file paths")
        else:
            values[name] = _scalar(value, str(fld.type), f"{path}{name}", errors, default)
    return cls(**values)


_SCALAR_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def _has_kind(value: object, kind: str) -> bool:
    """Whether `value` is a setting of this kind (a bool is not a number)."""
    return not (isinstance(value, bool) and kind != "bool") and isinstance(value, _SCALAR_TYPES[kind])


def _scalar(value: Any, type_name: str, where: str, errors: list[str], default: Any) -> Any:
    if "None" in type_name and value is None:
        return None
    kind = type_name.replace(" | None", "")
    if not _has_kind(value, kind):
        errors.append(f"{where} must be {'a number' if kind == 'float' else 'a ' + kind}, got {value!r}")
        return default
    return float(value) if kind == "float" else value


def _destinations(value: Any, where: str, errors: list[str]) -> tuple[ForwardDestination, ...]:
    if not isinstance(value, list):
        errors.append(f"{where} must be a list of destinations")
        return ()
    return tuple(_build(ForwardDestination, item, f"{where}[{index}].", errors) for index, item in enumerate(value))


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
                                            query.max_threads, query.max_concurrent_queries,
                                            query.max_concurrent_queries_per_key) < 1:
        errors.append("query limits (max_execution_time, max_result_*, max_memory_usage, max_threads, "
                      "max_concurrent_queries*) must be positive")
    if receiver.grpc_port and receiver.grpc_port == receiver.http_port:
        errors.append("receiver.grpc_port and receiver.http_port must differ")
    if receiver.max_request_bytes < 1024:
        errors.append("receiver.max_request_bytes must be at least 1024")
    if receiver.read_timeout_seconds <= 0:
        errors.append("receiver.read_timeout_seconds must be positive")
    if receiver.max_connections < 1:
        errors.append("receiver.max_connections must be at least 1")
    if receiver.workers is not None and not 1 <= receiver.workers <= 256:
        errors.append(f"receiver.workers must be between 1 and 256 (or null: one per core), got {receiver.workers}")
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
    if attribution.root_settle_seconds < 0:
        errors.append("attribution.root_settle_seconds must be >= 0")
    if attribution.max_buffered_bytes < 1024:
        errors.append("attribution.max_buffered_bytes must be at least 1024")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        errors.append(f"log_level must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level!r}")
    for path in settings.pricing.price_books:
        if not os.path.isfile(path):
            errors.append(f"pricing.price_books: no such file {path}")
    errors.extend(_validate_forward(settings))
    if settings.alerts.file:
        from otel_llmcost.alerts.rules import load_alert_rules  # the file is read once here to reject it early

        try:
            load_alert_rules(settings.alerts.file)
        except ConfigError as exc:
            errors.append(f"alerts.file: {exc}")
    if settings.chargeback.file:
        from otel_llmcost.reports.chargeback import load_chargeback

        try:
            load_chargeback(settings.chargeback.file)
        except ConfigError as exc:
            errors.append(f"chargeback.file: {exc}")
    return errors


def _validate_forward(settings: Settings) -> list[str]:
    errors, forward = [], settings.forward
    labels = [destination.label for destination in forward.destinations]
    if len(set(labels)) != len(labels):
        errors.append("forward.destinations: two destinations have the same name (or endpoint)")
    for index, destination in enumerate(forward.destinations):
        where = f"forward.destinations[{index}]"
        if not destination.endpoint:
            errors.append(f"{where}.endpoint is required")
        if destination.protocol not in FORWARD_PROTOCOLS:
            errors.append(f"{where}.protocol must be one of {', '.join(FORWARD_PROTOCOLS)}")
        if destination.protocol == "http/protobuf" and not destination.endpoint.startswith(("http://", "https://")):
            errors.append(f"{where}.endpoint must be an http:// or https:// URL for http/protobuf")
        if destination.compression not in ("gzip", "none"):
            errors.append(f"{where}.compression must be gzip or none")
        if destination.timeout_seconds <= 0:
            errors.append(f"{where}.timeout_seconds must be positive")
        if bool(destination.cert_file) != bool(destination.key_file):
            errors.append(f"{where}.cert_file and key_file go together")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(destination, name)
            if path and not os.path.isfile(path):
                errors.append(f"{where}.{name}: no such file {path}")
    if forward.max_queue_bytes < 1024 * 1024 or forward.max_batch_bytes < 1024 or forward.max_retry_delay_seconds <= 0:
        errors.append("forward.max_queue_bytes must be at least 1 MiB, max_batch_bytes at least 1024,"
                      " max_retry_delay_seconds positive")
    if settings.metrics.max_series < 1 or settings.metrics.export_interval_seconds <= 0:
        errors.append("metrics.max_series must be at least 1 and metrics.export_interval_seconds positive")
    if not settings.store.enabled and not forward.destinations:
        errors.append("store.enabled false (--store none) needs forward.destinations: the spans would go nowhere")
    return errors
