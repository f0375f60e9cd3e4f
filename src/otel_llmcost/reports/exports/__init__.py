"""Providers' usage and cost exports, read from files into BilledLines (one module per format).

`read_export(path)` tells the format from the file's content: JSON pages of OpenAI's or Anthropic's Admin
APIs, newline-delimited JSON of Google Cloud's billing export, CSV of AWS CUR 2.0, Azure cost details or
any FOCUS file.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from otel_llmcost.errors import ConfigError
from otel_llmcost.reports.exports import anthropic, azure, bedrock, focus, gcp, openai
from otel_llmcost.reports.exports.lines import DISCOUNT, OTHER, BilledLine, model_key

_JSON_READERS = ((openai.is_usage, openai.read_usage), (openai.is_costs, openai.read_costs),
                 (anthropic.is_usage, anthropic.read_usage), (anthropic.is_costs, anthropic.read_costs))
_CSV_READERS = ((bedrock.is_cur, bedrock.read), (azure.is_cost_details, azure.read), (focus.is_focus, focus.read))


def read_export(path: str | Path) -> list[BilledLine]:
    """The billed lines of one export file; ConfigError naming the file when its format is not known."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        return _read(text)
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigError(f"{path}: not a readable provider export ({type(exc).__name__}: {exc})") from None
    except _Unknown:
        raise ConfigError(f"{path}: not a known export (OpenAI or Anthropic usage/cost JSON, Google billing "
                          "NDJSON, AWS CUR 2.0, Azure cost details or FOCUS CSV)") from None


class _Unknown(Exception):
    pass


def _read(text: str) -> list[BilledLine]:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped, parse_float=Decimal)
        except json.JSONDecodeError:  # newline-delimited JSON: one billing row per line
            rows = [json.loads(line, parse_float=Decimal) for line in stripped.splitlines() if line.strip()]
            if rows and all(gcp.is_billing_row(row) for row in rows):
                return gcp.read(rows)
            raise _Unknown from None
        if gcp.is_billing_row(document):
            return gcp.read([document])
        for matches, read in _JSON_READERS:
            if matches(document):
                return read(document)
        raise _Unknown
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or ())
    for is_format, read_rows in _CSV_READERS:
        if is_format(header):
            return read_rows(list(reader))
    raise _Unknown


__all__ = ["DISCOUNT", "OTHER", "BilledLine", "model_key", "read_export"]
