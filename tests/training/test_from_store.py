"""`train --from-store`: the store's latest WAI-SR rating per session joined to the chat turns the
store kept, on a real SQLite store written by the sink's own writer. Same sessions as from the files."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alliance_monitor.cli import main
from store.db import make_engine, upgrade
from store.eval import read_labels
from store.ratings import rated_transcripts, wai_labels
from store.writes import write_events
from streams.contracts import ClientRating
from streams.replay_format import read_file
from training.dataset import fingerprint, from_files, from_store
from training.errors import TrainingError

pytestmark = pytest.mark.integration


def _store(tmp_path, corpus, *, store_turns: bool, every: int = 1):
    """A SQLite store holding the corpus' sessions (turns only with ``store_turns``) and their ratings;
    every rated session first gets a misleading all-1 rating, then the real one as revision 2."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    events, _ = read_file(corpus["sessions"])
    labels = read_labels(corpus["labels"])
    ratings = []
    for sid, label in list(labels.items())[::every]:
        at = min(e.event.sent_at for e in events if getattr(e.event, "session_id", None) == sid
                 and hasattr(e.event, "sent_at")) + timedelta(hours=1)
        answers = {k: int(v) for k, v in label.items.items()}
        ratings.append(ClientRating(rating_id=f"{sid}:a", session_id=sid, instrument="wai-sr",
                                    answers={k: 1 for k in answers}, lang="en", submitted_at=at, source="platform"))
        ratings.append(ClientRating(rating_id=f"{sid}:b", session_id=sid, instrument="wai-sr", answers=answers,
                                    lang="en", submitted_at=at + timedelta(minutes=5), source="platform"))
    with engine.begin() as conn:
        write_events(conn, [e.event for e in events], store_turns=store_turns)
        write_events(conn, ratings)
    return url, engine


def test_from_store_gives_the_sessions_the_files_give(tmp_path, small_corpus):
    _url, engine = _store(tmp_path, small_corpus, store_turns=True)
    stored, counts = from_store(*rated_transcripts(engine))
    files, _ = from_files(read_labels(small_corpus["labels"]), [small_corpus["sessions"]])
    assert len(stored) == len(files) == 120 and counts["missing"] == 0
    assert [s.session_id for s in stored] == [s.session_id for s in files]  # oldest first, both
    assert fingerprint(stored) == fingerprint(files)  # same text, same (latest) answers
    a, b = stored[5], files[5]
    assert (a.counselor_id, a.lang, a.started_at, a.turns, a.answers) == \
        (b.counselor_id, b.lang, b.started_at, b.turns, b.answers)


def test_only_rated_sessions_and_the_latest_rating(tmp_path, small_corpus):
    _, engine = _store(tmp_path, small_corpus, store_turns=True, every=3)
    stored, _ = from_store(*rated_transcripts(engine))
    labels = read_labels(small_corpus["labels"])
    assert len(stored) == 40
    assert all(s.answers == labels[s.session_id].items for s in stored)
    assert any(v != 1 for s in stored for v in s.answers.values())  # not the misleading first revision


def test_without_stored_turns_says_the_session_files_are_needed(tmp_path, small_corpus, capsys):
    url, engine = _store(tmp_path, small_corpus, store_turns=False)
    rated, without = rated_transcripts(engine)
    assert rated == [] and len(without) == 120
    with pytest.raises(TrainingError, match="ALLIANCE_STORE_TURNS=1"):
        from_store(rated, without)
    assert main(["train", "--from-store", "--db", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--from-store --sessions" in err[0] and "Traceback" not in err[0]
    # the ratings are still usable with the recordings: store labels + session files
    sessions, counts = from_files(wai_labels(engine), [small_corpus["sessions"]])
    assert len(sessions) == 120 and counts["unlabelled"] == 0


def test_from_store_and_labels_together_is_refused(tmp_path, small_corpus, capsys):
    url, _ = _store(tmp_path, small_corpus, store_turns=True, every=10)
    assert main(["train", "--from-store", "--labels", str(small_corpus["labels"]), "--db", url]) == 2
    assert "not both" in capsys.readouterr().err


def test_from_store_on_an_empty_store_is_one_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(url)
    assert main(["train", "--from-store", "--db", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no WAI-SR ratings" in err[0]
