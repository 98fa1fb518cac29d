"""HTTP ingestion: same contracts, idempotent, backpressure, and the same requests, scores and alerts as a Kafka replay."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone

import aiohttp
import orjson
import pytest

from ingest.batch import Delivered, SessionPlatforms, plan_batch
from ingest.errors import IngestError
from ingest.server import IngestConfig, serve
from ingest.tokens import parse_tokens, platform_of
from streams.codec import decode
from streams.contracts import AllianceAlert, AllianceScore, ChatTurn, ScoreRequest
from streams.replay import ReplayEvent, publish, read_file, rebase
from streams.topics import ALERTS, CHAT_TURNS, SCORE_REQUESTS, SCORES
from tests.kafka_helpers import consume_all
from tests.streams.worker_process import WorkerProcess

TOKEN = "platform-a-token-0123456789"
TOKENS = {TOKEN: "platform-a", "platform-b-token-9876543210": "platform-b"}


# -- the pure core ------------------------------------------------------------------------------


def _turn(sid: str, turn_id: int, text: str = "hello") -> dict:
    return {"session_id": sid, "turn_id": turn_id, "speaker": "client", "text": text,
            "sent_at": "2026-03-02T09:00:00Z", "counselor_id": "c-1"}


def test_a_batch_is_validated_per_record_and_duplicates_are_recognised():
    delivered = Delivered()
    delivered.add("platform-a:turn:s1:0")
    records = [_turn("s1", 0), _turn("s1", 1), {**_turn("s1", 2), "turn_id": -1}, _turn("s1", 1), "nonsense",
               {"session_id": "s1", "kind": "ended", "at": "2026-03-02T09:50:00Z", "counselor_id": "c-1"}]
    out = plan_batch(records, delivered, "platform-a")
    assert [o.status for o in out] == ["duplicate", "accepted", "rejected", "duplicate", "rejected", "accepted"]
    assert "turn_id" in out[2].error and "JSON object" in out[4].error
    assert [len(o.events) for o in out] == [0, 1, 0, 0, 0, 1]


def test_another_platforms_records_are_refused_per_record_and_never_make_a_records_vanish():
    """The attack: platform B posts a session id platform A uses; A's records were answered ``duplicate``
    (HTTP 200) and never produced. Keys are per platform now, and a session is its first platform's."""
    delivered, owners = Delivered(), SessionPlatforms()
    a = plan_batch([_turn("s1", 0)], delivered, "platform-a", owners)
    assert [o.status for o in a] == ["accepted"]
    for o in a:
        for ev in o.events:
            owners.claim(ev.session_id, "platform-a")
            delivered.add(f"platform-a:turn:{ev.session_id}:{ev.event.turn_id}")
    b = plan_batch([_turn("s1", 1), _turn("s1", 2), _turn("s2", 0)], delivered, "platform-b", owners)
    assert [o.status for o in b] == ["rejected", "rejected", "accepted"]
    assert "belongs to another platform" in b[0].error and "platform-a" not in b[0].error
    # B's keys (had they been delivered) are B's: A's own turns 1 and 2 are still new
    delivered.add("platform-b:turn:s1:1")
    again = plan_batch([_turn("s1", 1), _turn("s1", 2), _turn("s1", 0)], delivered, "platform-a", owners)
    assert [o.status for o in again] == ["accepted", "accepted", "duplicate"]
    # a session id B took first is B's: A is told so, per record (never a silent duplicate)
    owners.claim("s2", "platform-b")
    late = plan_batch([_turn("s2", 0)], delivered, "platform-a", owners)
    assert late[0].status == "rejected" and "belongs to another platform" in late[0].error


def test_tokens_per_platform():
    tokens = parse_tokens("platform-a=platform-a-token-0123456789, platform-b=platform-b-token-9876543210")
    assert tokens == TOKENS
    assert platform_of(tokens, f"Bearer {TOKEN}") == "platform-a"
    assert platform_of(tokens, "Bearer wrong-token-0123456789") is None
    assert platform_of(tokens, TOKEN) is None
    for bad in ("", "platform-a", "a=short", "a=same-token-0123456789,b=same-token-0123456789"):
        with pytest.raises(IngestError):
            parse_tokens(bad)


# -- over HTTP, against the real broker ---------------------------------------------------------


class Server:
    def __init__(self, bootstrap: str, **kw):
        self.cfg = IngestConfig(bootstrap=bootstrap, tokens=TOKENS, port=0, **kw)
        self.stop = asyncio.Event()
        self.url = ""

    async def __aenter__(self) -> "Server":
        ready = asyncio.Event()

        def on_ready(addresses):
            host, port = addresses[0][:2]
            self.url = f"{'https' if self.cfg.tls_cert else 'http'}://{host}:{port}"
            ready.set()

        self.task = asyncio.create_task(serve(self.cfg, self.stop, on_ready=on_ready))
        await asyncio.wait_for(ready.wait(), 30)
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        self.ingest = await self.task

    async def post(self, body, token: str = TOKEN) -> tuple[int, dict, dict]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.url}/v1/records", data=orjson.dumps(body),
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                return resp.status, dict(resp.headers), await resp.json()


pytestmark = pytest.mark.integration


async def test_authentication_errors_and_backpressure(private_kafka):
    sid = f"http-{uuid.uuid4().hex[:6]}"
    async with Server(private_kafka, max_pending=2) as server:
        status, _, body = await server.post([_turn(sid, 0)], token="not-a-platform-token-000")
        assert status == 401
        status, _, body = await server.post({"records": [{"turn_id": 1}, 7]})
        assert status == 422 and [r["status"] for r in body["results"]] == ["rejected", "rejected"]
        status, headers, body = await server.post([_turn(sid, i) for i in range(3)])
        assert status == 429 and headers["Retry-After"] == "1"
        status, _, body = await server.post([_turn(sid, 0), _turn(sid, 1)])
        assert status == 200 and body["accepted"] == 2
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["throttled"] == 1
    turns = await consume_all(private_kafka, CHAT_TURNS.name, expect=2, timeout=20, where=lambda r: r.key == sid.encode())
    assert sorted(decode(ChatTurn, r.value).turn_id for r in turns) == [0, 1]


async def test_platform_b_cannot_make_platform_a_records_vanish(private_kafka):
    """Through the real broker: B's records of A's session get a per-record error, A's are all produced."""
    sid = f"own-{uuid.uuid4().hex[:6]}"
    b_token = "platform-b-token-9876543210"
    async with Server(private_kafka) as server:
        assert (await server.post([_turn(sid, 0)]))[0] == 200
        status, _, body = await server.post([_turn(sid, 1, "forged"), _turn(sid, 2, "forged")], token=b_token)
        assert status == 422 and [r["status"] for r in body["results"]] == ["rejected", "rejected"]
        assert all("belongs to another platform" in r["error"] for r in body["results"])
        status, _, body = await server.post([_turn(sid, 1), _turn(sid, 2)])
        assert status == 200 and body["accepted"] == 2 and body["duplicate"] == 0
    got = await consume_all(private_kafka, CHAT_TURNS.name, expect=3, idle=2.0, timeout=30,
                            where=lambda r: r.key == sid.encode())
    turns = sorted((decode(ChatTurn, r.value).turn_id, decode(ChatTurn, r.value).text, dict(r.headers)["alliance-source"])
                   for r in got)
    assert turns == [(0, "hello", b"platform-a"), (1, "hello", b"platform-a"), (2, "hello", b"platform-a")]


async def test_https_with_a_trusted_certificate(private_kafka, tmp_path):
    import ssl

    from tests.tls_helpers import make_pki

    mine, other = make_pki(tmp_path, "ingest"), make_pki(tmp_path, "other")
    sid = f"https-{uuid.uuid4().hex[:6]}"
    async with Server(private_kafka, tls_cert=str(mine.cert), tls_key=str(mine.key)) as server:
        assert server.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(mine.ca))
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/v1/records", data=orjson.dumps([_turn(sid, 0)]), ssl=trusted,
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200 and (await resp.json())["accepted"] == 1
            with pytest.raises(aiohttp.ClientConnectorCertificateError):  # another CA: refused
                await http.get(f"{server.url}/healthz", ssl=ssl.create_default_context(cafile=str(other.ca)))
            with pytest.raises(aiohttp.ClientError):  # plain http to the TLS port: no answer
                await http.get(server.url.replace("https://", "http://") + "/healthz")


async def test_metrics_count_outcomes_and_429s(private_kafka):
    """/metrics (client library's parser) moves by exactly what the posts did; platform is a label, never an id."""
    from alliance_monitor.status import parse_samples, total

    async def metrics(url: str) -> dict:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/metrics") as resp:
                assert resp.status == 200
                return parse_samples(await resp.text())

    def moved(before: dict, after: dict, name: str, **labels) -> float:
        return (total(after, name, **labels) or 0) - (total(before, name, **labels) or 0)

    sid = f"met-{uuid.uuid4().hex[:6]}"
    async with Server(private_kafka, max_pending=3) as server:
        before = await metrics(server.url)
        assert (await server.post([_turn(sid, 0), _turn(sid, 1), {"turn_id": 2}]))[0] == 200
        assert (await server.post([_turn(sid, 1)]))[0] == 200  # a retry: duplicate
        assert (await server.post([_turn(sid, i) for i in range(4)]))[0] == 429
        after = await metrics(server.url)
    name = "alliance_ingest_records_total"
    assert moved(before, after, name, platform="platform-a", outcome="accepted") == 2
    assert moved(before, after, name, platform="platform-a", outcome="duplicate") == 1
    assert moved(before, after, name, platform="platform-a", outcome="rejected") == 1
    assert moved(before, after, "alliance_ingest_throttled_total", status="429") == 1
    assert moved(before, after, "alliance_ingest_post_seconds_count") == 2
    assert total(after, "alliance_ingest_pending") == 0
    assert all(set(labels) <= {"platform", "outcome"} for labels, _ in after[name])


def _sample_events(samples_dir, sid: str) -> list[ReplayEvent]:
    path = samples_dir / "s02_bond_rupture_middle_en.jsonl"  # a session with something to alert on
    events, bad = read_file(path)
    assert not bad
    first = events[0].session_id
    events = rebase([e for e in events if e.session_id == first], datetime.now(timezone.utc))
    return [ReplayEvent(e.topic, e.event.model_copy(update={"session_id": sid}), e.at, e.source, e.order)
            for e in events]


def _requests(bootstrap: str, sid: str) -> list[ScoreRequest]:
    recs = asyncio.run(consume_all(bootstrap, SCORE_REQUESTS.name, expect=3, timeout=90,
                                   where=lambda r: r.key == sid.encode()))
    return [decode(ScoreRequest, r.value) for r in recs]


def _shape(requests: list[ScoreRequest]) -> list[tuple]:
    return [(r.phase, r.upto_turn_id, [(t.turn_id, t.speaker, t.text) for t in r.transcript]) for r in requests]


def _score_both(bootstrap: str, request_ids: set[str], model, engine_loop) -> None:
    """Score exactly these requests with the real engine code (transformers, one at a time) on ``model``."""
    from scoring.engines import load_engine
    from scoring.scorer import Scorer, ScoringConfig
    from scoring.worker import WorkerConfig, run_worker
    from tests.scoring.conftest import TEST_SETTINGS

    engine = load_engine("transformers", model, TEST_SETTINGS)
    done: set[str] = set()
    stop = asyncio.Event()

    def on_outcome(record, outcome) -> None:
        if outcome.score is not None and outcome.score.request_id in request_ids:
            done.add(outcome.score.request_id)
            if done == request_ids:
                stop.set()

    async def run():
        try:
            return await run_worker(bootstrap, Scorer(engine, ScoringConfig(rationale="none")),
                                    WorkerConfig(group_id=f"ingest-{uuid.uuid4().hex[:6]}", concurrency=1,
                                                 timeout_s=600), stop=stop, on_outcome=on_outcome)
        finally:
            await engine.aclose()

    stats = engine_loop.run(run(), timeout=1500)
    assert done == request_ids and stats.dead_lettered == 0


def _by_phase(bootstrap: str, sid: str) -> dict[str, tuple[float, float, float]]:
    recs = asyncio.run(consume_all(bootstrap, SCORES.name, expect=3, timeout=60, where=lambda r: r.key == sid.encode()))
    scores = [decode(AllianceScore, r.value) for r in recs]
    return {s.phase: tuple(round(s.dimensions[d].score, 3) for d in ("goal", "approach", "bond")) for s in scores}


def _alerts(bootstrap: str, sid: str) -> set[tuple]:
    """Alerts of a session without the session id: (rest of the id, dimension, kind, severity)."""
    recs = asyncio.run(consume_all(bootstrap, ALERTS.name, idle=2, timeout=30, where=lambda r: r.key == sid.encode()))
    return {(a.alert_id.split(":", 1)[1], a.dimension, a.kind, a.severity)
            for a in (decode(AllianceAlert, r.value) for r in recs)}


def _settled_alerts(bootstrap: str, kafka_sid: str, http_sid: str, timeout: float = 90) -> tuple[set, set]:
    """The processor turns scores into alerts asynchronously: read until both sides stop changing."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        now = (_alerts(bootstrap, kafka_sid), _alerts(bootstrap, http_sid))
        if now == last or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(3)


@pytest.mark.model
def test_an_http_session_yields_the_same_requests_scores_and_alerts_as_a_kafka_replay(private_kafka, samples_dir,
                                                                                       tiny_model, engine_loop):
    run = uuid.uuid4().hex[:6]
    kafka_sid, http_sid = f"kafka-{run}", f"http-{run}"
    worker = WorkerProcess(private_kafka, f"it-ingest-{run}", "--clock-rate", "60", "--lateness", "5").start()
    try:
        publish(_sample_events(samples_dir, kafka_sid), private_kafka, speed=float("inf"), progress=False)
        records = [orjson.loads(orjson.dumps(e.event.model_dump(mode="json")))
                   for e in _sample_events(samples_dir, http_sid)]
        half = len(records) // 2
        first = records[:half] + [{"session_id": http_sid, "turn_id": "x", "speaker": "client"}] + [records[1]]

        async def post_all():
            async with Server(private_kafka) as server:
                s1, _, b1 = await server.post({"records": first})
                s2, _, b2 = await server.post({"records": records[half - 2:]})  # overlaps the first batch
                s3, _, b3 = await server.post({"records": records[half:]})  # the platform retries the batch
            return (s1, b1), (s2, b2), (s3, b3)

        (s1, b1), (s2, b2), (s3, b3) = asyncio.run(post_all())
        assert s1 == 200 and b1["rejected"] == 1 and b1["duplicate"] == 1 and b1["accepted"] == half
        bad = [r for r in b1["results"] if r["status"] == "rejected"][0]
        assert bad["index"] == half and "turn_id" in bad["error"]
        assert s2 == 200 and b2["duplicate"] == 2 and b2["accepted"] == len(records) - half
        assert s3 == 200 and b3["accepted"] == 0 and b3["duplicate"] == len(records) - half

        via_kafka, via_http = _requests(private_kafka, kafka_sid), _requests(private_kafka, http_sid)
        assert [r.phase for r in via_http] == ["early", "middle", "late"]
        assert _shape(via_http) == _shape(via_kafka)
        turns = asyncio.run(consume_all(private_kafka, CHAT_TURNS.name, idle=2, timeout=30,
                                        where=lambda r: r.key == http_sid.encode()))
        ids = [decode(ChatTurn, r.value).turn_id for r in turns]
        assert len(ids) == len(set(ids)), "a duplicate reached chat.turns"

        # the same scores (real engine, the tiny random-weight model: equal inputs give equal scores whatever
        # the weights) and, from the processor's alert policy, the same alerts
        _score_both(private_kafka, {r.request_id for r in via_kafka + via_http}, tiny_model, engine_loop)
        assert _by_phase(private_kafka, http_sid) == _by_phase(private_kafka, kafka_sid)
        assert set(_by_phase(private_kafka, http_sid)) == {"early", "middle", "late"}
        kafka_alerts, http_alerts = _settled_alerts(private_kafka, kafka_sid, http_sid)
        assert http_alerts == kafka_alerts, (sorted(http_alerts), sorted(kafka_alerts))
    finally:
        assert worker.stop() == 0


def test_max_pending_below_max_records_is_refused_in_one_line(monkeypatch, capsys):
    """`ingest --max-pending 100` with 500 records a post answered a 300-record post with 429 forever."""
    from alliance_monitor.cli import main

    monkeypatch.setenv("ALLIANCE_INGEST_TOKENS", "platform-a=" + "t" * 24)
    assert main(["ingest", "--max-pending", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--max-pending (100) must be at least --max-records (500)" in err
