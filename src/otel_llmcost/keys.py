"""API keys: who may write spans (ingest keys), who may read which tenant's rows (query keys).

A key is bound to one tenant or is an admin key (tenant None), and serves ingest, queries or both, as
created: a read key for Grafana never lets anyone export, and creating one changes nothing on the ingest
side (whether ingest needs keys is the receiver's own setting). Keys written before uses existed serve
both, as they did. Secrets look like `llmc_<key id>_<random>` and are shown once, at creation; the store
keeps only their SHA-256. The secrets are 256 random bits, so a plain hash is enough (a slow password hash
protects guessable secrets, which these are not). The file is re-read when it changes on disk, so `keys
create` and `keys revoke` take effect in a running receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from otel_llmcost.errors import ConfigError

KEYS_FILE = "keys.json"  # in the data directory, unless the configuration names another file
_PREFIX = "llmc"
INGEST, QUERY = "ingest", "query"  # what a key is for
USES = (INGEST, QUERY)


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    tenant: str | None  # None: an admin key, every tenant
    label: str
    created_at: str  # ISO 8601, UTC
    uses: tuple[str, ...] = USES  # INGEST and/or QUERY

    @property
    def is_admin(self) -> bool:
        return self.tenant is None


class KeyStore:
    """Thread-safe; cheap to call `verify` per request (the file is read again only when it changed)."""

    def __init__(self, path: str | os.PathLike):
        self._path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._hashes: dict[str, tuple[str, ApiKey]] = {}  # key id -> (sha256 hex of the secret, key)
        self._legacy: set[str] = set()  # ids of keys written without `uses`

    def has_keys(self, use: str) -> bool:
        """Whether a key for `use` exists (ConfigError when the file cannot be read)."""
        with self._lock:
            self._refresh()
            return any(use in key.uses for _, key in self._hashes.values())

    def problem(self, use: str) -> str | None:
        """Why this store cannot authenticate `use` now (missing, unreadable, no key for it), or None."""
        try:
            if not self._path.exists():
                return f"the key file {self._path} is missing"
            if not self.has_keys(use):
                return f"the key file {self._path} holds no {use} key"
        except (ConfigError, OSError) as exc:
            return str(exc)
        return None

    def has_legacy_keys(self) -> bool:
        """Whether keys from before ingest and query keys were told apart exist (they required ingest keys)."""
        with self._lock:
            self._refresh()
            return bool(self._legacy)

    def create(self, tenant: str | None, uses: tuple[str, ...], label: str = "") -> tuple[ApiKey, str]:
        """A new key for `uses` (INGEST, QUERY) and its secret (the only time the secret is seen)."""
        if not uses or any(use not in USES for use in uses):
            raise ConfigError(f"a key is for {' and/or '.join(USES)}, got {uses!r}")
        if tenant is not None and not tenant.strip():
            raise ConfigError("a tenant key needs a non-empty tenant")
        from otel_llmcost.store.policies import ALL_TENANTS  # here: the store package imports this module

        if tenant == ALL_TENANTS:
            raise ConfigError(f"{ALL_TENANTS!r} is what admin sessions read, never a tenant: use --admin")
        key_id = secrets.token_hex(6)
        secret = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, tenant, label, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     tuple(use for use in USES if use in uses))
        with self._lock:
            self._refresh()
            self._hashes[key_id] = (_digest(secret), key)
            self._write()
        return key, secret

    def list(self) -> list[ApiKey]:
        with self._lock:
            self._refresh()
            return sorted((key for _, key in self._hashes.values()), key=lambda key: key.created_at)

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            self._refresh()
            if self._hashes.pop(key_id, None) is None:
                return False
            self._write()
            return True

    def verify(self, secret: str) -> ApiKey | None:
        """The key this secret belongs to, or None (unknown, revoked or malformed); check its `uses`."""
        parts = secret.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX:
            return None
        with self._lock:
            self._refresh()
            entry = self._hashes.get(parts[1])
        if entry is None or not hmac.compare_digest(entry[0], _digest(secret.strip())):
            return None
        return entry[1]

    def _refresh(self) -> None:
        try:
            status = self._path.stat()
        except FileNotFoundError:
            self._stamp, self._hashes, self._legacy = None, {}, set()
            return
        except OSError as exc:
            raise ConfigError(f"key file {self._path} is unreadable: {exc}") from exc
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp == self._stamp:
            return
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
            self._hashes = {
                entry["key_id"]: (entry["sha256"], ApiKey(entry["key_id"], entry["tenant"], entry["label"],
                                                          entry["created_at"], tuple(entry.get("uses", USES))))
                for entry in document["keys"]
            }
            self._legacy = {entry["key_id"] for entry in document["keys"] if "uses" not in entry}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"key file {self._path} is unreadable: {exc}") from exc
        self._stamp = stamp

    def _write(self) -> None:
        entries = []
        for key_id, (digest, key) in self._hashes.items():
            entry = {**asdict(key), "sha256": digest}
            if key_id in self._legacy:
                del entry["uses"]  # as first written: such a file keeps requiring ingest keys (has_legacy_keys)
            entries.append(entry)
        document = {"keys": entries}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        # 0600: hashes are not secrets, but nobody else needs to know which keys exist.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self._path)
        status = self._path.stat()
        self._stamp = (status.st_mtime_ns, status.st_size)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
