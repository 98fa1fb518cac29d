"""``alliance-monitor dlq redrive``: dead letters go back to their source topic, through the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from streams.codec import dead_letter, decode, encode
from streams.contracts import ChatTurn
from streams.topics import CHAT_TURNS
from tests.kafka_helpers import consume_all_sync, produce

pytestmark = pytest.mark.integration


def _cli(bootstrap: str, *argv: str, action: str = "redrive") -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap}
    return subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "dlq", action, *argv],
                          capture_output=True, text=True, env=env, timeout=120)


def test_redrive_sends_the_matching_letters_back_with_their_key_and_bytes(kafka_bootstrap, unique):
    sid = f"dlq-{unique}"
    mark = f"fixed-{unique}"
    turns = [ChatTurn(session_id=sid, turn_id=i, speaker="client", text=f"hello {i}",
                      sent_at=datetime.now(timezone.utc), counselor_id="c") for i in range(2)]
    binary = b"\xff\xfe not utf-8"  # kept base64 in the letter, must come back byte for byte
    letters = [dead_letter(CHAT_TURNS.name, f"processing error: {mark}", encode(t), key=sid) for t in turns]
    letters.append(dead_letter(CHAT_TURNS.name, f"processing error: {mark}", binary, key=sid))
    letters.append(dead_letter(CHAT_TURNS.name, f"another cause {unique}", encode(turns[0]), key=sid))
    produce(kafka_bootstrap, CHAT_TURNS.dlq, [(sid, letter) for letter in letters])

    dry = _cli(kafka_bootstrap, CHAT_TURNS.name, "--reason", mark, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "3 matching; would re-drive 3 to chat.turns" in dry.stdout
    assert consume_all_sync(kafka_bootstrap, CHAT_TURNS.name, idle=2.0, timeout=15,
                            where=lambda r: r.key == sid.encode()) == []

    run = _cli(kafka_bootstrap, CHAT_TURNS.dlq, "--reason", mark, action="replay")  # alias; the .dlq name too
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert "3 matching; re-drove 3 to chat.turns" in run.stdout
    back = consume_all_sync(kafka_bootstrap, CHAT_TURNS.name, expect=3, timeout=30,
                            where=lambda r: r.key == sid.encode())
    values = [r.value for r in back]
    assert sorted(decode(ChatTurn, v).turn_id for v in values if v != binary) == [0, 1]
    assert binary in values
    assert consume_all_sync(kafka_bootstrap, CHAT_TURNS.name, idle=2.0, timeout=15,
                            where=lambda r: r.key == sid.encode()).__len__() == 3  # the other cause stayed


def test_bad_arguments_are_one_line(kafka_bootstrap):
    proc = _cli(kafka_bootstrap, "no.such.topic")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "unknown topic" in proc.stderr


def test_redrive_keeps_the_record_headers(kafka_bootstrap, unique):
    """A session record dead-lettered with its source header goes back with it: without it, the
    session's owner (streams/ownership.py) would no longer recognise its own record."""
    from kafka import KafkaProducer

    from streams.contracts import SessionEvent
    from streams.topics import CHAT_SESSIONS, SOURCE_HEADER

    sid = f"dlq-h-{unique}"
    record = SessionEvent(session_id=sid, kind="started", at=datetime.now(timezone.utc), counselor_id="c-a")
    letter = dead_letter(CHAT_SESSIONS.name, f"processing error: headers-{unique}", encode(record), key=sid)
    headers = [(SOURCE_HEADER, b"platform-a"), ("x-trace", b"\x00\x01")]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        producer.send(CHAT_SESSIONS.dlq, key=sid.encode(), value=encode(letter), headers=headers)
        producer.flush()
    finally:
        producer.close()
    run = _cli(kafka_bootstrap, CHAT_SESSIONS.name, "--reason", f"headers-{unique}")
    assert run.returncode == 0, run.stderr
    back = consume_all_sync(kafka_bootstrap, CHAT_SESSIONS.name, expect=1, timeout=30,
                            where=lambda r: r.key == sid.encode())
    assert len(back) == 1 and back[0].value == encode(record)
    assert [(k, bytes(v)) for k, v in back[0].headers] == headers


def test_tail_of_a_dlq_prints_where_from_and_why_never_the_raw_text():
    """The runbook's `alliance-monitor tail chat.sessions.dlq` (it printed only `DeadLetter` per record)."""
    from alliance_monitor.commands.broker import describe

    letter = dead_letter("chat.sessions", "not a SessionEvent: missing kind", b'{"text": "secret words"}',
                         key="s-9", partition=2, offset=17)
    line = describe(letter)
    assert "chat.sessions[2]@17" in line and "key s-9" in line and "missing kind" in line
    assert "secret" not in line and not line.startswith("DeadLetter")
