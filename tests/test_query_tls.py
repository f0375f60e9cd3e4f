"""The query listener over TLS with the receiver's certificate: clickhouse-connect and `otel-llmcost sql`."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import clickhouse_connect
import pytest

from conftest import run_cli


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.pem", directory / "server-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=server",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_https_with_the_receivers_certificate(receiver_factory, tmp_path):
    cert, key = _certificate(tmp_path)
    receiver = receiver_factory({"receiver": {"tls_cert_file": str(cert), "tls_key_file": str(key)}})
    client = clickhouse_connect.get_client(host="127.0.0.1", port=receiver.query_port, secure=True,
                                           ca_cert=str(cert))
    assert client.query("SELECT 40 + 2").result_rows == [(42,)]
    with pytest.raises(OSError):  # plain text gets no answer
        urllib.request.urlopen(f"http://127.0.0.1:{receiver.query_port}/ping", timeout=10)
    # This machine's CLI finds the listener in receiver.json and pins the certificate.
    assert run_cli("sql", "--data-dir", str(receiver.data_dir), "SELECT 1 AS one").stdout == '{"one": 1}\n'
    receiver.stop()
