"""``process --redact-before-model``: score requests carry no PII (real broker, real worker subprocess).

The pure part (``session_state.text_for_model`` feeding ``build_request``) is checked
in milliseconds; the worker test proves the shell applies it to every request it sends.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from streams import session_state as core
from streams.contracts import MAX_TEXT_BYTES, ChatTurn
from streams.offline import plan_session
from streams.replay import publish
from tests.streams.session_factory import session
from tests.streams.test_processor import events_of, requests_for
from tests.streams.worker_process import WorkerProcess

PII_LINE = "My name is Sarah Miller, call me at 415-555-0132 or sarah.m@example.com. 我叫张伟，电话13812345678。"
PII = ("Sarah Miller", "415-555-0132", "sarah.m@example.com", "张伟", "13812345678")


def with_pii(turns: list[ChatTurn]) -> list[ChatTurn]:
    """Every client turn says who they are."""
    return [t.model_copy(update={"text": f"{t.text} {PII_LINE}"}) if t.speaker == "client" else t for t in turns]


def requests_of(settings: core.ProcessorSettings) -> list:
    """The requests the processor's core emits for one session (streams.offline: the live cuts)."""
    started, turns, ended = session("pure-1", planned_minutes=3, turns=12)
    return plan_session("pure-1", [started, *with_pii(turns), ended], settings).requests


def test_redacted_before_the_model_only_when_asked():
    plain = requests_of(core.ProcessorSettings())
    redacted = requests_of(core.ProcessorSettings(redact_before_model=True))
    assert [r.phase for r in redacted] == [r.phase for r in plain] and len(plain) == 3
    plain_text = " ".join(line.text for r in plain for line in r.transcript)
    text = " ".join(line.text for r in redacted for line in r.transcript)
    assert all(p in plain_text for p in PII)  # the default sends the text as written
    assert not any(p in text for p in PII)
    assert text.count("[NAME]") == 2 * text.count("[EMAIL]") > 0
    # the counselor's words and the client's own words around the PII are unchanged
    assert "I have been feeling stuck at work" in text and "What brings you here today?" in text


def test_a_redacted_text_stays_within_the_contract_limit():
    """A token can be longer than what it replaced; the kept text never exceeds MAX_TEXT_BYTES."""
    text = ("I'm Al. " * (MAX_TEXT_BYTES // 8))[: MAX_TEXT_BYTES - 1]
    turn = ChatTurn(session_id="s", turn_id=0, speaker="client", text=text, sent_at=session("s")[0].at,
                    counselor_id="c")
    kept = core.text_for_model(turn, replace(core.ProcessorSettings(), redact_before_model=True))
    assert "[NAME]" in kept and "Al." not in kept
    assert len(kept.encode("utf-8")) <= MAX_TEXT_BYTES


@pytest.mark.integration
def test_the_worker_sends_redacted_requests_with_the_flag(kafka_bootstrap, unique):
    w = WorkerProcess(kafka_bootstrap, f"it-redact-{uuid.uuid4().hex[:6]}", "--clock-rate", "60", "--lateness", "5",
                      "--signal-interval", "0", "--redact-before-model").start()
    try:
        sid = f"redact-{unique}"
        started, turns, ended = session(sid, planned_minutes=3, turns=12)
        publish(events_of(started, with_pii(turns), ended), kafka_bootstrap, speed=60, progress=False)
        got = requests_for(kafka_bootstrap, sid)
    finally:
        assert w.stop() == 0, "\n".join(w.lines[-20:])
    assert [r.phase for r in got] == ["early", "middle", "late"]
    text = " ".join(line.text for r in got for line in r.transcript)
    assert not any(p in text for p in PII), "PII reached a score request"
    assert "[NAME]" in text and "[PHONE]" in text and "[EMAIL]" in text
    assert not any(p in line for line in w.lines for p in PII)  # nor the worker's log
