"""chDB prints an engine's errors on the process's stderr itself (e.g. "Code: 76. DB::Exception: Cannot lock
file .../status" when another process holds the directory) before raising them: opening a store says the
same in one clean line, so the raw line is held back while it connects.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

_ENGINE_ERROR = re.compile(rb"^Code: \d+\. DB::Exception: ")


@contextmanager
def engine_errors_held_back() -> Iterator[None]:
    """While the block runs, file descriptor 2 goes to a temporary file; afterwards its lines go to stderr,
    but for chDB's error lines when the block raised (the caller reports the error itself). Only for a
    process's first, single-threaded open of a store: other threads' stderr is delayed meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = [line for line in held.read().splitlines(keepends=True)
                     if not (failed and _ENGINE_ERROR.match(line))]
            if lines:
                sys.stderr.buffer.write(b"".join(lines))
                sys.stderr.flush()
