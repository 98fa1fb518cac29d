"""Argument types shared by every subcommand: one validator per kind of value.

Each function is an argparse ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError``. The parser in :mod:`alliance_monitor.cli`
turns argparse's "argument --x: must ..." into "--x must ...", so the user
reads one line that names the option.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import math
from datetime import datetime, timedelta, timezone
from typing import Callable

_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _float(value: str, what: str = "a number") -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, not {value!r}") from None
    if math.isnan(x):
        raise argparse.ArgumentTypeError(f"expected {what}, not {value!r}")
    return x


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number >= ``minimum``."""
    def parse(value: str) -> int:
        n = _int(value)
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return n
    parse.__name__ = f"int_at_least_{minimum}"
    return parse


#: A whole number >= 1 (counts, sizes, concurrency).
positive_int = int_at_least(1)
positive_int.__name__ = "positive_int"


def fraction(*, one_allowed: bool = True) -> Callable[[str], float]:
    """A share in [0, 1] (or [0, 1) when a whole is meaningless, e.g. a held-out share)."""
    interval = "[0, 1]" if one_allowed else "[0, 1)"

    def parse(value: str) -> float:
        x = _float(value, f"a number in {interval}")
        if not (0.0 <= x <= 1.0 if one_allowed else 0.0 <= x < 1.0):
            raise argparse.ArgumentTypeError(f"must be in {interval}, got {x}")
        return x

    return parse


def positive_float(value: str) -> float:
    """A finite number > 0 (rates, seconds, minutes)."""
    x = _float(value)
    if not 0 < x < math.inf:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return x


def non_negative_float(value: str) -> float:
    """A finite number >= 0 (waits, lateness)."""
    x = _float(value)
    if not 0 <= x < math.inf:
        raise argparse.ArgumentTypeError("must not be negative")
    return x


def days(value: str) -> float:
    """A number of days >= 0 (retention)."""
    x = _float(value, "a number of days")
    if not 0 <= x < math.inf:
        raise argparse.ArgumentTypeError("must be a number of days >= 0")
    return x


def port(value: str) -> int:
    """A TCP port, 0 meaning any free port."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {value!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return n


def duration(value: str) -> float:
    """Seconds, written as 3600, 90m, 12h or 7d; > 0."""
    text = value.strip().lower()
    factor = _DURATION_UNITS.get(text[-1:])
    try:
        seconds = float(text[:-1] if factor else text) * (factor or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 3600, 90m, 12h or 7d, not {value!r}") from None
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError("must be positive")
    return seconds


def base_url(value: str) -> str:
    """An http(s) base URL without query or fragment (where clients reach the gateway); no trailing slash."""
    if not value.startswith(("http://", "https://")) or "#" in value or "?" in value:
        raise argparse.ArgumentTypeError(f"must look like https://host[:port][/path], not {value!r}")
    return value.rstrip("/")


def speed(value: str) -> float:
    """A replay speed: times faster than real time (> 0), or 'max' / 'inf' for no pauses."""
    if value.strip().lower() in ("max", "inf"):
        return math.inf
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'max', not {value!r}") from None
    if not x > 0:  # also NaN
        raise argparse.ArgumentTypeError("must be greater than 0")
    return x


def correlation_or(word: str) -> Callable[[str], float | str]:
    """A correlation in [-1, 1], or the literal ``word`` (e.g. 'published')."""
    def parse(value: str) -> float | str:
        if value.strip().lower() == word:
            return word
        try:
            x = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a correlation (e.g. 0.28) or {word!r}, not {value!r}") from None
        if not -1.0 <= x <= 1.0:
            raise argparse.ArgumentTypeError(f"a correlation must lie in [-1, 1], got {x}")
        return x
    parse.__name__ = f"correlation_or_{word}"
    return parse


def since(value: str) -> datetime:
    """A starting instant: an ISO 8601 date or time (no zone means UTC), or an age such as 90m, 12h, 7d."""
    text = value.strip()
    if text[-1:].lower() in _DURATION_UNITS and text[:-1].replace(".", "", 1).isdigit():
        try:
            return datetime.now(timezone.utc) - timedelta(seconds=duration(text))
        except OverflowError:
            raise argparse.ArgumentTypeError(f"{value!r} reaches before year 1") from None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date or time like 2026-12-01 or 2026-12-01T08:00Z, "
                                         f"or an age like 12h or 7d, not {value!r}") from None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def network(value: str) -> str:
    """An address or CIDR network (``10.0.0.0/8``, ``192.0.2.7``, ``fd00::/8``); kept as text, checked here."""
    import ipaddress

    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an address or CIDR network like 10.0.0.0/8, not {value!r}") from None
    return value.strip()
