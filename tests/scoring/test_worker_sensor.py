"""The scoring worker tells its sensor what happened (scoring/sensor.py): retries, dead letters by reason
class, the batch in flight and the lag, through the real worker loop on the real broker. The engine is a
fault injector (every attempt fails), so no model is loaded; tests/scoring/test_worker_metrics.py shows
the same path into the Prometheus registry with a real engine."""

from __future__ import annotations

import dataclasses

import pytest

from scoring.sensor import RecordingScorerSensor
from scoring.worker import Outcome, WorkerConfig, WorkerStats, run_worker, score_request
from streams.broker import ensure_topics
from streams.topics import spec
from tests.kafka_helpers import produce

from .helpers import EN_SESSION
from .test_worker import _request


class EngineDown:
    """Fault injection: every scoring attempt fails, as with an engine that died."""

    engine = None

    async def score(self, **_) -> None:
        raise RuntimeError("engine down")


async def test_each_retry_is_told_to_the_sensor_and_no_score_is():
    sensor = RecordingScorerSensor()
    cfg = WorkerConfig(retries=2, retry_backoff_s=0.01, sensor=sensor)
    outcome = await score_request(EngineDown(), _request("sensor-r", "early", EN_SESSION[:3]), cfg, WorkerStats())
    assert isinstance(outcome, Outcome) and outcome.score is None and outcome.dlq_reason
    assert [name for name, _ in sensor.events] == ["on_retry", "on_retry"]  # 3 attempts, 2 retries


@pytest.mark.integration
async def test_the_worker_tells_its_sensor_of_dead_letters_batches_and_lag(kafka_bootstrap, unique):
    topic = f"alliance.requests.sensor{unique}"
    ensure_topics(kafka_bootstrap, [dataclasses.replace(spec("alliance.requests"), name=topic, partitions=1),
                                    dataclasses.replace(spec("alliance.requests.dlq"), name=topic + ".dlq",
                                                        partitions=1)])
    produce(kafka_bootstrap, topic, [(f"s-{unique}", b"{not json"),
                                     (f"s-{unique}", _request(f"s-{unique}", "early", EN_SESSION[:3]))])
    sensor = RecordingScorerSensor()
    group = f"g-sensor-{unique}"
    cfg = WorkerConfig(group_id=group, concurrency=2, retries=1, retry_backoff_s=0.01, max_records=2,
                       requests_topic=topic, scores_topic=f"alliance.scores.sensor{unique}", sensor=sensor)
    stats = await run_worker(kafka_bootstrap, EngineDown(), cfg)

    assert stats.dead_lettered == 2
    assert sorted(sensor.calls("on_dead_letter")) == [(topic, "contract"), (topic, "scoring")]
    assert sensor.count("on_retry") == 1 and sensor.count("on_scored") == 0
    started = [n for (n,) in sensor.calls("on_batch_started")]
    assert sum(started) == 2 and sensor.count("on_batch_finished") == len(started)
    assert sensor.calls("observe_lag") and set(sensor.calls("observe_lag")) == {(group,)}
    # a batch is finished before its dead letters are told
    names = [name for name, _ in sensor.events]
    assert names.index("on_batch_finished") < names.index("on_dead_letter")
