"""Replay: parsing (pure), pacing (pure), and publishing through the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from streams.codec import decode
from streams.contracts import ChatTurn, SessionEvent
from streams.replay import merge, publish, read_file, rebase, schedule
from tests.kafka_helpers import consume_all_sync

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def turn_line(session: str, n: int, seconds: float, speaker: str = "client", text: str = "hello") -> dict:
    return {"session_id": session, "turn_id": n, "speaker": speaker, "text": text,
            "sent_at": (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z"),
            "counselor_id": "c-test", "lang": "en"}


def event_line(session: str, kind: str, seconds: float) -> dict:
    return {"session_id": session, "kind": kind, "at": (T0 + timedelta(seconds=seconds)).isoformat(),
            "counselor_id": "c-test", "planned_minutes": 50}


def write_jsonl(path: Path, rows: list, header: list[str] = ()) -> Path:
    lines = [f"# {h}" for h in header]
    lines += [r if isinstance(r, str) else orjson.dumps(r).decode() for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def header_of(path) -> list[str]:
    """The ``#`` comment lines at the top of a replay file (the replay skips them)."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return lines


# --- parsing -----------------------------------------------------------------


def test_turn_per_line_file(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl",
                    [event_line("s1", "started", 0), turn_line("s1", 0, 5, "counselor"), turn_line("s1", 1, 9),
                     event_line("s1", "ended", 60)], header=["title: test", "course: none"])
    events, bad = read_file(f)
    assert not bad
    assert [type(e.event).__name__ for e in events] == ["SessionEvent", "ChatTurn", "ChatTurn", "SessionEvent"]
    assert [e.topic for e in events] == ["chat.sessions", "chat.turns", "chat.turns", "chat.sessions"]
    assert header_of(f) == ["title: test", "course: none"]


def test_session_per_line_file(tmp_path):
    session = {"session_id": "s2", "counselor_id": "c-x", "started_at": "2026-03-02T09:00:00Z",
               "ended_at": "2026-03-02T09:50:00Z", "planned_minutes": 50, "lang": "zh", "group": "g-south",
               "turns": [{"speaker": "counselor", "text": "你好", "sent_at": "2026-03-02T09:00:10Z"},
                         {"speaker": "client", "text": "嗯", "sent_at": "2026-03-02T09:00:40Z"}]}
    events, bad = read_file(write_jsonl(tmp_path / "b.jsonl", [session]))
    assert not bad
    kinds = [(type(e.event).__name__, getattr(e.event, "turn_id", getattr(e.event, "kind", None))) for e in events]
    assert kinds == [("SessionEvent", "started"), ("ChatTurn", 0), ("ChatTurn", 1), ("SessionEvent", "ended")]
    assert all(e.event.lang == "zh" for e in events)
    assert events[0].event.group == "g-south"


def test_bad_lines_are_reported_with_file_line_and_reason(tmp_path):
    rows = [
        event_line("s3", "started", 0),
        turn_line("s3", 0, 1),
        "{this is not json",
        turn_line("s3", 1, 2, speaker="bot"),
        turn_line("s3", 2, 3, text=""),
        {"hello": "world"},
        {**turn_line("s3", 3, 4), "sent_at": "2026-03-02T09:00:04"},
        turn_line("s3", 4, 5),
    ]
    f = write_jsonl(tmp_path / "bad.jsonl", rows, header=["a header"])
    events, bad = read_file(f)
    assert [type(e.event).__name__ for e in events] == ["SessionEvent", "ChatTurn", "ChatTurn"]
    assert [str(b).split(": ", 1)[0] for b in bad] == [f"{f}:4", f"{f}:5", f"{f}:6", f"{f}:7", f"{f}:8"]
    reasons = [b.reason for b in bad]
    assert "not valid JSON" in reasons[0]
    assert "ChatTurn.speaker" in reasons[1]
    assert "ChatTurn.text" in reasons[2]
    assert "not a turn" in reasons[3]
    assert "ChatTurn.sent_at" in reasons[4]


# --- pacing ------------------------------------------------------------------


def test_schedule_scales_event_time_and_merges_files(tmp_path):
    a, _ = read_file(write_jsonl(tmp_path / "a.jsonl", [turn_line("a", 0, 0), turn_line("a", 1, 120)]))
    b, _ = read_file(write_jsonl(tmp_path / "b.jsonl", [turn_line("b", 0, 60), turn_line("b", 1, 180)]))
    merged = merge([a, b])
    assert [(e.session_id, e.event.turn_id) for e in merged] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert schedule(merged, 60) == [0.0, 1.0, 2.0, 3.0]
    assert schedule(merged, 1) == [0.0, 60.0, 120.0, 180.0]
    assert schedule(merged, float("inf")) == [0.0] * 4
    with pytest.raises(ValueError):
        schedule(merged, 0)


def test_rebase_keeps_spacing(tmp_path):
    events, _ = read_file(write_jsonl(tmp_path / "a.jsonl", [event_line("a", "started", 0), turn_line("a", 0, 30)]))
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    moved = rebase(events, now)
    assert moved[0].event.at == now
    assert moved[1].event.sent_at == now + timedelta(seconds=30)


# --- through the broker ------------------------------------------------------


def _sample_files(samples_dir: Path) -> list[Path]:
    files = sorted(samples_dir.glob("*.jsonl"))
    return files


def test_samples_are_valid_and_described(samples_dir):
    files = _sample_files(samples_dir)
    assert len(files) >= 6
    langs = set()
    for f in files:
        events, bad = read_file(f)
        assert not bad, [str(b) for b in bad]
        header = " ".join(header_of(f))
        assert "course:" in header
        turns = [e.event for e in events if isinstance(e.event, ChatTurn)]
        assert [t.turn_id for t in turns] == list(range(len(turns)))
        span = (turns[-1].sent_at - events[0].at).total_seconds() / 60
        assert 25 <= span <= 55
        langs.update(t.lang for t in turns)
    assert langs == {"en", "zh"}


@pytest.mark.integration
def test_replay_of_samples_delivers_every_turn_once_in_order_with_scaled_spacing(kafka_bootstrap, samples_dir,
                                                                               unique):
    # Rename sessions so this test's records are its own on the shared broker.
    per_file = []
    for f in _sample_files(samples_dir):
        events, _ = read_file(f)
        per_file.append([type(e)(e.topic, e.event.model_copy(update={"session_id": f"{e.session_id}-{unique}"}),
                                 e.at, e.source, e.order) for e in events])
    events = merge(per_file)
    speed = 1200.0  # ~60 min of event time in ~3 s
    stats = publish(events, kafka_bootstrap, speed=speed, progress=False)
    assert stats.published == len(events)

    want_turns = [e for e in events if e.topic == "chat.turns"]
    got = consume_all_sync(kafka_bootstrap, "chat.turns", expect=len(want_turns),
                           where=lambda r: r.key.decode().endswith(f"-{unique}"))
    assert len(got) == len(want_turns)
    seen: dict[str, list] = {}
    for r in got:
        t = decode(ChatTurn, r.value)
        seen.setdefault(t.session_id, []).append((r.timestamp, t))
    keys = {(t.session_id, t.turn_id) for recs in seen.values() for _, t in recs}
    assert len(keys) == len(want_turns), "every turn exactly once"
    t_first = min(e.at for e in events)
    wall_first = None
    for session, recs in seen.items():
        assert [t.turn_id for _, t in recs] == sorted(t.turn_id for _, t in recs), f"{session} out of order"
    # Original spacing, scaled: no event is sent before its scaled time, and the whole
    # replay keeps the scaled span (not compressed to nothing, not stretched wildly).
    all_recs = sorted(((ts, t) for recs in seen.values() for ts, t in recs), key=lambda x: (x[0], x[1].sent_at))
    wall_first = all_recs[0][0] - (all_recs[0][1].sent_at - t_first).total_seconds() * 1000 / speed
    for ts, t in all_recs:
        due_ms = (t.sent_at - t_first).total_seconds() * 1000 / speed
        assert ts - wall_first >= due_ms - 50, "an event went out before its scaled time"
    event_span = (all_recs[-1][1].sent_at - all_recs[0][1].sent_at).total_seconds() * 1000 / speed
    wall_span = all_recs[-1][0] - all_recs[0][0]
    assert event_span * 0.9 <= wall_span <= event_span + 10_000

    sessions = consume_all_sync(kafka_bootstrap, "chat.sessions",
                                expect=len([e for e in events if e.topic == "chat.sessions"]),
                                where=lambda r: r.key.decode().endswith(f"-{unique}"))
    kinds = [decode(SessionEvent, r.value).kind for r in sessions]
    assert kinds.count("started") == len(seen)


@pytest.mark.integration
def test_cli_replay_publishes_good_lines_and_fails_on_bad_ones(kafka_bootstrap, tmp_path, unique):
    s = f"cli-{unique}"
    f = write_jsonl(tmp_path / "mixed.jsonl",
                    [event_line(s, "started", 0), turn_line(s, 0, 1), "garbage", turn_line(s, 1, 2, speaker="x"),
                     turn_line(s, 2, 3)])
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap}
    proc = subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "replay", str(f), "--speed", "max",
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert f"rejected {f}:3: not valid JSON" in proc.stderr
    assert f"rejected {f}:4: ChatTurn.speaker" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "published 2 turns and 1 session events" in proc.stdout
    got = consume_all_sync(kafka_bootstrap, "chat.turns", expect=2, where=lambda r: r.key.decode() == s)
    assert sorted(decode(ChatTurn, r.value).turn_id for r in got) == [0, 2]


@pytest.mark.parametrize("argv,needle", [
    (["replay", "x.jsonl", "--speed", "fast"], "--speed must be a number"),
    (["replay", "x.jsonl", "--speed", "-3"], "--speed must be greater than 0"),
    (["replay"], "the following arguments are required: FILE"),
    (["no-such-command"], "invalid choice"),
])
def test_cli_bad_arguments_are_one_line(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "alliance_monitor.cli", *argv], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_cli_missing_file_is_reported(tmp_path):
    env = {**os.environ, "KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    proc = subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "replay", str(tmp_path / "none.jsonl")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_rebase_now_with_a_turn_dated_9999_rejects_that_line_only(kafka_bootstrap, tmp_path, unique):
    """Rebasing used to overflow datetime on such a line and print a traceback."""
    s = f"y9999-{unique}"
    huge = turn_line(s, 2, 0) | {"sent_at": "9999-12-31T00:00:00Z"}
    f = write_jsonl(tmp_path / "future.jsonl", [event_line(s, "started", 0), turn_line(s, 0, 1), turn_line(s, 1, 2),
                                                huge])
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap}
    proc = subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "replay", str(f), "--speed", "max",
                           "--rebase-now", "--no-progress"], capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr[-500:]
    assert proc.returncode == 1
    rejected = [line for line in proc.stderr.splitlines() if line.startswith("rejected")]
    assert rejected == [f"rejected {f}:4: ChatTurn.sent_at: 9999-12-31T00:00:00+00:00 is more than 24 h in the future"]
    assert "published 2 turns and 1 session events" in proc.stdout


def test_event_times_must_be_plausible():
    from streams.codec import validate
    from streams.errors import ContractError

    for bad in ("9999-12-31T00:00:00Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z"):
        with pytest.raises(ContractError, match=r"ChatTurn\.sent_at"):
            validate(ChatTurn, turn_line("s", 0, 0) | {"sent_at": bad})
    validate(ChatTurn, turn_line("s", 0, 0) | {"sent_at": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()})
