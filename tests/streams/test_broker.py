"""The embedded broker is a real Kafka-protocol broker: produce, consume, keyed and ordered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from streams.broker import EmbeddedBroker, api_versions_ok, kafka_bootstrap, split_bootstrap
from streams.codec import decode
from streams.contracts import ChatTurn
from streams.errors import BrokerError
from tests.kafka_helpers import consume_all_sync, produce

pytestmark = pytest.mark.integration


def test_start_answer_protocol_and_stop():
    broker = EmbeddedBroker().start()
    host, port = split_bootstrap(broker.bootstrap)
    assert api_versions_ok(host, port)
    broker.stop()
    assert not broker.alive()
    assert not api_versions_ok(host, port, timeout=0.3)


def test_protocol_probe_rejects_a_non_kafka_port():
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def answer_garbage():
        conn, _ = srv.accept()
        conn.recv(100)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    t = threading.Thread(target=answer_garbage, daemon=True)
    t.start()
    assert not api_versions_ok("127.0.0.1", srv.getsockname()[1])
    srv.close()


def test_missing_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TANSU_BIN", str(tmp_path / "nope"))
    with pytest.raises((BrokerError, FileNotFoundError)):
        EmbeddedBroker().start(timeout=2)


def test_kafka_bootstrap_prefers_the_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "kafka.example:9092")
    with kafka_bootstrap() as bs:
        assert bs == "kafka.example:9092"


def test_kafka_bootstrap_starts_and_stops_its_own(monkeypatch, tmp_path):
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("ALLIANCE_STATE_DIR", str(tmp_path))
    with kafka_bootstrap(embedded=True) as bs:
        host, port = split_bootstrap(bs)
        assert api_versions_ok(host, port)
    assert not api_versions_ok(host, port, timeout=0.3)


def test_kafka_bootstrap_without_the_setting_fails_unless_asked(monkeypatch, tmp_path):
    """A production part never starts a private broker on its own: one line, exit 2 (a StreamsError)."""
    from alliance_monitor.cli import main

    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("ALLIANCE_STATE_DIR", str(tmp_path))
    with pytest.raises(BrokerError, match=r"KAFKA_BOOTSTRAP is not set.*--embedded-broker"):
        with kafka_bootstrap():
            pass
    assert main(["topics", "--create"]) == 2


def test_produce_consume_keyed_and_ordered_per_session(kafka_bootstrap, unique):
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    sessions = [f"s-{unique}-{i}" for i in range(5)]
    records = []
    for n in range(20):
        for s in sessions:
            turn = ChatTurn(session_id=s, turn_id=n, speaker="client" if n % 2 else "counselor", text=f"m{n}",
                            sent_at=t0 + timedelta(seconds=n), counselor_id="c")
            records.append((s, turn))
    produce(kafka_bootstrap, "chat.turns", records)
    got = consume_all_sync(kafka_bootstrap, "chat.turns", expect=100,
                           where=lambda r: r.key and r.key.decode().startswith(f"s-{unique}-"))
    assert len(got) == 100
    by_session: dict[str, list[int]] = {}
    partitions: dict[str, set[int]] = {}
    for r in got:
        turn = decode(ChatTurn, r.value)
        assert r.key.decode() == turn.session_id
        by_session.setdefault(turn.session_id, []).append(turn.turn_id)
        partitions.setdefault(turn.session_id, set()).add(r.partition)
    for s in sessions:
        assert by_session[s] == list(range(20)), "turns of one session must stay in order"
        assert len(partitions[s]) == 1, "one session's events stay on one partition"


def test_partition_disagreements_are_the_topics_off_the_count():
    from streams.broker import disagreement_line, partition_disagreements

    found = partition_disagreements({"chat.turns": 12, "alliance-processor-sessions-changelog": 4, "x": 12}, 12)
    assert found == {"alliance-processor-sessions-changelog": 4}
    line = disagreement_line(found, 12)
    assert "\n" not in line and "alliance-processor-sessions-changelog has 4" in line and "runbook" in line


def test_mismatched_partitions_stop_topics_and_the_processor_with_one_line(monkeypatch, tmp_path, capsys):
    """topics at 3 partitions, a changelog left at 2 by an earlier run: `topics --check` and the processor
    say so in one line (exit 2) instead of the processor dead-lettering every record."""
    from alliance_monitor.cli import main
    from streams.broker import ensure_topics
    from streams.topics import TopicSpec

    monkeypatch.setenv("ALLIANCE_STATE_DIR", str(tmp_path))
    with EmbeddedBroker() as broker:
        monkeypatch.setenv("KAFKA_BOOTSTRAP", broker.bootstrap)
        monkeypatch.setenv("ALLIANCE_PARTITIONS", "3")
        assert main(["topics", "--create"]) == 0
        assert main(["topics", "--check"]) == 0
        capsys.readouterr()
        monkeypatch.setenv("ALLIANCE_PARTITIONS", "4")  # the operator changed the count: existing topics differ
        assert main(["topics", "--create"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "chat.turns has 3" in err and "ALLIANCE_PARTITIONS=4" in err
        monkeypatch.setenv("ALLIANCE_PARTITIONS", "3")
        changelog = "alliance-processor-sessions-changelog"
        ensure_topics(broker.bootstrap, [TopicSpec(changelog, ChatTurn, 3600_000, False, "left by a run", partitions=2)])
        assert main(["topics", "--check"]) == 2
        assert f"{changelog} has 2" in capsys.readouterr().err
        assert main(["process"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{changelog} has 2" in err[0] and "chat.turns" not in err[0], err


def test_the_fix_for_a_topic_off_the_count_is_the_command_that_fits_it():
    from streams.broker import partition_fix

    assert partition_fix("chat.turns", 3, 4) == "kafka-topics.sh --alter --topic chat.turns --partitions 4"
    assert "ALLIANCE_PARTITIONS=6" in partition_fix("chat.turns", 6, 4)  # Kafka cannot shrink
    assert partition_fix("alliance-processor-texts-changelog", 2, 4).startswith(
        "kafka-topics.sh --delete --topic alliance-processor-texts-changelog")
