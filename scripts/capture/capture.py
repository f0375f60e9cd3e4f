"""Capture the OTLP that real instrumentation libraries emit, as committed test fixtures.

    python scripts/capture/capture.py openai-v2 [more names ...]     # or: all

For each library: a virtualenv (or an npm folder) of its own under .capture/ with the real packages; the
stand-in provider (fake_provider.py) and an OTLP/HTTP sink run here; the library's scenario script makes
its calls against the stand-in and exports to the sink. Every export is saved, as OTLP/JSON with hex ids,
in tests/fixtures/dialects/<name>.json together with the library's name and version. Tests replay them
through the real receiver. Re-run this to refresh the fixtures when a library changes.

A library is two files in scenarios/: `<name>.py` (or `<name>.mjs` for Node) and `<name>.txt`, the packages
to install one per line (pinned), whose first line is `# version-of: <package>` naming the package
whose version the fixture records.

A scenario script gets these environment variables: OPENAI_BASE_URL, ANTHROPIC_BASE_URL, OPENAI_API_KEY,
ANTHROPIC_API_KEY, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, the Gemini
ones (GEMINI_BASE_URL, GOOGLE_GEMINI_BASE_URL, GOOGLE_API_KEY), the Bedrock ones (AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
AWS_REGION and stand-in credentials) and the Azure OpenAI ones (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,
OPENAI_API_VERSION). It runs
each scenario in its own trace under an app span carrying request.id=<scenario name>, and flushes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

from aiohttp import web
from fake_provider import FakeProvider
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".capture"
FIXTURES = ROOT / "tests" / "fixtures" / "dialects"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_OTEL = ["opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"]



def library(name: str) -> tuple[str, list[str], str]:
    """(package whose version names the fixture, packages to install, scenario script) of a library."""
    lines = (SCENARIOS / f"{name}.txt").read_text().splitlines()
    if not lines or not lines[0].startswith("# version-of:"):
        raise SystemExit(f"scenarios/{name}.txt must start with '# version-of: <package>'")
    packages = [line.strip() for line in lines[1:] if line.strip() and not line.startswith("#")]
    script = next((p.name for p in (SCENARIOS / f"{name}.py", SCENARIOS / f"{name}.mjs") if p.exists()), None)
    if script is None:
        raise SystemExit(f"no scenarios/{name}.py or scenarios/{name}.mjs")
    return lines[0].split(":", 1)[1].strip(), packages, script


def all_libraries() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.txt"))


def serve_in_thread(app: web.Application) -> int:
    """Serve `app` on a free local port from a thread of its own (a daemon); returns the port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return runner.addresses[0][1]


def _sink_app(exports: list[dict]) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if request.content_type == "application/json":
            exports.append(json.loads(body))
        else:
            exports.append(_hex_ids(json_format.MessageToDict(ExportTraceServiceRequest.FromString(body))))
        return web.Response(body=b"", content_type=request.content_type)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", receive)
    return app


def _hex_ids(document: dict) -> dict:
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return document


def _prepare(name: str) -> tuple[list[str], str]:
    """Install the library's packages in its own environment; return the command and the package version."""
    package, packages, script = library(name)
    home = WORK / name
    if script.endswith((".mjs", ".js")):
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "package.json").exists():
            (home / "package.json").write_text(
                json.dumps({"name": f"capture-{name}", "private": True, "type": "module"}))
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", *packages], cwd=home, check=True)
        version = json.loads((home / "node_modules" / package / "package.json").read_text())["version"]
        return ["node", str(SCENARIOS / script)], version
    python = home / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *_OTEL, *packages], check=True)
    version = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return [str(python), str(SCENARIOS / script)], version


def capture(name: str) -> Path:
    command, version = _prepare(name)
    exports: list[dict] = []
    provider_port = serve_in_thread(FakeProvider().app())
    sink_port = serve_in_thread(_sink_app(exports))
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{provider_port}/v1",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{provider_port}",
        "OPENAI_API_KEY": "sk-stand-in",
        "ANTHROPIC_API_KEY": "sk-ant-stand-in",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{sink_port}/v1/traces",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # Gemini (google-genai reads GOOGLE_GEMINI_BASE_URL; others take GEMINI_BASE_URL from the script).
        "GEMINI_BASE_URL": f"http://127.0.0.1:{provider_port}",
        "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{provider_port}",
        "GOOGLE_API_KEY": "stand-in-google-key",
        # Bedrock: botocore's per-service endpoint variable, and credentials it can sign with.
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": f"http://127.0.0.1:{provider_port}", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIASTANDIN", "AWS_SECRET_ACCESS_KEY": "stand-in",
        # Azure OpenAI: deployments under the endpoint (fake_provider.AZURE_DEPLOYMENTS).
        "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{provider_port}", "AZURE_OPENAI_API_KEY": "stand-in-azure-key",
        "OPENAI_API_VERSION": "2024-10-21",
    }
    subprocess.run(command, env=env, check=True, timeout=600)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    fixture = FIXTURES / f"{name}.json"
    document = {"library": name, "package": library(name)[0], "version": version, "captured": date.today().isoformat(),
                "exports": exports}
    fixture.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    spans = sum(len(s.get("spans", []))
                for e in exports for r in e.get("resourceSpans", []) for s in r.get("scopeSpans", []))
    print(f"{name} {version}: {len(exports)} exports, {spans} spans -> {fixture.relative_to(ROOT)}")
    return fixture


def main() -> None:
    parser = argparse.ArgumentParser(description="Capture real libraries' OTLP as fixtures.")
    parser.add_argument("names", nargs="+", help=f"'all' or any of: {', '.join(all_libraries())}")
    names = parser.parse_args().names
    for name in all_libraries() if names == ["all"] else names:
        capture(name)


if __name__ == "__main__":
    main()
