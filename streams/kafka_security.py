"""How every Kafka client of the project authenticates and encrypts: settings -> client keyword arguments.

Why one place: the gateway feed, the scorer, the sink, the survey publisher, ingest,
the DLQ re-driver, replay (aiokafka / kafka-python), the topic admin and the Faust
processor each build their own client; a cluster that requires SASL_SSL must get
the same credentials and CA from all of them, and a test checks that no client is
built without going through here (tests/streams/test_kafka_security.py).

Settings (environment, part-wide):

* ``KAFKA_SECURITY_PROTOCOL``: ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``, ``SASL_SSL``
* ``KAFKA_SASL_MECHANISM``: ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512`` (default)
* ``KAFKA_SASL_USERNAME``; the password in ``KAFKA_SASL_PASSWORD`` or a file named by
  ``KAFKA_SASL_PASSWORD_FILE`` (a mounted secret; trailing newline ignored)
* ``KAFKA_SSL_CAFILE`` (the CA that signed the brokers' certificates; unset: the system CAs),
  ``KAFKA_SSL_CERTFILE`` / ``KAFKA_SSL_KEYFILE`` (a client certificate, for mutual TLS)

:func:`security_from_env` is the only function that reads the environment (and the
password file); ``client_kwargs`` and ``faust_kwargs`` map the settings to each
library's arguments (loading the CA and client certificate into an SSL context).
The password is never part of a repr or an error message.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field
from typing import Any, Mapping

from . import environment
from .errors import KafkaSecurityError
from .tls import client_context

PROTOCOL_ENV = "KAFKA_SECURITY_PROTOCOL"
MECHANISM_ENV = "KAFKA_SASL_MECHANISM"
USERNAME_ENV = "KAFKA_SASL_USERNAME"
PASSWORD_ENV = "KAFKA_SASL_PASSWORD"
PASSWORD_FILE_ENV = "KAFKA_SASL_PASSWORD_FILE"
CAFILE_ENV = "KAFKA_SSL_CAFILE"
CERTFILE_ENV = "KAFKA_SSL_CERTFILE"
KEYFILE_ENV = "KAFKA_SSL_KEYFILE"

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """The validated security settings of one process's Kafka clients."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")


PLAINTEXT = KafkaSecurity()


def security_from_env(env: Mapping[str, str] | None = None) -> KafkaSecurity:
    """The settings from ``env`` (default: the process environment), checked; one-line errors."""
    env = environment.snapshot() if env is None else env

    def get(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    protocol = (get(PROTOCOL_ENV) or "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise KafkaSecurityError(f"{PROTOCOL_ENV} must be one of {', '.join(PROTOCOLS)} (got {protocol!r})")
    tls_files = {name: get(name) for name in (CAFILE_ENV, CERTFILE_ENV, KEYFILE_ENV)}
    if not protocol.endswith("SSL") and any(tls_files.values()):
        given = next(n for n, v in tls_files.items() if v)
        raise KafkaSecurityError(f"{given} is set but {PROTOCOL_ENV}={protocol} does not use TLS (SSL or SASL_SSL)")
    if not protocol.startswith("SASL_"):
        sasl_var = next((n for n in (MECHANISM_ENV, USERNAME_ENV, PASSWORD_ENV, PASSWORD_FILE_ENV) if get(n)), None)
        if sasl_var:
            raise KafkaSecurityError(f"{sasl_var} is set but {PROTOCOL_ENV}={protocol} does not use SASL "
                                     f"(SASL_SSL or SASL_PLAINTEXT)")
        return KafkaSecurity(protocol, cafile=tls_files[CAFILE_ENV], certfile=tls_files[CERTFILE_ENV],
                             keyfile=tls_files[KEYFILE_ENV])
    mechanism = (get(MECHANISM_ENV) or "SCRAM-SHA-512").upper()
    if mechanism not in MECHANISMS:
        raise KafkaSecurityError(f"{MECHANISM_ENV} must be one of {', '.join(MECHANISMS)} (got {mechanism!r})")
    username = get(USERNAME_ENV)
    if not username:
        raise KafkaSecurityError(f"{PROTOCOL_ENV}={protocol} needs {USERNAME_ENV}")
    password = env.get(PASSWORD_ENV) or None
    path = get(PASSWORD_FILE_ENV)
    if password and path:
        raise KafkaSecurityError(f"set {PASSWORD_ENV} or {PASSWORD_FILE_ENV}, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                password = f.read().rstrip("\r\n")
        except OSError as err:
            raise KafkaSecurityError(f"{PASSWORD_FILE_ENV} {path}: {err.strerror or err}") from None
    if not password:
        raise KafkaSecurityError(f"{PROTOCOL_ENV}={protocol} needs {PASSWORD_ENV} or {PASSWORD_FILE_ENV}")
    return KafkaSecurity(protocol, mechanism, username, password, cafile=tls_files[CAFILE_ENV],
                         certfile=tls_files[CERTFILE_ENV], keyfile=tls_files[KEYFILE_ENV])


def _sasl(sec: KafkaSecurity) -> dict[str, Any]:
    return {"sasl_mechanism": sec.mechanism, "sasl_plain_username": sec.username,
            "sasl_plain_password": sec.password} if sec.sasl else {}


def client_kwargs(sec: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments for aiokafka's and kafka-python's clients (both take these names and an SSL context)."""
    if sec.protocol == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": sec.protocol, **_sasl(sec)}
    if sec.tls:
        out["ssl_context"] = client_context(sec.cafile, sec.certfile, sec.keyfile)
    return out


def faust_kwargs(sec: KafkaSecurity) -> dict[str, Any]:
    """Keyword arguments for ``faust.App``: ``broker_credentials`` (SASL or SSL), or nothing."""
    if sec.protocol == "PLAINTEXT":
        return {}
    import faust
    from faust.types.auth import AuthProtocol, SASLMechanism

    ctx = client_context(sec.cafile, sec.certfile, sec.keyfile) if sec.tls else None
    if not sec.sasl:
        return {"broker_credentials": faust.SSLCredentials(ctx)}
    creds = faust.SASLCredentials(username=sec.username, password=sec.password, ssl_context=ctx,
                                  mechanism=SASLMechanism(sec.mechanism))
    creds.protocol = AuthProtocol(sec.protocol)  # faust infers SASL_SSL/SASL_PLAINTEXT from ssl_context; be explicit
    return {"broker_credentials": creds}


def kafka_security(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """:func:`client_kwargs` of the process's settings: what every aiokafka / kafka-python client here passes."""
    return client_kwargs(security_from_env(env))


def faust_security(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """:func:`faust_kwargs` of the process's settings."""
    return faust_kwargs(security_from_env(env))
