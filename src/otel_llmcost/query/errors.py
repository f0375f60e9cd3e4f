"""Errors of the query interface, as ClickHouse names and numbers them (clients match on the code)."""

from __future__ import annotations

from otel_llmcost.errors import OtelLlmCostError

# ClickHouse error code -> (name, HTTP status), as ClickHouse's HTTP handler answers them.
CODES: dict[int, tuple[str, int]] = {
    1: ("UNSUPPORTED_METHOD", 400),
    27: ("CANNOT_PARSE_INPUT_ASSERTION_FAILED", 400),
    36: ("BAD_ARGUMENTS", 400),
    46: ("UNKNOWN_FUNCTION", 404),
    47: ("UNKNOWN_IDENTIFIER", 404),
    48: ("NOT_IMPLEMENTED", 501),
    60: ("UNKNOWN_TABLE", 404),
    62: ("SYNTAX_ERROR", 400),
    73: ("UNKNOWN_FORMAT", 404),
    81: ("UNKNOWN_DATABASE", 404),
    115: ("UNKNOWN_SETTING", 400),
    159: ("TIMEOUT_EXCEEDED", 500),
    164: ("READONLY", 403),
    202: ("TOO_MANY_SIMULTANEOUS_QUERIES", 503),
    241: ("MEMORY_LIMIT_EXCEEDED", 500),
    396: ("TOO_MANY_ROWS_OR_BYTES", 500),
    456: ("UNKNOWN_QUERY_PARAMETER", 400),
    457: ("BAD_QUERY_PARAMETER", 400),
    497: ("ACCESS_DENIED", 403),
    516: ("AUTHENTICATION_FAILED", 401),
}

SYNTAX_ERROR, READONLY, ACCESS_DENIED, UNKNOWN_TABLE = 62, 164, 497, 60


class QueryError(OtelLlmCostError):
    """A refused or failed query, answered as `Code: N. DB::Exception: <message> (NAME)`."""

    def __init__(self, code: int, message: str, name: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        known_name, self.status = CODES.get(code, ("", 500))
        self.name = name or known_name or "UNKNOWN_EXCEPTION"

    def clickhouse_text(self) -> str:
        return f"Code: {self.code}. DB::Exception: {self.message} ({self.name})\n"
