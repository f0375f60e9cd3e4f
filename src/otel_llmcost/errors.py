"""The exceptions otel-llmcost raises; each carries a message fit for a one-line CLI error."""


class OtelLlmCostError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(OtelLlmCostError):
    """The configuration (file or flags) is invalid; the message lists every problem found."""


class DecodeError(OtelLlmCostError):
    """An OTLP request body could not be decoded at all (as opposed to single bad spans)."""


class PriceBookError(OtelLlmCostError):
    """A price book file is invalid; the message names the file and the entry."""


class StoreError(OtelLlmCostError):
    """The ClickHouse store failed or could not be reached. `retryable`: the store's state is at fault (down,
    slow, full), not the data sent; a permanent error fails the same rows the same way every time."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class StoreFullError(StoreError):
    """The store's disk lacks room for this INSERT (retryable): a smaller INSERT may fit now, and a full disk
    that is freed takes them all again."""


class OverloadedError(OtelLlmCostError):
    """The receiver cannot take more data right now; clients should retry later."""


def yaml_problem(exc: Exception) -> str:
    """A YAML parser error as one line: 'line L, column C: problem'."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


class ListenError(OtelLlmCostError):
    """A receiver cannot listen on its address (the port is in use, or the address is not this host's)."""
