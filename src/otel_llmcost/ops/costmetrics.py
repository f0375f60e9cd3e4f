"""Cost as metrics: every stored call's cost in a histogram (gen_ai.client.operation.cost, USD) and its
tokens by kind in counters, by a configured set of row attributes; served in Prometheus text on /metrics
and sent as OTLP metrics (cumulative) to the forward destinations.

For dashboards and alerts in a metrics stack; the exact totals stay in ClickHouse. A call is counted once it
is stored (with `--store none`, once priced), at the price it got then: repricing and price-book changes
never reach counted calls, and the counters start again at zero when the receiver restarts.

Cardinality is bounded: at most `max_series` attribute combinations; calls of any further combination go
to one overflow series (attribute otel.metric.overflow = true), and are counted.

Restarts: every OTLP point of a process carries the process's start as start_time_unix_nano, so the points
after a restart start later than any point before it, and a backend reads the lower values as a reset of the
same series (the resource's service.instance.id is kept in the data directory, so the series are the same)
rather than as a drop. Several receivers have their own instance ids and so their own series.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otel_llmcost.model import UsageRow

#: USD per call.
COST_BUCKETS = tuple(Decimal(b) for b in ("0.0001", "0.0005", "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1",
                                          "5", "10"))
#: Token kinds: every UsageRow field counting tokens (input includes cache reads and writes, as stored).
TOKEN_KINDS = tuple(f.name.removesuffix("_tokens") for f in dataclasses.fields(UsageRow) if f.name.endswith("_tokens"))
#: Row attributes a series may be keyed by: the row's text fields.
SERIES_ATTRIBUTES = tuple(f.name for f in dataclasses.fields(UsageRow) if f.type == "str")
#: Their OTLP attribute names, where a convention names them.
OTLP_NAMES = {"tenant_id": "tenant.id", "feature": "feature.name", "service_name": "service.name",
              "environment": "deployment.environment.name", "provider": "gen_ai.provider.name",
              "request_model": "gen_ai.request.model", "response_model": "gen_ai.response.model",
              "operation": "gen_ai.operation.name", "user_id": "user.id", "session_id": "session.id"}
OVERFLOW = "otel.metric.overflow"
COST_METRIC, TOKEN_METRIC = "gen_ai.client.operation.cost", "otel_llmcost.token.usage"


@dataclass(slots=True)
class _Series:
    priced: int = 0  # calls with a cost
    unpriced: int = 0
    cost: Decimal = Decimal(0)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(COST_BUCKETS) + 1))
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KINDS, 0))


class CostMetrics:
    """Thread-safe: the flusher observes, /metrics and the OTLP export read."""

    def __init__(self, attributes: Sequence[str], max_series: int, instance_id: str):
        """`instance_id`: the receiver's service.instance.id (instance_id() keeps one per data directory)."""
        self.attributes = tuple(attributes)
        self._instance_id = instance_id
        self._max_series = max_series
        self._lock = threading.Lock()
        self._series: dict[tuple[str, ...] | None, _Series] = {}  # None: the overflow series
        self.overflow_calls = 0
        self._start_ns = time.time_ns()

    def observe(self, rows: Sequence[UsageRow]) -> None:
        with self._lock:
            for row in rows:
                key = tuple(getattr(row, name) for name in self.attributes)
                series = self._series.get(key)
                if series is None:
                    if len(self._series) - (None in self._series) >= self._max_series:
                        self.overflow_calls += 1
                        series = self._series.setdefault(None, _Series())
                    else:
                        series = self._series[key] = _Series()
                if row.cost_usd is None:
                    series.unpriced += 1
                else:
                    series.priced += 1
                    series.cost += row.cost_usd
                    series.buckets[bisect.bisect_left(COST_BUCKETS, row.cost_usd)] += 1
                for kind in TOKEN_KINDS:
                    series.tokens[kind] += getattr(row, f"{kind}_tokens")

    def prometheus_lines(self, label_value: Callable[[str], str]) -> list[str]:
        """The text exposition of the series; `label_value` escapes a label value."""
        with self._lock:
            series = [(self._labels(key, label_value), s.priced, s.unpriced, s.cost, list(s.buckets),
                       dict(s.tokens))
                      for key, s in self._series.items()]
            overflow = self.overflow_calls
        lines = [("# HELP gen_ai_client_operation_cost_usd Cost of each stored LLM call, USD"
                  " (exact totals: ClickHouse)."),
                 "# TYPE gen_ai_client_operation_cost_usd histogram"]
        for labels, priced, _, cost, buckets, _ in series:
            cumulative = 0
            for bound, count in zip((*map(str, COST_BUCKETS), "+Inf"), buckets, strict=True):
                cumulative += count
                lines.append(f'gen_ai_client_operation_cost_usd_bucket{{{labels}{"," if labels else ""}le="{bound}"}} '
                             f"{cumulative}")
            lines.append(f"gen_ai_client_operation_cost_usd_sum{{{labels}}} {cost}")
            lines.append(f"gen_ai_client_operation_cost_usd_count{{{labels}}} {priced}")
        lines += ["# HELP llmcost_calls_unpriced_total Stored LLM calls without a cost (no price for the model).",
                  "# TYPE llmcost_calls_unpriced_total counter"]
        lines += [f"llmcost_calls_unpriced_total{{{labels}}} {unpriced}" for labels, _, unpriced, *_ in series]
        lines += [("# HELP llmcost_tokens_total Tokens of stored LLM calls by kind (input includes cache reads"
                   " and writes)."), "# TYPE llmcost_tokens_total counter"]
        lines += [f'llmcost_tokens_total{{{labels}{"," if labels else ""}kind="{kind}"}} {count}'
                  for labels, *_, tokens in series for kind, count in tokens.items()]
        lines += [("# HELP llmcost_metric_overflow_calls_total Calls counted in the overflow series"
                   " (over max_series)."),
                  "# TYPE llmcost_metric_overflow_calls_total counter",
                  f"llmcost_metric_overflow_calls_total {overflow}"]
        return lines

    def _labels(self, key: tuple[str, ...] | None, label_value: Callable[[str], str]) -> str:
        if key is None:
            return 'otel_metric_overflow="true"'
        return ",".join(f'{name}="{label_value(value)}"' for name, value in zip(self.attributes, key, strict=True))

    def otlp(self) -> tuple[int, bytes] | None:
        """(data points, ExportMetricsServiceRequest bytes) of every series, cumulative; None when empty."""
        now = time.time_ns()
        request = ExportMetricsServiceRequest()
        resource = request.resource_metrics.add()
        resource.resource.attributes.add(key="service.name").value.string_value = "otel-llmcost"
        resource.resource.attributes.add(key="service.instance.id").value.string_value = self._instance_id
        scope = resource.scope_metrics.add()
        scope.scope.name = "otel_llmcost"
        cost = scope.metrics.add(name=COST_METRIC, unit="USD", description="Cost of each stored LLM call")
        cost.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        tokens = scope.metrics.add(name=TOKEN_METRIC, unit="{token}", description="Tokens of stored LLM calls")
        tokens.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        tokens.sum.is_monotonic = True
        with self._lock:
            for key, series in self._series.items():
                point = cost.histogram.data_points.add(start_time_unix_nano=self._start_ns, time_unix_nano=now,
                                                       count=series.priced, sum=float(series.cost))
                point.explicit_bounds.extend(float(bound) for bound in COST_BUCKETS)
                point.bucket_counts.extend(series.buckets)
                self._attributes(point.attributes, key)
                for kind, count in series.tokens.items():
                    token_point = tokens.sum.data_points.add(start_time_unix_nano=self._start_ns, time_unix_nano=now,
                                                             as_int=count)
                    self._attributes(token_point.attributes, key)
                    token_point.attributes.add(key="gen_ai.token.type").value.string_value = kind
            points = len(self._series) * (1 + len(TOKEN_KINDS))
        return (points, request.SerializeToString()) if points else None

    def _attributes(self, attributes: RepeatedCompositeFieldContainer[KeyValue], key: tuple[str, ...] | None) -> None:
        if key is None:
            attributes.add(key=OVERFLOW).value.bool_value = True
            return
        for name, value in zip(self.attributes, key, strict=True):
            attributes.add(key=OTLP_NAMES.get(name, f"otel_llmcost.{name}")).value.string_value = value


_INSTANCE_FILE = "instance-id"


def instance_id(data_dir: str) -> str:
    """This receiver's service.instance.id: a UUID made once and kept in `data_dir`, the same after a restart."""
    path = os.path.join(data_dir, _INSTANCE_FILE)
    try:
        with open(path, encoding="ascii") as kept:
            return kept.read().strip()
    except FileNotFoundError:
        pass
    made = str(uuid.uuid4())
    os.makedirs(data_dir, exist_ok=True)
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w", encoding="ascii") as out:
        out.write(made + "\n")
    os.replace(partial, path)
    return made
