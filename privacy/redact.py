"""Find PII spans in a text and replace each with a token naming its kind.

Pure: a text (and names the caller already knows) in, the redacted text and the
counts per kind out — never the text that was found, so callers can log and
measure what redaction did without keeping what it removed.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from . import accounts, names_en, names_zh, normalize, numbers, patterns
from .errors import UnknownKind

KINDS = ("name", "phone", "email", "address", "id")
TOKENS = {kind: f"[{kind.upper()}]" for kind in KINDS}
#: when two spans overlap, the longer wins; on a tie, the kind listed first here
PRIORITY = {"email": 0, "id": 1, "phone": 2, "address": 3, "name": 4}


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Redaction:
    text: str
    found: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.found)


def _detectors(known: tuple[str, ...]) -> list[tuple[str, Callable[[str], Iterable[tuple[int, int]]]]]:
    """Each kind's detector. Numbers, e-mails and addresses read the text with full-width
    forms and spelled Chinese digits rewritten (same length, so the spans hold for the
    original); names read the original."""
    def names(text: str) -> Iterator[tuple[int, int]]:
        yield from names_en.find_names(text)
        yield from patterns.find_known(text, known)
        if names_zh.has_cjk(text):
            yield from patterns.find_zh_intro_names(text)
            yield from names_zh.find_names(text)
            yield from names_zh.find_context_names(text)

    def phones(text: str) -> Iterable[tuple[int, int]]:
        return numbers.find_phones(text) if numbers.digit_count(text) >= 7 else ()

    def ids(text: str) -> Iterator[tuple[int, int]]:
        if numbers.digit_count(text) >= 7:
            yield from numbers.find_ids(text)
        yield from accounts.find_accounts(text)  # looks for the service's name first

    def on_numbers(detect: Callable[[str], Iterable[tuple[int, int]]]) -> Callable[[str], Iterable[tuple[int, int]]]:
        return lambda text: detect(normalize.for_numbers(text))

    return [("email", on_numbers(patterns.find_emails)), ("id", on_numbers(ids)), ("phone", on_numbers(phones)),
            ("address", on_numbers(patterns.find_addresses)), ("name", names)]


def find_spans(text: str, *, known_names: Iterable[str] = (), kinds: Iterable[str] = KINDS) -> list[Span]:
    """Non-overlapping PII spans of ``text`` in order (longest first where they overlap)."""
    wanted = set(kinds)
    if unknown := wanted - set(KINDS):
        raise UnknownKind(f"unknown kind(s) of PII: {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    found = [Span(s, e, kind) for kind, detect in _detectors(tuple(known_names)) if kind in wanted
             for s, e in detect(text) if e > s]
    found.sort(key=lambda sp: (sp.start, -(sp.end - sp.start), PRIORITY[sp.kind]))
    out: list[Span] = []
    for sp in found:
        if out and sp.start < out[-1].end:
            continue  # overlaps a longer (or earlier) span already taken
        out.append(sp)
    return out


def redact(text: str, *, known_names: Iterable[str] = (), kinds: Iterable[str] = KINDS) -> Redaction:
    """``text`` with every PII span replaced by its kind's token, and how many of each kind."""
    spans = find_spans(text, known_names=known_names, kinds=kinds)
    if not spans:
        return Redaction(text)
    parts: list[str] = []
    counts: dict[str, int] = {}
    pos = 0
    for sp in spans:
        parts += [text[pos:sp.start], TOKENS[sp.kind]]
        counts[sp.kind] = counts.get(sp.kind, 0) + 1
        pos = sp.end
    parts.append(text[pos:])
    return Redaction("".join(parts), counts)
