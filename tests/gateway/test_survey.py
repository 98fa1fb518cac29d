"""Survey links and the survey websocket through a real gateway and the real broker."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import orjson
import pytest
from websockets.asyncio.client import connect

from gateway.auth import verify_token
from gateway.client_messages import parse_hello
from gateway.errors import LinkError, ProtocolError, TokenError
from gateway.survey import SurveyDesk, link_url, mint_link, survey_key, verify_link
from gateway.survey_publisher import link_for_session
from streams.broker import ensure_topics
from streams.codec import decode
from streams.contracts import ITEM_IDS, SRS_ITEM_IDS, ClientRating, SessionEvent
from streams.topics import spec
from tests.gateway.conftest import SECRET, open_client, supervisor_token
from tests.kafka_helpers import consume_all

KEY = survey_key(SECRET, env={})
NOW = 1_750_000_000.0  # a fixed past instant: event times may not lie in the future
ALL_FOUR = {i: 4 for i in ITEM_IDS}


def test_a_link_verifies_and_carries_session_language_instrument():
    token, claims = mint_link(KEY, session_id="s-1", lang="zh", instrument="srs", ttl_s=3600, now=NOW)
    got = verify_link(KEY, token, now=NOW + 10)
    assert got == claims and (got.session_id, got.lang, got.instrument) == ("s-1", "zh", "srs")
    assert link_url("https://gw.example.org/", token) == f"https://gw.example.org/survey#t={token}"


def test_expired_and_tampered_links_are_refused_with_their_kind():
    token, _ = mint_link(KEY, session_id="s-1", ttl_s=60, now=NOW)
    with pytest.raises(LinkError) as err:
        verify_link(KEY, token, now=NOW + 60)
    assert err.value.kind == "expired"
    body, sig = token.split(".")
    other, _ = mint_link(KEY, session_id="s-2", ttl_s=60, now=NOW)
    # a changed character inside the signature (the last base64 character may carry padding bits
    # a lenient decoder ignores, so tampering there can decode to the same bytes)
    tampered = sig[:5] + ("B" if sig[5] != "B" else "C") + sig[6:]
    for forged in (other.split(".")[0] + "." + sig, body + "." + tampered, body, "", "x.y"):
        with pytest.raises(LinkError) as err:
            verify_link(KEY, forged, now=NOW)
        assert err.value.kind == "invalid"


def test_a_gateway_token_is_never_a_survey_link_and_vice_versa():
    from gateway.auth import issue_token

    gw_token = issue_token(SECRET, role="supervisor", all_groups=True, now=NOW)
    with pytest.raises(LinkError):
        verify_link(KEY, gw_token, now=NOW)
    link, _ = mint_link(KEY, session_id="s-1", now=NOW)
    with pytest.raises(TokenError):
        verify_token(SECRET, link, now=NOW)
    # even a link signed with the gateway secret itself is refused by its purpose claim... and the board refuses it
    same_key_link, _ = mint_link(SECRET, session_id="s-1", now=NOW)
    with pytest.raises(ProtocolError):
        parse_hello(orjson.dumps({"type": "hello", "token": same_key_link}), SECRET, NOW)
    assert survey_key(SECRET, env={"ALLIANCE_SURVEY_SECRET": "another-secret-of-32-bytes-xxxxx"}) != KEY


def test_the_desk_turns_a_submission_into_a_rating_once():
    desk = SurveyDesk(KEY)
    token, claims = mint_link(KEY, session_id="s-1", lang="en", now=NOW)
    form = desk.open(token, NOW)
    assert form["type"] == "form" and [i["id"] for i in form["items"]] == list(ITEM_IDS)
    assert form["items"][0]["options"][0]["label"] == "1 · Seldom"
    reply, none = desk.submit(token, {"Q1": 4}, NOW)
    assert none is None and reply["code"] == "answers" and "missing Q2" in reply["message"]
    reply, rating = desk.submit(token, ALL_FOUR, NOW)
    assert reply == {"type": "thanks"} and rating.link_id == claims.link_id and rating.source == "survey"
    assert rating.rating_id == f"survey:{claims.link_id}" and rating.session_id == "s-1"
    # while publishing is pending, and after, the link is spent
    assert desk.submit(token, ALL_FOUR, NOW)[0]["reason"] == "used"
    desk.release(claims.link_id)  # publishing failed: the client may try again
    assert desk.submit(token, ALL_FOUR, NOW)[1] is not None
    desk.mark_used(claims.link_id)
    assert desk.open(token, NOW)["reason"] == "used"


def test_the_publisher_makes_the_same_link_for_the_same_ended_session():
    from datetime import datetime, timezone

    end = SessionEvent(session_id="s-9", kind="ended", at=datetime.fromtimestamp(NOW, timezone.utc),
                       counselor_id="c-1", lang="zh")
    a = link_for_session(KEY, end, "https://gw.example.org", ttl_s=3600)
    b = link_for_session(KEY, end, "https://gw.example.org", ttl_s=3600)
    assert a.url == b.url and a.link_id == b.link_id and a.lang == "zh"
    claims = verify_link(KEY, a.url.split("#t=")[1], now=NOW + 1)
    assert claims.session_id == "s-9" and claims.lang == "zh"
    assert link_for_session(KEY, end.model_copy(update={"kind": "started"}), "https://x.org") is None


# --- through the real gateway ------------------------------------------------------------------


def ratings_topic(bootstrap: str, unique: str) -> str:
    s = dataclasses.replace(spec("chat.ratings"), name=f"chat.ratings.sv{unique}", partitions=2)
    ensure_topics(bootstrap, [s])
    return s.name


async def ask(gw, *messages) -> list[dict]:
    async with connect(gw.http_url.replace("http", "ws") + "/survey/ws") as ws:
        out = []
        for m in messages:
            await ws.send(orjson.dumps(m).decode())
            out.append(orjson.loads(await asyncio.wait_for(ws.recv(), 30)))
        return out


@pytest.mark.integration
async def test_submit_once_and_a_restarted_gateway_still_knows_the_link_is_used(make_gateway, kafka_bootstrap,
                                                                                unique):
    topic = ratings_topic(kafka_bootstrap, unique)
    gw = await make_gateway(ratings_topic=topic)
    sid = f"s-{unique}"
    token, claims = mint_link(KEY, session_id=sid, lang="zh", instrument="srs")
    board = await open_client(gw, supervisor_token(all_groups=True))
    form, bad, thanks, again = await ask(
        gw, {"type": "open", "token": token},
        {"type": "submit", "token": token, "answers": {i: 11 for i in SRS_ITEM_IDS}},
        {"type": "submit", "token": token, "answers": {i: 7 for i in SRS_ITEM_IDS}},
        {"type": "submit", "token": token, "answers": {i: 7 for i in SRS_ITEM_IDS}})
    assert form["type"] == "form" and form["lang"] == "zh" and form["items"][0]["text"].startswith("今天")
    assert bad["type"] == "error" and "relationship=11 is outside 0..10" in bad["message"]
    assert thanks == {"type": "thanks"}
    assert again["type"] == "refused" and again["reason"] == "used"
    recs = await consume_all(kafka_bootstrap, topic, expect=1)
    rating = decode(ClientRating, recs[0].value)
    assert recs[0].key == sid.encode() and rating.answers == {i: 7 for i in SRS_ITEM_IDS}
    assert rating.link_id == claims.link_id and rating.lang == "zh"

    # the board connection got nothing of the rating
    frames = []
    try:
        while True:
            frames.append(await asyncio.wait_for(board.recv(), 1.0))
    except asyncio.TimeoutError:
        pass
    await board.close()
    assert not any(rating.rating_id in f or '"answers"' in f for f in frames)

    # a new gateway rebuilds the used links from the topic
    await gw.stop()
    gw2 = await make_gateway(ratings_topic=topic)
    (refused,) = await ask(gw2, {"type": "open", "token": token})
    assert refused["reason"] == "used"
    expired, _ = mint_link(KEY, session_id=sid, ttl_s=1, now=time.time() - 5)
    forged = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    r1, r2, r3 = await ask(gw2, {"type": "open", "token": expired}, {"type": "open", "token": forged},
                           {"type": "nonsense"})
    assert (r1["reason"], r2["reason"], r3["type"]) == ("expired", "invalid", "error")
    health = orjson.loads(await asyncio.to_thread(_get, gw2.http_url + "/healthz"))
    assert health["survey"]["used_links"] >= 1


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


@pytest.mark.integration
async def test_publish_links_for_ended_sessions_through_the_broker(kafka_bootstrap, unique):
    from datetime import datetime, timezone

    from gateway.survey_publisher import LinkPublisher
    from streams.contracts import SurveyLink

    sessions = dataclasses.replace(spec("chat.sessions"), name=f"chat.sessions.pl{unique}", partitions=2)
    links = dataclasses.replace(spec("chat.survey_links"), name=f"chat.survey_links.pl{unique}", partitions=2)
    ensure_topics(kafka_bootstrap, [sessions, links])
    now = datetime.now(timezone.utc)
    started = SessionEvent(session_id=f"a-{unique}", kind="started", at=now, counselor_id="c-1", lang="zh")
    ended = started.model_copy(update={"kind": "ended"})
    old_end = SessionEvent(session_id=f"old-{unique}", kind="ended", at=datetime(2020, 1, 1, tzinfo=timezone.utc),
                           counselor_id="c-1")
    from tests.kafka_helpers import produce

    produce(kafka_bootstrap, sessions.name, [(e.session_id, e) for e in (started, ended, old_end)]
            + [(f"a-{unique}", b"garbage")])
    pub = LinkPublisher(kafka_bootstrap, KEY, "https://gw.example.org", sessions_topic=sessions.name,
                        links_topic=links.name, group_id=f"links-{unique}")
    stop = asyncio.Event()
    task = asyncio.create_task(pub.run(stop))
    recs = await consume_all(kafka_bootstrap, links.name, expect=1, timeout=60)
    stop.set()
    stats = await asyncio.wait_for(task, 30)
    link = decode(SurveyLink, recs[0].value)
    assert link.session_id == f"a-{unique}" and link.lang == "zh" and link.url.startswith("https://gw.example.org/survey#t=")
    claims = verify_link(KEY, link.url.split("#t=")[1])
    assert claims.session_id == f"a-{unique}" and claims.link_id == link.link_id
    assert (stats.ended, stats.published, stats.skipped_expired, stats.skipped_bad) == (2, 1, 1, 1)


def _produce_sourced(bootstrap: str, topic: str, records) -> None:
    """(event, source) pairs, each keyed by its session and stamped with its source header, as ingest does."""
    from kafka import KafkaProducer

    from streams.codec import encode
    from streams.topics import SOURCE_HEADER

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_in_flight_requests_per_connection=1)
    try:
        for ev, source in records:
            producer.send(topic, key=ev.session_id.encode(), value=encode(ev), headers=[(SOURCE_HEADER, source)])
        producer.flush()
    finally:
        producer.close()


@pytest.mark.integration
async def test_only_the_owners_ended_mints_a_link_even_after_a_restart(kafka_bootstrap, unique):
    """Issue 21: the publisher minted a link on any `ended`. A forged `ended` from another (trusted) platform
    mints nothing and is counted, before and after the publisher restarts from its committed offset (it
    re-reads the topic to learn the owners); the owner's own `ended` still mints exactly one link each."""
    from datetime import datetime, timezone

    from gateway.survey_publisher import LinkPublisher
    from streams.contracts import SurveyLink

    sessions = dataclasses.replace(spec("chat.sessions"), name=f"chat.sessions.own{unique}", partitions=2)
    links = dataclasses.replace(spec("chat.survey_links"), name=f"chat.survey_links.own{unique}", partitions=2)
    ensure_topics(kafka_bootstrap, [sessions, links])
    now = datetime.now(timezone.utc)
    one, two = (SessionEvent(session_id=f"{n}-{unique}", kind="started", at=now, counselor_id="c-1", lang="en")
                for n in ("one", "two"))
    end = lambda ev: ev.model_copy(update={"kind": "ended"})  # noqa: E731
    a, b = b"platform-a", b"platform-b"
    trusted = frozenset({"platform-a", "platform-b"})

    async def run_publisher(expect_links: int) -> tuple[list, object]:
        pub = LinkPublisher(kafka_bootstrap, KEY, "https://gw.example.org", sessions_topic=sessions.name,
                            links_topic=links.name, group_id=f"links-{unique}", trusted_sources=trusted)
        stop = asyncio.Event()
        task = asyncio.create_task(pub.run(stop))
        try:
            recs = await consume_all(kafka_bootstrap, links.name, expect=expect_links, timeout=60)
            deadline = time.monotonic() + 30
            while pub.stats.refused + pub.stats.published < 2:  # both ended records of this round judged
                assert time.monotonic() < deadline, pub.stats
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            stats = await asyncio.wait_for(task, 30)
        return recs, stats

    _produce_sourced(kafka_bootstrap, sessions.name, [(one, a), (two, a), (end(one), b), (end(two), a)])
    recs, stats = await run_publisher(expect_links=1)
    assert [decode(SurveyLink, r.value).session_id for r in recs] == [two.session_id]
    assert (stats.published, stats.refused) == (1, 1)

    # restarted: it resumes after its commit, so it never saw the `started` records... unless it re-reads them
    _produce_sourced(kafka_bootstrap, sessions.name, [(end(two), b), (end(one), a)])
    recs, stats = await run_publisher(expect_links=2)
    assert sorted(decode(SurveyLink, r.value).session_id for r in recs) == sorted([one.session_id, two.session_id])
    assert (stats.published, stats.refused) == (1, 1)  # `two` not minted again; the forged end refused


def test_survey_link_command_prints_a_url_the_gateway_accepts(capsys, monkeypatch):
    from alliance_monitor.cli import main

    monkeypatch.setenv("ALLIANCE_GATEWAY_SECRET", SECRET.decode())
    monkeypatch.delenv("ALLIANCE_SURVEY_SECRET", raising=False)
    assert main(["survey", "link", "--session", "s-42", "--lang", "zh", "--instrument", "srs", "--ttl", "2h",
                 "--base-url", "https://gw.example.org/"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://gw.example.org/survey#t=")
    claims = verify_link(KEY, url.split("#t=")[1])
    assert (claims.session_id, claims.lang, claims.instrument) == ("s-42", "zh", "srs")
    assert 7100 < claims.expires_at - claims.issued_at <= 7200
    for bad in (["--ttl", "8d"], ["--session", " x "]):
        args = ["survey", "link", "--session", "s", "--lang", "en", *bad]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("alliance-monitor: ") and len(err.splitlines()) == 1
    monkeypatch.delenv("ALLIANCE_GATEWAY_SECRET")
    assert main(["survey", "link", "--session", "s", "--lang", "en"]) == 2
    assert "ALLIANCE_GATEWAY_SECRET" in capsys.readouterr().err


def test_with_rotating_token_keys_the_command_and_the_gateway_share_the_survey_key(capsys, monkeypatch):
    """ALLIANCE_GATEWAY_KEYS (no single secret): `survey link` and the gateway derive the link key
    from the same signing key, so a printed link opens the survey on a gateway with those keys."""
    from alliance_monitor.cli import main
    from gateway.auth import KeyRing, keyring_from_env
    from gateway.server import Gateway, GatewayConfig

    assert survey_key(KeyRing.single(SECRET), env={}) == KEY  # one secret: the same key as before
    monkeypatch.delenv("ALLIANCE_GATEWAY_SECRET", raising=False)
    monkeypatch.delenv("ALLIANCE_SURVEY_SECRET", raising=False)
    monkeypatch.delenv("ALLIANCE_GATEWAY_REVOKED", raising=False)
    monkeypatch.setenv("ALLIANCE_GATEWAY_KEYS", "old=old-secret-0123456789abcdef,new=new-secret-0123456789abcdef")
    monkeypatch.setenv("ALLIANCE_GATEWAY_SIGNING_KEY", "new")
    assert main(["survey", "link", "--session", "s-7", "--lang", "en", "--base-url", "https://gw.example.org"]) == 0
    token = capsys.readouterr().out.strip().split("#t=")[1]
    gateway = Gateway(GatewayConfig(secret=keyring_from_env()))
    assert gateway.survey.open(token, time.time())["type"] == "form"
    assert survey_key(b"new-secret-0123456789abcdef", env={}) == survey_key(keyring_from_env(), env={})
    assert survey_key(b"old-secret-0123456789abcdef", env={}) != survey_key(keyring_from_env(), env={})


def test_publish_links_runs_as_a_service_with_health_and_a_clean_sigterm(private_kafka):
    """How compose and Kubernetes run it: a health endpoint that says ready, and SIGTERM exits 0."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from streams.broker import free_port

    port = free_port()
    env = dict(os.environ, KAFKA_BOOTSTRAP=private_kafka, ALLIANCE_GATEWAY_SECRET=SECRET.decode(), PYTHONUNBUFFERED="1")
    env.pop("ALLIANCE_SURVEY_SECRET", None)
    proc = subprocess.Popen([sys.executable, "-m", "alliance_monitor.cli", "survey", "publish-links", "--base-url",
                             "https://gw.example.org", "--health-port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status != 200:
            assert proc.poll() is None, proc.stderr.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    status = resp.status
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        assert status == 200, "publish-links never reported ready on /healthz"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "survey links stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
