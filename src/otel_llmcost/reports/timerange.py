"""Time ranges as people type them: an age before now ("24h", "7d") or an ISO time, always UTC.

Shared by the CLI (--since/--until) and the named query endpoints (since=/until=).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from otel_llmcost.errors import ConfigError

_AGE = re.compile(r"^(\d+)([smhdw])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime, flag: str) -> datetime:
    """An age ("24h", "7d") before now, or an ISO date/time (UTC unless it says otherwise)."""
    age = _AGE.match(text.strip())
    if age:
        return now - timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is neither an age like 24h or 7d nor an ISO time") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def time_window(since: str, until: str | None, now: datetime,
                names: tuple[str, str] = ("--since", "--until")) -> tuple[datetime, datetime]:
    """since/until as UTC times; without until, up to and including now. `names` name them in errors."""
    start = parse_time(since, now, names[0])
    return start, parse_time(until, now, names[1]) if until else now + timedelta(seconds=1)
