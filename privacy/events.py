"""Redact the free-text fields of contract events (chat text, quotes, rationales, notes).

Why by field name: every place the contracts carry words a person or the model wrote
is a field called ``text`` (turns, quotes, transcript lines), ``rationale``, ``note``,
``message``, ``quote``, ``next_move`` or ``suggestion``; ids, enums and numbers are
left alone. A new contract with a text field under one of these names is covered
without a change here.
"""

from __future__ import annotations

__layer__ = "core"

from typing import Any, Iterable, TypeVar

from pydantic import BaseModel

from .redact import redact

TEXT_FIELDS = frozenset({"text", "rationale", "note", "message", "quote", "next_move", "suggestion"})

M = TypeVar("M", bound=BaseModel)


def _merge(into: dict[str, int], found: dict[str, int]) -> None:
    for kind, n in found.items():
        into[kind] = into.get(kind, 0) + n


def _value(value: Any, counts: dict[str, int], known: tuple[str, ...]) -> Any:
    if isinstance(value, BaseModel):
        return redact_model(value, counts, known)
    if isinstance(value, list):
        new = [_value(v, counts, known) for v in value]
        return new if any(a is not b for a, b in zip(new, value, strict=True)) else value
    return value


def redact_model(model: M, counts: dict[str, int] | None = None, known: tuple[str, ...] = ()) -> M:
    """A copy of ``model`` with its text fields redacted (the same object when nothing was found)."""
    counts = counts if counts is not None else {}
    update = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if name in TEXT_FIELDS and isinstance(value, str) and value:
            result = redact(value, known_names=known)
            if result.found:
                _merge(counts, result.found)
                update[name] = result.text
        elif isinstance(value, (BaseModel, list)):
            new = _value(value, counts, known)
            if new is not value:
                update[name] = new
    return model.model_copy(update=update) if update else model


def redact_events(events: Iterable[M], known_names: Iterable[str] = ()) -> tuple[list[M], dict[str, int]]:
    """Each event with its text fields redacted, and the counts per kind over all of them."""
    counts: dict[str, int] = {}
    known = tuple(known_names)
    return [redact_model(ev, counts, known) for ev in events], counts
