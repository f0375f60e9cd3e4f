"""Keys through a real receiver: ingest and query keys are separate, requiring keys is an explicit setting
reported at startup, and once required a lost key file or the last key revoked stops the receiver with a
clear error; nothing ever falls back to accepting everyone."""

from __future__ import annotations

import json
import os

from conftest import FAST_CONFIG, Receiver, run_cli
from payloads import llm_span, post, request

REQUIRE_INGEST = {**FAST_CONFIG, "receiver": {"require_keys": True}}


def export(receiver: Receiver, secret: str | None = None) -> int:
    body = request(llm_span(os.urandom(16), "gpt-4o-mini", 3, 2)).SerializeToString()
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return post(receiver.http_url, body, "application/x-protobuf", headers=headers)[0]


def create(data_dir, *args: str) -> dict:
    return json.loads(run_cli("keys", "create", *args, "--data-dir", str(data_dir)).stdout)


def stopped(receiver: Receiver) -> tuple[int, str]:
    _, log = receiver.process.communicate(timeout=60)
    return receiver.process.returncode, log


def test_a_read_key_for_grafana_leaves_ingest_as_it_was(tmp_path):
    data_dir = tmp_path / "data"
    receiver = Receiver(data_dir, FAST_CONFIG, host=None).start()
    try:
        assert (receiver.ready["grpc_host"], receiver.ready["http_host"]) == ("127.0.0.1", "127.0.0.1")
        assert export(receiver) == 200
        reader = create(data_dir, "--query", "--admin")["secret"]
        assert export(receiver) == 200  # a keyless export is still accepted
        assert export(receiver, reader) == 401  # and a read key exports nothing
    finally:
        log = receiver.stop()
    assert "exports without a key are accepted (receiver.require_keys: false)" in log
    again = Receiver(data_dir, FAST_CONFIG, host=None).start()  # binding follows the setting, not the keys
    try:
        assert (again.ready["grpc_host"], again.ready["http_host"], again.ready["keys_required"]) == \
            ("127.0.0.1", "127.0.0.1", [])
    finally:
        again.stop()


def test_required_ingest_keys_are_reported_and_checked(tmp_path):
    data_dir = tmp_path / "data"
    writer = create(data_dir, "--ingest", "--tenant", "acme")
    receiver = Receiver(data_dir, REQUIRE_INGEST).start()
    assert receiver.ready["keys_required"] == ["ingest"]
    assert export(receiver) == 401 and export(receiver, writer["secret"]) == 200
    run_cli("keys", "revoke", writer["key_id"], "--data-dir", str(data_dir))
    code, log = stopped(receiver)  # the last ingest key is gone: stop, never open
    assert code == 2 and "receiver.require_keys is true but the key file" in log and "holds no ingest key" in log


def test_a_lost_key_file_stops_a_receiver_that_requires_keys(tmp_path):
    data_dir = tmp_path / "data"
    create(data_dir, "--ingest", "--admin")
    receiver = Receiver(data_dir, REQUIRE_INGEST).start()
    (data_dir / "keys.json").unlink()
    code, log = stopped(receiver)
    assert code == 2 and "is missing" in log
    refused = run_cli("serve", "--data-dir", str(data_dir), "--grpc-port", "0", "--http-port", "0",
                      "--query-port", "0", "--config", str(receiver.config_file), check=False)
    assert refused.returncode == 2 and "receiver.require_keys is true but the key file" in refused.stderr
    (data_dir / "keys.json").write_text("{ not json")
    refused = run_cli("serve", "--data-dir", str(data_dir), "--grpc-port", "0", "--http-port", "0",
                      "--query-port", "0", "--config", str(receiver.config_file), check=False)
    assert refused.returncode == 2 and "unreadable" in refused.stderr


def test_required_query_keys_stop_the_receiver_when_the_last_goes(tmp_path):
    data_dir = tmp_path / "data"
    reader = create(data_dir, "--query", "--tenant", "acme")
    receiver = Receiver(data_dir, {**FAST_CONFIG, "query": {"require_keys": True}}).start()
    assert receiver.ready["keys_required"] == ["query"]
    assert export(receiver) == 200  # ingest is not affected
    run_cli("keys", "revoke", reader["key_id"], "--data-dir", str(data_dir))
    code, log = stopped(receiver)
    assert code == 2 and "query.require_keys is true" in log and "holds no query key" in log


def test_a_key_file_from_before_uses_keeps_requiring_ingest_keys(tmp_path):
    """Before ingest and query keys were separate, any key required ingest keys: an upgrade must not open."""
    data_dir = tmp_path / "data"
    writer = create(data_dir, "--ingest", "--query", "--tenant", "acme")
    document = json.loads((data_dir / "keys.json").read_text())
    for entry in document["keys"]:
        del entry["uses"]
    (data_dir / "keys.json").write_text(json.dumps(document))
    receiver = Receiver(data_dir, FAST_CONFIG, host=None).start()
    try:
        assert receiver.ready["keys_required"] == ["ingest"] and receiver.ready["http_host"] == "0.0.0.0"
        assert export(receiver) == 401 and export(receiver, writer["secret"]) == 200
    finally:
        log = receiver.stop()
    assert "set receiver.require_keys to say so explicitly" in log
