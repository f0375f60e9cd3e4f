"""A downstream OTLP endpoint for the forwarding tests, run as its own process: gRPC (grpcio, the three
collector services) and HTTP/protobuf (the standard library's server) on the ports given (0: free ones).

Every export it takes is appended to OUT as one line: `<signal> <base64 of the uncompressed request>`, so a
test reads exactly what arrived, in order. Prints {"grpc_port": .., "http_port": ..} once listening.

    python tests/otlp_sink.py OUT [--grpc-port N] [--http-port N]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import signal
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

_SIGNALS = {"traces": "trace.v1.TraceService", "metrics": "metrics.v1.MetricsService", "logs": "logs.v1.LogsService"}


class Recorder:
    def __init__(self, path: str):
        self._out = open(path, "a", encoding="ascii")  # noqa: SIM115 (open for the process's life)
        self._lock = threading.Lock()

    def record(self, signal_name: str, body: bytes) -> None:
        with self._lock:
            self._out.write(f"{signal_name} {base64.b64encode(body).decode()}\n")
            self._out.flush()


def grpc_server(recorder: Recorder, port: int) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for signal_name, service in _SIGNALS.items():
        def export(body: bytes, context, signal_name=signal_name) -> bytes:
            recorder.record(signal_name, body)
            return b""
        handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            f"opentelemetry.proto.collector.{service}", {"Export": handler}),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


def http_server(recorder: Recorder, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            signal_name = self.path.rsplit("/", 1)[-1]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if signal_name not in _SIGNALS or self.headers.get("Content-Type") != "application/x-protobuf":
                self.send_response(404)
                self.end_headers()
                return
            recorder.record(signal_name, body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    args = parser.parse_args()
    recorder = Recorder(args.out)
    grpc_srv, grpc_port = grpc_server(recorder, args.grpc_port)
    http_srv = http_server(recorder, args.http_port)
    print(json.dumps({"grpc_port": grpc_port, "http_port": http_srv.server_address[1]}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    http_srv.shutdown()
    grpc_srv.stop(1).wait()


if __name__ == "__main__":
    main()
