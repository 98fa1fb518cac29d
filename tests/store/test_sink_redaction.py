"""PII never reaches the store: the real sink, the real broker, SQLite and PostgreSQL.

A turn, a score's rationale and quote, an alert's evidence and message and an ack's
note, each carrying an English name, a phone number, an e-mail address and a Chinese
name and phone, go through Kafka into the sink. With redaction on (the default) no
row of any table holds them (turns, prediction_items, alerts, alert_acks and the
events journal included); with ``--no-redact`` they are stored as sent.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import text

from store.db import make_engine, upgrade
from store.models import Base
from store.settings import StoreSettings
from store.sink import Sink
from streams.broker import ensure_topics
from streams.contracts import ChatTurn, Quote
from streams.topics import spec
from tests.kafka_helpers import produce

from .factories import T0, ack, alert, score, session_events
from .sinkkit import RunningSink, make_topics, wait_for

pytestmark = pytest.mark.integration

PII = {
    "name": "Sarah Miller",
    "phone": "415-555-0132",
    "email": "sarah.m@example.com",
    "zh_name": "张伟",
    "zh_phone": "13812345678",
}
SAID = (f"My name is {PII['name']}, call {PII['phone']} or write to {PII['email']}. "
        f"我叫{PII['zh_name']}，电话{PII['zh_phone']}。")


def events(sid: str) -> dict[str, list]:
    s = score(sid, "early", 4.0)
    s = s.model_copy(update={"items": [s.items[0].model_copy(update={
        "rationale": SAID, "quotes": [Quote(text=SAID, verified=True)]})] + s.items[1:]})
    a = alert(sid)
    a = a.model_copy(update={"message": SAID, "evidence": [a.evidence[0].model_copy(update={
        "rationale": SAID, "note": SAID, "quotes": [Quote(text=SAID, verified=True)]})]})
    turn = ChatTurn(session_id=sid, turn_id=0, speaker="client", text=SAID, sent_at=T0 + timedelta(minutes=1),
                    counselor_id="c-1")
    return {"sessions": session_events(sid), "turns": [turn], "scores": [s], "alerts": [a],
            "acks": [ack(a).model_copy(update={"note": SAID})]}


def every_row(engine) -> str:
    """All rows of all the store's tables as one text (every column, JSON included)."""
    with engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for t in Base.metadata.sorted_tables
                         for row in conn.execute(text(f"SELECT * FROM {t.name}")))


def stored_everything(engine) -> bool:
    with engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("turns", "predictions", "alerts", "alert_acks")]
    return all(counts)


@pytest.mark.parametrize("redact", [True, False], ids=["redacted", "no-redact"])
async def test_pii_is_redacted_in_every_stored_column_unless_turned_off(kafka_bootstrap, unique, db_url, redact):
    suffix = f".red{unique}{int(redact)}"
    topics = dataclasses.replace(make_topics(kafka_bootstrap, suffix), turns=f"chat.turns{suffix}")
    turns_spec = dataclasses.replace(spec("chat.turns"), name=topics.turns, partitions=1)
    ensure_topics(kafka_bootstrap, [turns_spec, dataclasses.replace(spec("chat.turns.dlq"), name=turns_spec.dlq,
                                                                    partitions=1)])
    sid = f"red-{unique}"
    for kind, evs in events(sid).items():
        produce(kafka_bootstrap, getattr(topics, kind), [(sid, e) for e in evs])
    upgrade(db_url)
    engine = make_engine(db_url)
    settings = StoreSettings(db_url=db_url, store_turns=True, turns_retention_days=None, redact=redact)
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-red-{unique}-{redact}", settings=settings)
    async with RunningSink(sink):
        await wait_for(lambda: stored_everything(engine), what="every kind of event to be stored")
    rows = every_row(engine)
    with engine.connect() as conn:
        columns = {
            "turns.text": conn.execute(text("SELECT text FROM turns")).scalar_one(),
            "prediction_items.rationale": conn.execute(text(
                "SELECT rationale FROM prediction_items WHERE item_id = 'Q1'")).scalar_one(),
            "prediction_items.quotes": str(conn.execute(text(
                "SELECT quotes FROM prediction_items WHERE item_id = 'Q1'")).scalar_one()),
            "alerts.evidence": str(conn.execute(text("SELECT evidence FROM alerts")).scalar_one()),
            "alerts.message": conn.execute(text("SELECT message FROM alerts")).scalar_one(),
            "alert_acks.note": conn.execute(text("SELECT note FROM alert_acks")).scalar_one(),
            "events.data": " ".join(str(r[0]) for r in conn.execute(text("SELECT data FROM events"))),
        }
    engine.dispose()
    if redact:
        for value in PII.values():
            assert value not in rows, f"{value!r} was stored"
        for column, value in columns.items():
            assert "[NAME]" in value and "[PHONE]" in value, column
        assert "[EMAIL]" in columns["turns.text"] and "[EMAIL]" in columns["events.data"]
        assert sink.stats.redacted["email"] >= 5 and sink.stats.redacted["name"] >= 10
    else:
        for column, value in columns.items():
            assert PII["name"] in value and PII["phone"] in value, column
        assert PII["zh_name"] in columns["turns.text"] and PII["email"] in columns["events.data"]
        assert sink.stats.redacted == {}
