"""Content-Encoding of an OTLP/HTTP body: gzip (every member, checked to its end) or zlib deflate."""

from __future__ import annotations

import zlib


class InflateError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status  # 400 (corrupt or truncated) or 413 (over the limit once decompressed)


def inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    """The decompressed body, at most `limit` bytes. A gzip body may hold several members (concatenated
    files are one valid gzip stream); all are decoded. A body that ends before its stream does is refused."""
    parts: list[bytes] = []
    size = 0
    rest = raw
    while True:
        inflater = zlib.decompressobj(47)  # wbits 47: auto-detect gzip or zlib headers
        try:
            part = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise InflateError(400, f"body is not valid {encoding}: {exc}") from exc
        size += len(part)
        if size > limit or inflater.unconsumed_tail:
            raise InflateError(413, f"decompressed body is over the {limit}-byte limit")
        parts.append(part)
        if not inflater.eof:
            raise InflateError(400, f"body is truncated {encoding}: the compressed stream does not end")
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):  # trailing zero padding after the last member is tolerated, as gzip(1) does
            return b"".join(parts)
