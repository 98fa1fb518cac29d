"""The HTTP shell of ingestion (aiohttp): authenticate, plan the batch, produce, answer per record.

``POST /v1/records`` with ``Authorization: Bearer <platform token>`` and a JSON
body (one record, a list, or ``{"records": [...]}``). The answer lists every
record's outcome (``accepted``, ``duplicate`` or ``rejected`` with the reason);
200 as soon as at least one record is fine, 422 when every record was rejected.
A 200 means Kafka has acknowledged every accepted record (acks=all): a platform
that gets no answer may post again, and duplicates are recognised.

Backpressure: at most ``max_pending`` records are in flight to Kafka; beyond
that, and while Kafka does not acknowledge, the answer is 429 (or 503) with
``Retry-After`` and nothing of the batch is produced. ``GET /healthz`` answers
200 while the producer is connected. Every record carries the platform's name in
the ``alliance-source`` header (``streams.topics.SOURCE_HEADER``), taken from the
token and never from the body, so a gateway can trust session assignments by
source. Logs carry platform, counts and ids, never message text; ``GET /metrics`` (Prometheus)
answers local callers only (scrape the ``--health-port`` from elsewhere).
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from streams.codec import encode
from streams.errors import ContractError
from streams.tls import server_context
from streams.topics import SOURCE_HEADER

from .batch import MAX_RECORDS, Delivered, SessionPlatforms, idempotency_key, plan_batch, records_of
from .metrics import PrometheusIngestSensor
from .sensor import RECORD_OUTCOMES, IngestSensor
from .tokens import platform_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestConfig:
    bootstrap: str
    tokens: dict[str, str]  # token -> platform
    host: str = "127.0.0.1"
    port: int = 8780
    max_pending: int = 2000
    max_records: int = MAX_RECORDS
    max_body_bytes: int = 4 * 1024 * 1024
    retry_after_s: int = 1
    send_timeout_s: float = 30.0
    dedupe_window: int = 200_000
    #: PEM certificate chain and key: serve https:// (platform tokens never cross a network in clear)
    tls_cert: str | None = None
    tls_key: str | None = None


class Ingest:
    """State of one ingest process: the producer, the in-flight count, the idempotency window."""

    def __init__(self, cfg: IngestConfig, sensor: IngestSensor | None = None):
        self.cfg = cfg
        #: what the endpoint tells its metrics (ingest/sensor.py); Prometheus unless a test records instead
        self.sensor: IngestSensor = sensor if sensor is not None else PrometheusIngestSensor()
        self.delivered = Delivered(cfg.dedupe_window)
        #: which platform owns each session id (ingest/batch.py): another platform's records of it are refused
        self.owners = SessionPlatforms(cfg.dedupe_window)
        self.pending = 0
        self.producer: Any = None  # AIOKafkaProducer once started (aiokafka is untyped)
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "throttled": 0}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        from streams.kafka_security import kafka_security

        self.producer = AIOKafkaProducer(bootstrap_servers=self.cfg.bootstrap, **kafka_security(), acks="all",
                                         client_id="alliance-ingest", enable_idempotence=False)
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()  # flushes what is in flight

    def _answer(self, status: int, body: dict, retry: bool = False):
        from aiohttp import web

        headers = {"Retry-After": str(self.cfg.retry_after_s)} if retry else None
        return web.Response(status=status, body=orjson.dumps(body), content_type="application/json",
                            headers=headers)

    async def handle_post(self, request):
        platform = platform_of(self.cfg.tokens, request.headers.get("Authorization"))
        if platform is None:
            return self._answer(401, {"error": "missing or unknown platform token (Authorization: Bearer ...)"})
        try:
            body = orjson.loads(await request.read())
            records = records_of(body)
        except orjson.JSONDecodeError as err:
            return self._answer(400, {"error": f"body is not valid JSON ({err.msg})"})
        except ContractError as err:
            return self._answer(400, {"error": str(err)})
        if len(records) > self.cfg.max_records:
            return self._answer(413, {"error": f"at most {self.cfg.max_records} records per post"})
        started = time.perf_counter()
        async with self._lock:  # one batch at a time decides duplicates; produce order = post order
            if self.pending + len(records) > self.cfg.max_pending:
                self.counts["throttled"] += 1
                self.sensor.on_throttled(429)
                log.warning("throttled a batch of %d from %s (%d pending)", len(records), platform, self.pending)
                return self._answer(429, {"error": "too many records in flight; retry later"}, retry=True)
            outcomes = plan_batch(records, self.delivered, platform, self.owners)
            events = [ev for o in outcomes for ev in o.events]
            for ev in events:  # claimed now, under the lock: a concurrent post of another platform sees it
                self.owners.claim(ev.session_id, platform)
            self.pending += len(events)
            self.sensor.on_pending(self.pending)
            try:
                source = [(SOURCE_HEADER, platform.encode())]  # from the token, never from the body
                futures = [await self.producer.send(ev.topic, key=ev.session_id.encode(), value=encode(ev.event),
                                                    headers=source)
                           for ev in events]
            except Exception:
                self.pending -= len(events)
                self.sensor.on_pending(self.pending)
                raise
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.cfg.send_timeout_s)
        except Exception as err:  # noqa: BLE001 - Kafka down or slow: the platform retries the whole batch
            log.warning("batch of %d from %s not acknowledged by Kafka: %s", len(events), platform, type(err).__name__)
            self.sensor.on_throttled(503)
            return self._answer(503, {"error": "Kafka did not acknowledge the batch; retry later"}, retry=True)
        finally:
            self.pending -= len(events)
            self.sensor.on_pending(self.pending)
        self.sensor.on_post_acknowledged(time.perf_counter() - started)
        for ev in events:
            self.delivered.add(idempotency_key(ev, platform))
        summary = {k: sum(o.status == k for o in outcomes) for k in RECORD_OUTCOMES}
        for k, v in summary.items():
            self.counts[k] += v
            self.sensor.on_records(platform, k, v)
        log.info("batch from %s: %d accepted, %d duplicate, %d rejected", platform, summary["accepted"],
                 summary["duplicate"], summary["rejected"])
        status = 422 if outcomes and summary["rejected"] == len(outcomes) else 200
        return self._answer(status, {**summary, "results": [o.as_json() for o in outcomes]})

    async def handle_health(self, request):
        ok = self.producer is not None
        return self._answer(200 if ok else 503, {"status": "ok" if ok else "starting", "pending": self.pending,
                                                 **self.counts})

    async def handle_metrics(self, request):
        from aiohttp import web
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        if not _is_loopback(request.remote):
            return self._answer(403, {"error": "metrics are served to local callers only"})
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def app(self):
        from aiohttp import web

        app = web.Application(client_max_size=self.cfg.max_body_bytes)
        app.router.add_post("/v1/records", self.handle_post)
        app.router.add_get("/healthz", self.handle_health)
        app.router.add_get("/metrics", self.handle_metrics)
        return app


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


async def serve(cfg: IngestConfig, stop: asyncio.Event, on_ready=None) -> Ingest:
    """Run until ``stop``; then stop taking posts, finish the ones in flight, flush the producer."""
    from aiohttp import web

    tls = server_context(cfg.tls_cert, cfg.tls_key)  # a bad file stops us before Kafka is touched
    ingest = Ingest(cfg)
    await ingest.start()
    runner = web.AppRunner(ingest.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=tls)
    try:
        await site.start()
        if on_ready:
            on_ready(runner.addresses)
        await stop.wait()
    finally:
        await runner.cleanup()  # closes the listener, waits for running handlers
        await ingest.stop()
    return ingest
