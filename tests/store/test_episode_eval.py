"""How a site validates the rupture episodes and the process-signal flags on its own coding (issue 23):
``eval-turns`` replays each coded session through the processor's core, judges the episodes the rupture rules open
against the coders' per-session rupture codes and the flags per window against a reference from the coded turns, and
with ``--record`` writes the records the detector gate reads — from a coded file and from a real SQLite store.

The coded sessions are the synthetic episode corpus (``validation/synthetic_episodes.py``, en + zh, two coders on a
share): where its cues are ones the rules know, the rules agree; where most are not, they do not.
"""

from __future__ import annotations

import json
from datetime import timezone

import pytest
from sqlalchemy import insert

from store.db import make_engine, upgrade
from store.models import Turn
from store.records import load_record_book
from store.turn_codes import write_turn_code
from validation.codebook import SESSION_TURN
from validation.detectors import PROCESS_SIGNALS, RUPTURE_MARKERS, detector_passes, episode_identity
from validation.synthetic_episodes import episode_corpus

pytestmark = pytest.mark.integration

CODERS = ("ana", "bo")
#: the corpus's eval-turns codes as codebook codes (what the /code page stores)
AS_CODEBOOK = {"open_question": "open_question", "closed_question": "closed_question",
               "reflection": "simple_reflection", "directive": "advice_without_permission",
               "withdrawal": "withdrawal_marker", "confrontation": "confrontation_marker"}


def _run(argv, capsys):
    from alliance_monitor.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _coded_file(path, **corpus):
    with path.open("w", encoding="utf-8") as f:
        for s in episode_corpus(**corpus):
            for t in s.turns:
                for coder, codes in zip(CODERS, t.coders, strict=False):
                    f.write(json.dumps({"session_id": s.session_id, "turn_id": t.turn_id, "coder": coder,
                                        "speaker": t.speaker, "text": t.text, "sent_at": t.at.isoformat(),
                                        "codes": codes}, ensure_ascii=False) + "\n")
            for coder, code in zip(CODERS, s.rupture, strict=False):
                f.write(json.dumps({"session_id": s.session_id, "coder": coder, "rupture": code}) + "\n")
    return path


def _episode(kind: str) -> dict:
    return {"kind": kind, "sources": ["markers"]}


def test_a_coded_file_gives_the_episode_and_window_records_the_gate_reads(sqlite_url, capsys, tmp_path):
    upgrade(sqlite_url)
    codes = _coded_file(tmp_path / "codes.jsonl", n_sessions=36)
    rc, out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", "rupture-markers",
                         "--resamples", "200", "--record", "--db", sqlite_url, "--json", str(tmp_path / "r.json")],
                        capsys)
    assert rc == 0, err
    assert "Rupture episodes per session" in out and "36 coded sessions" in out
    assert f"session-level (episodes) validation record written for {episode_identity(RUPTURE_MARKERS).name}" in out
    book = load_record_book(sqlite_url)
    episodes = book.for_turns(episode_identity(RUPTURE_MARKERS))
    assert episodes is not None and set(episodes.dimensions) == {"withdrawal", "confrontation", "repaired"}
    assert episodes.settings["unit"] == "sessions" and episodes.labels_n == 36
    assert episodes.passes("withdrawal") and episodes.passes("confrontation")
    assert detector_passes(book, RUPTURE_MARKERS, "confrontation")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["episodes"]["units"] == 36 and {c["code"] for c in data["episodes"]["codes"]} == set(
        episodes.dimensions)

    rc, out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", "process-signals",
                         "--resamples", "200", "--record", "--db", sqlite_url], capsys)
    assert rc == 0, err
    assert "Process-signal flags per window" in out and "no codable counterpart" in out
    book = load_record_book(sqlite_url)
    windows = book.for_turns(PROCESS_SIGNALS.identity)
    assert windows is not None and windows.settings["unit"] == "windows"
    assert set(windows.dimensions) == set(PROCESS_SIGNALS.codes)
    assert detector_passes(book, PROCESS_SIGNALS, "over_directing")  # advice the rules know: agrees
    for flag in ("slow_replies", "idle"):  # timing alone: nothing coded can judge it
        assert not detector_passes(book, PROCESS_SIGNALS, flag)
    for flag, verdict in windows.dimensions.items():
        assert detector_passes(book, PROCESS_SIGNALS, flag) == verdict.passed


def test_rules_that_miss_most_cues_get_a_failing_record(sqlite_url, capsys, tmp_path):
    upgrade(sqlite_url)
    codes = _coded_file(tmp_path / "codes.jsonl", n_sessions=36, missed_share=0.9)
    for detector in ("rupture-markers", "process-signals"):
        rc, _out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", detector,
                              "--resamples", "200", "--record", "--db", sqlite_url], capsys)
        assert rc == 0, err
    book = load_record_book(sqlite_url)
    assert not book.for_turns(episode_identity(RUPTURE_MARKERS)).passes("confrontation")
    assert not detector_passes(book, RUPTURE_MARKERS, "confrontation")  # neither the turn nor the episode record
    assert not detector_passes(book, PROCESS_SIGNALS, "over_directing")


def test_eval_turns_from_store_writes_both_records_from_the_code_pages_codes(sqlite_url, capsys):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    corpus = episode_corpus(n_sessions=36)
    with engine.begin() as conn:
        conn.execute(insert(Turn.__table__), [
            {"session_id": s.session_id, "turn_id": t.turn_id, "speaker": t.speaker, "text": t.text,
             "sent_at": t.at.astimezone(timezone.utc), "counselor_id": "c1", "lang": s.lang}
            for s in corpus for t in s.turns])
    for s in corpus:
        for t in s.turns:
            for coder, codes in zip(CODERS, t.coders, strict=False):
                write_turn_code(engine, session_id=s.session_id, turn_id=t.turn_id, coder_id=coder,
                                speaker=t.speaker, codes=[AS_CODEBOOK[k] for k, v in codes.items() if v],
                                coded_at=t.at)
        for coder, code in zip(CODERS, s.rupture, strict=False):
            write_turn_code(engine, session_id=s.session_id, turn_id=SESSION_TURN, coder_id=coder, speaker="session",
                            codes={"rupture": code}, coded_at=s.turns[-1].at)
    engine.dispose()
    rc, out, err = _run(["eval-turns", "--from-store", "--record", "--resamples", "200", "--db", sqlite_url], capsys)
    assert rc == 0, err
    assert "Turn-level measures" in out and "Coders' agreement" in out
    assert "Rupture episodes per session" in out and "Process-signal flags per window" in out
    book = load_record_book(sqlite_url)
    episodes = book.for_turns(episode_identity(RUPTURE_MARKERS))
    windows = book.for_turns(PROCESS_SIGNALS.identity)
    assert episodes is not None and episodes.labels_source == "store turn_codes" and episodes.labels_n == 36
    assert detector_passes(book, RUPTURE_MARKERS, "withdrawal") and detector_passes(book, RUPTURE_MARKERS,
                                                                                   "confrontation")
    assert windows is not None and detector_passes(book, PROCESS_SIGNALS, "over_directing")
    assert not detector_passes(book, PROCESS_SIGNALS, "idle")


@pytest.mark.parametrize("line, words", [
    ({"session_id": "s", "coder": "ana", "rupture": {"type": "anger", "repaired": False}}, "rupture type must be"),
    ({"session_id": "s", "coder": "ana", "rupture": {"type": "withdrawal"}}, "rupture must be null or"),
    ({"session_id": "", "coder": "ana", "rupture": None}, "session_id is required"),
    ({"session_id": "s", "turn_id": 1, "coder": "ana", "speaker": "client", "text": "idk", "sent_at": "yesterday",
      "codes": {"withdrawal": True}}, "sent_at must be an ISO 8601 time"),
])
def test_bad_session_codes_are_one_line(tmp_path, capsys, line, words):
    codes = tmp_path / "codes.jsonl"
    good = {"session_id": "s", "turn_id": 0, "coder": "ana", "speaker": "client", "text": "fine",
            "codes": {"withdrawal": True}}
    codes.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    for detector in ("rupture-markers", "process-signals"):
        rc, _out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", detector], capsys)
        assert rc == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_stretches_coded_through_the_coding_desk_give_eval_turns_its_window_record(sqlite_url, capsys):
    """Single sampled turns seldom land three to a window; stretches (the /code page's ``mode=stretch``) are whole
    windows. Two coders code the stretch sample through the page's store API (``StoreCodingDesk``: the sample,
    the queue, ``save`` refusing what is not sampled); ``eval-turns --from-store --detector process-signals``
    then counts enough windows from enough sessions and writes the process-signal window record."""
    from alliance_monitor.coding import StoreCodingDesk
    from gateway.auth import Viewer

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    corpus = episode_corpus(n_sessions=24)
    with engine.begin() as conn:
        conn.execute(insert(Turn.__table__), [
            {"session_id": s.session_id, "turn_id": t.turn_id, "speaker": t.speaker, "text": t.text,
             "sent_at": t.at.astimezone(timezone.utc), "counselor_id": "c1", "lang": s.lang}
            for s in corpus for t in s.turns])
    engine.dispose()
    truth = {(s.session_id, t.turn_id): t.coders[0] for s in corpus for t in s.turns}
    last = max(t.at for s in corpus for t in s.turns)
    desk = StoreCodingDesk(sqlite_url, retention_days=30, stretches=80, double_share=0.25,
                           clock=lambda: last.timestamp() + 3600)

    rc, _out, err = _run(["eval-turns", "--from-store", "--detector", "process-signals", "--db", sqlite_url], capsys)
    assert rc == 2 and "code whole windows on the gateway's /code?mode=stretch page" in err  # nothing coded yet

    coded: dict[str, int] = {}
    for coder in CODERS:
        viewer = Viewer(role="supervisor", name=coder, all_groups=True)
        queue = desk.turns_for(viewer, "stretch")
        assert queue and all(t["stretch"]["size"] == len([q for q in queue if q["session_id"] == t["session_id"]
                                                          and q["stretch"]["index"] == t["stretch"]["index"]])
                             for t in queue)
        for t in queue:
            codes = [AS_CODEBOOK[k] for k, v in truth[(t["session_id"], t["turn_id"])].items() if v]
            desk.save(viewer, t["session_id"], t["turn_id"], codes, "stretch")
        coded[coder] = len(queue)
        with pytest.raises(LookupError):  # a turn outside the stretch sample is refused
            desk.save(viewer, corpus[0].session_id, 10_000, [], "stretch")
    # the first coder took every stretch; the second only the double ones (a quarter)
    assert coded["bo"] == pytest.approx(coded["ana"] / 4, rel=0.35)
    progress = {w["speaker"]: w for w in desk.agreement(Viewer(role="supervisor", name="ana", all_groups=True),
                                                         "stretch")["windows"]}
    assert progress["counselor"]["windows"] >= 60 and progress["counselor"]["sessions"] >= 10
    assert progress["client"]["windows"] >= 60

    rc, out, err = _run(["eval-turns", "--from-store", "--detector", "process-signals", "--record",
                         "--resamples", "200", "--db", sqlite_url], capsys)
    assert rc == 0, err
    assert "Process-signal flags per window" in out and "Rupture episodes" not in out and "Turn-level" not in out
    assert "window-level validation record written" in out
    windows = load_record_book(sqlite_url).for_turns(PROCESS_SIGNALS.identity)
    assert windows is not None and windows.settings["unit"] == "windows"
    assert windows.labels_n == progress["counselor"]["windows"] or windows.labels_n == progress["client"]["windows"]
    assert windows.labels_n >= 60 and set(windows.dimensions) == set(PROCESS_SIGNALS.codes)
    assert "fewer than" not in windows.dimensions["over_directing"].reason  # enough windows to be judged
    rc, _out, err = _run(["eval-turns", "--from-store", "--detector", "rupture-markers", "--db", sqlite_url], capsys)
    assert rc == 2 and "only process-signals" in err and len(err.strip().splitlines()) == 1
