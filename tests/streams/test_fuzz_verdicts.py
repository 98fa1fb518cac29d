"""Every input of the product against verdicts written beside the records (an oracle that is not the code).

A contract, parser or check that accepts a record marked ``reject`` (or refuses one
marked ``accept``) fails here with the record's reason. Pure cores only: the real
shells are fed the larger hostile corpus in tests/streams/test_fuzz.py.
"""

from __future__ import annotations

import orjson
import pytest

from gateway.auth import issue_token
from gateway.client_messages import parse_hello
from gateway.errors import ProtocolError
from gateway.survey import SurveyDesk, mint_link, survey_key
from streams.codec import decode
from streams.contracts import AllianceScore, ChatTurn, ClientRating, SessionEvent
from streams.errors import ContractError
from streams.replay_format import parse_line

from .fuzz_corpus import corpus
from .fuzz_verdicts import HELLO, INGEST, RATINGS, SESSIONS, SURVEY, TURNS, Case

NOW = 1_760_000_000.0
SECRET = b"f" * 32


def _raw(record: object) -> bytes:
    return record if isinstance(record, bytes) else orjson.dumps(record)


def _ids(cases: list[Case]) -> list[str]:
    return [f"{c.verdict}-{c.why}" for c in cases]


def _decoded(contract: type, case: Case) -> str:
    try:
        decode(contract, _raw(case.record))
    except ContractError:
        return "reject"
    return "accept"


@pytest.mark.parametrize("case", TURNS, ids=_ids(TURNS))
def test_chat_turns(case):
    assert _decoded(ChatTurn, case) == case.verdict, case.why


@pytest.mark.parametrize("case", SESSIONS, ids=_ids(SESSIONS))
def test_chat_sessions(case):
    assert _decoded(SessionEvent, case) == case.verdict, case.why


@pytest.mark.parametrize("case", RATINGS, ids=_ids(RATINGS))
def test_chat_ratings(case):
    assert _decoded(ClientRating, case) == case.verdict, case.why


@pytest.mark.parametrize("case", INGEST, ids=_ids(INGEST))
def test_ingest_records(case):
    try:
        parse_line(case.record, "record 0", 0)
    except ContractError:
        verdict = "reject"
    else:
        verdict = "accept"
    assert verdict == case.verdict, case.why


@pytest.mark.parametrize("case", HELLO, ids=_ids(HELLO))
def test_gateway_first_message(case):
    token = issue_token(SECRET, role="counselor", counselor_id="c-fz", now=NOW)
    try:
        parse_hello(str(case.record).replace("TOKEN", token), SECRET, NOW)
    except ProtocolError:
        verdict = "reject"
    else:
        verdict = "accept"
    assert verdict == case.verdict, case.why


@pytest.mark.parametrize("case", SURVEY, ids=_ids(SURVEY))
def test_survey_submission(case):
    key = survey_key(SECRET, env={})
    link, _ = mint_link(key, session_id="s-fz", now=NOW)
    reply, rating = SurveyDesk(key).submit(link, case.record, NOW)
    verdict = "accept" if rating is not None and reply == {"type": "thanks"} else "reject"
    assert verdict == case.verdict, case.why


PROCESSOR_CONTRACTS = {"chat.turns": ChatTurn, "chat.sessions": SessionEvent, "alliance.scores": AllianceScore}
HOSTILE = corpus("fz")
HOSTILE_CASES = [(topic, case) for topic, cases in HOSTILE.items() for case in cases]


@pytest.mark.parametrize("topic, case", HOSTILE_CASES,
                         ids=[f"{t}-{i}-{c.verdict}" for i, (t, c) in enumerate(HOSTILE_CASES)])
def test_the_hostile_corpus_against_its_written_verdicts(topic, case):
    """The processor's and the sink's topics decode with these contracts (the same codec)."""
    got = _decoded(PROCESSOR_CONTRACTS[topic], Case(case.raw, case.verdict, case.why))
    assert got == case.verdict, case.why


@pytest.mark.parametrize("topic, case", [(t, c) for t, c in HOSTILE_CASES if t != "alliance.scores"],
                         ids=[f"{t}-{i}-{c.verdict}" for i, (t, c) in enumerate(HOSTILE_CASES)
                              if t != "alliance.scores"])
def test_the_hostile_corpus_through_the_ingest_record_parser(topic, case):
    """What the ingest endpoint does with the same records posted as JSON (not-JSON bodies are HTTP 400)."""
    try:
        record = orjson.loads(case.raw)
    except orjson.JSONDecodeError:
        return  # the endpoint refuses the body as a whole; tests/ingest covers that
    try:
        parse_line(record, "record 0", 0)
    except ContractError:
        verdict = "reject"
    else:
        verdict = "accept"
    assert verdict == case.verdict, case.why
