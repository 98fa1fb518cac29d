"""Exceptions live in their package's errors.py (docs/architecture.md#errors-and-the-command-line).

Checked on the source (AST, nothing is imported): a class deriving from an
exception — a built-in one, a project exception, or any base named ``*Error``,
``*Exception`` or ``*Warning`` — may only be defined in a module named
``errors.py``; and in each errors.py every exception derives, directly or not,
from the one base class of that file (the package's root error, which the CLI
prints as one line).
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from tests.test_architecture import PACKAGES

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                      if isinstance(value, type) and issubclass(value, BaseException)}


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def exception_classes(sources: dict[str, str]) -> dict[str, list[tuple[str, list[str]]]]:
    """Per file, the exception classes it defines (name, base names), at any depth."""
    classes: dict[str, list[tuple[str, list[str]]]] = {}
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(path, []).append((node.name, [b for b in map(_base_name, node.bases) if b]))
    known = set(BUILTIN_EXCEPTIONS)
    while True:  # project exceptions derive from exceptions, possibly through other project exceptions
        more = {name for defs in classes.values() for name, bases in defs
                if name not in known and any(b in known or b.endswith(("Error", "Exception", "Warning"))
                                             for b in bases)}
        if not more:
            break
        known |= more
    return {path: [(name, bases) for name, bases in defs if name in known] for path, defs in classes.items()}


def misplaced(sources: dict[str, str]) -> list[str]:
    """Exception classes defined outside an errors.py, or not under their errors.py's one root error."""
    bad: list[str] = []
    for path, defs in exception_classes(sources).items():
        if Path(path).name != "errors.py":
            bad += [f"{path}: class {name} (move it to its package's errors.py)" for name, _ in defs]
            continue
        local = {name for name, _ in defs}
        roots = [name for name, bases in defs if not set(bases) & local]
        if len(roots) > 1:
            bad.append(f"{path}: {len(roots)} root errors ({', '.join(roots)}); one base class per package")
    return bad


def _package_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def test_every_exception_class_is_in_its_packages_errors_module():
    sources = _package_sources()
    assert not misplaced(sources), "\n".join(misplaced(sources))
    found = exception_classes(sources)
    assert sum(len(v) for v in found.values()) >= 25  # the scan sees them (17 moved + the roots + the rest)


@pytest.mark.parametrize("path, source", [
    ("streams/thing.py", "class Oops(ValueError):\n    pass\n"),
    ("streams/thing.py", "from .errors import StreamsError\nclass Oops(StreamsError, RuntimeError):\n    pass\n"),
    ("gateway/thing.py", "import jwt\nclass Bad(jwt.InvalidTokenError):\n    pass\n"),
    ("scoring/thing.py", "def f():\n    class Local(Exception):\n        pass\n"),
    ("store/errors.py", "class StoreError(RuntimeError):\n    pass\nclass Other(Exception):\n    pass\n"),
])
def test_a_misplaced_exception_is_refused(path, source):
    """The check can fail: an exception outside errors.py, or a second root in one errors.py."""
    sources = {"streams/errors.py": "class StreamsError(Exception):\n    pass\n", path: source}
    assert misplaced(sources)


def test_errors_modules_and_plain_classes_pass():
    sources = {
        "streams/errors.py": "class StreamsError(Exception):\n    pass\nclass BrokerError(StreamsError, RuntimeError):\n"
                             "    pass\nclass DlqError(BrokerError):\n    pass\n",
        "streams/thing.py": "from dataclasses import dataclass\n@dataclass\nclass Settings:\n    x: int = 1\n"
                            "class Handler(Base):\n    pass\n",
    }
    assert misplaced(sources) == []
