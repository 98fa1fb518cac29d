"""Client ratings in the store: revisions, idempotence, the real sink, DLQ, response rates."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from store.db import make_engine, upgrade
from store.models import Rating
from store.ratings import distributions, ratings, response_rates, wai_labels
from store.sink import Sink
from store.writes import write_events
from tests.kafka_helpers import consume_all, produce

from .factories import client_rating, session_events
from .sinkkit import RunningSink, make_topics, wait_for


def n_ratings(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Rating)).scalar_one()


def test_second_rating_is_a_revision_and_a_replay_adds_nothing(engine):
    first = client_rating("s-1", 2, minutes=55)
    second = client_rating("s-1", 5, minutes=70)
    srs = client_rating("s-1", 7, instrument="srs")
    for batch in ([first], [first, second], [second, srs], [first, second, srs]):
        with engine.begin() as conn:
            write_events(conn, batch)
    assert n_ratings(engine) == 3
    rows = ratings(engine, session_id="s-1", instrument="wai-sr")
    assert [(r.revision, r.answers["Q1"]) for r in rows] == [(1, 2), (2, 5)]
    latest = ratings(engine, latest_only=True)
    assert sorted((r.instrument, r.revision) for r in latest) == [("srs", 1), ("wai-sr", 2)]
    labels = wai_labels(engine)
    assert labels["s-1"].dimensions == {"goal": 5.0, "approach": 5.0, "bond": 5.0}  # latest wins
    assert labels["s-1"].items["Q12"] == 5.0


def test_a_used_survey_link_cannot_give_a_second_rating(engine):
    from sqlalchemy.exc import IntegrityError

    with engine.begin() as conn:
        write_events(conn, [client_rating("s-1", 3, source="survey", link_id="L1", rating_id="survey:L1")])
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            write_events(conn, [client_rating("s-1", 1, source="survey", link_id="L1", rating_id="other")])
    assert n_ratings(engine) == 1


def test_response_rate_and_distribution(engine):
    events = []
    for i, cid in enumerate(["c-a", "c-a", "c-a", "c-a", "c-b"]):
        events += session_events(f"s{i}", counselor=cid)
    events += [client_rating("s0", 5), client_rating("s1", 3), client_rating("s1", 4, minutes=90),
               client_rating("s4", 8, instrument="srs")]
    with engine.begin() as conn:
        write_events(conn, events)
    rates = {r.counselor_id: (r.rated, r.ended, r.rate) for r in response_rates(engine)}
    assert rates == {"c-a": (2, 4, 0.5), "c-b": (1, 1, 1.0)}
    wai = {r.counselor_id: r.rated for r in response_rates(engine, "wai-sr")}
    assert wai == {"c-a": 2, "c-b": 0}
    dist = {d.instrument: d for d in distributions(engine)}
    assert dist["wai-sr"].sessions == 2 and dist["wai-sr"].items["Q1"] == {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}
    assert sorted(dist["wai-sr"].dimension_means["bond"]) == [4.0, 5.0]
    assert dist["srs"].items["overall"][8] == 1 and sum(dist["srs"].items["overall"].values()) == 1


@pytest.mark.integration
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
async def test_ratings_through_the_real_sink_garbage_to_dlq_stream_goes_on(kafka_bootstrap, unique, db, request):
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    topics = make_topics(kafka_bootstrap, f".rate{unique}")
    upgrade(url)
    engine = make_engine(url)
    sid = f"s-{unique}"
    good = [client_rating(sid, 2), client_rating(sid, 4, minutes=80)]
    bad_range = orjson.loads(client_rating(sid, 3).model_dump_json())
    bad_range["answers"]["Q7"] = 9
    bad_missing = orjson.loads(client_rating(sid, 3).model_dump_json())
    del bad_missing["answers"]["Q1"]
    produce(kafka_bootstrap, topics.ratings, [(sid, good[0]), (sid, b"not json"), (sid, orjson.dumps(bad_range)),
                                             (sid, orjson.dumps(bad_missing)), (sid, good[1]), (sid, good[0])])
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-{unique}")
    async with RunningSink(sink):
        await wait_for(lambda: n_ratings(engine) == 2 and sink.stats.dead_lettered == 3, what="ratings stored")
        # the stream goes on after the garbage; a second rating from one survey link is refused by the store
        link_a = client_rating(sid, 5, instrument="srs", source="survey", link_id=f"L-{unique}", rating_id="a")
        link_b = client_rating(sid, 0, instrument="srs", source="survey", link_id=f"L-{unique}", rating_id="b")
        produce(kafka_bootstrap, topics.ratings, [(sid, link_a), (sid, link_b)])
        await wait_for(lambda: n_ratings(engine) == 3 and sink.stats.dead_lettered == 4,
                       what="the rating after the garbage")
    dlq = await consume_all(kafka_bootstrap, topics.ratings + ".dlq", expect=4)
    reasons = [orjson.loads(r.value)["reason"] for r in dlq]
    assert any(r.startswith("store refused the record: IntegrityError") for r in reasons)
    assert ratings(engine, session_id=sid, instrument="srs")[0].answers["overall"] == 5  # the first one kept
    assert any("not valid JSON" in r for r in reasons)
    assert any("Q7=9 is outside 1..5" in r for r in reasons)
    assert any("missing Q1" in r for r in reasons)
    assert [r.revision for r in ratings(engine, session_id=sid, instrument="wai-sr")] == [1, 2]
    # the journal (what browsers can be sent) never holds a rating
    with engine.connect() as conn:
        from store.models import Event

        assert conn.execute(select(func.count()).select_from(Event).where(Event.kind == "rating")).scalar_one() == 0
    engine.dispose()


def test_0003_adds_the_ratings_table_and_downgrades_to_0002(db_url):
    from store import db

    db.upgrade(db_url, "0002")
    engine = db.make_engine(db_url)
    try:
        assert "ratings" not in db.table_names(engine)
        db.upgrade(db_url, "0003")
        assert db.current_revision(engine) == "0003" and "ratings" in db.table_names(engine)
        db.downgrade(db_url, "0002")
        assert "ratings" not in db.table_names(engine) and "validation_records" in db.table_names(engine)
    finally:
        engine.dispose()
