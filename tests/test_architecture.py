"""The dependency rule of docs/architecture.md, checked on the source (AST, no imports run).

contracts <- cores <- shells <- alliance_monitor (the CLI). A module may import
only what its layer allows; nothing imports alliance_monitor; no import cycle
between modules. Imports under ``if TYPE_CHECKING:`` are annotations only and
do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("alliance_monitor", "streams", "scoring", "gateway", "store", "validation", "privacy", "ingest", "training",
            "migrations")

#: The formats every part agrees on: events, their encoding, the topic catalog, the replay file format.
CONTRACTS = {"streams.contracts", "streams.codec", "streams.topics", "streams.errors", "streams.replay_format",
             "streams.telemetry"}
#: Decisions without I/O: time and every input are passed in, an outcome comes back.
CORES = {
    "streams.phase_clock", "streams.signals", "streams.alert_policy", "streams.session_state", "streams.turn_index", "streams.offline",
    "streams.ruptures", "streams.rupture_cues", "streams.tls", "streams.kafka_security",
    "scoring.instrument", "scoring.prompts", "scoring.readout", "scoring.errors", "scoring.principles",
    "scoring.capacity",
    "gateway.hub", "gateway.policy", "gateway.client_messages", "gateway.visibility", "gateway.summary",
    "gateway.connection", "gateway.waiting_room", "gateway.auth", "gateway.history", "gateway.access", "gateway.errors", "gateway.trust",
    "store.errors", "store.rupture_stats",
    "ingest.batch", "ingest.tokens", "ingest.errors",
    "training.synthetic_corpus", "training.ridge", "training.errors",
}
#: All core and shared by every part: validation (the statistics and the gate decision) and
#: privacy (PII redaction for the sink, the processor and the logs). Each imports only
#: contracts and itself.
SHARED_CORE_PACKAGES = ("validation", "privacy")
CLI = "alliance_monitor"


def package_of(module: str) -> str:
    return module.split(".")[0]


def layer_of(module: str) -> str:
    if module in CONTRACTS:
        return "contract"
    if module in CORES or package_of(module) in SHARED_CORE_PACKAGES:
        return "core"
    if package_of(module) == CLI:
        return "cli"
    return "shell"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Project modules ``path`` imports (at any depth, lazily too), resolved to module names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def resolve(target: str) -> str | None:
        while target and target not in modules:  # an imported name, not a module: its module
            target = target.rpartition(".")[0]
        return target or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if package_of(alias.name) in PACKAGES and (m := resolve(alias.name)):
                    found.add(m)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                absolute = ".".join(base + ([node.module] if node.module else []))
            else:
                absolute = node.module or ""
            if package_of(absolute) in PACKAGES:
                for alias in node.names:
                    if m := resolve(f"{absolute}.{alias.name}"):
                        found.add(m)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return found


def project_graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


GRAPH = project_graph()


def allowed(src: str, dst: str) -> bool:
    """May module ``src`` import module ``dst``?"""
    s, d = layer_of(src), layer_of(dst)
    src_pkg, dst_pkg = package_of(src), package_of(dst)
    if s == "cli":
        return True  # the CLI composes everything
    if d == "cli":
        return False  # and nothing imports it
    if s == "contract":
        return d == "contract"
    if s == "core":
        if src_pkg in SHARED_CORE_PACKAGES:
            return d == "contract" or dst_pkg == src_pkg
        return d == "contract" or (d == "core" and (dst_pkg == src_pkg or dst_pkg in SHARED_CORE_PACKAGES))
    # Alembic belongs to the store; training belongs to the scorer it trains (its model, engines, head)
    own = {"migrations": {src_pkg, "store"}, "training": {src_pkg, "scoring"}}.get(src_pkg, {src_pkg})
    return d in ("contract", "core") or dst_pkg in own


def test_the_layers_are_known():
    assert CONTRACTS <= GRAPH.keys() and CORES <= GRAPH.keys()
    assert {layer_of(m) for m in GRAPH} == {"contract", "core", "shell", "cli"}


def test_every_import_follows_the_dependency_rule():
    bad = sorted(f"{src} ({layer_of(src)}) imports {dst} ({layer_of(dst)})"
                 for src, targets in GRAPH.items() for dst in targets if not allowed(src, dst))
    assert not bad, "against docs/architecture.md#the-dependency-rule:\n" + "\n".join(bad)


def test_nothing_imports_alliance_monitor():
    users = sorted(src for src, targets in GRAPH.items() if package_of(src) != CLI
                   and any(package_of(d) == CLI for d in targets))
    assert not users


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            strongconnect(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("src, dst, ok", [
    ("streams.contracts", "streams.codec", True),
    ("streams.contracts", "streams.processor", False),
    ("streams.alert_policy", "validation.gate", True),
    ("gateway.hub", "streams.alert_policy", False),  # another package's core
    ("gateway.hub", "gateway.server", False),  # a core never imports a shell
    ("store.sink", "gateway.feed", False),  # shells talk through Kafka, not imports
    ("store.sink", "streams.codec", True),
    ("scoring.worker", "alliance_monitor.cli", False),
    ("alliance_monitor.commands.gateway", "store.records", True),
    ("training.run", "scoring.engines", True),  # training belongs to the scorer it trains
    ("training.dataset", "store.eval", False),  # but reads the store only through the CLI
    ("scoring.head", "training.run", False),  # and nothing of scoring leans on training
    ("training.ridge", "scoring.features", False),  # a core stays a core
    ("streams.session_state", "privacy.redact", True),  # privacy is a shared core
    ("privacy.redact", "validation.gate", False),  # that leans on nothing but contracts
    ("privacy.events", "store.sink", False),
])
def test_the_rule_itself(src, dst, ok):
    """The checker can fail: known bad edges are refused, known good ones allowed."""
    assert allowed(src, dst) is ok
