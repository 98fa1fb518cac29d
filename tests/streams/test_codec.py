"""The Faust codec and dead-letter wrapping: nothing about a bad record is lost."""

from __future__ import annotations

import base64

import pytest

from streams.codec import Rejected, codec_name, dead_letter, encode, faust_codec, register_faust_codecs
from streams.contracts import ChatTurn, SessionEvent
from streams.errors import ContractError

GOOD = (b'{"session_id":"s","turn_id":0,"speaker":"client","text":"hi",'
        b'"sent_at":"2026-03-02T09:00:00Z","counselor_id":"c"}')


def test_faust_codec_yields_contract_instances():
    codec = faust_codec(ChatTurn)
    turn = codec.loads(GOOD)
    assert isinstance(turn, ChatTurn) and turn.text == "hi"
    assert codec.loads(codec.dumps(turn)) == turn


def test_lenient_codec_hands_bad_records_to_the_agent():
    codec = faust_codec(ChatTurn)
    bad = GOOD.replace(b'"client"', b'"robot"')
    out = codec.loads(bad)
    assert isinstance(out, Rejected)
    assert "ChatTurn.speaker" in out.reason
    assert out.raw == bad


def test_strict_codec_raises():
    with pytest.raises(ContractError):
        faust_codec(ChatTurn, lenient=False).loads(b"not json")


def test_codecs_register_by_name():
    from faust.serializers import codecs

    register_faust_codecs()
    codec = codecs.get_codec(codec_name(SessionEvent))
    ev = codec.loads(b'{"session_id":"s","kind":"started","at":"2026-03-02T09:00:00Z","counselor_id":"c"}')
    assert isinstance(ev, SessionEvent)


def test_dead_letter_keeps_text_and_binary():
    dl = dead_letter("chat.turns", "ChatTurn.text: must not be empty", b'{"text":""}', key=b"s-1", partition=2,
                     offset=9)
    assert dl.raw == '{"text":""}' and dl.raw_encoding == "utf-8" and dl.key == "s-1"
    binary = b"\xff\xfe\x00garbage"
    dl = dead_letter("chat.turns", "not valid JSON", binary)
    assert dl.raw_encoding == "base64" and base64.b64decode(dl.raw) == binary
    assert encode(dl)  # a DeadLetter is itself a valid contract on the wire
