"""Who may export: `Authorization: Bearer <secret>` (an HTTP header, or gRPC metadata as the OpenTelemetry
exporters' `headers` option sends it), checked against the key store shared with the query side.

Keys are required once any key exists, or from the start with `receiver.require_keys`. The store re-reads
its file when it changes, so a key created or revoked while the receiver runs counts at once.
"""

from __future__ import annotations

from otel_llmcost.errors import ConfigError, OtelLlmCostError, OverloadedError
from otel_llmcost.keys import ApiKey, KeyStore

_SCHEME = "bearer "


class Unauthenticated(OtelLlmCostError):
    """No valid API key came with the export (401 / UNAUTHENTICATED)."""


class Authenticator:
    def __init__(self, keys: KeyStore, required: bool):
        self._keys = keys
        self._required = required

    def check(self, authorization: str | None) -> ApiKey | None:
        """The key the Authorization value belongs to; None when keys are not in force and none was sent.
        Raises Unauthenticated when keys are in force and the value is missing or wrong, OverloadedError
        (retry later) while the key file cannot be read (being rewritten by hand, say)."""
        try:
            return self._check(authorization)
        except ConfigError as exc:
            raise OverloadedError(f"API keys cannot be checked now; retry later ({exc})") from exc

    def _check(self, authorization: str | None) -> ApiKey | None:
        in_force = self._required or self._keys.configured
        if not authorization:
            if in_force:
                raise Unauthenticated("an API key is required: send 'Authorization: Bearer <secret>'")
            return None
        if not authorization[:len(_SCHEME)].lower() == _SCHEME:
            raise Unauthenticated("the Authorization header must be 'Bearer <secret>'")
        key = self._keys.verify(authorization[len(_SCHEME):])
        if key is None and in_force:
            raise Unauthenticated("unknown or revoked API key")
        return key
