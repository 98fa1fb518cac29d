"""Kafka security settings: the pure mapping, every client going through it, and TLS for real.

SASL is checked as a mapping only: the embedded broker (Tansu 0.6) accepts SCRAM only for
users created beforehand, which its in-memory storage cannot keep (docs/security-and-operations.md).
"""

from __future__ import annotations

import ast
import asyncio
import os
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from streams.errors import KafkaSecurityError
from streams.kafka_security import (
    CAFILE_ENV,
    MECHANISM_ENV,
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    PROTOCOL_ENV,
    USERNAME_ENV,
    KafkaSecurity,
    client_kwargs,
    faust_kwargs,
    security_from_env,
)
from tests.tls_helpers import TlsTerminator, make_pki

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("alliance_monitor", "streams", "scoring", "gateway", "store", "validation", "ingest", "training",
            "migrations")
CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "AIOKafkaClient", "KafkaConsumer",
           "KafkaProducer", "KafkaAdminClient", "KafkaClient"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("kafka-pki")
    return make_pki(d, "kafka"), make_pki(d, "other")


# -- the pure mapping ------------------------------------------------------------------------------


def test_plaintext_adds_nothing():
    assert security_from_env({}) == KafkaSecurity()
    assert client_kwargs(security_from_env({})) == {} and faust_kwargs(security_from_env({})) == {}


def test_sasl_ssl_maps_to_credentials_and_a_verifying_context(pki):
    ca = pki[0].ca
    sec = security_from_env({PROTOCOL_ENV: "sasl_ssl", MECHANISM_ENV: "scram-sha-256", USERNAME_ENV: "scorer",
                             PASSWORD_ENV: "s3cret-pw", CAFILE_ENV: str(ca)})
    kw = client_kwargs(sec)
    ctx = kw.pop("ssl_context")
    assert kw == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
                  "sasl_plain_username": "scorer", "sasl_plain_password": "s3cret-pw"}
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert any(dict(x[0] for x in c["subject"]).get("commonName") == "kafka CA" for c in ctx.get_ca_certs())
    assert "s3cret-pw" not in repr(sec)


def test_faust_gets_the_same_through_its_own_driver(pki):
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    env = {PROTOCOL_ENV: "SASL_SSL", USERNAME_ENV: "processor", PASSWORD_ENV: "pw-0123", CAFILE_ENV: str(pki[0].ca)}
    auth = credentials_to_aiokafka_auth(faust_kwargs(security_from_env(env))["broker_credentials"])
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("processor", "pw-0123")
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    plain = faust_kwargs(security_from_env({**env, PROTOCOL_ENV: "SASL_PLAINTEXT", CAFILE_ENV: ""}))
    assert credentials_to_aiokafka_auth(plain["broker_credentials"])["security_protocol"] == "SASL_PLAINTEXT"
    ssl_only = faust_kwargs(security_from_env({PROTOCOL_ENV: "SSL", CAFILE_ENV: str(pki[0].ca)}))
    assert credentials_to_aiokafka_auth(ssl_only["broker_credentials"])["security_protocol"] == "SSL"


def test_the_password_can_come_from_a_file(tmp_path):
    secret = tmp_path / "kafka-password"
    secret.write_text("from-a-mounted-secret\n")
    sec = security_from_env({PROTOCOL_ENV: "SASL_PLAINTEXT", USERNAME_ENV: "sink", PASSWORD_FILE_ENV: str(secret)})
    assert client_kwargs(sec) == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                                  "sasl_plain_username": "sink", "sasl_plain_password": "from-a-mounted-secret"}


@pytest.mark.parametrize("env, message", [
    ({PROTOCOL_ENV: "TLS"}, "KAFKA_SECURITY_PROTOCOL must be one of"),
    ({PROTOCOL_ENV: "SASL_SSL", PASSWORD_ENV: "pw"}, "needs KAFKA_SASL_USERNAME"),
    ({PROTOCOL_ENV: "SASL_SSL", USERNAME_ENV: "u"}, "needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE"),
    ({PROTOCOL_ENV: "SASL_SSL", USERNAME_ENV: "u", PASSWORD_ENV: "pw", PASSWORD_FILE_ENV: "/x"}, "not both"),
    ({PROTOCOL_ENV: "SASL_SSL", USERNAME_ENV: "u", PASSWORD_ENV: "pw", MECHANISM_ENV: "GSSAPI"}, "must be one of"),
    ({PROTOCOL_ENV: "SASL_SSL", USERNAME_ENV: "u", PASSWORD_FILE_ENV: "/no/such/file"}, "/no/such/file"),
    ({CAFILE_ENV: "/etc/ca.pem"}, "does not use TLS"),
    ({USERNAME_ENV: "u", PASSWORD_ENV: "pw"}, "does not use SASL"),
])
def test_bad_settings_are_one_line_and_never_show_the_password(env, message):
    with pytest.raises(KafkaSecurityError) as err:
        security_from_env(env)
    assert message in str(err.value) and "\n" not in str(err.value) and "pw" not in str(err.value).split()


def test_an_unreadable_ca_is_one_line(tmp_path):
    from streams.errors import TlsError

    with pytest.raises(TlsError, match="cannot load the CA file"):
        client_kwargs(security_from_env({PROTOCOL_ENV: "SSL", CAFILE_ENV: str(tmp_path / "missing.pem")}))


def test_the_embedded_broker_refuses_a_secure_protocol(monkeypatch):
    from streams.broker import kafka_bootstrap
    from streams.errors import BrokerError

    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv(PROTOCOL_ENV, "SSL")
    with pytest.raises(BrokerError, match="needs KAFKA_BOOTSTRAP"):
        with kafka_bootstrap(embedded=True):
            pass


# -- every client goes through the helper ----------------------------------------------------------


def _client_calls() -> list[tuple[str, int, str, ast.Call]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    f = node.func
                    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                    if name in CLIENTS or (name == "App" and isinstance(f, ast.Attribute)
                                           and isinstance(f.value, ast.Name) and f.value.id == "faust"):
                        out.append((str(path.relative_to(ROOT)), node.lineno, name, node))
    return out


def _helper_names(path: str) -> set[str]:
    """Names bound to ``kafka_security()`` in ``path`` (e.g. ``security = kafka_security()``)."""
    names = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                getattr(node.value.func, "id", "") == "kafka_security":
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_no_kafka_client_is_built_without_the_security_settings():
    calls = _client_calls()
    assert len(calls) >= 15, f"the scan found too few clients to be looking in the right place: {len(calls)}"
    missing = []
    for path, line, name, call in calls:
        helper = "faust_security" if name == "App" else "kafka_security"
        splats = [kw.value for kw in call.keywords if kw.arg is None]
        ok = any((isinstance(v, ast.Call) and getattr(v.func, "id", "") == helper)
                 or (isinstance(v, ast.Name) and v.id in _helper_names(path)) for v in splats)
        if not ok:
            missing.append(f"{path}:{line} {name}(...) without **{helper}()")
    assert not missing, "\n".join(missing)


# -- TLS for real: the embedded broker behind a TLS terminator -------------------------------------


@pytest.fixture
def tls_broker(pki):
    """Tansu in clear on one port, advertised as a TLS port in front of it; yields the TLS bootstrap."""
    from streams.broker import api_versions_ok, free_port, tansu_binary

    inner, outer = free_port(), free_port()
    proc = subprocess.Popen([str(tansu_binary()), "broker", "--listener-url", f"tcp://127.0.0.1:{inner}",
                             "--advertised-listener-url", f"tcp://127.0.0.1:{outer}",
                             "--storage-engine", "memory://tansu/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    try:
        deadline = time.monotonic() + 20
        while not api_versions_ok("127.0.0.1", inner, timeout=0.5):
            assert time.monotonic() < deadline and proc.poll() is None, "broker did not start"
            time.sleep(0.05)
        with TlsTerminator(("127.0.0.1", inner), pki[0].cert, pki[0].key, outer) as front:
            yield f"127.0.0.1:{outer}", front
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.integration
async def test_admin_ingest_and_gateway_talk_to_kafka_over_tls(tls_broker, pki, monkeypatch):
    from gateway.server import Gateway, GatewayConfig
    from ingest.server import Ingest, IngestConfig
    from streams.broker import ensure_topics
    from streams.codec import encode
    from streams.errors import BrokerError
    from tests.gateway import events as ev
    from tests.gateway.conftest import SECRET, until_known

    bootstrap, front = tls_broker
    monkeypatch.setenv(PROTOCOL_ENV, "SSL")
    monkeypatch.setenv(CAFILE_ENV, str(pki[1].ca))  # a CA that did not sign the broker's certificate
    with pytest.raises(BrokerError, match="cannot reach Kafka"):
        await asyncio.to_thread(ensure_topics, bootstrap, None, 3.0)
    monkeypatch.setenv(CAFILE_ENV, str(pki[0].ca))
    created = await asyncio.to_thread(ensure_topics, bootstrap)  # kafka-python's admin client
    assert "chat.sessions" in created
    ingest = Ingest(IngestConfig(bootstrap=bootstrap, tokens={}))
    await ingest.start()  # aiokafka producer
    started = ev.started("tls-session", "c-tls", "ward-tls")
    try:
        meta = await ingest.producer.send_and_wait("chat.sessions", key=b"tls-session", value=encode(started))
        assert meta.offset >= 0
    finally:
        await ingest.stop()
    async with Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=bootstrap)) as gw:  # aiokafka consumers
        await asyncio.wait_for(gw.ready.wait(), 60)
        await until_known(gw, "tls-session")
        assert gw.hub.sessions["tls-session"].counselor_id == "c-tls"
    assert front.handshakes >= 3
