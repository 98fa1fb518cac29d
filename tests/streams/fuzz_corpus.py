"""A corpus of malformed and hostile records for the processor's input topics (deterministic).

Sizes, unicode (zero-width, bidi overrides, NUL, invalid UTF-8), duplicate keys,
huge / negative / nonsense times, long and odd ids, wrong types, missing and extra
fields, and things that are not JSON objects at all — for ``chat.turns``,
``chat.sessions`` and ``alliance.scores``. Each entry is raw bytes as a producer
might send them; the tests decide per entry with the real codec whether it must be
dead-lettered.
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

NOT_JSON: list[bytes] = [
    b"", b"{", b"[]", b"null", b"1", b'"a string"', b"\x00\x01\x02", b"\xff\xfe\xfd", b"<turn/>",
    b'{"session_id": "x",}', b"{'single': 'quotes'}", b"NaN", b"[" * 2000 + b"]" * 2000,
]

HOSTILE_STRINGS: list[object] = [
    "", " ", "\u200b", "\u200b\u200c\u200d\ufeff", "\u202eevil\u202c", "a\u0000b", "\u0000",
    "x" * 129, "x" * 10_000, " padded ", "line\nbreak", "\ud7ff\ue000", "💥" * 50, "<script>alert(1)</script>",
    None, 123, 1.5, True, [], {}, ["a"],
]

HOSTILE_TIMES: list[object] = [
    "9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-01-01T00:00:00",  # naive
    "yesterday", "", -1, 1e308, "NaN", None, "2026-02-30T00:00:00Z", "+275760-09-13T00:00:00Z",
]

HOSTILE_INTS: list[object] = [-1, -(2**63), 2**70, 1.5, "1", True, None, [], 1e308]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def turn(sid: str, n: int = 0, **over) -> dict:
    base = {"session_id": sid, "turn_id": n, "speaker": "client", "text": "a perfectly ordinary message",
            "sent_at": _now(), "counselor_id": "c-fuzz", "lang": "en"}
    base.update(over)
    return base


def session_event(sid: str, **over) -> dict:
    base = {"session_id": sid, "kind": "started", "at": _now(), "counselor_id": "c-fuzz", "planned_minutes": 50,
            "lang": "en"}
    base.update(over)
    return base


def score(sid: str, **over) -> dict:
    probs = [0.1, 0.2, 0.4, 0.2, 0.1]
    items = [{"item_id": f"Q{i}", "dimension": "goal" if i <= 4 else "approach" if i <= 8 else "bond",
              "expected": 3.0, "probs": probs} for i in range(1, 13)]
    base = {"request_id": f"{sid}:early", "session_id": sid, "phase": "early", "upto_turn_id": 3, "items": items,
            "dimensions": {"goal": {"score": 3.0}, "approach": {"score": 3.0}, "bond": {"score": 3.0}},
            "model": {"name": "fuzz-model"}}
    base.update(over)
    return base


def _dumps(obj) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # e.g. lone surrogates: send what a sloppy producer would
        return repr(obj).encode("utf-8", "surrogatepass")


def corpus(prefix: str) -> dict[str, list[bytes]]:
    """Hostile records per topic; session ids start with ``prefix`` where a session id is a string."""
    turns: list[bytes] = list(NOT_JSON)
    n = 0
    for field in ("session_id", "speaker", "text", "counselor_id", "lang"):
        for value in HOSTILE_STRINGS:
            n += 1
            turns.append(_dumps(turn(f"{prefix}-t{n}", n, **{field: value})))
    for value in HOSTILE_TIMES:
        n += 1
        turns.append(_dumps(turn(f"{prefix}-t{n}", n, sent_at=value)))
    for value in HOSTILE_INTS:
        n += 1
        turns.append(_dumps(turn(f"{prefix}-t{n}", value)))
    turns.append(_dumps(turn(f"{prefix}-big", 0, text="word " * 3300)))  # 16.5 KB > the 16 KiB limit
    turns.append(_dumps(turn(f"{prefix}-huge", 0, text="x" * 900_000)))
    turns.append(_dumps(turn(f"{prefix}-extra", 0, role="admin")))
    turns.append(_dumps({k: v for k, v in turn(f"{prefix}-missing").items() if k != "text"}))
    turns.append(b'{"session_id": "%s-dup", "session_id": "%s-dup2", "turn_id": 0, "speaker": "client", '
                 b'"text": "dup", "sent_at": "%s", "counselor_id": "c"}' % (prefix.encode(), prefix.encode(),
                                                                             _now().encode()))
    turns.append(b'{"session_id": "%s-badutf", "turn_id": 0, "speaker": "client", "text": "\xff\xfe", '
                 b'"sent_at": "%s", "counselor_id": "c"}' % (prefix.encode(), _now().encode()))

    sessions: list[bytes] = list(NOT_JSON)
    for field in ("session_id", "kind", "counselor_id", "group", "lang"):
        for value in HOSTILE_STRINGS[:12]:
            n += 1
            sessions.append(_dumps(session_event(f"{prefix}-s{n}", **{field: value})))
    for value in HOSTILE_TIMES:
        n += 1
        sessions.append(_dumps(session_event(f"{prefix}-s{n}", at=value)))
    for value in (0, -5, 601, 1e9, "50", None, float("nan")):
        n += 1
        sessions.append(_dumps(session_event(f"{prefix}-s{n}", planned_minutes=value)))

    scores: list[bytes] = list(NOT_JSON[:6])
    for over in ({"request_id": "someone-else:early"}, {"phase": "never"}, {"items": []},
                 {"items": score("x")["items"] * 2}, {"dimensions": {"trust": {"score": 3}}},
                 {"model": {}}, {"upto_turn_id": -7}, {"session_id": "x" * 200}):
        n += 1
        scores.append(_dumps(score(f"{prefix}-sc{n}", **over)))
    bad_items = score("x")["items"]
    for mutate in ({"expected": 7}, {"probs": [1, 1, 1, 1, 1]}, {"probs": [0.2] * 4}, {"item_id": "Q13"},
                   {"dimension": "trust"}, {"expected": float("nan")}):
        n += 1
        items = [dict(bad_items[0], **mutate)] + bad_items[1:]
        scores.append(_dumps(score(f"{prefix}-sc{n}", items=items)))
    return {"chat.turns": turns, "chat.sessions": sessions, "alliance.scores": scores}
