"""Write a synthetic corpus to disk: replay sessions, labels, latents and a README, all marked SYNTHETIC."""

from __future__ import annotations

__layer__ = "shell"

import json
from pathlib import Path

from .synthetic_corpus import SYNTHETIC_NOTE, CorpusSpec, SyntheticSession, generate, header_lines

SESSIONS = "sessions.jsonl"
LABELS = "labels.jsonl"
LATENTS = "latents.jsonl"
README = "README.txt"


def write_corpus(spec: CorpusSpec, out: str | Path) -> tuple[list[SyntheticSession], dict[str, Path]]:
    """Generate and write; returns the sessions and the paths written (``sessions``, ``labels``, ...)."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    sessions = generate(spec)
    head = "\n".join(header_lines(spec)) + "\n"
    dump = lambda obj: json.dumps(obj, ensure_ascii=False, sort_keys=False)  # noqa: E731
    paths = {"sessions": d / SESSIONS, "labels": d / LABELS, "latents": d / LATENTS, "readme": d / README}
    paths["sessions"].write_text(head + "".join(dump(s.session_line()) + "\n" for s in sessions), encoding="utf-8")
    paths["labels"].write_text(head + "".join(dump(s.label_line()) + "\n" for s in sessions), encoding="utf-8")
    paths["latents"].write_text(head + "".join(
        dump({"session_id": s.session_id, "part": s.part, "latents": s.latents,
              "cues": {k: list(v) for k, v in s.cues.items()}}) + "\n" for s in sessions), encoding="utf-8")
    paths["readme"].write_text(
        f"{SYNTHETIC_NOTE}.\n\nMade by `alliance-monitor corpus synth` (training/synthetic_corpus.py) with seed "
        f"{spec.seed}: {spec.sessions} sessions ({', '.join(spec.langs)}). The client answers follow what is said "
        f"(reflecting vs lecturing, agreeing on goals vs drifting, a useful step vs a platitude), not length; in the "
        f"'length-inverse' part a worse alliance comes with longer sessions. Use it to test and benchmark the "
        f"training loop, never as evidence about real clients.\n\n"
        f"{SESSIONS}: the replay format; {LABELS}: the eval --labels format; {LATENTS}: the generator's latent "
        f"levels and cue counts.\n", encoding="utf-8")
    return sessions, paths
