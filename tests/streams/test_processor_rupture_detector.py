"""A trained rupture-marker detector served by the real processor (``process --rupture-detector``), real broker.

The detector is trained here on the synthetic coded corpus (validation/synthetic_turns.py) for confrontation
only and written as ``train-turns`` writes it; the store holds a passing turn-level record for *its* identity
(not the rules'). Client turns that confront in words the marker rules do not know ("This feels like a
lecture.") must open an episode on ``alliance.ruptures`` that names the trained detector and carries the
gate's verdict from that detector's record.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from store.db import make_engine, upgrade
from store.repository import StoreRepository
from streams.codec import decode
from streams.contracts import ChatTurn, RuptureEpisode
from streams.topics import CHAT_TURNS, RUPTURES
from tests.kafka_helpers import consume_all_sync, produce
from tests.streams.worker_process import WorkerProcess
from training.turn_detector import data_hash, fit, labelled_turns
from training.turn_detector_files import save
from validation.detectors import RUPTURE_MARKERS, Detector
from validation.stats import Interval
from validation.synthetic_turns import coded_corpus
from validation.turn_agreement import CodeAgreement, turn_record

pytestmark = pytest.mark.integration


def train_confrontation(where) -> tuple[Detector, str]:
    """A rupture-markers stand-in for confrontation, trained on synthetic coded turns; (identity, directory)."""
    corpus = coded_corpus(n_sessions=12, missed_share=0.5)
    texts = {(t.session_id, t.turn_id): (t.speaker, t.text) for t in corpus}
    coded = {(t.session_id, t.turn_id): [{k: float(v) for k, v in c.items()} for c in t.coders] for t in corpus}
    turns = labelled_turns(texts, coded)
    detector, path = save(fit(("confrontation",), turns), RUPTURE_MARKERS.name, ("confrontation",),
                          out=where / "det", data_source="synthetic", data_fingerprint=data_hash(turns),
                          train_sessions=frozenset(t.session_id for t in turns), n_held_out=0, params={},
                          root=where / "trained")
    return detector, str(path)


def passing_record(detector: Detector):
    agreement = CodeAgreement("confrontation", "binary", "kappa", 200, 20, 40, 0.65, Interval(0.55, 0.75, 0.95, 500),
                              0.05, Interval(-0.1, 0.2, 0.95, 500), Interval(0.2, 0.5, 0.95, 500), None, 0, "agrees")
    return turn_record(detector.identity, [agreement], labels_n=200, labels_source="site-codes.jsonl",
                       created_at=datetime.now(timezone.utc))


@pytest.fixture(scope="module")
def served(kafka_bootstrap, tmp_path_factory):
    where = tmp_path_factory.mktemp("rupture-detector")
    detector, path = train_confrontation(where)
    url = f"sqlite:///{where / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    assert StoreRepository(engine).add_validation_record(passing_record(detector))
    engine.dispose()
    w = WorkerProcess(kafka_bootstrap, f"it-ruptdet-{uuid.uuid4().hex[:6]}", "--clock-rate", "60", "--lateness",
                      "5", "--signal-interval", "0", "--records-db", url, "--rupture-detector", path).start()
    yield detector, w
    assert w.stop() == 0, "\n".join(w.lines[-20:])


def test_an_episode_the_trained_detector_opened_names_it_and_is_gated_on_its_record(served, kafka_bootstrap,
                                                                                      unique):
    detector, worker = served
    sid = f"ruptdet-{unique}"
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    lines = [("counselor", "What brings you here today?"),
             ("client", "My manager keeps piling work on me and I stay late every single night this month."),
             ("counselor", "You should write the worries down before bed."),
             ("client", "This feels like a lecture."),  # confrontation in words the rules do not know
             ("counselor", "Writing things down helps many people."),
             ("client", "You clearly have a script you follow.")]
    turns = [ChatTurn(session_id=sid, turn_id=i, speaker=who, text=text, sent_at=now + timedelta(seconds=20 * i),
                      counselor_id="c-maya") for i, (who, text) in enumerate(lines)]
    produce(kafka_bootstrap, CHAT_TURNS.name, [(sid, t) for t in turns])
    (opened,) = [decode(RuptureEpisode, r.value) for r in consume_all_sync(
        kafka_bootstrap, RUPTURES.name, expect=1, timeout=60, where=lambda r: r.key == sid.encode())]
    assert (opened.kind, opened.opened_turn_id, [m.turn_id for m in opened.markers]) == ("confrontation", 5, [3, 5])
    assert opened.marker_detectors == {"confrontation": detector.key}
    assert opened.validated  # on the trained detector's passing record; the rules have none in this store
    assert any(f"serving rupture detector {detector.key}" in line for line in worker.lines)
