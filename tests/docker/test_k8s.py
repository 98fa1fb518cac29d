"""The Kubernetes manifests in docker/k8s validate offline and agree with the CLI, the images and compose.

No cluster here: the manifests are checked against the Kubernetes API schemas
bundled in the PyPI package ``kubernetes-validate`` (strict: unknown fields
fail), rendered with ``kubectl kustomize`` when kubectl is installed (it needs
no cluster), and checked for what the schemas cannot know: every container
runs a real ``alliance-monitor`` command, probes hit the port the part serves
/healthz on, the processor has no more replicas than partitions, a scorer
takes exactly one GPU, the store URL reaches every part that reads records.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.docker.test_docker_files import DOCKER, cli_error, exec_form

K8S = DOCKER / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> list[dict]:
    return [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]


def by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def config() -> dict[str, str]:
    return by_kind("ConfigMap")["alliance-config"]["data"]


def containers() -> dict[str, tuple[dict, dict]]:
    out = {}
    for kind in ("Deployment", "Job"):
        for name, d in by_kind(kind).items():
            for c in d["spec"]["template"]["spec"]["containers"]:
                out[name] = (d, c)
    return out


def argv_of(container: dict) -> list[str]:
    """What the container runs: the image's ENTRYPOINT (minus the script name) + args."""
    image = container["image"].split("/")[-1].split(":")[0]
    entry = container.get("command") or exec_form(DOCKER / f"{image}.Dockerfile", "ENTRYPOINT") or []
    return entry[1:] + container.get("args", [])


def test_manifests_validate_against_the_kubernetes_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    assert MANIFESTS
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_validator_rejects_a_broken_manifest():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = yaml.safe_load((K8S / "sink.yaml").read_text())
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = [8080]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)
    broken = yaml.safe_load((K8S / "sink.yaml").read_text())
    broken["spec"]["replica"] = 2  # a typo strict validation catches
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_every_manifest():
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(rendered) == len(documents())
    assert all(d["metadata"].get("namespace") == "alliance" for d in rendered if d["kind"] != "Namespace")


def test_every_container_runs_a_real_command():
    found = containers()
    assert {"alliance-processor", "alliance-scorer", "alliance-sink", "alliance-gateway", "alliance-ingest",
            "alliance-survey-links", "alliance-migrate", "alliance-topics"} <= set(found)
    for name, (_, c) in found.items():
        assert cli_error(argv_of(c)) is None, (name, argv_of(c))


def test_probes_hit_the_port_each_part_serves_health_on():
    cfg = config()
    for name, (d, c) in containers().items():
        if d["kind"] != "Deployment":
            continue
        argv = argv_of(c)
        if "--port" in argv:
            port = int(argv[argv.index("--port") + 1])
        elif "--health-port" in argv:
            port = int(argv[argv.index("--health-port") + 1])
        else:
            port = int(cfg["ALLIANCE_HEALTH_PORT"])
        for probe in ("startupProbe", "readinessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": port}, (name, probe)
        health = argv[argv.index("--health-port") + 1] if "--health-port" in argv else cfg["ALLIANCE_HEALTH_PORT"]
        assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": int(health)}, name  # the health server
        assert d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30, name
        assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"], name


def test_scaling_rules():
    deployments = by_kind("Deployment")
    partitions = int(config()["ALLIANCE_PARTITIONS"])
    assert deployments["alliance-processor"]["spec"]["replicas"] <= partitions
    scorer = deployments["alliance-scorer"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert scorer["limits"]["nvidia.com/gpu"] == "1" and scorer["requests"]["nvidia.com/gpu"] == "1"
    services = by_kind("Service")
    assert deployments["alliance-gateway"]["spec"]["replicas"] >= 2
    assert services["alliance-gateway"]["spec"]["selector"] == \
        deployments["alliance-gateway"]["spec"]["selector"]["matchLabels"]
    assert int(config()["ALLIANCE_PROCESS_MAX_BATCH_BYTES"]) > 1  # no embedded-broker workaround on Kafka


def test_the_store_and_secrets_reach_every_part_that_needs_them():
    secret_env = {name: {e["name"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
                  for name, (_, c) in containers().items()}
    for name in ("alliance-processor", "alliance-scorer", "alliance-sink", "alliance-gateway", "alliance-migrate"):
        assert "ALLIANCE_DB_URL" in secret_env[name], name
    assert "ALLIANCE_GATEWAY_SECRET" in secret_env["alliance-gateway"]
    assert "ALLIANCE_GATEWAY_SECRET" in secret_env["alliance-survey-links"]  # the survey-link key
    assert "ALLIANCE_INGEST_TOKENS" in secret_env["alliance-ingest"]
    text = "".join(p.read_text() for p in MANIFESTS)
    assert "password" not in text.lower().replace("alliance:...@", "")  # no literal secret


def test_config_values_pass_the_settings_validation(monkeypatch):
    from alliance_monitor.settings import DeploySettings

    for key, value in config().items():
        monkeypatch.setenv(key, value)
    DeploySettings()  # raises on a value a part would refuse at start


# -- what an operator expects of the manifests ------------------------------------------------------


def pod_specs() -> dict[str, dict]:
    return {name: d["spec"]["template"]["spec"] for kind in ("Deployment", "Job") for name, d in by_kind(kind).items()}


def test_every_pod_meets_pod_security_restricted():
    """runAsNonRoot, seccomp RuntimeDefault, no privilege escalation, every capability dropped, a read-only
    root with emptyDirs for what the part writes (its state dir and caches under HOME, /tmp)."""
    for name, spec in pod_specs().items():
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True and pod.get("runAsUser") == 10001, name
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"] + spec.get("initContainers", []):
            sec = c.get("securityContext", {})
            assert sec.get("allowPrivilegeEscalation") is False, name
            assert sec.get("capabilities", {}).get("drop") == ["ALL"], name
            assert sec.get("readOnlyRootFilesystem") is True, name
            mounted = {m["mountPath"]: volumes[m["name"]] for m in c.get("volumeMounts", [])}
            for path in ("/home/alliance", "/tmp"):
                assert "emptyDir" in mounted.get(path, {}), f"{name}: {path} must be a writable emptyDir"


def test_startup_readiness_and_liveness_are_split():
    """startup: the first ready answer (model loading); readiness: /healthz (ready, not draining, not
    failing); liveness: /livez on the health port (a draining part is alive; one failing every record is not)."""
    for name, d in by_kind("Deployment").items():
        (c,) = d["spec"]["template"]["spec"]["containers"]
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(c), name
        assert c["readinessProbe"]["httpGet"]["path"] == "/healthz" == c["startupProbe"]["httpGet"]["path"], name
        assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": 8080}, name
        assert "--health-port" in c.get("args", []) or config().get("ALLIANCE_HEALTH_PORT") == "8080", name


def test_disruption_budgets_and_network_policy_cover_the_parts():
    deployments = {d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for d in by_kind("Deployment").values()}
    budgets = by_kind("PodDisruptionBudget")
    guarded = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for b in budgets.values()}
    assert {"processor", "scorer", "gateway", "ingest"} <= guarded <= deployments
    assert all(b["spec"].get("maxUnavailable") == 1 for b in budgets.values())
    policies = by_kind("NetworkPolicy")
    selects_all = [p for p in policies.values()
                   if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/part-of": "alliance-monitor"}]
    assert selects_all and "Ingress" in selects_all[0]["spec"]["policyTypes"]
    for d in by_kind("Deployment").values():
        assert d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "alliance-monitor"


def test_image_tags_are_pinned_to_the_release():
    import re

    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    version = re.search(r'^version = "([^"]+)"', (DOCKER.parent / "pyproject.toml").read_text(), re.M).group(1)
    tags = {i["name"]: i.get("newTag") for i in kustomization["images"]}
    assert set(tags) == {"alliance-monitor/processor", "alliance-monitor/scorer", "alliance-monitor/gateway"}
    assert set(tags.values()) == {version}, tags
    for name in ("disruption.yaml", "network.yaml"):
        assert name in kustomization["resources"]


def test_the_migrate_job_gates_every_part_that_reads_the_store():
    """An init container `db wait` of the part's own image: its pods stay in Init until the store is at that
    image's schema revision, so `kubectl apply -k` no longer rolls the parts while the migrate Job runs."""
    for name, d in by_kind("Deployment").items():
        spec = d["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        if not any(e["name"] == "ALLIANCE_DB_URL" for e in c.get("env", [])):
            continue
        (init,) = spec.get("initContainers", [])
        assert init["image"] == c["image"], name
        assert argv_of(init)[:2] == ["db", "wait"] and cli_error(argv_of(init)) is None, name
        assert init["env"] == [e for e in c["env"] if e["name"] == "ALLIANCE_DB_URL"], name
