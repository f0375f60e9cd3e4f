"""Which ClickHouse settings a client may send (URL parameters or a query's SETTINGS clause).

Every setting is in exactly one class: a limit the client may only tighten, a harmless one applied as
sent, one ignored because this interface already behaves that way (sessions, progress headers), or
refused. Unknown names are refused: a new ClickHouse setting is not harmless until someone says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from otel_llmcost.query.errors import READONLY, QueryError

# Limits we impose; a client may lower them, never lift them (0 would mean "no limit" to ClickHouse).
LIMITS = ("max_execution_time", "max_result_rows", "max_result_bytes", "max_memory_usage", "max_threads")
_TIGHTEN_ONLY = frozenset(LIMITS) | {"max_rows_to_read", "max_bytes_to_read", "limit"}

# Output shape and SQL dialect details: they change how answers look, never what may be read. Not here:
# use_query_cache (every session is `default`, so one key's cached answer would serve another's query).
_APPLIED = frozenset({
    "date_time_output_format", "date_time_input_format", "session_timezone", "join_use_nulls", "extremes",
    "cast_keep_nullable", "aggregate_functions_null_for_empty", "prefer_column_name_to_alias",
    "union_default_mode", "joined_subquery_requires_alias", "totals_mode", "group_by_use_nulls", "offset",
    "final", "transform_null_in",
    "date_time_overflow_behavior", "output_format_decimal_trailing_zeros", "precise_float_parsing",
    "cast_string_to_dynamic_use_inference",
})
_APPLIED_PREFIXES = ("output_format_json_", "output_format_pretty_", "output_format_csv_", "output_format_tsv_",
                     "output_format_arrow_", "output_format_native_", "output_format_write_statistics")

# Sent by clickhouse-connect, @clickhouse/client and Grafana's driver; what they ask for is already so.
_IGNORED = frozenset({
    "session_id", "session_timeout", "session_check", "send_progress_in_http_headers",
    "http_headers_progress_interval_ms", "wait_end_of_query", "buffer_size", "http_response_buffer_size",
    "cancel_http_readonly_queries_on_client_close", "stacktrace", "quota_key", "log_comment",
    "http_write_exception_in_output_format", "enable_http_compression", "http_zlib_compression_level",
    "log_queries", "insert_deduplicate", "async_insert", "wait_for_async_insert",
})
_IGNORED_PREFIXES = ("input_format_",)  # nothing is ever inserted here

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a setting's name is spliced into SET: nothing else passes


@dataclass(frozen=True, slots=True)
class Limits:
    max_execution_time: float
    max_result_rows: int
    max_result_bytes: int
    max_memory_usage: int
    max_threads: int = 1  # per query: ingest keeps the other cores


def classify(name: str, value: str, limits: Limits) -> str | None:
    """The value to apply for `name`, None to ignore it; QueryError when it is not allowed."""
    if not _NAME.match(name):
        raise QueryError(115, f"Unknown setting {name!r}")
    if name == "readonly":
        if value.strip() in ("1", "2"):
            return None  # every query here is read-only already
        raise QueryError(READONLY, "Cannot modify 'readonly' setting in readonly mode")
    if name == "compress" or name == "decompress":
        if value.strip() in ("0", ""):
            return None
        raise QueryError(READONLY, f"setting '{name}' (block compression) is not supported here; "
                                   "ask for gzip with Accept-Encoding and enable_http_compression=1")
    if name in _TIGHTEN_ONLY:
        return _tightened(name, value, limits)
    if name in _APPLIED or name.startswith(_APPLIED_PREFIXES):
        return value
    if name in _IGNORED or name.startswith(_IGNORED_PREFIXES):
        return None
    raise QueryError(READONLY, f"Cannot modify '{name}' setting: this read-only interface allows only "
                               "output and dialect settings and lower limits")


def _tightened(name: str, value: str, limits: Limits) -> str:
    text = value.strip().strip("'")
    if not _NUMBER.match(text) or float(text) <= 0:
        raise QueryError(READONLY, f"setting '{name}' must be a positive number here, got {value!r}")
    cap = getattr(limits, name, None)
    if cap is not None and float(text) > cap:
        return str(cap)  # the client asked for more than we allow: it gets our limit
    return text


def limit_statements(limits: Limits) -> dict[str, str]:
    """The settings every request runs with; result overflow throws instead of cutting answers short."""
    return {
        "max_execution_time": str(limits.max_execution_time),
        "max_result_rows": str(limits.max_result_rows),
        "max_result_bytes": str(limits.max_result_bytes),
        "max_memory_usage": str(limits.max_memory_usage),
        "max_threads": str(limits.max_threads),
        "result_overflow_mode": "'throw'",
        "timeout_overflow_mode": "'throw'",
    }
