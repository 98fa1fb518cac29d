"""Each image, rehearsed without Docker: exactly its packages, exactly its files, every command compose runs.

docker/rehearse_image.py reads a Dockerfile, lays out only what its build stage
COPYs, builds the project's wheel from that, and makes a fresh venv holding
exactly the wheel plus the closure of the extras its one install step names
(linked from the dev venv: same package set, dev venv versions; see the
module's docstring for the trade-off). Every ``alliance-monitor`` command that
compose runs on the image gets ``--help`` there, and the long-running ones a
real short run against the real broker / PostgreSQL / SQLite. The mutation
tests prove the check bites: drop an extra or a COPY and it fails.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.docker.test_docker_files import (
    COMPOSE,
    DUMMY_SECRETS,
    dockerfile_of,
    project_services,
    resolved_compose,
    service_argv,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"

_spec = importlib.util.spec_from_file_location("rehearse_image", DOCKER / "rehearse_image.py")
rehearse_image = importlib.util.module_from_spec(_spec)
sys.modules["rehearse_image"] = rehearse_image  # dataclasses look their module up there
_spec.loader.exec_module(rehearse_image)

pytestmark = pytest.mark.integration


def compose_commands(dockerfile: Path) -> list[list[str]]:
    """``alliance-monitor`` argv (without the script name) of every compose service built from ``dockerfile``."""
    out = []
    for service in project_services(resolved_compose()).values():
        if dockerfile_of(service) == dockerfile.resolve():
            argv = service_argv(service)
            assert argv[0] == "alliance-monitor", argv
            out.append(argv[1:])
    return out


def help_failures(r, commands: list[list[str]]) -> list[str]:
    failures = []
    for cmd in commands:
        words = [w for w in cmd if not w.startswith("-")][:2]
        # `db upgrade` / `models status` keep their action; `process` etc. take only the subcommand
        path = words if words[:1] in (["db"], ["models"], ["token"]) else words[:1]
        res = r.run(*path, "--help")
        if res.returncode != 0:
            failures.append(f"{' '.join(path)} --help: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    return failures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_until(r, args: list[str], ready: str, *, timeout: float = 120, **env: str) -> tuple[int, str]:
    """Start a long-running part, wait for ``ready`` in its output, SIGTERM it; (exit code, output)."""
    proc = r.popen(*args, **env)
    out: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=0.5):
                line = proc.stdout.readline()
                out.append(line)
                if ready in line:
                    break
        else:
            if proc.poll() is not None:
                out.append(proc.stdout.read())
                return proc.returncode, "".join(out)
            raise AssertionError(f"{args}: never said {ready!r}: {''.join(out)[-2000:]}")
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        out.append(rest)
        return proc.returncode, "".join(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def image_db(postgres_url) -> str:
    """A PostgreSQL database of its own (the shared one's schema comes and goes with other tests)."""
    import uuid

    import sqlalchemy as sa

    name = f"img_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, object]:
    out = {}
    for name in ("processor", "gateway", "scorer"):
        path = DOCKER / f"{name}.Dockerfile"
        out[name] = rehearse_image.rehearse(path.read_text(), tmp_path_factory.mktemp(name), path.name)
    return out


def test_every_image_is_covered_by_compose_and_installs_its_extras(images):
    for name, r in images.items():
        assert compose_commands(DOCKER / f"{name}.Dockerfile"), f"no compose service runs the {name} image"
        assert r.plan.extras == ["postgres"], f"{name}: extras {r.plan.extras}"
        assert {"psycopg2-binary", "numpy", "scipy", "faust-streaming", "pydantic-settings", "aiohttp"} <= set(r.packages)
    assert "torch" in images["scorer"].packages and "torch" not in images["processor"].packages


@pytest.mark.parametrize("name", ["processor", "gateway", "scorer"])
def test_every_compose_command_of_the_image_runs(images, name):
    r = images[name]
    commands = compose_commands(DOCKER / f"{name}.Dockerfile") + r.plan.run_checks
    assert help_failures(r, commands) == []


def test_processor_image_real_runs(images, private_kafka, image_db, unique):
    r = images["processor"]
    created = r.run("topics", "--create", KAFKA_BOOTSTRAP=private_kafka)
    assert created.returncode == 0, created.stderr
    migrated = r.run("db", "upgrade", ALLIANCE_DB_URL=image_db)  # psycopg2 and the migrations are in the image
    assert migrated.returncode == 0, migrated.stderr
    current = r.run("db", "current", ALLIANCE_DB_URL=image_db)
    assert current.returncode == 0 and "revision: none" not in current.stdout, current
    db = f"sqlite:///{r.workdir / f'store-{unique}.db'}"
    assert r.run("db", "upgrade", ALLIANCE_DB_URL=db).returncode == 0
    code, out = run_until(r, ["sink"], "sink:", KAFKA_BOOTSTRAP=private_kafka, ALLIANCE_DB_URL=db,
                          ALLIANCE_SINK_GROUP=f"img-sink-{unique}")
    assert code == 0 and "sink stopped" in out, out
    code, out = run_until(r, ["process"], "processor ready", KAFKA_BOOTSTRAP=private_kafka,
                          ALLIANCE_PROCESS_APP_ID=f"img-proc-{unique}", ALLIANCE_DB_URL=db,
                          ALLIANCE_PROCESS_MAX_BATCH_BYTES="1")
    assert code == 0 and "processor stopped" in out, out


def run_gateway(r, bootstrap: str, db_url: str) -> str:
    """Start the gateway, check /healthz and a page, SIGTERM it; its output."""
    port = _free_port()
    proc = r.popen("gateway", "--host", "127.0.0.1", "--port", str(port), KAFKA_BOOTSTRAP=bootstrap,
                   ALLIANCE_DB_URL=db_url, ALLIANCE_GATEWAY_SECRET=DUMMY_SECRETS["ALLIANCE_GATEWAY_SECRET"])
    try:
        deadline = time.monotonic() + 90
        health = page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    health = resp.status
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/board", timeout=2) as resp:
                    page = resp.read()
                break
            except OSError:
                time.sleep(0.5)
        assert health == 200, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert page and b"<html" in page.lower()  # the pages ship inside the wheel
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        return out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_gateway_image_serves_health_and_pages_and_reads_the_records(images, private_kafka, image_db):
    images["processor"].run("db", "upgrade", ALLIANCE_DB_URL=image_db)
    out = run_gateway(images["gateway"], private_kafka, image_db)
    assert "cannot read validation records" not in out, out


def test_scorer_image_reads_the_store_and_loads_the_engine_module(images, image_db):
    r = images["scorer"]
    images["processor"].run("db", "upgrade", ALLIANCE_DB_URL=image_db)
    status = r.run("models", "status", ALLIANCE_DB_URL=image_db)
    assert status.returncode == 0, status.stderr
    probe = subprocess.run([str(r.venv / "bin" / "python"), "-c",
                            "import scoring.engines.vllm_engine, vllm, torch, psycopg2, scipy; print('ok')"],
                           cwd=r.workdir, env=r.env(), capture_output=True, text=True, timeout=300)
    assert probe.stdout.strip() == "ok", probe.stderr[-2000:]


# -- the check bites ----------------------------------------------------------------------------


def _mutated(name: str, old: str, new: str) -> str:
    text = (DOCKER / f"{name}.Dockerfile").read_text()
    assert old in text, f"{name}.Dockerfile no longer has {old!r}: update the mutation test"
    return text.replace(old, new)


def test_without_the_postgres_extra_the_gateway_cannot_read_the_records(tmp_path, private_kafka, image_db):
    r = rehearse_image.rehearse(_mutated("gateway", "[postgres]", ""), tmp_path, "mutant")
    assert "psycopg2-binary" not in r.packages and r.plan.extras == []
    assert "cannot read validation records" in run_gateway(r, private_kafka, image_db)


def test_without_the_postgres_extra_the_processor_image_fails(tmp_path, postgres_url):
    r = rehearse_image.rehearse(_mutated("processor", "[postgres]", ""), tmp_path, "mutant")
    assert "psycopg2-binary" not in r.packages
    assert r.run("db", "current", ALLIANCE_DB_URL=postgres_url).returncode != 0


def test_without_a_copied_package_the_image_fails(tmp_path):
    r = rehearse_image.rehearse(_mutated("processor", "COPY validation ./validation\n", ""), tmp_path, "mutant")
    assert help_failures(r, compose_commands(DOCKER / "processor.Dockerfile"))


def test_without_a_core_dependency_the_image_fails(tmp_path, monkeypatch):
    """A package dropped from pyproject's dependencies (simulated on the laid-out copy) breaks the image."""
    original = rehearse_image.lay_out

    def lay_out_without(p, dest, root=ROOT):
        out = original(p, dest, root)
        toml = out / "pyproject.toml"
        text = toml.read_text()
        assert '    "pydantic-settings>=2.2",\n' in text
        toml.write_text(text.replace('    "pydantic-settings>=2.2",\n', ""))
        return out

    monkeypatch.setattr(rehearse_image, "lay_out", lay_out_without)
    r = rehearse_image.rehearse((DOCKER / "processor.Dockerfile").read_text(), tmp_path, "mutant")
    assert "pydantic-settings" not in r.packages
    assert help_failures(r, compose_commands(DOCKER / "processor.Dockerfile"))


def test_the_rehearsal_reads_the_install_step():
    for name in ("processor", "gateway", "scorer"):
        p = rehearse_image.plan((DOCKER / f"{name}.Dockerfile").read_text(), name)
        assert p.extras == ["postgres"], (name, p.extras)
        sources = {s for srcs, _ in p.copies for s in srcs}
        assert {"alliance_monitor", "streams", "scoring", "gateway", "store", "validation", "privacy", "ingest",
                "migrations"} <= sources
    assert rehearse_image.plan((DOCKER / "scorer.Dockerfile").read_text()).base_packages
    assert json.loads(json.dumps(compose_commands(DOCKER / "processor.Dockerfile")))
    assert COMPOSE.exists()
