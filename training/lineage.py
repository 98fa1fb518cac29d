"""Lineage of trained artefacts: which base, which data, which method, when, on how many sessions.

Stored twice on purpose: inside the artefact (``lineage.json``, travels with it)
and as one line in an index under the trained-models root, so ``models status``
can list every artefact trained on this machine without a database table. The
index is append-only JSON Lines; a damaged line is skipped, never fatal.
"""

from __future__ import annotations

__layer__ = "shell"

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from streams import environment

LINEAGE_JSON = "lineage.json"
INDEX = "index.jsonl"


def trained_root() -> Path:
    """``ALLIANCE_TRAINED_DIR``, else ``trained/`` beside the converted models in the user cache."""
    env = environment.get("ALLIANCE_TRAINED_DIR")
    if env:
        return Path(env).expanduser()
    from scoring.models import cache_root

    return cache_root() / "trained"


@dataclass(frozen=True)
class Lineage:
    method: str
    identity: str
    base_name: str
    base_revision: str
    data_fingerprint: str
    data_source: str
    n_train: int
    n_eval: int
    shared_counselors: int
    path: str
    trained_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line of ``models status``."""
        return (f"{self.identity}  {self.method}  base {self.base_name}@{self.base_revision}  "
                f"data {self.data_fingerprint} ({self.n_train} train / {self.n_eval} held out, {self.data_source})  "
                f"{self.trained_at[:19]}  {self.path}")


def write(lineage: Lineage, artefact_dir: str | Path, root: str | Path | None = None) -> None:
    """Write ``lineage.json`` into the artefact and append it to the index."""
    d = Path(artefact_dir)
    (d / LINEAGE_JSON).write_text(json.dumps(lineage.to_dict(), indent=2, sort_keys=True))
    index_dir = Path(root) if root is not None else trained_root()
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / INDEX).open("a", encoding="utf-8") as f:
        f.write(json.dumps(lineage.to_dict(), sort_keys=True) + "\n")


def read(artefact_dir: str | Path) -> Lineage | None:
    p = Path(artefact_dir) / LINEAGE_JSON
    try:
        return Lineage(**json.loads(p.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def listing(root: str | Path | None = None) -> list[Lineage]:
    """Every indexed artefact whose directory still exists, newest last."""
    index = (Path(root) if root is not None else trained_root()) / INDEX
    if not index.is_file():
        return []
    out: list[Lineage] = []
    for raw in index.read_text(encoding="utf-8").splitlines():
        try:
            lin = Lineage(**json.loads(raw))
        except (ValueError, TypeError):
            continue
        if Path(lin.path).exists():
            out.append(lin)
    return out


def status_section(root: str | Path | None = None) -> str:
    """The trained-models part of ``models status`` (empty string when there are none)."""
    rows = listing(root)
    if not rows:
        return ""
    lines = ["trained models (lineage; each starts unvalidated until `eval` passes for its identity):"]
    lines += [f"  {r.line()}" for r in rows]
    return "\n".join(lines)
