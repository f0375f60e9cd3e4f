"""Who may export: `Authorization: Bearer <secret>` (an HTTP header, or gRPC metadata as the OpenTelemetry
exporters' `headers` option sends it), checked against the ingest keys of the key store.

Keys are required when the receiver's settings say so (`receiver.require_keys`), never because some key
exists; a key that is sent must be a valid ingest key either way. The store re-reads its file when it
changes, so a key created or revoked while the receiver runs counts at once; with keys required, a missing
store or one without ingest keys authenticates nobody (and `serve` stops: cli/serve.py).
"""

from __future__ import annotations

from otel_llmcost.errors import ConfigError, OtelLlmCostError, OverloadedError
from otel_llmcost.keys import INGEST, ApiKey, KeyStore

_SCHEME = "bearer "


class Unauthenticated(OtelLlmCostError):
    """No valid API key came with the export (401 / UNAUTHENTICATED)."""


class Authenticator:
    def __init__(self, keys: KeyStore, required: bool):
        self._keys = keys
        self._required = required

    @property
    def required(self) -> bool:
        return self._required

    def check(self, authorization: str | None) -> ApiKey | None:
        """The key the Authorization value belongs to; None when keys are not required and none was sent.
        Raises Unauthenticated when the value is missing (keys required) or wrong, OverloadedError (retry
        later) while the key file cannot be read (being rewritten by hand, say)."""
        try:
            return self._check(authorization)
        except ConfigError as exc:
            raise OverloadedError(f"API keys cannot be checked now; retry later ({exc})") from exc

    def _check(self, authorization: str | None) -> ApiKey | None:
        if not authorization:
            if self._required:
                raise Unauthenticated("an API key is required: send 'Authorization: Bearer <secret>'")
            return None
        if not authorization[:len(_SCHEME)].lower() == _SCHEME:
            raise Unauthenticated("the Authorization header must be 'Bearer <secret>'")
        key = self._keys.verify(authorization[len(_SCHEME):])
        if key is None:
            raise Unauthenticated("unknown or revoked API key")
        if INGEST not in key.uses:
            raise Unauthenticated("this key is for queries only; exports need an ingest key "
                                  "(`otel-llmcost keys create --ingest`)")
        return key
