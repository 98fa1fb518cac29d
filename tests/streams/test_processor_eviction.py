"""A forgotten session leaves no state behind: ``sessions`` *and* ``alert_state`` are deleted.

``alert_state`` (the alert policy's memory per session) used to be kept forever: a
processor's memory and its changelog grew with every session ever scored. It goes with
the session — or, when a phase is still to be scored (a scorer that lags), with that
last score, so the late phase is judged against the earlier ones and nothing re-fires.
Checked on the changelog topics Faust writes (a deletion is a tombstone), through the
real processor with a short ``--forget-after``.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from streams.replay import publish
from tests.kafka_helpers import consume_all_sync, produce
from tests.store.factories import score
from tests.streams.session_factory import session
from tests.streams.test_processor import events_of, requests_for
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.integration


def _last_value(bootstrap: str, app_id: str, table: str, sid: str):
    key = orjson.dumps(sid)
    recs = consume_all_sync(bootstrap, f"{app_id}-{table}-changelog", idle=3.0, timeout=30,
                            where=lambda r: r.key == key)
    return recs[-1].value if recs else b"missing"


def test_alert_state_is_evicted_with_the_session(kafka_bootstrap, unique):
    app_id = f"it-evict-{uuid.uuid4().hex[:6]}"
    w = WorkerProcess(kafka_bootstrap, app_id, "--clock-rate", "60", "--lateness", "5", "--signal-interval", "0",
                      "--forget-after", "60").start()  # 60 event seconds = 1 wall second at 60x
    try:
        sid = f"evict-{unique}"
        started, turns, ended = session(sid, planned_minutes=3, turns=12)
        produce(kafka_bootstrap, "alliance.scores", [(sid, score(sid, p, 4.5, counselor="c-test"))
                                                     for p in ("early", "middle", "late")])
        publish(events_of(started, turns, ended), kafka_bootstrap, speed=60, progress=False)
        assert len(requests_for(kafka_bootstrap, sid)) == 3

        def last_value(table: str):
            return _last_value(kafka_bootstrap, app_id, table, sid)

        import time
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and last_value("sessions") is not None:
            time.sleep(1.0)
        assert last_value("sessions") is None, "the session was never forgotten"
        assert last_value("alert_state") is None, "the alert policy's state outlived its session"
    finally:
        assert w.stop() == 0, "\n".join(w.lines[-20:])


def test_scores_after_the_session_was_forgotten_keep_the_alert_history(kafka_bootstrap, unique):
    """The scorer lags past the forget: middle and late arrive after the session is gone.
    The alerts are those of the pure policy over all three phases (nothing re-fires as new)
    and the policy's memory is deleted with the last score."""
    from streams.alert_policy import SettingsBook, on_score
    from streams.codec import decode
    from streams.contracts import AllianceAlert

    app_id = f"it-late-{uuid.uuid4().hex[:6]}"
    w = WorkerProcess(kafka_bootstrap, app_id, "--clock-rate", "60", "--lateness", "5", "--signal-interval", "0",
                      "--forget-after", "60").start()
    try:
        sid = f"lagged-{unique}"
        started, turns, ended = session(sid, planned_minutes=3, turns=12)
        scores = [score(sid, "early", 2.2, counselor="c-test"), score(sid, "middle", 1.8, counselor="c-test"),
                  score(sid, "late", 1.5, counselor="c-test")]
        produce(kafka_bootstrap, "alliance.scores", [(sid, scores[0])])
        publish(events_of(started, turns, ended), kafka_bootstrap, speed=60, progress=False)
        assert len(requests_for(kafka_bootstrap, sid)) == 3
        import time
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _last_value(kafka_bootstrap, app_id, "sessions", sid) is not None:
            time.sleep(1.0)
        assert _last_value(kafka_bootstrap, app_id, "sessions", sid) is None, "the session was never forgotten"
        kept = _last_value(kafka_bootstrap, app_id, "alert_state", sid)
        assert kept not in (None, b"missing") and orjson.loads(kept)["phases"] == ["early"], kept

        produce(kafka_bootstrap, "alliance.scores", [(sid, s) for s in scores[1:]])
        book = SettingsBook.builtin()
        state, expected = None, set()
        for s in scores:
            decision = on_score(state, s, book.for_model(s.model.name))
            state = decision.state
            expected |= {(a.alert_id, a.kind, a.severity) for a in decision.alerts}
        recs = consume_all_sync(kafka_bootstrap, "alliance.alerts", expect=len(expected), timeout=60,
                                where=lambda r: r.key == sid.encode())
        got = {(a.alert_id, a.kind, a.severity) for a in (decode(AllianceAlert, r.value) for r in recs)
               if a.dimension != "process"}
        assert got == expected
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _last_value(kafka_bootstrap, app_id, "alert_state", sid) is not None:
            time.sleep(1.0)
        assert _last_value(kafka_bootstrap, app_id, "alert_state", sid) is None, "kept after the last score"
    finally:
        assert w.stop() == 0, "\n".join(w.lines[-20:])
