"""API keys and TLS with the OpenTelemetry SDK's own exporters, over both transports, against a real
receiver: a tenant key's tenant is on every row whatever the spans say, and every key's id (never its
secret); no key, a wrong or a revoked key is refused; TLS with a self-signed certificate, and mutual TLS."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import FAST_CONFIG, Receiver
from otel_llmcost.config import AUTH_KEY_ID_KEY, AUTH_TENANT_KEY, ReceiverSettings
from otel_llmcost.keys import INGEST, QUERY, USES, KeyStore


def llm_spans(request_id: str, **attributes) -> list:
    """One finished LLM span (a root, so its trace is written at the next flush) made by the real SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "auth-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth-test").start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5, "request.id": request_id, **attributes,
        })
    provider.shutdown()
    return list(memory.get_finished_spans())


def tenant_of(receiver: Receiver, request_id: str, timeout: float = 30.0) -> str:
    return row_of(receiver, request_id, timeout)["tenant_id"]


def row_of(receiver: Receiver, request_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = receiver.sql("SELECT tenant_id, project, api_key_id, arrayStringConcat(mapValues(metadata)) AS meta"
                            f" FROM llmcost.llm_usage WHERE request_id = '{request_id}'")
        if rows:
            [row] = rows
            return row
        time.sleep(0.5)
    raise AssertionError(f"no row for {request_id}")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A receiver requiring ingest keys, whose key store holds a tenant key for acme, one for globex and an
    admin key (ingest and query), and an admin query key."""
    data_dir = tmp_path_factory.mktemp("auth") / "data"
    keys = KeyStore(data_dir / "keys.json")
    secrets = {name: keys.create(tenant, USES)[1] for name, tenant in (("acme", "acme"), ("globex", "globex"),
                                                                       ("admin", None))}
    secrets["reader"] = keys.create(None, (QUERY,))[1]
    receiver = Receiver(data_dir, {**FAST_CONFIG, "receiver": {"require_keys": True}}).start()
    yield receiver, keys, secrets
    receiver.stop()


def http_exporter(receiver: Receiver, secret: str | None, **options) -> HttpExporter:
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    return HttpExporter(endpoint=receiver.http_url, headers=headers, timeout=10, **options)


def grpc_exporter(receiver: Receiver, secret: str | None, **options) -> GrpcExporter:
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    options.setdefault("insecure", True)
    return GrpcExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", headers=headers, timeout=10, **options)


@pytest.mark.parametrize("make_exporter", [http_exporter, grpc_exporter], ids=["http", "grpc"])
@pytest.mark.parametrize(("key", "tenant"), [("globex", "globex"), ("admin", "initech")])
def test_a_tenant_key_writes_its_tenant_an_admin_key_the_spans_and_nobody_a_forged_one(keyed, make_exporter, key,
                                                                                      tenant):
    receiver, _, secrets = keyed
    request_id = uuid.uuid4().hex
    forged = llm_spans(request_id, **{"tenant.id": "initech", AUTH_TENANT_KEY: "victim-corp",
                                      AUTH_KEY_ID_KEY: "victim-key", "llm.project": "atlas"})
    assert make_exporter(receiver, secrets[key]).export(forged) == SpanExportResult.SUCCESS
    row = row_of(receiver, request_id)
    key_id = secrets[key].split("_", 2)[1]  # llmc_<key id>_<random>
    assert row == {"tenant_id": tenant, "project": "atlas", "api_key_id": key_id, "meta": ""}
    assert secrets[key] not in str(receiver.sql(f"SELECT * FROM llmcost.llm_usage WHERE request_id = '{request_id}'"))


@pytest.mark.parametrize("make_exporter", [http_exporter, grpc_exporter], ids=["http", "grpc"])
def test_no_key_a_wrong_key_or_a_query_key_is_refused(keyed, make_exporter):
    receiver, _, secrets = keyed
    for secret in (None, "llmc_000000000000_wrong", secrets["acme"][:-2] + "xx", "not-even-our-format",
                   secrets["reader"]):
        assert make_exporter(receiver, secret).export(llm_spans("refused")) == SpanExportResult.FAILURE


def test_the_refusal_is_401_and_unauthenticated(keyed):
    receiver, _, _ = keyed
    from payloads import llm_span, post, request

    body = request(llm_span(b"\x01" * 16, "gpt-4o-mini", 1, 1)).SerializeToString()
    status, _, _ = post(receiver.http_url, body, "application/x-protobuf")
    assert status == 401
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as failure:
            export(body, timeout=10, metadata=[("authorization", "Bearer llmc_nope_nope")])
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_revoked_key_is_refused_at_once(keyed):
    receiver, keys, _ = keyed
    key, secret = keys.create("soon-gone", (INGEST,))
    assert http_exporter(receiver, secret).export(llm_spans(uuid.uuid4().hex)) == SpanExportResult.SUCCESS
    assert keys.revoke(key.key_id)
    assert http_exporter(receiver, secret).export(llm_spans(uuid.uuid4().hex)) == SpanExportResult.FAILURE


def test_listeners_bind_loopback_unless_required_keys_or_a_host_say_otherwise():
    assert ReceiverSettings().hosts(keys_required=False) == ("127.0.0.1", "127.0.0.1")
    assert ReceiverSettings().hosts(keys_required=True) == ("0.0.0.0", "0.0.0.0")
    assert ReceiverSettings(http_host="10.0.0.7").hosts(keys_required=False) == ("127.0.0.1", "10.0.0.7")




def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (a CA of itself, so it can also be a client CA)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_tls_and_mutual_tls_with_the_sdk_exporters(receiver_factory, tmp_path, monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE override a session's own CA file (which is how the exporter sets it).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server_cert, server_key = _certificate(tmp_path, "server")
    client_cert, client_key = _certificate(tmp_path, "client")
    receiver = receiver_factory({"receiver": {
        "tls_cert_file": str(server_cert), "tls_key_file": str(server_key), "tls_client_ca_file": str(client_cert),
    }})
    https_url = f"https://127.0.0.1:{receiver.http_port}/v1/traces"
    trusting = HttpExporter(endpoint=https_url, certificate_file=str(server_cert), timeout=10,
                            client_certificate_file=str(client_cert), client_key_file=str(client_key))
    http_id, grpc_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert trusting.export(llm_spans(http_id)) == SpanExportResult.SUCCESS
    credentials = grpc.ssl_channel_credentials(
        root_certificates=server_cert.read_bytes(), private_key=client_key.read_bytes(),
        certificate_chain=client_cert.read_bytes(),
    )
    assert grpc_exporter(receiver, None, insecure=False, credentials=credentials).export(
        llm_spans(grpc_id)) == SpanExportResult.SUCCESS
    # Without a client certificate, or over plain text, nothing gets in.
    no_client_cert = HttpExporter(endpoint=https_url, certificate_file=str(server_cert), timeout=5)
    assert no_client_cert.export(llm_spans("no-cert")) == SpanExportResult.FAILURE
    plain = HttpExporter(endpoint=receiver.http_url, timeout=5)
    assert plain.export(llm_spans("plain")) == SpanExportResult.FAILURE
    with grpc.secure_channel(f"127.0.0.1:{receiver.grpc_port}",
                             grpc.ssl_channel_credentials(root_certificates=server_cert.read_bytes())) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError):
            export(b"", timeout=5)
    receiver.stop()
    rows = receiver.sql("SELECT request_id FROM llmcost.llm_usage ORDER BY request_id")
    assert rows == sorted([{"request_id": http_id}, {"request_id": grpc_id}], key=lambda row: row["request_id"])


def test_the_key_tenant_survives_the_spool_across_a_kill(receiver_factory, tmp_path):
    """The tenant is an attribute of the spooled span: a call still waiting for its root when the receiver
    is killed is attributed to its key's tenant after the restart, when its root arrives with another key."""
    from payloads import llm_span, post, request

    data_dir = tmp_path / "spooled"
    keys = KeyStore(data_dir / "keys.json")
    _, tenant_secret = keys.create("acme", USES)
    _, admin_secret = keys.create(None, USES)
    trace_id, root_id = uuid.uuid4().bytes, uuid.uuid4().bytes[:8]
    call = llm_span(trace_id, "gpt-4o-mini", 10, 5, parent=root_id, **{"tenant.id": "victim-corp"})
    root = llm_span(trace_id, "gpt-4o-mini", 1, 1, **{"tenant.id": "victim-corp"})
    root.span_id, root.name = root_id, "handle request"
    del root.attributes[:]  # the app's span, not an LLM call

    def send(receiver: Receiver, span, secret: str) -> int:
        body = request(span).SerializeToString()
        return post(receiver.http_url, body, "application/x-protobuf", headers={"Authorization": f"Bearer {secret}"})[0]

    first = receiver_factory(data_dir=data_dir)
    assert send(first, call, tenant_secret) == 200  # acknowledged: in the spool, waiting for its root
    first.kill()
    second = receiver_factory(data_dir=data_dir)
    assert send(second, root, admin_secret) == 200
    second.stop()
    rows = second.sql("SELECT span_id, tenant_id FROM llmcost.llm_usage")
    assert rows == [{"span_id": call.span_id.hex(), "tenant_id": "acme"}]


def test_an_unreadable_key_file_asks_for_a_retry_it_never_lets_anyone_in(tmp_path):
    from otel_llmcost.errors import OverloadedError
    from otel_llmcost.receive.auth import Authenticator, Unauthenticated

    keys = KeyStore(tmp_path / "keys.json")
    optional, required = Authenticator(keys, required=False), Authenticator(keys, required=True)
    assert optional.check(None) is None  # keys not required: a keyless export is accepted
    with pytest.raises(Unauthenticated):
        required.check(None)  # no key file at all: nobody, never everybody
    key, secret = keys.create("acme", (INGEST,))
    _, reader = keys.create("acme", (QUERY,))
    assert optional.check(f"bearer {secret}") == key == required.check(f"Bearer {secret}")  # case-insensitive
    for authenticator in (optional, required):
        for wrong in ("Bearer llmc_nope_nope", f"Bearer {reader}"):  # a key sent is checked, keys required or not
            with pytest.raises(Unauthenticated):
                authenticator.check(wrong)
    assert optional.check(None) is None  # an ingest key existing does not make keys required
    (tmp_path / "keys.json").write_text("{ half written")
    with pytest.raises(OverloadedError, match="retry later"):
        required.check(f"Bearer {secret}")
    (tmp_path / "keys.json").unlink()
    with pytest.raises(Unauthenticated):
        required.check(f"Bearer {secret}")
