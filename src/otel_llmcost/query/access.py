"""Who is asking, and from where: keys from ClickHouse's credential carriers; browsers kept out.

Credentials as ClickHouse clients send them: Basic auth (the key is the password; a client with only a
user field may put it there), `X-ClickHouse-Key` (with `X-ClickHouse-User`), `Authorization: Bearer`, or
the `user`/`password` URL parameters, checked against the query keys. Keyless requests are answered only
while no query key exists and `query.require_keys` is off, from loopback only; a key file that cannot be
read lets nobody in without a key.
A web page in a local browser must not use the listener: requests carrying `Origin` or a cross-site
`Sec-Fetch-Site` are refused (CSRF), and keyless requests must name a loopback `Host` (DNS rebinding).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from typing import Mapping

from otel_llmcost.errors import ConfigError
from otel_llmcost.keys import QUERY, KeyStore
from otel_llmcost.query.errors import ACCESS_DENIED, QueryError
from otel_llmcost.query.scope import Principal
from otel_llmcost.store.policies import ALL_TENANTS

AUTHENTICATION_FAILED = 516
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class Gate:
    def __init__(self, keys: KeyStore, local_secret: str, required: bool = False):
        self._keys = keys
        self._local_secret = local_secret  # in receiver.json for this machine's `otel-llmcost sql`
        self._required = required

    def admit(self, headers: Mapping[str, str], url_params: Mapping[str, str], remote: str | None) -> Principal:
        _refuse_browsers(headers)
        secret = _secret(headers, url_params)
        if secret and hmac.compare_digest(secret.encode(), self._local_secret.encode()) and _is_loopback(remote):
            return Principal(None, "local")
        try:
            if self._required or self._keys.has_keys(QUERY):
                return self._verified(secret)
        except ConfigError as exc:
            raise QueryError(AUTHENTICATION_FAILED, f"Authentication failed: API keys cannot be checked now ({exc})") \
                from exc
        if not _is_loopback(remote):
            raise QueryError(ACCESS_DENIED, "no query key is configured, so this listener answers only local "
                                            "clients; create one with `otel-llmcost keys create --query`")
        if not _host_is_loopback(headers.get("Host", "")):
            raise QueryError(ACCESS_DENIED, "without API keys only a loopback Host (localhost, 127.0.0.1) "
                                            "is answered")
        return Principal(None, "loopback")

    def _verified(self, secret: str) -> Principal:
        key = self._keys.verify(secret) if secret else None
        if key is None or key.tenant == ALL_TENANTS:  # *all*: a hand-edited key file; never a tenant
            raise QueryError(AUTHENTICATION_FAILED, "Authentication failed: password is incorrect, or there "
                             "is no key with this secret (send an API key as the password)")
        if QUERY not in key.uses:
            raise QueryError(AUTHENTICATION_FAILED, "Authentication failed: this is an ingest key; queries need "
                             "a query key (`otel-llmcost keys create --query`)")
        return Principal(key.tenant, key.key_id)


def _refuse_browsers(headers: Mapping[str, str]) -> None:
    if "Origin" in headers or headers.get("Sec-Fetch-Site", "none") not in ("none", ""):
        raise QueryError(ACCESS_DENIED, "requests from web pages (Origin / Sec-Fetch-Site) are refused")


def _secret(headers: Mapping[str, str], url_params: Mapping[str, str]) -> str:
    if headers.get("X-ClickHouse-Key"):
        return headers["X-ClickHouse-Key"]
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise QueryError(AUTHENTICATION_FAILED, "Authentication failed: malformed Basic credentials") from None
        return password or user
    return url_params.get("password") or ""


def _is_loopback(remote: str | None) -> bool:
    try:
        return ipaddress.ip_address(remote or "").is_loopback
    except ValueError:
        return False


def _host_is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    return name in _LOOPBACK_NAMES or _is_loopback(name)
