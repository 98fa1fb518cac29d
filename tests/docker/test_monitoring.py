"""The monitoring files agree with the code: Prometheus scrapes every part's health port, the
dashboard asks only for metrics the parts export, docs/metrics.md lists every metric.

No Docker engine here: Prometheus and Grafana are never started; these checks are what can be
known without them (docs/metrics.md says so).
"""

from __future__ import annotations

import json
import re

import yaml

from .test_docker_files import DOCKER, ROOT, load_compose, project_services, resolved_compose, service_argv

#: the parts that run until stopped, by their alliance-monitor command
LONG_RUNNING = {"process", "score", "sink", "gateway", "ingest", "survey"}
SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def exported() -> dict[str, str]:
    """Every alliance_ metric family the parts export: name -> type (a gateway hub watched, so its collector yields)."""
    from prometheus_client import REGISTRY

    import ingest.metrics  # noqa: F401 - each import registers its part's metrics
    import scoring.metrics  # noqa: F401
    import store.metrics  # noqa: F401
    import streams.processor_metrics  # registers the processor's metrics
    import streams.telemetry  # noqa: F401
    from gateway.history import MemoryHistory
    from gateway.hub import Hub
    from gateway.metrics import HUBS
    from gateway.policy import Policy

    hub = Hub(MemoryHistory(), Policy())
    HUBS.watch(hub)
    return {m.name: m.type for m in REGISTRY.collect() if m.name.startswith("alliance_")}


def base_name(sample: str) -> str:
    for suffix in SUFFIXES:
        if sample.endswith(suffix):
            return sample[: -len(suffix)]
    return sample


def test_prometheus_scrapes_every_long_running_service_on_its_health_port():
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (sd,) = job["dns_sd_configs"]
    assert job["metrics_path"] == "/metrics" and sd["port"] == 8080 and sd["type"] == "A"
    services = project_services(resolved_compose())
    parts = {name for name, s in services.items() if service_argv(s)[1] in LONG_RUNNING}
    assert parts == set(sd["names"]), f"scraped {sd['names']}, long-running services {sorted(parts)}"
    for name in parts:  # the port is 8080 for each: the image's ALLIANCE_HEALTH_PORT or an explicit flag
        argv = service_argv(services[name])
        if argv[1] in ("gateway", "ingest", "survey"):
            assert argv[argv.index("--health-port") + 1] == "8080", f"{name}: {argv}"


def test_monitoring_services_are_pinned_local_and_mount_what_exists():
    services = load_compose()["services"]
    for name in ("prometheus", "grafana"):
        s = services[name]
        assert s["profiles"] == ["monitoring"]
        assert all(str(p).startswith("127.0.0.1:") for p in s["ports"]), f"{name}: bind to 127.0.0.1"
        for volume in s["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), f"{name} mounts missing {source}"
    grafana_env = services["grafana"]["environment"]
    assert grafana_env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer" and grafana_env["GF_AUTH_DISABLE_LOGIN_FORM"] == "true"


def test_dashboard_asks_only_for_exported_metrics():
    dashboard = json.loads((DOCKER / "grafana" / "alliance.json").read_text())
    known = exported()
    asked = {base_name(m) for p in dashboard["panels"] for t in p["targets"]
             for m in re.findall(r"alliance_[a-z_]+", t["expr"])}
    assert asked and asked <= set(known), f"not exported: {sorted(asked - set(known))}"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("lag", "turns", "score latency", "alerts", "connections"):
        assert topic in titles


def test_docs_list_every_metric_with_its_exposed_name():
    text = (ROOT / "docs" / "metrics.md").read_text()
    missing = [name + ("_total" if kind == "counter" else "") for name, kind in exported().items()
               if f"`{name}{'_total' if kind == 'counter' else ''}`" not in text]
    assert not missing, f"docs/metrics.md does not list {missing}"
