"""One home for reading the environment: ``streams/environment.py`` (docs/architecture.md#one-home-for-each-decision).

The rule, checked on the source (AST, nothing is imported): outside the home, no
code *reads* a variable of the process environment — no ``os.getenv(...)``, no
``os.environ.get(...)``, no ``os.environ[...]`` read, no ``... in os.environ``, no
iteration over it, and no handing ``os.environ`` itself to other code (which could
then read anything). Two things are not reads and stay allowed anywhere:

* setting a variable for this process's libraries or its children:
  ``os.environ[NAME] = value``, ``del os.environ[NAME]``, ``os.environ.setdefault(...)``,
  ``.update(...)``, ``.pop(...)``, ``os.putenv``/``os.unsetenv``;
* handing the environment on to a child process unread: ``dict(os.environ, ...)``,
  ``{**os.environ, ...}``, ``os.environ.copy()``, ``env=os.environ`` in a call.

Scope: the packages (those of tests/test_architecture.py) and the repository's
bench/ and scripts/. Not tests/ (fixtures set and read variables on purpose) and
not docker/ (host tooling that runs no part and, by design, imports nothing of the
project: rehearse_image.py forwards host variables into the image it rehearses).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from streams import environment
from tests.test_architecture import PACKAGES

ROOT = Path(__file__).resolve().parents[1]
HOME = Path("streams/environment.py")
SCOPE = PACKAGES + ("bench", "scripts")

#: methods of os.environ that change it (or copy it for a child) without reading a variable;
#: os.putenv / os.unsetenv are not reads either (only getenv is)
WRITES = {"setdefault", "update", "pop", "clear", "copy", "__setitem__", "__delitem__"}
READ_FUNCS = {"getenv", "getenvb"}
MAPPINGS = {"environ", "environb"}


def environment_reads(source: str) -> list[str]:
    """Each place ``source`` reads the process environment, as ``line N: what`` (empty: none)."""
    tree = ast.parse(source)
    parent: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parent[child] = node
    os_names = {"os"}  # import os / import os as o
    mapping_names: set[str] = set()  # from os import environ [as e]
    func_names: set[str] = set()  # from os import getenv [as g]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and not node.level:
            mapping_names |= {a.asname or a.name for a in node.names if a.name in MAPPINGS}
            func_names |= {a.asname or a.name for a in node.names if a.name in READ_FUNCS}

    def is_mapping(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute) and node.attr in MAPPINGS:
            return isinstance(node.value, ast.Name) and node.value.id in os_names
        return isinstance(node, ast.Name) and node.id in mapping_names and isinstance(node.ctx, ast.Load)

    def is_read_func(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute) and node.attr in READ_FUNCS:
            return isinstance(node.value, ast.Name) and node.value.id in os_names
        return isinstance(node, ast.Name) and node.id in func_names

    found: list[str] = []
    for node in ast.walk(tree):
        if is_read_func(node):
            found.append(f"line {node.lineno}: {ast.unparse(parent.get(node, node))}")
            continue
        if not is_mapping(node):
            continue
        up = parent.get(node)
        if isinstance(up, ast.Subscript) and up.value is node and not isinstance(up.ctx, ast.Load):
            continue  # os.environ[NAME] = value / del os.environ[NAME]
        if isinstance(up, ast.Attribute) and up.value is node and up.attr in WRITES:
            continue  # os.environ.setdefault(...), .update(...), .pop(...), .copy() for a child
        if isinstance(up, ast.Dict) and any(k is None and v is node for k, v in zip(up.keys, up.values, strict=True)):
            continue  # {**os.environ, ...}: handed on whole
        if isinstance(up, ast.Call) and isinstance(up.func, ast.Name) and up.func.id == "dict" \
                and up.args[:1] == [node]:
            continue  # dict(os.environ, ...): handed on whole
        if isinstance(up, ast.keyword) and up.arg == "env":
            continue  # subprocess.run(..., env=os.environ)
        shown = parent.get(up, up) if isinstance(up, ast.Attribute) else up  # os.environ.get(...): the call
        found.append(f"line {node.lineno}: {ast.unparse(shown if shown is not None else node)}")
    return sorted(set(found), key=lambda s: int(s.split(":")[0].split()[1]))


def _scope_files() -> list[Path]:
    return [p for top in SCOPE for p in sorted((ROOT / top).rglob("*.py"))]


def test_only_the_home_reads_the_environment():
    reads = {str(p.relative_to(ROOT)): environment_reads(p.read_text(encoding="utf-8")) for p in _scope_files()
             if p.relative_to(ROOT) != HOME}
    bad = [f"{path} {r}" for path, rs in reads.items() for r in rs]
    assert not bad, ("read configuration through streams/environment.py (docs/architecture.md):\n"
                     + "\n".join(bad))
    assert environment_reads((ROOT / HOME).read_text(encoding="utf-8")), "the home itself reads the environment"


@pytest.mark.parametrize("snippet", [
    'import os\nx = os.environ.get("X")',
    'import os\nx = os.environ["X"]',
    'import os\nx = os.getenv("X", "1")',
    'import os as o\nx = o.environ.get("X")',
    'from os import environ\nx = environ.get("X")',
    'from os import environ as e\nx = e["X"]',
    'from os import getenv\nx = getenv("X")',
    'import os\nif "X" in os.environ:\n    pass',
    'import os\nfor k in os.environ:\n    pass',
    'import os\nx = {k: v for k, v in os.environ.items() if k.startswith("A")}',
    'import os\nenv = os.environ',
    'import os\ndef f(env=None):\n    return (env or os.environ).get("X")',
    'import os\nread(os.environ)',
])
def test_a_read_is_caught(snippet):
    """The scan can fail: every way of reading a variable is reported."""
    assert environment_reads(snippet), snippet


@pytest.mark.parametrize("snippet", [
    'import os\nos.environ["HF_HUB_OFFLINE"] = "1"',
    'import os\ndel os.environ["X"]',
    'import os\nos.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")',
    'import os\nos.environ.update(X="1")',
    'import os\nos.environ.pop("X", None)',
    'import os\nenv = dict(os.environ)\nenv.setdefault("RUST_LOG", "warn")',
    'import os\nenv = {**os.environ, "X": "1"}',
    'import os, subprocess\nsubprocess.run(["true"], env=os.environ)',
    'import os\nchild = os.environ.copy()',
    'import os\nos.putenv("X", "1")',
    'from streams import environment\nx = environment.get("KAFKA_BOOTSTRAP")',
])
def test_writes_and_hand_ons_are_not_reads(snippet):
    assert environment_reads(snippet) == [], snippet


def _literal_reads() -> set[str]:
    """Names passed as literals to ``environment.get`` anywhere in the scope."""
    names: set[str] = set()
    for path in _scope_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "environment" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


def test_every_variable_read_is_catalogued():
    from gateway import auth, survey
    from streams import kafka_security as ks

    read = _literal_reads() | {auth.SECRET_ENV, auth.KEYS_ENV, auth.SIGNING_KEY_ENV, auth.REVOKED_ENV,
                               survey.SURVEY_SECRET_ENV, ks.PROTOCOL_ENV, ks.MECHANISM_ENV, ks.USERNAME_ENV,
                               ks.PASSWORD_ENV, ks.PASSWORD_FILE_ENV, ks.CAFILE_ENV, ks.CERTFILE_ENV, ks.KEYFILE_ENV,
                               "ALLIANCE_STORE_TURNS", "ALLIANCE_TURNS_RETENTION_DAYS",
                               "ALLIANCE_AUDIT_RETENTION_DAYS", "ALLIANCE_PARTITIONS", "ALLIANCE_REPLICATION_FACTOR"}
    assert len(_literal_reads()) > 15  # the scan sees the reads
    assert read <= environment.VARIABLES.keys(), sorted(read - environment.VARIABLES.keys())


def test_an_uncatalogued_name_is_refused(monkeypatch):
    monkeypatch.setenv("ALLIANCE_NOT_A_SETTING", "1")
    with pytest.raises(KeyError, match="not a configuration variable"):
        environment.get("ALLIANCE_NOT_A_SETTING")
    assert "ALLIANCE_NOT_A_SETTING" not in environment.snapshot()


def test_values_are_read_as_set_when_asked(monkeypatch):
    monkeypatch.setenv("ALLIANCE_PARTITIONS", " 7 ")
    assert environment.get("ALLIANCE_PARTITIONS") == " 7 "
    monkeypatch.delenv("ALLIANCE_PARTITIONS")
    assert environment.get("ALLIANCE_PARTITIONS") is None and environment.get("ALLIANCE_PARTITIONS", "") == ""
    monkeypatch.setenv("alliance_log", "debug")
    assert environment.spelled(["ALLIANCE_LOG"]) == "alliance_log"


def test_every_catalogued_variable_is_in_docs_settings():
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", text, flags=re.M))
    missing = sorted(environment.VARIABLES.keys() - documented)
    assert not missing, f"not in docs/settings.md (regenerate: alliance-monitor settings > docs/settings.md): {missing}"
