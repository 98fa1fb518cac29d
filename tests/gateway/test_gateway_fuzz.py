"""The written-verdict corpus through the real gateway: the first /ws message and survey submissions.

One thin pass through the real shell (websockets on loopback, the shared broker); the pure
checks of the same records are in tests/streams/test_fuzz_verdicts.py.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gateway.survey import mint_link, survey_key
from tests.gateway.conftest import SECRET, counselor_token
from tests.gateway.test_survey import ratings_topic
from tests.streams.fuzz_verdicts import HELLO, SURVEY

pytestmark = pytest.mark.integration


async def _first_reply(url: str, message: str) -> dict | None:
    """The first frame the gateway answers ``message`` with, or None when it closes instead."""
    try:
        async with connect(url) as ws:
            await ws.send(message)
            return orjson.loads(await asyncio.wait_for(ws.recv(), 30))
    except ConnectionClosed:
        return None


async def test_first_messages_and_survey_answers_are_taken_or_refused_as_written(make_gateway, kafka_bootstrap,
                                                                                  unique):
    gw = await make_gateway(ratings_topic=ratings_topic(kafka_bootstrap, unique))
    token = counselor_token("c-fz")
    for case in HELLO:
        reply = await _first_reply(gw.url, str(case.record).replace("TOKEN", token))
        verdict = "accept" if reply is not None and reply.get("type") == "welcome" else "reject"
        assert verdict == case.verdict, (case.why, reply)
    key = survey_key(SECRET, env={})
    survey_url = gw.http_url.replace("http", "ws") + "/survey/ws"
    for n, case in enumerate(SURVEY):
        link, _ = mint_link(key, session_id=f"s-fz-{unique}-{n}")
        reply = await _first_reply(survey_url, orjson.dumps({"type": "submit", "token": link,
                                                             "answers": case.record}).decode())
        verdict = "accept" if reply == {"type": "thanks"} else "reject"
        assert verdict == case.verdict, (case.why, reply)
