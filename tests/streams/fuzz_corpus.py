"""A corpus of malformed and hostile records for the processor's input topics, each with its verdict.

Sizes, unicode (zero-width, bidi overrides, NUL, invalid UTF-8), duplicate keys,
huge / negative / nonsense times, long and odd ids, wrong types, missing and extra
fields, and things that are not JSON objects at all — for ``chat.turns``,
``chat.sessions`` and ``alliance.scores``. Each entry is raw bytes as a producer
might send them, with ``accept`` or ``reject`` and why written beside it, from the
contracts' rules as docs/streams.md and ``streams/contracts.py``'s docstrings state
them (an id is non-empty, visible, without surrounding whitespace or control
characters, at most 128 characters; a text is non-empty, visible, at most 16 KiB,
without NUL; event times are zoned and within 2000 .. now + 24 h; …) — never by
running the code, which is what the tests compare against.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

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


class Case(NamedTuple):
    raw: bytes
    verdict: str  # "accept" | "reject"
    why: str


#: HOSTILE_STRINGS as an id (session, counselor, group), in order: (verdict, why)
AS_ID: list[tuple[str, str]] = [
    ("reject", "an empty id"), ("reject", "an id of whitespace"), ("reject", "an invisible id (zero-width space)"),
    ("reject", "an invisible id (zero-width characters)"), ("reject", "an id with bidi controls (spoofs the board)"),
    ("reject", "an id with NUL (PostgreSQL cannot store it)"), ("reject", "an id that is NUL"),
    ("reject", "an id over 128 characters"), ("reject", "an id over 128 characters"),
    ("reject", "an id with surrounding whitespace"), ("reject", "an id with a line break"),
    ("accept", "an id of ordinary code points"), ("accept", "an id of emoji (50, under 128)"),
    ("accept", "an id of visible characters (escaping is the display's job)"),
    ("reject", "an id is required"), ("reject", "an id is a string, not a number"),
    ("reject", "an id is a string, not a number"), ("reject", "an id is a string, not a boolean"),
    ("reject", "an id is a string, not a list"), ("reject", "an id is a string, not an object"),
    ("reject", "an id is a string, not a list"),
]
#: HOSTILE_STRINGS as a chat message's text, in order
AS_TEXT: list[tuple[str, str]] = [
    ("reject", "an empty message"), ("reject", "a message of whitespace"),
    ("reject", "a message with nothing visible (zero-width space)"),
    ("reject", "a message with nothing visible (zero-width characters)"),
    ("accept", "visible text with bidi controls is still a message"), ("reject", "a message with NUL"),
    ("reject", "a message that is NUL"), ("accept", "129 characters"), ("accept", "10,000 bytes, under 16 KiB"),
    ("accept", "surrounding whitespace is part of a message"), ("accept", "a line break is part of a message"),
    ("accept", "ordinary code points"), ("accept", "emoji (200 bytes)"), ("accept", "markup is text like any other"),
    ("reject", "text is required"), ("reject", "text is a string, not a number"),
    ("reject", "text is a string, not a number"), ("reject", "text is a string, not a boolean"),
    ("reject", "text is a string, not a list"), ("reject", "text is a string, not an object"),
    ("reject", "text is a string, not a list"),
]
#: as a value of a closed set (speaker, kind, lang): none of HOSTILE_STRINGS is a member
AS_ENUM = [("reject", "not one of the allowed values")] * len(HOSTILE_STRINGS)
#: HOSTILE_TIMES, in order: every one is out of bounds or not a zoned time
TIME_VERDICTS: list[tuple[str, str]] = [
    ("reject", "more than 24 h in the future"), ("reject", "before 2000"), ("reject", "before 2000"),
    ("reject", "a time without a zone"), ("reject", "not a time"), ("reject", "not a time"),
    ("reject", "-1 s after the epoch is before 2000"), ("reject", "a number out of any time's range"),
    ("reject", "not a time"), ("reject", "a time is required"), ("reject", "no 30 February"),
    ("reject", "a year past 9999"),
]
#: HOSTILE_INTS as a turn id, in order (turn ids are whole numbers >= 0, strictly typed)
TURN_ID_VERDICTS: list[tuple[str, str]] = [
    ("reject", "a negative turn id"), ("reject", "a negative turn id"),
    ("reject", "an integer over 64 bits is not JSON any part reads (sent as Python repr)"),
    ("reject", "a fraction is not a turn id"), ("reject", "a string is not a turn id (strict)"),
    ("reject", "a boolean is not a turn id (strict)"), ("reject", "a turn id is required"),
    ("reject", "a list is not a turn id"), ("reject", "a fraction is not a turn id"),
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


def _fields(verdicts: dict[str, list[tuple[str, str]]], make, prefix: str, values: list[object],
            n: int) -> tuple[list[Case], int]:
    out = []
    for field, table in verdicts.items():
        for value, (verdict, why) in zip(values, table, strict=False):
            n += 1
            if field == "session_id" and verdict == "accept" and isinstance(value, str):
                # an accepted hostile session id, made this run's own: the same id from an earlier run (or from
                # tests/ingest/test_ingest_fuzz.py, stamped by a platform) on a shared broker already has an owner,
                # and its owner's rule (streams/ownership.py) would rightly refuse this one
                value = f"{value}-{prefix}{n}"
            out.append(Case(_dumps(make(f"{prefix}{n}", **{field: value})), verdict, f"{field}: {why}"))
    return out, n


LAX_NUMBER = "a numeric string is read as a number (the contracts are lax except where strict is written)"


def corpus(prefix: str) -> dict[str, list[Case]]:
    """Hostile records per topic with their verdicts; session ids start with ``prefix`` where one is a string."""
    not_json = [Case(raw, "reject", "not a JSON object") for raw in NOT_JSON]
    turns, n = _fields({"session_id": AS_ID, "speaker": AS_ENUM, "text": AS_TEXT, "counselor_id": AS_ID,
                        "lang": AS_ENUM},
                       lambda sid, **over: turn(sid, 0, **over), f"{prefix}-t", HOSTILE_STRINGS, 0)
    turns = not_json + turns
    for value, (verdict, why) in zip(HOSTILE_TIMES, TIME_VERDICTS, strict=True):
        n += 1
        turns.append(Case(_dumps(turn(f"{prefix}-t{n}", n, sent_at=value)), verdict, f"sent_at: {why}"))
    for value, (verdict, why) in zip(HOSTILE_INTS, TURN_ID_VERDICTS, strict=True):
        n += 1
        turns.append(Case(_dumps(turn(f"{prefix}-t{n}", value)), verdict, f"turn_id: {why}"))
    turns += [
        Case(_dumps(turn(f"{prefix}-big", 0, text="word " * 3300)), "reject", "text: 16.5 KB, over 16 KiB"),
        Case(_dumps(turn(f"{prefix}-huge", 0, text="x" * 900_000)), "reject", "text: 900 KB"),
        Case(_dumps(turn(f"{prefix}-extra", 0, role="admin")), "reject", "a field the contract does not have"),
        Case(_dumps({k: v for k, v in turn(f"{prefix}-missing").items() if k != "text"}), "reject",
             "text is required"),
        Case(b'{"session_id": "%s-dup", "session_id": "%s-dup2", "turn_id": 0, "speaker": "client", '
             b'"text": "dup", "sent_at": "%s", "counselor_id": "c"}' % (prefix.encode(), prefix.encode(),
                                                                         _now().encode()),
             "accept", "a duplicate key: the last wins, the same in every part (all read JSON with orjson)"),
        Case(b'{"session_id": "%s-badutf", "turn_id": 0, "speaker": "client", "text": "\xff\xfe", '
             b'"sent_at": "%s", "counselor_id": "c"}' % (prefix.encode(), _now().encode()),
             "reject", "invalid UTF-8 inside a string"),
    ]

    sessions, n = _fields({"session_id": AS_ID[:12], "kind": AS_ENUM[:12], "counselor_id": AS_ID[:12],
                           "group": AS_ID[:12], "lang": AS_ENUM[:12]},
                          session_event, f"{prefix}-s", HOSTILE_STRINGS[:12], n)
    sessions = not_json + sessions
    for value, (verdict, why) in zip(HOSTILE_TIMES, TIME_VERDICTS, strict=True):
        n += 1
        sessions.append(Case(_dumps(session_event(f"{prefix}-s{n}", at=value)), verdict, f"at: {why}"))
    for value, verdict, why in ((0, "reject", "a session of 0 minutes"), (-5, "reject", "negative minutes"),
                                (601, "reject", "over 600 minutes"), (1e9, "reject", "over 600 minutes"),
                                ("50", "accept", LAX_NUMBER),
                                (None, "reject", "a planned length, when given, is a number"),
                                (float("nan"), "reject", "NaN is sent as null: not a number")):
        n += 1
        sessions.append(Case(_dumps(session_event(f"{prefix}-s{n}", planned_minutes=value)), verdict,
                             f"planned_minutes: {why}"))

    scores: list[Case] = not_json[:6]
    for over, why in (({"request_id": "someone-else:early"}, "request id is not session_id:phase"),
                      ({"phase": "never"}, "no such phase"), ({"items": []}, "no items"),
                      ({"items": score("x")["items"] * 2}, "24 items, at most 12"),
                      ({"dimensions": {"trust": {"score": 3}}}, "no such dimension"),
                      ({"model": {}}, "the model is unnamed"), ({"upto_turn_id": -7}, "a cut below -1"),
                      ({"session_id": "x" * 200}, "a session id over 128 characters")):
        n += 1
        scores.append(Case(_dumps(score(f"{prefix}-sc{n}", **over)), "reject", why))
    bad_items = score("x")["items"]
    for mutate, why in (({"expected": 7}, "an expected score above 5"), ({"probs": [1, 1, 1, 1, 1]}, "probs sum to 5"),
                        ({"probs": [0.2] * 4}, "four probabilities for five answers"),
                        ({"item_id": "Q13"}, "no item Q13"), ({"dimension": "trust"}, "no such dimension"),
                        ({"expected": float("nan")}, "NaN is sent as null: not a score")):
        n += 1
        items = [dict(bad_items[0], **mutate)] + bad_items[1:]
        scores.append(Case(_dumps(score(f"{prefix}-sc{n}", items=items)), "reject", f"items[0]: {why}"))
    return {"chat.turns": turns, "chat.sessions": sessions, "alliance.scores": scores}
