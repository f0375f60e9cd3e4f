"""The Collector recipes in otel/recipes/ parse, wire every component they use, and agree with each other and
with the receiver's own settings (no Collector installs here: the configs are checked by parsing)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otel_llmcost.config import load_settings

RECIPES = Path(__file__).resolve().parent.parent / "otel" / "recipes"
COLLECTORS = ("fanout.yaml", "forward-edge-collector.yaml", "forward-backend-collector.yaml", "loadbalancing.yaml")


def _load(name: str) -> dict:
    return yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))


def _kind(component_id: str) -> str:
    return component_id.split("/", 1)[0]


@pytest.mark.parametrize("name", COLLECTORS)
def test_every_component_a_pipeline_uses_is_defined(name):
    config = _load(name)
    pipelines = config["service"]["pipelines"]
    assert pipelines
    for pipeline in pipelines.values():
        assert pipeline["receivers"] and pipeline["exporters"]
        for section in ("receivers", "processors", "exporters"):
            for component_id in pipeline.get(section, []):
                assert component_id in config[section], f"{name}: {section}: {component_id} is not defined"
        # nothing may sample or filter before the receiver: attribution needs every span
        assert not {_kind(p) for p in pipeline.get("processors", [])} & {"tail_sampling", "probabilistic_sampler",
                                                                         "filter"}


def test_fanout_sends_every_span_to_the_backend_and_the_receiver():
    traces = _load("fanout.yaml")["service"]["pipelines"]["traces"]
    assert len(traces["exporters"]) == 2
    assert {_kind(e) for e in traces["exporters"]} == {"otlp_grpc"}
    assert any(e.endswith("/llmcost") for e in traces["exporters"])


def _grpc_port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_forward_chain_connects_collector_receiver_collector():
    edge, backend = _load("forward-edge-collector.yaml"), _load("forward-backend-collector.yaml")
    settings = load_settings(str(RECIPES / "forward-llmcost.yaml"))  # the receiver's own validation
    # every signal of the edge Collector goes to the receiver's gRPC port
    for signal in ("traces", "metrics", "logs"):
        [exporter] = edge["service"]["pipelines"][signal]["exporters"]
        assert _grpc_port(edge["exporters"][exporter]["endpoint"]) == settings.receiver.grpc_port
    # the receiver forwards to the backend Collector's OTLP/gRPC receiver
    [destination] = settings.forward.destinations
    assert destination.protocol == "grpc"
    assert _grpc_port(destination.endpoint) == _grpc_port(backend["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert set(backend["service"]["pipelines"]) == {"traces", "metrics", "logs"}


def test_loadbalancing_routes_by_trace_id_to_receivers():
    config = _load("loadbalancing.yaml")
    [exporter_id] = config["service"]["pipelines"]["traces"]["exporters"]
    assert _kind(exporter_id) in ("loadbalancing", "load_balancing")
    exporter = config["exporters"][exporter_id]
    assert exporter["routing_key"] == "traceID"  # every span of a trace to the same receiver
    assert "otlp" in exporter["protocol"] and "endpoint" not in exporter["protocol"]["otlp"]
    hostnames = exporter["resolver"]["static"]["hostnames"]
    assert len(hostnames) > 1 and all(_grpc_port(h) == 4317 for h in hostnames)
