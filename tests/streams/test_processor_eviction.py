"""A forgotten session leaves no state behind: ``sessions`` *and* ``alert_state`` are deleted.

``alert_state`` (the alert policy's memory per session) used to be kept forever: a
processor's memory and its changelog grew with every session ever scored. Checked on
the changelog topics Faust writes (a deletion is a tombstone), through the real
processor with a short ``--forget-after``.
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


def test_alert_state_is_evicted_with_the_session(kafka_bootstrap, unique):
    app_id = f"it-evict-{uuid.uuid4().hex[:6]}"
    w = WorkerProcess(kafka_bootstrap, app_id, "--clock-rate", "60", "--lateness", "5", "--signal-interval", "0",
                      "--forget-after", "60").start()  # 60 event seconds = 1 wall second at 60x
    try:
        sid = f"evict-{unique}"
        started, turns, ended = session(sid, planned_minutes=3, turns=12)
        produce(kafka_bootstrap, "alliance.scores", [(sid, score(sid, "early", 4.5, counselor="c-test"))])
        publish(events_of(started, turns, ended), kafka_bootstrap, speed=60, progress=False)
        assert len(requests_for(kafka_bootstrap, sid)) == 3
        key = orjson.dumps(sid)

        def last_value(table: str):
            recs = consume_all_sync(kafka_bootstrap, f"{app_id}-{table}-changelog", idle=3.0, timeout=30,
                                    where=lambda r: r.key == key)
            return recs[-1].value if recs else b"missing"

        import time
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and last_value("sessions") is not None:
            time.sleep(1.0)
        assert last_value("sessions") is None, "the session was never forgotten"
        assert last_value("alert_state") is None, "the alert policy's state outlived its session"
    finally:
        assert w.stop() == 0, "\n".join(w.lines[-20:])
