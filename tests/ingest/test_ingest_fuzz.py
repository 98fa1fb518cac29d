"""The hostile corpus posted to the real ingest endpoint: each record answered as its written verdict says.

One thin pass through the real shell (HTTP on loopback, the shared broker); the pure
checks of the same records are in tests/streams/test_fuzz_verdicts.py.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from tests.ingest.test_ingest import Server
from tests.streams.fuzz_corpus import corpus

pytestmark = pytest.mark.integration


async def test_each_hostile_record_is_accepted_or_rejected_as_written(kafka_bootstrap):
    cases = []
    for topic in ("chat.turns", "chat.sessions"):
        for case in corpus(f"ing-{uuid.uuid4().hex[:6]}")[topic]:
            try:
                record = orjson.loads(case.raw)
            except orjson.JSONDecodeError:
                continue  # a body that is not JSON is refused whole (HTTP 400), covered in test_ingest.py
            if isinstance(record, dict):
                cases.append((record, case))
    assert len(cases) >= 150
    async with Server(kafka_bootstrap) as server:
        for start in range(0, len(cases), 100):
            batch = cases[start:start + 100]
            status, _, body = await server.post([record for record, _ in batch])
            assert status in (200, 422), body
            for (_, case), result in zip(batch, body["results"], strict=True):
                verdict = "reject" if result["status"] == "rejected" else "accept"
                assert verdict == case.verdict, (case.why, result)
