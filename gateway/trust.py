"""Which producer may assign sessions: a pure decision on a ``chat.sessions`` record's source header.

Why: a ``started`` record says which counselor and group a session belongs to, and so
who sees it. Any client that can write ``chat.sessions`` could hand a session (and its
alerts) to another counselor. The ingest endpoint stamps each record with the platform
it authenticated (``streams.topics.SOURCE_HEADER``); a gateway configured with trusted
sources ignores session records from anyone else. An empty set trusts every record (the
demo, where replay writes the sessions).
"""

from __future__ import annotations

__layer__ = "core"

from typing import Iterable

from streams.topics import SOURCE_HEADER


def record_source(headers: Iterable[tuple[str, bytes | None]] | None) -> str | None:
    """The source a record claims, or None when it carries no (readable) source header."""
    for key, value in headers or ():
        if key == SOURCE_HEADER and value:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def source_trusted(trusted: frozenset[str], headers: Iterable[tuple[str, bytes | None]] | None) -> bool:
    """May this record assign or end a session? Always, when no source is configured."""
    return not trusted or record_source(headers) in trusted
