"""The query listener's settings: flags, config keys, validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from otel_llmcost.cli import _parser, _settings
from otel_llmcost.config import load_settings
from otel_llmcost.errors import ConfigError


def test_flags_turn_the_listener_off_and_move_it():
    settings = _settings(_parser().parse_args(["serve", "--no-query-listener", "--query-port", "9123"]))
    assert (settings.query.enabled, settings.query.port, settings.query.host) == (False, 9123, "127.0.0.1")
    default = _settings(_parser().parse_args(["serve"])).query
    assert (default.enabled, default.port, default.max_threads) == (True, 8123, 1)


def test_config_keys_and_their_checks():
    settings = load_settings(None, {"query.host": "0.0.0.0", "query.max_execution_time": 5})
    assert (settings.query.host, settings.query.max_execution_time) == ("0.0.0.0", 5.0)
    with pytest.raises(ConfigError, match="query.port"):
        load_settings(None, {"query.port": 70000})
    with pytest.raises(ConfigError, match="must be positive"):
        load_settings(None, {"query.max_concurrent_queries": 0})


def test_the_embedded_data_source_points_at_the_query_listener():
    folder = Path(__file__).parent.parent / "grafana" / "provisioning" / "datasources"
    (embedded,) = yaml.safe_load((folder / "embedded.yml").read_text())["datasources"]
    (server,) = yaml.safe_load((folder / "clickhouse.yml").read_text())["datasources"]
    assert embedded["uid"] == server["uid"] and embedded["type"] == server["type"]  # dashboards work on either
    json_data = embedded["jsonData"]
    assert (json_data["protocol"], json_data["defaultDatabase"]) == ("http", "llmcost")
    for value in (json_data["host"], json_data["port"], embedded["secureJsonData"]["password"]):
        assert re.fullmatch(r"\$\{LLMCOST_QUERY_\w+\}", value), value


def test_a_busy_port_is_one_clear_error(tmp_path):
    from otel_llmcost.errors import ListenError
    from otel_llmcost.keys import KeyStore
    from otel_llmcost.query.access import Gate
    from otel_llmcost.query.interface import QueryListener
    from otel_llmcost.receive.listener import bind_socket

    taken = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(ListenError, match="cannot listen for the ClickHouse HTTP interface on 127.0.0.1:"):
            QueryListener(None, Gate(KeyStore(tmp_path / "keys.json"), "x"), "127.0.0.1",
                          taken.getsockname()[1], {})
    finally:
        taken.close()
