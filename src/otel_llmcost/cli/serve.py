"""`otel-llmcost serve`: run both OTLP receivers until SIGTERM/SIGINT, then flush everything and exit 0."""

from __future__ import annotations

import argparse
import fcntl
import gc
import importlib.util
import json
import logging
import os
import resource
import secrets
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from otel_llmcost.alerts.ledger import LedgeredStore, SpendLedger
from otel_llmcost.alerts.rules import load_alert_rules
from otel_llmcost.cli.alerts import remember_alerts_file
from otel_llmcost.config import Settings
from otel_llmcost.errors import ConfigError, ListenError, StoreError
from otel_llmcost.keys import INGEST, QUERY, KeyStore
from otel_llmcost.ops.metrics import IngestCounters, MeasuredStore, exposition, readiness_problems
from otel_llmcost.pipeline import open_write_path
from otel_llmcost.pricing import load_price_book
from otel_llmcost.receive.auth import Authenticator
from otel_llmcost.receive.grpc_server import GrpcReceiver
from otel_llmcost.receive.http_server import HttpReceiver
from otel_llmcost.receive.intake import Intake
from otel_llmcost.receive.listener import bind_socket
from otel_llmcost.receive.ops import OpsSources
from otel_llmcost.store import UsageStore, open_store
from otel_llmcost.store.opening import FAILED, OPEN, OPENING, OpeningStore
from otel_llmcost.store.remote import RECEIVER_FILE

if TYPE_CHECKING:  # the query listener's modules are loaded with the store, after the start
    from otel_llmcost.query.interface import QueryListener

logger = logging.getLogger("otel_llmcost")
_LOCK_FILE = "receiver.lock"
_HELD: list[TextIO] = []  # the data directory's lock, held while this process runs
_SIGNAL_POLL_SECONDS = 0.1
_KEY_CHECK_SECONDS = 1.0  # how soon a lost key file or the last key revoked stops a receiver that needs keys


#: what to do about a listener whose port is taken
_MOVE_GRPC = "another port: --grpc-port PORT (0 = any free port), or receiver.grpc_port in the settings"
_MOVE_HTTP = "another port: --http-port PORT (0 = any free port), or receiver.http_port in the settings"
_MOVE_QUERY = ("another port: --query-port PORT (0 = any free port), or no SQL listener: --no-query-listener "
               "(query.port / query.enabled in the settings)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve; a start that fails leaves no data directory behind that it created itself."""
    created, started = not os.path.exists(settings.data_dir), list[bool]()
    try:
        return _serve(settings, started)
    except BaseException:
        if created and not started:
            shutil.rmtree(settings.data_dir, ignore_errors=True)
        raise


def _listening(make, move: str):
    try:
        return make()
    except ListenError as exc:
        raise ListenError(f"{exc}; {move}") from exc


def _serve(settings: Settings, started: list[bool]) -> int:
    """Run until a signal; `started` gets True once listening (with the data directory in use).

    Ready means ready to acknowledge: the spool replayed and the receivers listening. The store (chDB's
    engine, migrations, the budget ledger, chargeback terms) opens after that, on a thread of its own
    (store/opening.py); what is acknowledged meanwhile waits in the spool and is written once it is open."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_open_files_limit()
    receiver = settings.receiver
    keys = KeyStore(settings.keys_path)
    required = required_keys(settings, keys)
    grpc_host, http_host = receiver.hosts(INGEST in required)
    # Whatever a bad setting or file stops is checked before the receivers listen: after that, a start that
    # fails leaves acknowledged spans behind (in the spool, for the next start).
    check_store_installed(settings)
    chargeback = None
    if settings.chargeback.file:
        from otel_llmcost.reports.chargeback import load_chargeback

        chargeback = load_chargeback(settings.chargeback.file)
    # The SQL listener runs here, in the process holding the store, which every ingest worker's rows pass
    # through: budget status answers from this month's spend kept as they are inserted (alerts/ledger.py).
    serves_queries = settings.query.enabled and settings.store.enabled and not settings.store.clickhouse
    alert_rules = load_alert_rules(settings.alerts.file) if serves_queries else None
    price_book = load_price_book(settings.pricing.price_books, cache_dir=os.path.join(settings.data_dir, "cache"))
    hold_data_dir(settings.data_dir)
    ledger = SpendLedger()
    local_secret = secrets.token_urlsafe(32)  # lets this machine's CLI in without a key (receiver.json)
    query_listeners: list[QueryListener] = []
    query_socket: socket.socket | None = None

    def open_and_prepare() -> UsageStore:
        """On the store's own thread: open, migrate, seed the ledger before any insert, store the terms."""
        from otel_llmcost.reports.stored_terms import store_terms
        from otel_llmcost.store.migrations import SchemaOptions

        opened = open_store(settings)
        try:
            opened.ensure_schema(SchemaOptions.of(settings))
            if serves_queries:
                ledger.seed(opened)  # inserts wait for this function to return
            if chargeback is not None and store_terms(opened, chargeback):
                logger.info("chargeback terms of %s stored: the dashboards' billed cost follows them",
                            settings.chargeback.file)
            if query_socket is not None:
                from otel_llmcost.query.interface import open_query_listener

                listener = open_query_listener(settings, keys, local_secret, ledger, query_socket, alert_rules)
                listener.start()
                query_listeners.append(listener)
        except BaseException:
            opened.close()
            raise
        gc.freeze()  # as tune_gc() did for what the start made: the engine's objects need no more scanning
        return opened

    opening = OpeningStore(settings.store.database, open_and_prepare, _store_name(settings))
    store = MeasuredStore(opening)
    # Without the listener nothing reads the ledger: the write path then keeps no spend (a hot-path cost).
    pipeline = open_write_path(settings, LedgeredStore(store, ledger) if serves_queries else store, price_book)
    intake = Intake(pipeline, Authenticator(keys, INGEST in required), IngestCounters())
    # Every port is bound before the spool is replayed: a port in use stops us before we touch any data.
    grpc_receiver = _listening(lambda: GrpcReceiver(intake, grpc_host, receiver), _MOVE_GRPC)
    ops = OpsSources(
        metrics=lambda: exposition(intake.counters, store, pipeline.stats(),
                                   pipeline.forwarder.figures() if pipeline.forwarder else None,
                                   pipeline.cost_metrics, opening.state == OPEN),
        readiness=lambda: readiness_problems(store, pipeline.stats(), settings.spool_dir,
                                             receiver.max_request_bytes),
        store_state=lambda: opening.state,
    )
    http_receiver = _listening(lambda: HttpReceiver(intake, http_host, receiver, ops), _MOVE_HTTP)
    # ClickHouse's HTTP interface over the embedded store: Grafana, SQL clients and `otel-llmcost sql/stats`.
    # Its port is bound now; it answers once the store is open (a client connecting earlier waits).
    if serves_queries:
        query_socket = _listening(lambda: bind_socket(settings.query.host, settings.query.port,
                                                      "the ClickHouse HTTP interface"), _MOVE_QUERY)
    pipeline.start()
    grpc_receiver.start()
    http_receiver.start()

    # The handler only appends to a list: Event.set() takes the event's lock, which the main thread may hold
    # inside Event.wait() when the signal lands, and the handler runs on that same thread: a deadlock.
    signals: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: signals.append(signum))
    ready = {
        "event": "ready",
        "grpc_port": grpc_receiver.port,
        "http_port": http_receiver.port,
        "grpc_host": grpc_host,
        "http_host": http_host,
        "tls": bool(receiver.tls_cert_file),
        "query_port": query_socket.getsockname()[1] if query_socket else None,
        "keys_required": sorted(required),
        "store": _store_name(settings),
        "price_book": price_book.version,
    }
    announcement = Path(settings.data_dir) / RECEIVER_FILE
    # Readable by this user only: it holds the local secret of the query listener.
    descriptor = os.open(announcement, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump({**ready, "query_secret": local_secret, "tls_cert_file": receiver.tls_cert_file}, out)
    report_keys(settings, required)
    remember_alerts_file(settings)
    started.append(True)
    print(json.dumps(ready), flush=True)
    opening.start()
    tune_gc()
    exit_code = 0
    next_key_check = time.monotonic()
    while not signals:
        time.sleep(_SIGNAL_POLL_SECONDS)
        if opening.state == FAILED:
            # What was acknowledged stays in the spool: the next start writes it. The error is the last line.
            logger.error("stopping: the store could not be opened: %s", opening.error)
            exit_code = 2
            break
        if required and time.monotonic() >= next_key_check:
            next_key_check = time.monotonic() + _KEY_CHECK_SECONDS
            if problem := keys_problem(keys, required):
                # Required keys never lapse into no auth: requests already get 401 meanwhile; we stop.
                logger.error("stopping: %s", problem)
                print(f"otel-llmcost serve: error: {problem}", file=sys.stderr, flush=True)
                exit_code = 2
                break

    logger.info("stopping: draining receivers, writing every buffered trace")
    http_receiver.stop()
    grpc_receiver.stop()
    if opening.state == OPENING:
        logger.info("waiting for the store to finish opening")
    opening.wait_done()  # the query listener starts with it
    for listener in query_listeners:
        listener.stop()
    pipeline.close()
    announcement.unlink(missing_ok=True)
    store.close()
    logger.info("stopped after writing %d rows", pipeline.rows_written)
    if opening.error is not None:  # (stopped by a signal meanwhile, or because of it)
        print(f"otel-llmcost serve: error: {opening.error}", file=sys.stderr, flush=True)
        exit_code = 2
    return exit_code


def _store_name(settings: Settings) -> str:
    if not settings.store.enabled:
        return "none"
    return "clickhouse" if settings.store.clickhouse else f"chdb:{settings.chdb_path}"


def check_store_installed(settings: Settings) -> None:
    """The embedded store's engine is there (found, not loaded: that takes a while, after the start)."""
    if settings.store.enabled and not settings.store.clickhouse and importlib.util.find_spec("chdb") is None:
        from otel_llmcost.store.chdb_store import CHDB_MISSING

        raise StoreError(CHDB_MISSING, retryable=False)


def hold_data_dir(data_dir: str) -> None:
    """One receiver per data directory: its spool and store are this process's until it ends (the lock goes
    with the process, kill -9 included). chDB's own lock said so before; the spool is now used before the
    store is opened."""
    os.makedirs(data_dir, exist_ok=True)
    held = open(os.path.join(data_dir, _LOCK_FILE), "w")  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise StoreError(f"another receiver runs on {data_dir} (it holds {_LOCK_FILE}); stop it first, or give "
                          "this one its own --data-dir", retryable=False) from None
    _HELD.append(held)


def required_keys(settings: Settings, keys: KeyStore) -> frozenset[str]:
    """The uses (INGEST, QUERY) whose keys the settings require, reported; a ConfigError when a required
    use has no key to check against (a missing or unreadable key file, or none of that use left)."""
    ingest = settings.receiver.require_keys
    if ingest is None:  # not said: as before keys had uses, a file with such keys required them
        ingest = keys.has_legacy_keys()
        if ingest:
            logger.warning("%s holds keys from before ingest and query keys were separate: exports keep needing "
                           "a key; set receiver.require_keys to say so explicitly", settings.keys_path)
    query = settings.query.require_keys and settings.query.enabled
    required = frozenset(use for use, on in ((INGEST, ingest), (QUERY, query)) if on)
    if problem := keys_problem(keys, required):
        raise ConfigError(problem)
    return required


def report_keys(settings: Settings, required: frozenset[str]) -> None:
    logger.info("ingest: %s", "an ingest key is required (receiver.require_keys)" if INGEST in required else
                "exports without a key are accepted (receiver.require_keys: false); keys sent are checked")
    if settings.query.enabled and not settings.store.clickhouse:
        logger.info("queries: %s", "a query key is required (query.require_keys)" if QUERY in required else
                    "a query key is required once one exists; keyless loopback clients otherwise")


def keys_problem(keys: KeyStore, required: frozenset[str]) -> str | None:
    for use in sorted(required):
        if problem := keys.problem(use):
            setting = "receiver.require_keys" if use == INGEST else "query.require_keys"
            return (f"{setting} is true but {problem}; create one with `otel-llmcost keys create --{use}`, "
                    f"or set {setting}: false to run without")
    return None


def raise_open_files_limit() -> None:
    """Connections, chDB's files and the spool share the descriptor limit; the soft default (1024) is low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def tune_gc() -> None:
    """Once started: long-lived startup objects (price book, chDB, grpc) need no more scanning, and the hot
    path makes many short-lived small objects: fewer, later collections cost less per span
    (bench/throughput.py applies the same)."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
