"""Session ownership: which producer may assign, hand over and end a session. Pure: the one rule every part applies.

A contract, not a core: it is a rule of the session records themselves, and every
part (processor, sink, gateway, ingest) applies it, so it sits where all of them may import.

Why one rule in one place: a session record says which counselor and group a
session belongs to, and so who sees its alerts and quotes. The processor, the
sink (and through the store the after-session timeline) and the gateway each
read ``chat.sessions`` on their own; if any of them obeyed a record the others
refused, a forged record would still relabel the session there. So each part
keeps the session's :class:`Owner` beside its own state and asks :func:`judge`
about every session record, in topic order (one session's records are on one
partition, so every part sees the same sequence and reaches the same answer).

The rule (docs/streams.md#session-ownership):

* a record whose source (``streams.topics.SOURCE_HEADER``, stamped by ingest from
  the platform's token) is not among the configured trusted sources changes
  nothing; no trusted source configured trusts every record (the demo);
* the first record of a session from a trusted source claims it: its source owns
  the session, and (normally it is ``started``) its counselor and group are the
  assignment;
* afterwards only records from the owner's source are obeyed: ``started`` again
  (a correction), ``reassigned`` (a counselor hand-over: the new counselor and
  group, from the owning platform) and ``ended``; ``ended`` never changes the
  assignment; a record from any other source changes nothing;
* ``reassigned`` before any record claimed the session is refused (a hand-over of
  nothing): it goes to the dead-letter topic and can be re-driven after ``started``.
"""

from __future__ import annotations

__layer__ = "contract"

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from .contracts import SessionEvent
from .topics import SOURCE_HEADER

#: Kafka record headers as the clients hand them out: aiokafka a sequence of
#: ``(key, value)`` pairs, Faust a list or a mapping.
Headers = Union[Iterable[tuple[str, Union[bytes, None]]], Mapping[str, Union[bytes, None]], None]

#: what the settings call the option on every part that reads session records
OPTION = "--trusted-source"


def header_pairs(headers: Headers) -> list[tuple[str, bytes]]:
    """Record headers as ``(key, value)`` pairs a producer takes, whatever shape the client gave them in."""
    if not headers:
        return []
    items: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for key, value in items:
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        out.append((k, bytes(value) if value is not None else b""))
    return out


def record_source(headers: Headers) -> str | None:
    """The source a record claims, or None when it carries no (readable) source header."""
    for key, value in header_pairs(headers):
        if key == SOURCE_HEADER and value:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def source_trusted(trusted: frozenset[str], source: str | None) -> bool:
    """May a record from ``source`` speak for sessions at all? Always, when no source is configured."""
    return not trusted or source in trusted


@dataclass(frozen=True)
class Owner:
    """Who a session belongs to: the source that claimed it, and the assignment that source gave it."""

    source: str | None
    counselor_id: str
    group: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "counselor_id": self.counselor_id, "group": self.group}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Owner | None":
        if not data:
            return None
        return cls(data.get("source"), str(data["counselor_id"]), data.get("group"))


@dataclass(frozen=True)
class Verdict:
    """What a session record may do: ``owner`` after it (unchanged when refused), and why it was refused."""

    owner: Owner | None
    refused: str | None = None
    #: True when the record sets the session's counselor and group (a claim, ``started``, ``reassigned``)
    assigns: bool = False

    @property
    def accepted(self) -> bool:
        return self.refused is None


def foreign_turn(owner: Owner | None, session_id: str, source: str | None) -> str | None:
    """Why a turn stamped by ``source`` may not enter the session, or None.

    Only a turn that names a source other than the owner's is refused: a producer that
    stamps no header (a platform writing ``chat.turns`` itself) is not told apart here
    (Kafka ACLs decide who may write the topic), but one platform's stamped turns never
    enter another platform's session, even behind an ingest that forgot who owns it.
    """
    if owner is None or owner.source is None or source is None or source == owner.source:
        return None
    return (f"ChatTurn of session {session_id[:128]}: the session belongs to {_shown(owner.source)}; "
            f"a turn from {_shown(source)} changes nothing")


def _shown(source: str | None) -> str:
    return "no source header" if source is None else f"source {source[:64]!r}"


def judge(owner: Owner | None, event: SessionEvent, source: str | None, trusted: frozenset[str]) -> Verdict:
    """The verdict on one session record from ``source``, given the session's current ``owner``."""
    return judge_fields(owner, event.kind, event.session_id, event.counselor_id, event.group, source, trusted)


def judge_fields(owner: Owner | None, kind: str, session_id: str, counselor_id: str, group: str | None,
                 source: str | None, trusted: frozenset[str]) -> Verdict:
    """:func:`judge` on a record's fields (the gateway keeps records as JSON, not as contracts)."""
    what = f"SessionEvent.{kind} of session {session_id[:128]}"
    if not source_trusted(trusted, source):
        return Verdict(owner, f"{what}: {_shown(source)} is not a trusted source of session records "
                              f"({OPTION}: {', '.join(sorted(trusted))})")
    claimed = Owner(source, counselor_id, group)
    if owner is None:
        if kind == "reassigned":
            return Verdict(None, f"{what}: a hand-over before any started record of the session")
        return Verdict(claimed, assigns=True)
    if owner.source != source:
        return Verdict(owner, f"{what}: the session belongs to {_shown(owner.source)}; "
                              f"a record from {_shown(source)} changes nothing")
    if kind == "ended":
        return Verdict(owner)
    return Verdict(claimed, assigns=True)
