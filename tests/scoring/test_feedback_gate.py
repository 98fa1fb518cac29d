"""The feedback builder's gate decision (``scoring.feedback.gated``) against records in a real SQLite store,
and the worker's record cache: a passing turn-level record of the exact model identity sets validated=True;
a failing one, none, a session-level one, another identity, or a failed load keep it False. No engine."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from scoring.feedback import gated
from scoring.turn_features import decide, features, quote_of
from scoring.worker import RecordCache
from store.db import make_engine, upgrade
from store.records import load_record_book
from store.repository import StoreRepository
from streams.contracts import CounselorFeedback, ModelIdentity
from validation import synthetic
from validation.records import RecordBook
from validation.stats import Interval
from validation.turn_agreement import CodeAgreement, turn_record
from validation.verdict import GateSettings, evaluate

pytestmark = pytest.mark.integration

MODEL = ModelIdentity(name="care-8b", revision="abc123", prompt_version="turn-feedback-v1", readout="expected")
DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)
RATINGS = {"empathy": 2.0, "relevance": 3.0, "conciseness": 3.0, "safety": 4.0, "self_exploration": 3.0,
           "autonomy": 3.0, "change_stage": 3.0, "passive_response": 2.0, "boundary_overstepping": 2.0}
#: the codes the demo cards below rest on: "empathy" (lowest-rated principle, no pattern) and
#: autonomy + boundary_overstepping + directive (a directive turn: a word-level pattern)
CODES = ("empathy", "autonomy", "boundary_overstepping", "directive")


def feedback(text: str = "So the nights have been hard for a while.", model: ModelIdentity = MODEL
             ) -> CounselorFeedback:
    f = features(text)
    d = decide(RATINGS, f, text, "en")
    return CounselorFeedback(
        feedback_id="s-1:late:t4", session_id="s-1", counselor_id="c-1", phase="late", turn_id=4, lang="en",
        quote=quote_of(text), principles={k: v for k, v in RATINGS.items() if k not in ("passive_response",
                                                                                       "boundary_overstepping")},
        patterns={"passive_response": 2.0, "boundary_overstepping": 2.0}, features=f.as_dict(), pattern=d.pattern,
        pattern_source=d.pattern_source, principle=d.principle, next_move=d.next_move, model=model,
        validated=False, prompt_tokens=10, cached_tokens=0, latency_ms=1.0)


def agreement(code: str, *, n: int = 150, sessions: int = 15) -> CodeAgreement:
    return CodeAgreement(code, "rated", "ICC(2,1)", n, sessions, None, 0.62, Interval(0.48, 0.74, 0.95, 2000), 0.1,
                         Interval(-0.1, 0.3, 0.95, 2000), Interval(0.25, 0.6, 0.95, 2000), None, 0, "agrees")


@pytest.fixture
def store(tmp_path):
    sqlite_url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    yield sqlite_url, StoreRepository(engine)
    engine.dispose()


def test_the_cards_rest_on_the_codes_this_test_writes():
    assert (feedback().principle, feedback().pattern) == ("empathy", None)
    directive = feedback("You should try it again, but with your phone in another room.")
    assert (directive.principle, directive.pattern, directive.pattern_source) == (
        "autonomy", "boundary_overstepping", "features")


def test_a_passing_turn_record_validates_the_feedback(store):
    url, repo = store
    repo.add_validation_record(turn_record(MODEL, [agreement(c) for c in CODES], labels_n=150, created_at=DAY))
    book = load_record_book(url)
    assert gated(feedback(), book).validated is True
    assert gated(feedback("You should try it again, but with your phone in another room."), book).validated is True
    # another revision of the model, or a card resting on an unvalidated code: unvalidated
    assert gated(feedback(model=MODEL.model_copy(update={"revision": "def456"})), book).validated is False
    assert gated(feedback("嗯。"), book).validated is False  # passive_response, reflection... not validated


def test_a_failing_newer_turn_record_or_none_keeps_it_unvalidated(store):
    url, repo = store
    assert gated(feedback(), load_record_book(url)).validated is False  # no record
    repo.add_validation_record(turn_record(MODEL, [agreement(c) for c in CODES], labels_n=150, created_at=DAY))
    repo.add_validation_record(turn_record(MODEL, [agreement(c, n=44, sessions=6) for c in CODES], labels_n=44,
                                           created_at=DAY + timedelta(days=1)))  # the fixture's size: fails
    assert gated(feedback(), load_record_book(url)).validated is False


def test_a_newer_session_record_neither_opens_nor_closes_the_feedback_gate(store):
    url, repo = store
    repo.add_validation_record(turn_record(MODEL, [agreement(c) for c in CODES], labels_n=150, created_at=DAY))
    ds = synthetic.length_only()  # a failing session-level record of the same identity, written later
    repo.add_validation_record(evaluate(MODEL, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=200),
                                        created_at=DAY + timedelta(days=1)))
    book = load_record_book(url)
    assert book.for_model(MODEL).passed_dimensions() == [] and gated(feedback(), book).validated is True


def test_an_unreadable_store_closes_the_gate(tmp_path):
    book = load_record_book(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    assert len(book) == 0 and gated(feedback(), book).validated is False
    assert gated(feedback(), None).validated is False


def test_the_worker_cache_reloads_and_a_failed_load_closes_the_gate(store):
    url, repo = store
    repo.add_validation_record(turn_record(MODEL, [agreement(c) for c in CODES], labels_n=150, created_at=DAY))
    now = [0.0]
    fail = [False]

    def loader():
        if fail[0]:
            raise OSError("database gone")
        return load_record_book(url)

    cache = RecordCache(loader, reload_s=60.0, clock=lambda: now[0])
    run = asyncio.run
    assert gated(feedback(), run(cache.book())).validated is True
    fail[0] = True
    now[0] = 30.0  # before the reload interval: the book is kept
    assert gated(feedback(), run(cache.book())).validated is True
    now[0] = 61.0  # reload fails: empty book, the gate closes
    book = run(cache.book())
    assert isinstance(book, RecordBook) and len(book) == 0 and gated(feedback(), book).validated is False
    fail[0] = False
    now[0] = 122.0  # the next reload succeeds again
    assert gated(feedback(), run(cache.book())).validated is True
    assert run(RecordCache(None).book()) is None
