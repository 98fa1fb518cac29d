"""One sensor per part (docs/metrics.md#how-a-part-counts-one-sensor-per-part): every event of a part's
protocol is implemented by its Prometheus and its recording sensor with the same parameters, and each
Prometheus event moves exactly the metric docs/metrics.md documents for it (read back from the registry)."""

from __future__ import annotations

import inspect
import re
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from gateway.metrics import PrometheusGatewaySensor, PrometheusSurveyLinkSensor
from gateway.sensor import GatewaySensor, RecordingGatewaySensor, SurveyLinkSensor
from ingest.metrics import PrometheusIngestSensor
from ingest.sensor import IngestSensor, RecordingIngestSensor
from scoring.metrics import PrometheusScorerSensor
from scoring.sensor import RecordingScorerSensor, ScorerSensor
from store.metrics import PrometheusSinkSensor
from store.sensor import RecordingSinkSensor, SinkSensor
from streams.processor_metrics import PrometheusProcessorSensor
from streams.processor_sensor import ProcessorSensor, RecordingProcessorSensor

ROOT = Path(__file__).resolve().parents[1]

PARTS = [
    (ProcessorSensor, PrometheusProcessorSensor, RecordingProcessorSensor),
    (ScorerSensor, PrometheusScorerSensor, RecordingScorerSensor),
    (SinkSensor, PrometheusSinkSensor, RecordingSinkSensor),
    (GatewaySensor, PrometheusGatewaySensor, RecordingGatewaySensor),
    (SurveyLinkSensor, PrometheusSurveyLinkSensor, RecordingGatewaySensor),
    (IngestSensor, PrometheusIngestSensor, RecordingIngestSensor),
]


def events_of(protocol: type) -> list[str]:
    return sorted(name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_"))


def parameters(cls: type, name: str) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(getattr(cls, name)).parameters.values()]


@pytest.mark.parametrize("protocol, prometheus, recording", PARTS, ids=lambda c: c.__name__)
def test_both_sensors_implement_every_event_of_their_part(protocol, prometheus, recording):
    events = events_of(protocol)
    assert events, f"{protocol.__name__} names no event"
    for cls in (prometheus, recording):
        for name in events:
            assert hasattr(cls, name), f"{cls.__name__} lacks {name}"
            assert parameters(cls, name) == parameters(protocol, name), f"{cls.__name__}.{name}"
            assert inspect.iscoroutinefunction(getattr(cls, name)) == \
                inspect.iscoroutinefunction(getattr(protocol, name)), f"{cls.__name__}.{name}: sync vs async"
    extra = {n for n in vars(prometheus) if not n.startswith("_") and callable(vars(prometheus)[n])} - set(events)
    assert not extra, f"{prometheus.__name__} has events its protocol does not name: {extra}"


def test_the_conformance_check_can_fail():
    class Incomplete:
        def on_retry(self) -> None: ...

    assert not hasattr(Incomplete, "on_scored")
    assert parameters(PrometheusScorerSensor, "on_scored") != parameters(PrometheusScorerSensor, "on_retry")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def moves(call, expected: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> None:
    before = {key: value(key[0], **dict(key[1])) for key in expected}
    call()
    moved = {key: value(key[0], **dict(key[1])) - before[key] for key in expected}
    assert moved == pytest.approx(expected), moved


def m(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_the_scorer_sensor_counts_what_docs_metrics_md_says():
    s, topic = PrometheusScorerSensor(), f"t-{uuid.uuid4().hex[:6]}"
    moves(s.on_retry, {m("alliance_scorer_retries_total"): 1})
    moves(lambda: s.on_scored("late", 2.0, 5.0, 100, 80), {
        m("alliance_scorer_requests_total", outcome="scored"): 1,
        m("alliance_scorer_score_seconds_count", phase="late"): 1, m("alliance_scorer_score_seconds_sum", phase="late"): 2.0,
        m("alliance_scorer_request_seconds_count", phase="late"): 1,
        m("alliance_scorer_request_seconds_sum", phase="late"): 5.0,
        m("alliance_scorer_prompt_tokens_total", phase="late"): 100,
        m("alliance_scorer_cached_tokens_total", phase="late"): 80})
    # no request time (an old request without created_at): the waiting is not guessed
    moves(lambda: s.on_scored("early", 1.0, None, 10, 0), {m("alliance_scorer_request_seconds_count", phase="early"): 0,
                                                           m("alliance_scorer_score_seconds_count", phase="early"): 1})
    moves(s.on_feedback, {m("alliance_scorer_feedback_total"): 1})
    moves(lambda: s.on_dead_letter(topic, "contract"), {
        m("alliance_scorer_requests_total", outcome="dead_lettered"): 1,
        m("alliance_dead_letters_total", part="scorer", topic=topic, reason="contract"): 1})
    # a reason class outside the fixed set is counted as processing: labels stay a small set
    moves(lambda: s.on_dead_letter(topic, "boom: text"), {
        m("alliance_dead_letters_total", part="scorer", topic=topic, reason="processing"): 1})
    s.on_batch_started(3)
    assert value("alliance_scorer_in_flight") == 3
    s.on_batch_finished()
    assert value("alliance_scorer_in_flight") == 0


def test_the_sink_sensor_counts_what_docs_metrics_md_says():
    s, topic = PrometheusSinkSensor(), f"t-{uuid.uuid4().hex[:6]}"
    moves(lambda: s.on_records(topic, 5), {m("alliance_sink_records_total", topic=topic): 5})
    moves(lambda: s.on_rows_written("session", 2), {m("alliance_sink_rows_written_total", kind="session"): 2})
    moves(lambda: s.on_rows_skipped("alert", 3), {m("alliance_sink_rows_skipped_total", kind="alert"): 3})
    moves(s.on_db_retry, {m("alliance_sink_db_retries_total"): 1})
    moves(s.on_commit_failed, {m("alliance_sink_commit_failures_total"): 1})
    moves(lambda: s.on_dead_letter(topic, "store_refused"),
          {m("alliance_dead_letters_total", part="sink", topic=topic, reason="store_refused"): 1})

    def failed_write() -> None:
        with pytest.raises(RuntimeError), s.write_timer():
            raise RuntimeError("the database refused")

    moves(failed_write, {m("alliance_sink_write_seconds_count"): 1})  # each attempt, failed ones too


def test_the_processor_sensor_counts_what_docs_metrics_md_says():
    s, topic = PrometheusProcessorSensor(), f"t-{uuid.uuid4().hex[:6]}"
    for event, name in [(s.on_turn, "turns"), (s.on_session_event, "session_events"),
                        (s.on_duplicate_turn, "duplicate_turns"), (s.on_text_restored, "texts_restored"),
                        (s.on_signal, "signals"), (s.on_episode, "rupture_episodes"), (s.on_score, "scores")]:
        moves(event, {m(f"alliance_processor_{name}_total"): 1})
    moves(lambda: s.on_request("middle"), {m("alliance_processor_requests_total", phase="middle"): 1})
    moves(lambda: s.on_alert("drop", "unvalidated"),
          {m("alliance_processor_alerts_total", kind="drop", gate="unvalidated"): 1})
    moves(lambda: s.on_record_handled(topic, 0.5), {m("alliance_processor_record_seconds_count", topic=topic): 1,
                                                   m("alliance_processor_record_seconds_sum", topic=topic): 0.5})
    moves(lambda: s.on_dead_letter(topic, "rejected"),
          {m("alliance_dead_letters_total", part="processor", topic=topic, reason="rejected"): 1})
    s.on_sessions(7)
    assert value("alliance_processor_sessions") == 7


def test_the_gateway_and_survey_link_sensors_count_what_docs_metrics_md_says():
    s = PrometheusGatewaySensor()
    moves(lambda: s.on_feed_records("applied", 4), {m("alliance_gateway_feed_records_total", outcome="applied"): 4})
    moves(lambda: s.on_feed_records("rejected", 1), {m("alliance_gateway_feed_records_total", outcome="rejected"): 1})
    moves(lambda: s.on_delivered("score", 1.5), {m("alliance_gateway_delivery_seconds_count", kind="score"): 1,
                                                m("alliance_gateway_delivery_seconds_sum", kind="score"): 1.5})
    # a clock behind the producer's: never a negative latency
    moves(lambda: s.on_delivered("alert", -3.0), {m("alliance_gateway_delivery_seconds_sum", kind="alert"): 0})
    for outcome in ("found", "unknown", "failed"):
        moves(lambda o=outcome: s.on_archive_read(o), {m("alliance_gateway_archive_reads_total", outcome=outcome): 1})
    for outcome in ("published", "failed"):
        moves(lambda o=outcome: s.on_ack(o), {m("alliance_gateway_acks_total", outcome=outcome): 1})
    moves(PrometheusSurveyLinkSensor().on_link_published, {m("alliance_survey_links_published_total"): 1})


def test_the_ingest_sensor_counts_what_docs_metrics_md_says():
    s, platform = PrometheusIngestSensor(), f"p-{uuid.uuid4().hex[:6]}"
    moves(lambda: s.on_records(platform, "duplicate", 3),
          {m("alliance_ingest_records_total", platform=platform, outcome="duplicate"): 3})
    moves(lambda: s.on_throttled(429), {m("alliance_ingest_throttled_total", status="429"): 1})
    moves(lambda: s.on_throttled(503), {m("alliance_ingest_throttled_total", status="503"): 1})
    moves(lambda: s.on_post_acknowledged(0.25), {m("alliance_ingest_post_seconds_count"): 1,
                                                m("alliance_ingest_post_seconds_sum"): 0.25})
    s.on_pending(9)
    assert value("alliance_ingest_pending") == 9
    s.on_pending(0)


def test_every_metric_a_sensor_moves_is_documented():
    """The names the tests above read are the documented ones (docs/metrics.md lists each, by base name)."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    source = (Path(__file__)).read_text(encoding="utf-8")
    read = set(re.findall(r'"(alliance_[a-z_]+?)(?:_total|_count|_sum)?"', source))
    missing = sorted(name for name in read if f"`{name}" not in text)
    assert read and not missing, missing


def test_a_recording_sensor_keeps_the_events_in_order():
    s = RecordingSinkSensor()
    s.on_records("chat.sessions", 2)
    with s.write_timer():
        pass
    s.on_rows_written("session", 1)
    assert [name for name, _ in s.events] == ["on_records", "write", "on_rows_written"]
    assert s.calls("on_records") == [("chat.sessions", 2)] and s.count("on_db_retry") == 0
