"""The query listener's settings: flags, config keys, validation."""

from __future__ import annotations

import pytest

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
