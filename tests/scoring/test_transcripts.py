"""Transcript files for score-file: plain text and replay JSONL."""

import pytest

from scoring.errors import TranscriptError
from scoring.transcripts import load, parse_text


def test_plain_text_with_continuations_comments_and_labels():
    tr = parse_text("# a comment\nCounselor: Hello there.\n\nClient: I feel\nstuck at work.\nTherapist: Go on.\n",
                    source="x.txt")
    assert [(t.speaker, t.text) for t in tr.turns] == [
        ("counselor", "Hello there."), ("client", "I feel stuck at work."), ("counselor", "Go on.")]
    assert tr.lang == "en" and tr.session_id == "x"


def test_chinese_labels_and_language_detection():
    tr = parse_text("咨询师：你好。\n来访者: 我很难过。")
    assert [t.speaker for t in tr.turns] == ["counselor", "client"] and tr.lang == "zh"
    assert parse_text("Client: hi", lang="zh").lang == "zh"


def test_bad_text_names_the_line(tmp_path):
    with pytest.raises(TranscriptError, match=r"x.txt:2: expected a line starting with 'Counselor:'"):
        parse_text("\nHello, no label", source="x.txt")
    with pytest.raises(TranscriptError, match="no such file"):
        load(tmp_path / "missing.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TranscriptError, match="not UTF-8"):
        load(tmp_path / "bin.txt")


def test_replay_jsonl_session(samples_dir):
    path = sorted(samples_dir.glob("*_zh.jsonl"))[0]
    tr = load(path)
    assert tr.lang == "zh" and len(tr.turns) > 10
    assert {t.speaker for t in tr.turns} == {"counselor", "client"}
    with pytest.raises(TranscriptError, match="no session 'nope'"):
        load(path, session="nope")
