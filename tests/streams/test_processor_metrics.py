"""The processor's /metrics (a real ``alliance-monitor process`` on its own broker): turns in, requests out,
the lag of its input partitions read from the Faust consumer."""

from __future__ import annotations

import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from alliance_monitor.status import parse_samples, total
from streams.contracts import ChatTurn, SessionEvent
from streams.topics import CHAT_SESSIONS, CHAT_TURNS
from tests.alliance_monitor.test_parts_run_like_services import _free_port
from tests.kafka_helpers import produce

from .worker_process import WorkerProcess

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return parse_samples(resp.read().decode())


def test_processor_metrics_count_turns_and_requests_and_report_lag(private_kafka):
    sid = f"pm-{uuid.uuid4().hex[:6]}"
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    port = _free_port()
    worker = WorkerProcess(private_kafka, f"pm-{sid}", "--health-port", str(port)).start()
    try:
        produce(private_kafka, CHAT_SESSIONS.name, [(sid, SessionEvent(
            session_id=sid, kind="started", at=start, counselor_id="c-1", planned_minutes=3))])
        turns = [ChatTurn(session_id=sid, turn_id=i, speaker="client" if i % 2 else "counselor",
                          text=f"turn {i}", sent_at=start + timedelta(seconds=20 * i), counselor_id="c-1")
                 for i in range(12)]
        for t in turns:  # one record per batch: exact end offsets on the embedded broker
            produce(private_kafka, CHAT_TURNS.name, [(sid, t)])
        deadline = time.monotonic() + 60
        while True:
            samples = scrape(port)
            if (total(samples, "alliance_processor_turns_total") or 0) >= len(turns) and \
                    total(samples, "alliance_consumer_lag_records", part="processor") == 0:
                break
            assert time.monotonic() < deadline, {k: v for k, v in samples.items() if k.startswith("alliance_")}
            time.sleep(0.5)
    finally:
        worker.stop()
    assert total(samples, "alliance_processor_turns_total") == len(turns)
    assert total(samples, "alliance_processor_session_events_total") == 1
    # the turns span the whole planned length: the early and middle phases have ended by event time
    assert (total(samples, "alliance_processor_requests_total") or 0) >= 2
    assert total(samples, "alliance_processor_record_seconds_count", topic=CHAT_TURNS.name) >= len(turns)
    lag_partitions = {labels["topic"] for labels, _ in samples["alliance_consumer_lag"]}
    assert CHAT_TURNS.name in lag_partitions
    assert total(samples, "alliance_processor_sessions") >= 1
