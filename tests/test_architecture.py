"""The dependency rule of docs/architecture.md, checked on the source (AST, no imports run).

contracts <- cores <- shells <- alliance_monitor (the CLI). Each module declares
its own layer near its top (``__layer__ = "core"``), read here from the source; a
module without a declaration, or with an unknown layer, is refused. A module may
import only what its layer allows; nothing imports alliance_monitor; no import cycle
between modules. Imports under ``if TYPE_CHECKING:`` are annotations only and
do not count.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("alliance_monitor", "streams", "scoring", "gateway", "store", "validation", "privacy", "ingest", "training",
            "migrations")

#: The layers, left to right: a module may import from its own layer or those left of it.
#: contract — the formats every part agrees on (events, their encoding, the topic catalog, the replay
#: file format, the shared metric names); core — decisions without I/O (time and every input are passed
#: in, an outcome comes back); shell — moves bytes (Kafka, sockets, files, the database); cli — the
#: command line (alliance_monitor), which composes everything and which nothing imports.
LAYERS = ("contract", "core", "shell", "cli")
#: All core and shared by every part: validation (the statistics and the gate decision) and
#: privacy (PII redaction for the sink, the processor and the logs). Each imports only
#: contracts and itself.
SHARED_CORE_PACKAGES = ("validation", "privacy")
CLI = "alliance_monitor"
#: Where the contracts live (the spine every process shares).
CONTRACT_PACKAGE = "streams"


def package_of(module: str) -> str:
    return module.split(".")[0]


class LayerDeclarationError(ValueError):
    """A module's ``__layer__`` is missing, repeated, not a string literal, or not a known layer."""


def declared_layer(source: str, module: str = "<module>") -> str:
    """The layer a module declares for itself: its top-level ``__layer__ = "<layer>"``, read from the
    source (AST; nothing is imported). Refuses a module that declares none, declares it twice, declares
    it with anything but a string literal, or names a layer not in :data:`LAYERS`."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__layer__" for t in targets):
            found.append(value)
    if not found:
        raise LayerDeclarationError(f"{module}: no layer declared; add `__layer__ = \"<layer>\"` near the top "
                                    f"(one of {', '.join(LAYERS)}; docs/architecture.md#the-dependency-rule)")
    if len(found) > 1:
        raise LayerDeclarationError(f"{module}: __layer__ declared {len(found)} times")
    value = found[0]
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        raise LayerDeclarationError(f"{module}: __layer__ must be a string literal")
    if value.value not in LAYERS:
        raise LayerDeclarationError(f"{module}: unknown layer {value.value!r} (one of {', '.join(LAYERS)})")
    return value.value


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


def project_files() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def project_graph() -> dict[str, set[str]]:
    files = project_files()
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def project_layers() -> tuple[dict[str, str], list[str]]:
    """Each module's declared layer, and the modules whose declaration is refused (why)."""
    layers: dict[str, str] = {}
    refused: list[str] = []
    for path in project_files():
        name = module_name(path)
        try:
            layers[name] = declared_layer(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
        except LayerDeclarationError as err:
            refused.append(str(err))
    return layers, refused


GRAPH = project_graph()
LAYER, REFUSED = project_layers()


def layer_of(module: str) -> str:
    """The layer ``module`` declares (``__layer__``); a module without a valid one fails
    :func:`test_every_module_declares_a_known_layer` (and counts as a shell meanwhile)."""
    return LAYER.get(module, "shell")


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


def test_every_module_declares_a_known_layer():
    assert not REFUSED, "\n".join(REFUSED)
    assert LAYER.keys() == GRAPH.keys()
    assert set(LAYER.values()) == set(LAYERS)


def test_layers_fit_their_packages():
    """The CLI is alliance_monitor and only it; validation and privacy are core throughout; the
    contracts live in streams."""
    bad = sorted(f"{m} declares {layer}" for m, layer in LAYER.items()
                 if (layer == "cli") != (package_of(m) == CLI)
                 or (package_of(m) in SHARED_CORE_PACKAGES and layer != "core")
                 or (layer == "contract" and package_of(m) != CONTRACT_PACKAGE))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, refused", [
    ('"""A module."""\n\nimport os\n', "no layer declared"),
    ('__layer__ = "kernel"\n', "unknown layer 'kernel'"),
    ('__layer__ = "core"\n__layer__ = "shell"\n', "declared 2 times"),
    ('LAYER = "core"\n__layer__ = LAYER\n', "string literal"),
    ('def f():\n    __layer__ = "core"\n', "no layer declared"),  # only a module-level declaration counts
])
def test_a_missing_or_unknown_layer_is_refused(source, refused):
    """The check can fail: a module without a declaration, or with one the rule does not know, is refused."""
    with pytest.raises(LayerDeclarationError, match=refused):
        declared_layer(source, "synthetic")


def test_a_declared_layer_is_read_from_the_file_without_importing_it(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text('"""Probe."""\n\nfrom __future__ import annotations\n\n__layer__: str = "core"\n\n'
                      'raise SystemExit("imported")\n', encoding="utf-8")
    assert declared_layer(module.read_text(encoding="utf-8"), "probe") == "core"


def module_map(text: str) -> dict[str, str]:
    """The module map of docs/architecture.md: ``| `pkg/mod.py` | layer | what |`` rows -> {path: layer}."""
    start = re.search(r"^## Module map$", text, flags=re.M).end()
    end = re.search(r"^## ", text[start:], flags=re.M)
    section = text[start:start + end.start()] if end else text[start:]
    rows = re.findall(r"^\| `([\w/]+\.py)` \| (\w+) \|", section, flags=re.M)
    return dict(rows)


def test_the_module_map_lists_every_module_with_its_layer():
    documented = module_map((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    actual = {str(p.relative_to(ROOT)): layer_of(module_name(p)) for p in project_files()}
    missing = sorted(actual.keys() - documented.keys())
    gone = sorted(documented.keys() - actual.keys())
    wrong = sorted(f"{m}: map says {documented[m]}, module declares {actual[m]}"
                   for m in actual.keys() & documented.keys() if documented[m] != actual[m])
    assert not (missing or gone or wrong), ("docs/architecture.md#module-map is out of step:\n"
                                            f"missing: {missing}\nno such module: {gone}\n" + "\n".join(wrong))


def test_the_module_map_check_can_fail():
    text = "## Module map\n\n| `streams/contracts.py` | core | events |\n\n## Next\n| `x/y.py` | shell | no |\n"
    assert module_map(text) == {"streams/contracts.py": "core"}  # only the map's own rows count
    assert module_map(text)["streams/contracts.py"] != layer_of("streams.contracts")


#: The mypy flags that make an override section strict (``--strict``, flag by flag; pyproject.toml).
STRICT_FLAG = "disallow_untyped_defs"
#: The layers mypy checks strictly (docs/development.md#mypy-strict-on-contracts-and-cores-normal-on-shells).
STRICT_LAYERS = ("contract", "core")


def strict_patterns(config: dict) -> list[str]:
    """The module patterns of the one ``[[tool.mypy.overrides]]`` section that turns strict checking on."""
    sections = [o for o in config.get("tool", {}).get("mypy", {}).get("overrides", []) if o.get(STRICT_FLAG)]
    assert len(sections) == 1, (f"expected one strict [[tool.mypy.overrides]] section ({STRICT_FLAG} = true), "
                                f"found {len(sections)}")
    module = sections[0]["module"]
    return [module] if isinstance(module, str) else list(module)


def pattern_covers(pattern: str, module: str) -> bool:
    """mypy's override matching: ``a.b`` is that module only, ``a.b.*`` is ``a.b`` and everything under it.
    Other wildcards are refused (this check would have to learn them first)."""
    if pattern.endswith(".*"):
        prefix = pattern[:-2]
        if "*" not in prefix:
            return module == prefix or module.startswith(prefix + ".")
    elif "*" not in pattern:
        return module == pattern
    raise ValueError(f"mypy override pattern {pattern!r}: only `a.b` and `a.b.*` are understood here")


def strictness_drift(patterns: list[str], layers: dict[str, str]) -> list[str]:
    """What keeps the strict list from being exactly the contracts and cores: each problem in words."""
    strict = {m for m in layers if any(pattern_covers(p, m) for p in patterns)}
    wanted = {m for m, layer in layers.items() if layer in STRICT_LAYERS}
    problems = [f"{m} declares {layers[m]}: add it to the strict [[tool.mypy.overrides]] of pyproject.toml"
                for m in sorted(wanted - strict)]
    problems += [f"{m} is a {layers[m]} but checked strictly (pyproject.toml): take it out of the strict list"
                 for m in sorted(strict - wanted)]
    problems += [f"{p} names no module: take it out of the strict list"
                 for p in patterns if not any(pattern_covers(p, m) for m in layers)]
    return problems


def test_contracts_and_cores_and_only_they_are_checked_strictly():
    """The strict list of pyproject.toml and the ``__layer__`` declarations cannot drift apart: a module split
    out of a core, or a new contract, fails here until it is listed; a shell or a gone module listed fails too."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    problems = strictness_drift(strict_patterns(config), LAYER)
    assert not problems, "mypy strictness out of step with the declared layers:\n" + "\n".join(problems)


def test_the_strictness_check_can_fail():
    layers = {"gateway.hub": "core", "gateway.policy": "core", "gateway.server": "shell",
              "validation": "core", "validation.gate": "core"}
    assert strictness_drift(["gateway.hub", "gateway.policy", "validation.*"], layers) == []
    assert strictness_drift(["gateway.hub", "validation.*"], layers) == [
        "gateway.policy declares core: add it to the strict [[tool.mypy.overrides]] of pyproject.toml"]
    assert strictness_drift(["gateway.*", "validation.*"], layers) == [
        "gateway.server is a shell but checked strictly (pyproject.toml): take it out of the strict list"]
    assert strictness_drift(["gateway.hub", "gateway.policy", "gateway.protocol.*", "validation.*"], layers) == [
        "gateway.protocol.* names no module: take it out of the strict list"]
    assert not pattern_covers("gateway.hub", "gateway.hubs") and not pattern_covers("gateway.hub.*", "gateway.hubs")
    with pytest.raises(ValueError, match="only"):
        pattern_covers("gateway.*.hub", "gateway.x.hub")
    config = {"tool": {"mypy": {"overrides": [{"module": "a", "disallow_untyped_defs": True},
                                              {"module": ["b"], "ignore_missing_imports": True}]}}}
    assert strict_patterns(config) == ["a"]


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
