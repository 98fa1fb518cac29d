"""Write a seeded synthetic label set into a store, to try the validation commands end to end.

    python -m store.validation_demo DIR [--fixture length_only|signal_in_bond|misscaled] [--model NAME]

Writes ``DIR/<fixture>.db`` (a migrated SQLite store holding one late-phase
prediction per session, with transcript length) and ``DIR/<fixture>.jsonl`` (the
client labels, in the ``eval --labels`` format), then prints the commands to run.
Numbers only: the fixtures (``validation.synthetic``) contain no text, and the
answer is known by construction — see docs/validation.md. The tests use the same
writer (tests/store/test_validation_cli.py).
"""

from __future__ import annotations

__layer__ = "shell"

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from streams.contracts import (
    DIMENSION_ITEMS,
    DIMENSIONS,
    AllianceScore,
    DimensionScore,
    ItemScore,
    ModelIdentity,
    request_id_for,
)
from validation import synthetic

FIXTURES = {
    "length_only": synthetic.length_only,
    "signal_in_bond": lambda: synthetic.signal_in("bond"),
    "misscaled": synthetic.misscaled,
}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _probs(level: float) -> list[float]:
    """Five probabilities with expected value ``level`` (mass on the two nearest options)."""
    lo = int(min(4, max(1, int(level))))
    p = [0.0] * 5
    p[lo - 1] = 1.0 - (level - lo)
    p[lo] += level - lo
    return p


def scores_for(ds: synthetic.LabelledSet, model: ModelIdentity) -> list[AllianceScore]:
    """One late-phase score per session: each item of a dimension = the fixture's prediction."""
    out = []
    for i, sid in enumerate(ds.session_ids):
        items, dims = [], {}
        for dim, qs in DIMENSION_ITEMS.items():
            level = float(ds.predictions[dim][i])
            items += [ItemScore(item_id=q, dimension=dim, expected=level, probs=_probs(level)) for q in qs]
            dims[dim] = DimensionScore(score=level)
        out.append(AllianceScore(
            request_id=request_id_for(sid, "late"), session_id=sid, phase="late", upto_turn_id=50, items=items,
            dimensions=dims, model=model, scored_at=T0 + timedelta(minutes=i),
            transcript_chars=int(round(ds.covariates[i, 0])), client_turns=int(ds.covariates[i, 1])))
    return out


def write_labelled_set(ds: synthetic.LabelledSet, url: str, labels_path: Path,
                       model: ModelIdentity | None = None) -> Path:
    """Migrate the store at ``url``, store the fixture's predictions, write its labels as JSONL."""
    from .db import make_engine, upgrade
    from .writes import write_events

    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            write_events(conn, scores_for(ds, model or ModelIdentity(name="demo-model")))
    finally:
        engine.dispose()
    lines = [orjson.dumps({"session_id": sid, "dimensions": {d: float(ds.labels[d][i]) for d in DIMENSIONS}})
             for i, sid in enumerate(ds.session_ids)]
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    labels_path.write_bytes(b"\n".join(lines) + b"\n")
    return labels_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m store.validation_demo", description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--fixture", choices=sorted(FIXTURES), default="signal_in_bond")
    ap.add_argument("--model", default="demo-model", help="model name (revision local, prompt v1, read-out expected)")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    db = (args.dir / f"{args.fixture}.db").resolve()
    url = f"sqlite:///{db}"
    if db.exists():
        ap.exit(2, f"{db} exists; choose another DIR\n")
    labels = write_labelled_set(FIXTURES[args.fixture](), url, args.dir / f"{args.fixture}.jsonl",
                                ModelIdentity(name=args.model))
    print(f"store:  {url}")
    print(f"labels: {labels}")
    print(f"try:    alliance-monitor eval --labels {labels} --db {url}")
    print(f"        alliance-monitor calibrate --labels {labels} --db {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
