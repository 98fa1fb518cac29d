"""Rupture episodes through the real processor and the real broker.

A sample session replayed onto ``chat.turns`` / ``chat.sessions`` must come out
of ``alliance.ruptures`` as the same episodes the pure core finds offline
(streams.rupture_replay), and a drop alert read back from ``alliance.alerts``
must join the session's episode.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from streams.codec import decode
from streams.contracts import AllianceAlert, RuptureEpisode
from streams.replay import ReplayEvent, publish, read_file, rebase
from streams.rupture_replay import final_episodes, replay_ruptures
from streams.topics import ALERTS, RUPTURES
from tests.kafka_helpers import consume_all_sync, produce
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def worker(kafka_bootstrap):
    w = WorkerProcess(kafka_bootstrap, f"it-rupt-{uuid.uuid4().hex[:6]}", "--clock-rate", "60", "--lateness", "5",
                      "--signal-interval", "0").start()
    yield w
    assert w.stop() == 0, "\n".join(w.lines[-20:])


def replay_as(path: Path, sid: str, bootstrap: str) -> None:
    events, bad = read_file(path)
    assert not bad
    moved = [ReplayEvent(e.topic, e.event.model_copy(update={"session_id": sid}), e.at, e.source, e.order)
             for e in rebase(events, datetime.now(timezone.utc))]
    publish(moved, bootstrap, speed=math.inf, progress=False)


def episodes_of(bootstrap: str, sid: str, expect: int) -> list[RuptureEpisode]:
    recs = consume_all_sync(bootstrap, RUPTURES.name, expect=expect, timeout=60, where=lambda r: r.key == sid.encode())
    return [decode(RuptureEpisode, r.value) for r in recs]


def shape(e: RuptureEpisode) -> tuple:
    return (e.episode_id.rsplit(":", 1)[1], e.version, e.kind, e.status, e.closed, e.opened_turn_id,
            [m.turn_id for m in e.markers], [m.turn_id for m in e.repair_moves], e.reengaged_turn_id)


def test_the_repaired_confrontation_sample_comes_out_of_the_processor_as_offline(worker, kafka_bootstrap, unique):
    path = SAMPLES / "s04_confrontation_repaired_en.jsonl"
    offline = replay_ruptures(path)
    sid = f"rupt-s04-{unique}"
    replay_as(path, sid, kafka_bootstrap)
    got = episodes_of(kafka_bootstrap, sid, expect=len(offline))
    assert [shape(e) for e in got] == [shape(e) for e in offline]
    final = final_episodes(got)
    assert [(e.kind, e.status, e.closed) for e in final] == [("confrontation", "repaired", True)]
    assert all(e.session_id == sid and e.counselor_id == "c-maya" and e.lang == "en" for e in got)


def test_a_withdrawal_sample_is_closed_unrepaired_and_a_late_drop_alert_joins_it(worker, kafka_bootstrap, unique):
    path = SAMPLES / "s05_client_goes_silent_zh.jsonl"  # no `ended`: the processor's timer closes it
    offline = final_episodes(replay_ruptures(path))
    sid = f"rupt-s05-{unique}"
    replay_as(path, sid, kafka_bootstrap)
    closed = [e for e in episodes_of(kafka_bootstrap, sid, expect=3) if e.closed]
    assert [(e.kind, e.status, e.opened_turn_id) for e in closed] == [
        (e.kind, e.status, e.opened_turn_id) for e in offline] == [("withdrawal", "unrepaired", 25)]
    assert closed[0].suggestion == "" and all(not e.validated for e in closed)

    # the late phase is scored after the end: its drop joins the closed episode (still unrepaired)
    drop = AllianceAlert(alert_id=f"{sid}:late:bond:drop", session_id=sid, counselor_id="c-wang", dimension="bond",
                         kind="drop", severity="warning", previous=3.1, current=2.4, phase="late", model="m",
                         validated=False)
    process = drop.model_copy(update={"alert_id": f"{sid}:late:process:idle", "kind": "process",
                                      "dimension": "process"})
    produce(kafka_bootstrap, ALERTS.name, [(sid, b"not an alert"), (sid, process), (sid, drop)])
    got = episodes_of(kafka_bootstrap, sid, expect=4)
    last = got[-1]
    assert (last.version, last.status, last.sources, last.validated) == (4, "unrepaired", ["markers", "model"], False)
    assert last.model_drop is not None and last.model_drop.alert_id == drop.alert_id
    assert any("processor ready" in line for line in worker.lines)
