"""`otel-llmcost import FILE.jsonl`: backfill flat events (one LLM call per line, decode/events.schema.json)
through a running receiver's POST /v1/events, in batches, with a progress bar; each bad line is reported
with its number, every good one stored."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from otel_llmcost.config import Settings
from otel_llmcost.errors import OtelLlmCostError
from otel_llmcost.store.remote import RECEIVER_FILE

_BAR_WIDTH = 30


def add_command(commands, store_flags) -> None:
    command = commands.add_parser("import", help="backfill LLM calls from a JSONL file of flat events")
    store_flags(command)
    command.add_argument("file", help="one JSON event per line (see decode/events.schema.json)")
    command.add_argument("--endpoint", help="the receiver's OTLP/HTTP base URL (default: the receiver running on"
                                            " --data-dir)")
    command.add_argument("--key", help="an ingest API key, when the receiver requires one")
    command.add_argument("--batch-lines", type=int, default=2000, help="lines per request (default 2000)")
    command.set_defaults(run=run_import)


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    endpoint = (args.endpoint or _running_receiver(settings)).rstrip("/") + "/v1/events"
    lines = Path(args.file).read_bytes().splitlines(keepends=True)
    stored = bad = 0
    for start in range(0, len(lines), args.batch_lines):
        answer = _post(endpoint, b"".join(lines[start:start + args.batch_lines]), args.key)
        stored += answer["accepted"]
        for error in answer["errors"]:
            bad += 1
            where = f"line {start + error['line']}" if "line" in error else "batch"
            print(f"\r{args.file}: {where}: {error['error']}", file=sys.stderr)
        _progress(min(start + args.batch_lines, len(lines)), len(lines), stored, bad)
    print(file=sys.stderr)
    print(json.dumps({"lines": len(lines), "stored": stored, "bad": bad}))
    return 1 if bad else 0


def _post(endpoint: str, body: bytes, key: str | None) -> dict:
    headers = {"Content-Type": "application/x-ndjson", **({"Authorization": f"Bearer {key}"} if key else {})}
    for attempt in range(10):
        try:
            with urllib.request.urlopen(urllib.request.Request(endpoint, data=body, headers=headers), timeout=120) as r:
                return json.load(r)
        except urllib.error.HTTPError as exc:
            if exc.code == 400:  # every line of the batch was bad: the answer says why
                return json.load(exc)
            if exc.code != 503:
                raise OtelLlmCostError(f"{endpoint} answered {exc.code}: {exc.read()[:300]!r}") from exc
            time.sleep(min(2 ** attempt, 30))  # overloaded: retry later, as the receiver asks
        except OSError as exc:
            raise OtelLlmCostError(f"cannot reach the receiver at {endpoint}: {exc}") from exc
    raise OtelLlmCostError(f"{endpoint} stayed overloaded; run the import again (stored events are not doubled)")


def _running_receiver(settings: Settings) -> str:
    try:
        ready = json.loads((Path(settings.data_dir) / RECEIVER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OtelLlmCostError(f"no receiver is running on {settings.data_dir}; start `otel-llmcost serve` or give"
                               " --endpoint") from exc
    host = ready["http_host"] if ready["http_host"] not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"{'https' if ready.get('tls') else 'http'}://{host}:{ready['http_port']}"


def _progress(done: int, total: int, stored: int, bad: int) -> None:
    filled = _BAR_WIDTH * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total} lines, {stored} stored, {bad} bad",
          end="", file=sys.stderr, flush=True)
