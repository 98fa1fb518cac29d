"""Chat text never reaches logs or dead-letter reasons, and the processor's text changelog expires."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.codec import safe_reason
from streams.contracts import ScoreRequest, TranscriptLine
from streams.processor import ProcessorConfig, build_app
from streams.topics import CHAT_TURNS

SECRET = "I live at 12 Secret Road"


def test_a_validation_error_is_reported_without_the_value_that_failed():
    with pytest.raises(ValidationError) as exc:
        ScoreRequest(request_id="x", session_id="s", phase="early", upto_turn_id=0,
                     transcript=[TranscriptLine(turn_id=0, speaker="client", text=SECRET)])
    assert "Secret Road" in str(exc.value)  # what str() would have leaked (the reason this helper exists)
    reason = safe_reason(exc.value)
    assert "Secret Road" not in reason
    assert reason == "ScoreRequest: request_id must be 's:early' (session_id:phase), got 'x'"


def test_any_other_error_is_named_by_type_and_place_only():
    try:
        raise KeyError(SECRET)
    except KeyError as err:
        reason = safe_reason(err)
    assert SECRET not in reason and reason.startswith("KeyError in test_any_other_error")


def test_the_texts_changelog_has_the_retention_of_chat_turns(tmp_path, monkeypatch):
    """The real Faust app as the processor builds it: the changelog topic it would create."""
    import asyncio

    monkeypatch.setenv("ALLIANCE_STATE_DIR", str(tmp_path))
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(ProcessorConfig(bootstrap="127.0.0.1:1", app_id="hygiene-test"))
    cfg = dict(app.tables["texts"].changelog_topic.config or {})
    assert cfg.get("retention.ms") == str(CHAT_TURNS.retention_ms)
    assert "delete" in cfg.get("cleanup.policy", "")
