"""Hostile and ordinary records with the verdict written beside each: the fuzz oracle.

Why written down: the first fuzz test asked ``decode()`` itself which records it rejects,
so a contract that wrongly accepted a record could not fail it. Here each record carries
``accept`` or ``reject`` and why, decided by reading the contract's documentation, not
by running it; tests/streams/test_fuzz_verdicts.py feeds every record into each input of
the product (processor topics, ``chat.ratings``, the ingest endpoint's record parser, the
gateway's first client message, the survey socket's submission) and compares.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Verdict = Literal["accept", "reject"]
AT = "2025-06-15T14:00:00Z"  # before every test's NOW (times may not lie in the future)


class Case(NamedTuple):
    record: object  # a JSON value (dict, list, str, ...) or raw bytes
    verdict: Verdict
    why: str


def turn(**over: object) -> dict:
    return {"session_id": "s-fz", "turn_id": 1, "speaker": "client", "text": "an ordinary message", "sent_at": AT,
            "counselor_id": "c-fz", "lang": "en"} | over


def started(**over: object) -> dict:
    return {"session_id": "s-fz", "kind": "started", "at": AT, "counselor_id": "c-fz", "planned_minutes": 50,
            "lang": "en"} | over


WAI = {f"Q{i}": 3 for i in range(1, 13)}


def rating(**over: object) -> dict:
    return {"rating_id": "r-fz", "session_id": "s-fz", "instrument": "wai-sr", "answers": WAI, "lang": "en",
            "submitted_at": AT, "source": "platform"} | over


#: chat.turns: the ChatTurn contract
TURNS: list[Case] = [
    Case(turn(), "accept", "every field present and well formed"),
    Case(turn(text="我叫王小明 \u200b emoji 💥"), "accept", "any unicode text is a message"),
    Case(b"", "reject", "empty bytes are not JSON"),
    Case(b"[]", "reject", "a list is not a turn object"),
    Case(b"\xff\xfe", "reject", "invalid UTF-8"),
    Case(turn(session_id=""), "reject", "empty session id"),
    Case(turn(session_id="x" * 129), "reject", "session id longer than 128"),
    Case(turn(speaker="admin"), "reject", "speaker is client or counselor"),
    Case(turn(turn_id=-1), "reject", "turn ids are not negative"),
    Case(turn(turn_id="1"), "reject", "a turn id is a number, not a string"),
    Case(turn(turn_id=True), "reject", "a boolean is not a turn id"),
    Case(turn(sent_at="2026-01-01T00:00:00"), "reject", "a time without a zone"),
    Case(turn(sent_at="2026-02-30T00:00:00Z"), "reject", "no such date"),
    Case(turn(sent_at="yesterday"), "reject", "not a time"),
    Case(turn(text="x" * 20_000), "reject", "text over the 16 KiB limit"),
    Case(turn(lang="fr"), "reject", "lang is en or zh"),
    Case({k: v for k, v in turn().items() if k != "text"}, "reject", "text is required"),
]

#: chat.sessions: the SessionEvent contract
SESSIONS: list[Case] = [
    Case(started(), "accept", "a well-formed start"),
    Case({k: v for k, v in started(kind="ended").items() if k != "planned_minutes"}, "accept",
         "an end may leave the planned length out (it defaults)"),
    Case(started(planned_minutes=None), "reject", "a planned length, when given, is a number"),
    Case(started(kind="paused"), "reject", "kind is started or ended"),
    Case(started(planned_minutes=-5), "reject", "a negative planned length"),
    Case(started(at="9999-12-31T00:00:00Z"), "reject", "a time far in the future"),
    Case(started(session_id=None), "reject", "session id is required"),
    Case(b"null", "reject", "JSON null is not an event"),
]

#: chat.ratings: the ClientRating contract
RATINGS: list[Case] = [
    Case(rating(), "accept", "twelve WAI-SR answers in 1..5"),
    Case(rating(answers=WAI | {"Q3": 6}), "reject", "an answer outside 1..5"),
    Case(rating(answers={k: v for k, v in WAI.items() if k != "Q12"}), "reject", "an item missing"),
    Case(rating(answers=WAI | {"Q1": "3"}), "reject", "an answer is a number, not a string"),
    Case(rating(answers=WAI | {"Q1": 3.5}), "reject", "an answer is a whole number"),
    Case(rating(instrument="phq-9"), "reject", "an instrument nobody defined"),
    Case(rating(source="survey"), "reject", "a survey rating names its link"),
    Case(rating(source="survey", link_id="l-1"), "accept", "a survey rating with its link"),
    Case(rating(instrument_version="99"), "reject", "an unknown version of the instrument"),
]

#: the ingest endpoint: one posted record (a turn, a session event, or a whole session)
INGEST: list[Case] = [
    Case(turn(), "accept", "a turn"),
    Case(started(), "accept", "a session event"),
    Case("a string", "reject", "a record is a JSON object"),
    Case(None, "reject", "null is not a record"),
    Case([turn()], "reject", "a list inside the batch is not a record"),
    Case({"hello": "world"}, "reject", "neither a turn, an event nor a session"),
    Case(turn(speaker="bot"), "reject", "speaker is client or counselor"),
    Case(turn(sent_at=12345), "reject", "a number is not a time"),
]

#: the gateway's first client message on /ws (TOKEN is replaced by a valid token)
HELLO: list[Case] = [
    Case('{"type": "hello", "token": "TOKEN"}', "accept", "hello with a valid token"),
    Case('{"type": "hello", "token": "TOKEN", "resume": {}}', "accept", "an empty cursor means from the start"),
    Case("hello", "reject", "not JSON"),
    Case('{"type": "ack", "token": "TOKEN"}', "reject", "the first message must be hello"),
    Case('{"type": "hello"}', "reject", "no token"),
    Case('{"type": "hello", "token": "eyJhbGciOiJub25lIn0.e30."}', "reject", "an unsigned token"),
    Case('{"type": "hello", "token": 123}', "reject", "a token is a string"),
    Case('{"type": "hello", "token": "TOKEN", "resume": "yesterday"}', "reject", "a cursor is an object"),
    Case('[{"type": "hello"}]', "reject", "a list is not a message"),
]

#: the survey socket's submission: the answers object (with a valid link)
SURVEY: list[Case] = [
    Case(WAI, "accept", "twelve answers in 1..5"),
    Case(WAI | {"Q1": 0}, "reject", "an answer below 1"),
    Case(WAI | {"Q1": None}, "reject", "an answer left empty"),
    Case([3] * 12, "reject", "answers are an object of item: answer"),
    Case("3,3,3", "reject", "answers are an object"),
    Case({}, "reject", "no answers"),
    Case(WAI | {"Q13": 3}, "reject", "an item the instrument does not have"),
]
