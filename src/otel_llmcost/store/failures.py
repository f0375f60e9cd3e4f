"""Which store failures are worth retrying: the store's state (down, slow, full) or the rows' data.

A retryable failure keeps the batch and its spool segments and is tried again with backoff. A permanent
one is the data's fault: retrying the same rows fails the same way for ever, so the pipeline splits the
batch to find the rows at fault and dead-letters them.
"""

from __future__ import annotations

import re
import struct

# ClickHouse error codes that a bad value in the rows causes (src/Common/ErrorCodes.cpp).
_DATA_ERROR_CODES = frozenset({
    6,  # CANNOT_PARSE_TEXT
    27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    33,  # CANNOT_READ_ALL_DATA (a malformed Native block)
    36,  # BAD_ARGUMENTS
    38,  # CANNOT_PARSE_DATE
    41,  # CANNOT_PARSE_DATETIME
    43,  # ILLEGAL_TYPE_OF_ARGUMENT
    53,  # TYPE_MISMATCH
    69,  # ARGUMENT_OUT_OF_BOUND
    70,  # CANNOT_CONVERT_TYPE
    72,  # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE
    128,  # TOO_LARGE_ARRAY_SIZE
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    407,  # DECIMAL_OVERFLOW
})
# Python errors raised while encoding rows for the wire: always the data's fault.
ENCODING_ERRORS = (TypeError, ValueError, OverflowError, struct.error, UnicodeError, AttributeError, KeyError)
_CODE = re.compile(r"Code:\s*(\d+)")


def is_data_error_code(code: int | None) -> bool:
    return code in _DATA_ERROR_CODES


def is_encoding_error(exc: BaseException) -> bool:
    """An error encoding rows for the wire: Python's, or clickhouse-driver's own (TypeMismatchError, code 53)."""
    return isinstance(exc, ENCODING_ERRORS) or is_data_error_code(getattr(exc, "code", None))


def error_code(message: str) -> int | None:
    """The ClickHouse error code in an exception message ("Code: 53. DB::Exception: ..."), if any."""
    match = _CODE.search(message)
    return int(match.group(1)) if match else None
