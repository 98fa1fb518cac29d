"""Each image, rehearsed without Docker: exactly its packages, its build context, every command compose runs.

docker/rehearse_image.py reads a Dockerfile, lays out its build context (less the
.dockerignore), builds the project's wheel from that, and makes a fresh venv holding
exactly the wheel plus the closure of the extras its one install step names
(linked from the dev venv: same package set, dev venv versions; see the
module's docstring for the trade-off; cached by what it holds). Every
``alliance-monitor`` command that compose runs on the image gets ``--help`` there;
then every compose service runs its exact command with exactly the environment
``docker compose config`` gives it, against a real broker and PostgreSQL: the jobs
succeed, the parts become healthy by their own healthcheck, and each expected
misconfiguration is one line and exit 2. The mutation tests prove the check bites:
drop an extra, a packaged package or a dependency and it fails.
"""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.test_docker_files import (
    COMPOSE,
    DUMMY_SECRETS,
    dockerfile_instructions,
    dockerfile_of,
    env_items,
    final_stage,
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


#: the image venvs, kept between runs: a venv is keyed by the wheel's content, the extras and every
#: package version it links, so a repeat run (nothing changed) skips the ~100 s of making them.
VENV_CACHE = Path.home() / ".cache" / "alliance-monitor" / "image-venvs"


def rehearse(text: str, work: Path, name: str):
    return rehearse_image.rehearse(text, work, name, cache=VENV_CACHE)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, object]:
    out = {}
    for name in ("processor", "gateway", "scorer"):
        path = DOCKER / f"{name}.Dockerfile"
        out[name] = rehearse(path.read_text(), tmp_path_factory.mktemp(name), path.name)
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
    r = rehearse(_mutated("gateway", "[postgres]", ""), tmp_path, "mutant")
    assert "psycopg2-binary" not in r.packages and r.plan.extras == []
    assert "cannot read validation records" in run_gateway(r, private_kafka, image_db)


def test_without_the_postgres_extra_the_processor_image_fails(tmp_path, postgres_url):
    r = rehearse(_mutated("processor", "[postgres]", ""), tmp_path, "mutant")
    assert "psycopg2-binary" not in r.packages
    assert r.run("db", "current", ALLIANCE_DB_URL=postgres_url).returncode != 0


def _without_in_pyproject(monkeypatch, old: str, new: str = "") -> None:
    """Lay out the build context with pyproject.toml edited (the image ships what pyproject packages)."""
    original = rehearse_image.lay_out

    def lay_out_edited(p, dest, root=ROOT):
        out = original(p, dest, root)
        toml = out / "pyproject.toml"
        text = toml.read_text()
        assert old in text, f"pyproject.toml no longer has {old!r}: update the mutation test"
        toml.write_text(text.replace(old, new))
        return out

    monkeypatch.setattr(rehearse_image, "lay_out", lay_out_edited)


def test_without_a_packaged_package_the_image_fails(tmp_path, monkeypatch):
    _without_in_pyproject(monkeypatch, '"validation*", ')
    r = rehearse((DOCKER / "processor.Dockerfile").read_text(), tmp_path, "mutant")
    assert help_failures(r, compose_commands(DOCKER / "processor.Dockerfile"))


def test_without_a_core_dependency_the_image_fails(tmp_path, monkeypatch):
    """A package dropped from pyproject's dependencies (simulated on the laid-out copy) breaks the image."""
    _without_in_pyproject(monkeypatch, '    "pydantic-settings>=2.2",\n')
    r = rehearse((DOCKER / "processor.Dockerfile").read_text(), tmp_path, "mutant")
    assert "pydantic-settings" not in r.packages
    assert help_failures(r, compose_commands(DOCKER / "processor.Dockerfile"))


def test_the_rehearsal_reads_the_install_step():
    packaged = re.search(r'include = \[(.*)\]', (ROOT / "pyproject.toml").read_text()).group(1)
    for name in ("processor", "gateway", "scorer"):
        p = rehearse_image.plan((DOCKER / f"{name}.Dockerfile").read_text(), name)
        assert p.extras == ["postgres"], (name, p.extras)
        # the whole build context: pyproject's package list alone decides what ships
        assert [srcs for srcs, _ in p.copies if not _.startswith("/")] == [["."]], (name, p.copies)
        assert p.env["ALLIANCE_LOG_FORMAT"] == "json" and p.env["ALLIANCE_HEALTH_PORT" if name != "gateway"
                                                                 else "ALLIANCE_GATEWAY_PORT"]
    for package in ("alliance_monitor", "streams", "scoring", "gateway", "store", "validation", "privacy", "ingest",
                    "training", "migrations"):
        assert f'"{package}*"' in packaged, package
    assert rehearse_image.plan((DOCKER / "scorer.Dockerfile").read_text()).base_packages
    assert json.loads(json.dumps(compose_commands(DOCKER / "processor.Dockerfile")))
    assert COMPOSE.exists()


def test_a_cached_venv_is_keyed_by_the_venv_its_links_point_into(tmp_path):
    """The image venv's files are symlinks into the venv that made it: a venv made from one checkout's venv
    (deleted with that checkout) must not be reused by another checkout's run, whose links would dangle."""
    import zipfile

    wheel = tmp_path / "alliance_monitor-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("alliance_monitor/__init__.py", "")

    @dataclass
    class Installed:  # the two things venv_key reads of an importlib.metadata.Distribution
        version: str
        site: Path

        def locate_file(self, _rel: str) -> Path:
            return self.site

    def key(site: str, version: str = "2.3.5") -> str:
        return rehearse_image.venv_key(wheel, ["postgres"], {"numpy": Installed(version, tmp_path / site)})

    assert key("one/.venv/site-packages") == key("one/.venv/site-packages")
    assert key("one/.venv/site-packages") != key("two/.venv/site-packages")
    assert key("one/.venv/site-packages") != key("one/.venv/site-packages", version="2.3.6")


def test_the_layout_keeps_out_what_the_dockerignore_does(tmp_path):
    p = rehearse_image.plan((DOCKER / "processor.Dockerfile").read_text(), "processor")
    src = rehearse_image.lay_out(p, tmp_path / "src")
    assert (src / "pyproject.toml").is_file() and (src / "training" / "errors.py").is_file()
    for kept_out in ("tests", "docs", ".venv", ".git"):
        assert not (src / kept_out).exists(), kept_out
    assert not list(src.rglob("__pycache__"))
    assert rehearse_image.ignored("gateway/__pycache__", ["**/__pycache__"])
    assert not rehearse_image.ignored("gateway/models.py", ["models"])


def test_an_image_venv_is_made_once_for_the_same_wheel(images, tmp_path):
    made = (images["gateway"].venv / ".complete").stat().st_mtime_ns
    again = rehearse((DOCKER / "gateway.Dockerfile").read_text(), tmp_path, "gateway")
    assert again.venv == images["gateway"].venv and (again.venv / ".complete").stat().st_mtime_ns == made
    assert again.workdir != images["gateway"].workdir


# -- what ships, with what ships: every compose service's command with compose's environment -----------

#: the compose network's addresses, replaced by the rehearsal's broker and database (nothing else changes)
COMPOSE_BOOTSTRAP = "kafka:9092"
COMPOSE_DB_HOST = "@postgres:5432/alliance"
#: ports inside a container; each part gets free ones instead (here all parts share one network)
INTERNAL_PORTS = ("8080", "8765", "8780")


@dataclass
class Part:
    """One service as its container would run it: the image, the argv, the whole environment, the probe."""

    name: str
    image: str
    argv: list[str]
    env: dict[str, str]
    probe: list[str] | None  # the healthcheck command (exit 0 = healthy); None for a job
    job: bool


def _healthcheck(service: dict, dockerfile: Path) -> list[str] | None:
    check = service.get("healthcheck") or {}
    if check.get("disable"):
        return None
    test = check.get("test")
    if test is None:
        found = [a for k, a in final_stage(dockerfile_instructions(dockerfile)) if k == "HEALTHCHECK"]
        test = json.loads(found[-1].split(" CMD ", 1)[1]) if found else None
        test = ["CMD", *test] if test else None
    assert test and test[0] == "CMD", f"healthcheck {test}: exec form expected"
    return test[1:]


def compose_parts(compose: dict, images: dict, bootstrap: str, db_url: str) -> dict[str, Part]:
    """Every service built from this repository, with exactly the environment compose gives it
    (``docker compose config``, the real interpolation) plus the image's ENV below it."""
    parts = {}
    for name, service in project_services(compose).items():
        dockerfile = dockerfile_of(service)
        image = dockerfile.name.split(".")[0]
        argv = service_argv(service)
        assert argv[0] == "alliance-monitor", argv
        env = {**images[image].plan.env, **env_items(service)}  # compose's environment wins over the image's ENV
        assert env["KAFKA_BOOTSTRAP"] == COMPOSE_BOOTSTRAP, (name, env["KAFKA_BOOTSTRAP"])
        env["KAFKA_BOOTSTRAP"] = bootstrap
        if "ALLIANCE_DB_URL" in env:
            assert env["ALLIANCE_DB_URL"].startswith("postgresql+psycopg2://") and COMPOSE_DB_HOST in \
                env["ALLIANCE_DB_URL"], (name, env["ALLIANCE_DB_URL"])
            env["ALLIANCE_DB_URL"] = db_url
        ports = {p: str(_free_port()) for p in INTERNAL_PORTS}
        probe = _healthcheck(service, dockerfile)
        if probe:
            for internal, free in ports.items():
                probe = [w.replace(f"127.0.0.1:{internal}/", f"127.0.0.1:{free}/") for w in probe]
        parts[name] = Part(name, image, [ports.get(a, a) for a in argv[1:]],
                           {k: ports.get(v, v) for k, v in env.items()}, probe,
                           job=service.get("restart") == "no")
    return parts


def _run(r, part: Part, *, timeout: float = 120, **changes: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in {**part.env, **changes}.items() if v is not None}
    return subprocess.run(r.argv(*part.argv), cwd=r.workdir, env=r.env(**env), capture_output=True, text=True,
                          timeout=timeout)


def _healthy(r, part: Part) -> bool:
    done = subprocess.run(part.probe, cwd=r.workdir, env=r.env(**part.env), capture_output=True, timeout=10)
    return done.returncode == 0


def k8s_parts(images: dict, bootstrap: str, db_url: str) -> dict[str, Part]:
    """Every container of docker/k8s as its pod would run it: the ConfigMap (envFrom) and the container's
    env (secrets: the dummy values, the store URL: the test's database), the image's ENV below them.
    Init containers run as jobs after the Jobs (``db wait`` returns once the store is at head)."""
    from tests.docker.test_k8s import by_kind

    parts = {}
    for kind in ("Job", "Deployment"):
        for name, doc in by_kind(kind).items():
            pod = doc["spec"]["template"]["spec"]
            for init in pod.get("initContainers", []):
                init_name = f"{name}/{init['name']}"
                parts[init_name] = _k8s_part(init_name, init, images, bootstrap, db_url, job=True)
            (container,) = pod["containers"]
            parts[name] = _k8s_part(name, container, images, bootstrap, db_url, job=kind == "Job")
    return parts


def _k8s_part(name: str, container: dict, images: dict, bootstrap: str, db_url: str, *, job: bool) -> Part:
    from tests.docker.test_k8s import argv_of, config

    image = container["image"].split("/")[-1].split(":")[0]
    env = {**images[image].plan.env, **config()}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            env[item["name"]] = db_url if item["name"] == "ALLIANCE_DB_URL" else DUMMY_SECRETS[item["name"]]
    env["KAFKA_BOOTSTRAP"] = bootstrap
    ports = {p: str(_free_port()) for p in INTERNAL_PORTS}
    probe = None
    if "readinessProbe" in container:
        port = ports[str(container["readinessProbe"]["httpGet"]["port"])]
        path = container["readinessProbe"]["httpGet"]["path"]
        probe = ["python", "-c", f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=4)"]
    return Part(name, image, [ports.get(a, a) for a in argv_of(container)],
                {k: ports.get(v, v) for k, v in env.items()}, probe, job=job)


@pytest.fixture(scope="module", params=["compose", "k8s"])
def stack(request, images, image_db) -> dict[str, Part]:
    """The parts as compose or the Kubernetes manifests run them, on a broker of their own (their topic job
    creates the catalog with their partition count)."""
    from streams.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        if request.param == "compose":
            yield compose_parts(resolved_compose(), images, broker.bootstrap, image_db)
        else:
            yield k8s_parts(images, broker.bootstrap, image_db)


def test_the_stack_starts_with_its_own_environment(images, stack):
    """The jobs succeed; every long-running part becomes healthy by its own healthcheck (compose) or
    readiness probe (k8s) and exits 0 on SIGTERM. The scorer needs a real model on a GPU: only its
    misconfiguration is run here."""
    parts = stack
    order = {"topics": 0, "upgrade": 1, "wait": 2}  # the topic job, the migrate job, then the init containers
    jobs = sorted((p for p in parts.values() if p.job), key=lambda p: order[p.argv[0] if p.argv[0] == "topics"
                                                                            else p.argv[1]])
    assert [p.argv[:2] for p in jobs][:2] == [["topics", "--create"], ["db", "upgrade"]]
    for job in jobs:
        done = _run(images[job.image], job)
        assert done.returncode == 0, f"{job.name}: {done.stderr.strip()[-2000:]}"
    running = {name: p for name, p in parts.items() if not p.job and p.image != "scorer"}
    assert sorted(p.argv[0] for p in running.values()) == ["gateway", "ingest", "process", "sink", "survey"]
    procs = {name: images[p.image].popen(*p.argv, **p.env) for name, p in running.items()}
    try:
        waiting = set(running)
        deadline = time.monotonic() + 150
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                if procs[name].poll() is not None:
                    raise AssertionError(f"{name} exited {procs[name].returncode}: {procs[name].stdout.read()[-2000:]}")
                if _healthy(images[running[name].image], running[name]):
                    waiting.discard(name)
            time.sleep(1)
        assert not waiting, f"never healthy: {sorted(waiting)}"
        (gateway,) = (p for p in running.values() if p.argv[0] == "gateway")
        port = gateway.argv[gateway.argv.index("--port") + 1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/board", timeout=10) as resp:
            assert b"<html" in resp.read().lower()  # the pages ship inside the wheel
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        outputs = {}
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=45)  # compose's stop_grace_period, k8s' grace period
            assert proc.returncode == 0, f"{name} exited {proc.returncode} after SIGTERM: {out[-2000:]}"
            outputs[name] = out
            plain = [line for line in out.splitlines() if line.strip() and not line.startswith("{")]
            assert not plain, f"{name}: lines that are not JSON with ALLIANCE_LOG_FORMAT=json: {plain[:5]}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert "cannot read validation records" not in outputs[gateway.name], outputs[gateway.name]  # psycopg2, schema
    (migrate,) = (p for p in jobs if p.argv[:2] == ["db", "upgrade"])
    current = images["processor"].run("db", "current", **migrate.env)  # the schema the job left
    assert current.returncode == 0 and "revision: none" not in current.stdout, current


@pytest.fixture(scope="module")
def compose_stack(images, private_kafka, image_db) -> dict[str, Part]:
    """Compose's parts for the misconfiguration runs (none of them gets as far as reading a topic)."""
    return compose_parts(resolved_compose(), images, private_kafka, image_db)


def _one_line(done: subprocess.CompletedProcess, expected: str) -> str | None:
    """None when the part failed as an operator needs: exit 2 and one ``alliance-monitor: ...`` line that
    says ``expected`` (plain, or a JSON record once a service part's logging is set up), no traceback."""
    plain = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("{")]
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    said = plain + [r["msg"] for r in records if str(r.get("msg", "")).startswith("alliance-monitor: ")]
    if done.returncode == 2 and len(said) == 1 and len(plain) <= 1 and said[0].startswith("alliance-monitor: ") \
            and expected in said[0] and "Traceback" not in done.stderr:
        return None
    return f"exit {done.returncode}, expected one line saying {expected!r}: {done.stderr.strip()[-1500:]}"


#: (service, the expected misconfiguration: variables changed (None: unset), what its one line names)
MISCONFIGURATIONS = [
    ("gateway", {"ALLIANCE_GATEWAY_SECRET": None}, "ALLIANCE_GATEWAY_SECRET"),
    ("gateway", {"ALLIANCE_GATEWAY_SECRET": "short"}, "16"),
    ("ingest", {"ALLIANCE_INGEST_TOKENS": None}, "ALLIANCE_INGEST_TOKENS"),
    ("migrate", {"ALLIANCE_DB_URL": "postgresql+psycopg2://alliance:pw@127.0.0.1:1/alliance"}, "127.0.0.1"),
    ("processor", {"ALLIANCE_PARTITIONS": "many"}, "ALLIANCE_PARTITIONS"),
    ("sink", {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME"),
    ("survey-links", {"ALLIANCE_GATEWAY_SECRET": None}, "secret"),
    ("survey-links", {"ALLIANCE_SURVEY_PUBLISH_LINKS_BASE_URL": None}, "ALLIANCE_SURVEY_PUBLISH_LINKS_BASE_URL"),
    ("scorer", {"ALLIANCE_GPU_MEMORY_UTILIZATION": "abc"}, "ALLIANCE_GPU_MEMORY_UTILIZATION"),
    ("scorer", {}, "config.json"),  # no model mounted at /models/alliance
    ("ingest", {"KAFKA_BOOTSTRAP": None}, "KAFKA_BOOTSTRAP is not set"),  # never a private broker of its own
]


@pytest.mark.parametrize(("service", "changes", "expected"), MISCONFIGURATIONS,
                         ids=[f"{s}-{'-'.join(c) or 'no-model'}" for s, c, _ in MISCONFIGURATIONS])
def test_an_expected_misconfiguration_is_one_line_and_exit_2(images, compose_stack, service, changes, expected):
    part = compose_stack[service]
    assert (err := _one_line(_run(images[part.image], part, timeout=60, **changes), expected)) is None, err


def test_a_k8s_job_against_an_unreachable_database_is_one_line(images, image_db):
    """The runbook's `kubectl logs job/alliance-migrate` must say why, not show a missing module."""
    parts = k8s_parts(images, "127.0.0.1:1", "postgresql+psycopg2://alliance:pw@127.0.0.1:1/alliance")
    (migrate,) = (p for p in parts.values() if p.argv[:2] == ["db", "upgrade"])
    assert (err := _one_line(_run(images[migrate.image], migrate, timeout=60), "127.0.0.1")) is None, err
