"""The scoring worker's metrics with the real transformers engine (the demo model) and the real broker:
outcomes, latency and tokens by phase, and the requests topic's lag rising while requests wait, falling after."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from alliance_monitor.status import parse_samples, total
from scoring.scorer import Scorer, ScoringConfig
from scoring.worker import WorkerConfig, run_worker
from streams.broker import ensure_topics
from tests.kafka_helpers import produce

from .helpers import EN_SESSION
from .test_worker import _request

pytestmark = [pytest.mark.model, pytest.mark.integration]


def samples() -> dict:
    return parse_samples(generate_latest(REGISTRY).decode())  # what /metrics serves, through the library's parser


def moved(before: dict, after: dict, name: str, **labels) -> float:
    return (total(after, name, **labels) or 0) - (total(before, name, **labels) or 0)


def test_scorer_metrics_move_and_lag_falls_as_requests_are_scored(kafka_bootstrap, hf_engine, engine_loop, unique):
    import dataclasses

    from streams.topics import spec

    topic = f"alliance.requests.metrics{unique}"
    ensure_topics(kafka_bootstrap, [dataclasses.replace(spec("alliance.requests"), name=topic, partitions=1),
                                    dataclasses.replace(spec("alliance.requests.dlq"), name=topic + ".dlq",
                                                        partitions=1)])
    sid = f"wm-{unique}"
    requests = [_request(sid, "early", EN_SESSION[:3]), _request(sid, "middle", EN_SESSION[:5])]
    for r in requests:  # one record per batch: exact end offsets on the embedded broker
        produce(kafka_bootstrap, topic, [(r.session_id, r)])
    produce(kafka_bootstrap, topic, [(f"{sid}-p", b"{not json")])
    group = f"g-metrics-{unique}"
    lag_seen: list[float] = []

    def on_outcome(record, outcome) -> None:  # after each one-record batch: the lag measured when it was fetched
        lag_seen.append(REGISTRY.get_sample_value("alliance_consumer_lag_records", {"part": "scorer", "group": group}))

    before = samples()
    cfg = WorkerConfig(group_id=group, concurrency=1, timeout_s=300, retries=0, max_records=3,
                       requests_topic=topic, scores_topic=f"alliance.scores.metrics{unique}")
    ensure_topics(kafka_bootstrap, [dataclasses.replace(spec("alliance.scores"), name=cfg.scores_topic,
                                                        partitions=1)])
    scorer = Scorer(hf_engine, ScoringConfig(rationale="none"))
    stats = engine_loop.run(run_worker(kafka_bootstrap, scorer, cfg, on_outcome=on_outcome), timeout=900)
    after = samples()

    assert (stats.scored, stats.dead_lettered) == (2, 1)
    assert moved(before, after, "alliance_scorer_requests_total", outcome="scored") == 2
    assert moved(before, after, "alliance_scorer_requests_total", outcome="dead_lettered") == 1
    assert moved(before, after, "alliance_dead_letters_total", part="scorer", topic=topic, reason="contract") == 1
    assert moved(before, after, "alliance_scorer_score_seconds_count", phase="early") == 1
    assert moved(before, after, "alliance_scorer_score_seconds_count", phase="middle") == 1
    # request -> score: waiting included, so never shorter than the scoring itself
    assert moved(before, after, "alliance_scorer_request_seconds_count", phase="middle") == 1
    assert moved(before, after, "alliance_scorer_request_seconds_sum") >= moved(before, after,
                                                                              "alliance_scorer_score_seconds_sum")
    assert moved(before, after, "alliance_scorer_prompt_tokens_total", phase="middle") > \
        moved(before, after, "alliance_scorer_prompt_tokens_total", phase="early") > 0
    assert moved(before, after, "alliance_scorer_cached_tokens_total") >= 0
    assert total(after, "alliance_scorer_in_flight") == 0
    assert lag_seen == [2, 1, 0], lag_seen  # two waited behind the first, one behind the second
    assert total(after, "alliance_consumer_lag_records", part="scorer", group=group) == 0
