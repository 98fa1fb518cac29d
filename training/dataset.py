"""Labelled sessions: the one interface training reads, with its two sources.

A :class:`LabelledSession` is a transcript (the turns a scorer would see at the
end of the session), who counselled, when it started, and the client's 12 item
answers. Training never cares where they came from:

* :func:`from_files` — client labels (the ``eval --labels`` file, read by the
  caller) plus recorded sessions in the replay formats (what a site can export today);
* :func:`from_store` — the store's client ratings joined to the chat turns the
  store kept (``ALLIANCE_STORE_TURNS=1``); the CLI reads both and hands them in.

:func:`fingerprint` hashes exactly what training used, so a trained artefact
names its data.
"""

from __future__ import annotations

__layer__ = "shell"

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from scoring.prompts import Line
from streams.contracts import ITEM_IDS, Lang

from .errors import TrainingError


@dataclass(frozen=True)
class LabelledSession:
    session_id: str
    counselor_id: str
    lang: Lang
    started_at: datetime
    turns: tuple[Line, ...]
    #: the client's answers, item id -> 1..5 (any subset of Q1..Q12)
    answers: dict[str, float]
    #: optional per-item rationales, used as extra targets by LoRA
    rationales: dict[str, str] | None = None

    @property
    def chars(self) -> int:
        return sum(len(t.text) for t in self.turns)

    @property
    def client_turns(self) -> int:
        return sum(1 for t in self.turns if t.speaker == "client")


def from_files(labels: Mapping[str, Any], session_paths: Sequence[str | Path],
               rationales: Mapping[str, dict[str, str]] | None = None) -> tuple[list[LabelledSession], dict]:
    """Join client labels to replay files by session id.

    ``labels`` maps session id -> a label with ``.items`` (item id -> 1..5), as
    ``store.eval.read_labels`` returns it (the CLI reads the file and hands it
    in: training never imports the store); ``rationales`` are the optional
    per-item rationales of :func:`read_rationales`. Returns the labelled
    sessions (oldest first) and counts of what was left out (``unlabelled``:
    sessions without a label, ``missing``: labels without a session,
    ``rejected``: replay lines that did not parse).
    """
    from streams.contracts import ChatTurn, SessionEvent
    from streams.replay_format import iter_files, read_file

    files = list(iter_files([str(p) for p in session_paths]))
    if not files:
        raise TrainingError(f"no session files found in {', '.join(map(str, session_paths))}")
    turns: dict[str, list[ChatTurn]] = {}
    starts: dict[str, SessionEvent] = {}
    rejected = 0
    for path in files:
        if not Path(path).is_file():
            raise TrainingError(f"session file not found: {path}")
        events, bad = read_file(path)
        rejected += len(bad)
        for ev in events:
            e = ev.event
            if isinstance(e, ChatTurn):
                turns.setdefault(e.session_id, []).append(e)
            elif isinstance(e, SessionEvent) and e.kind == "started":
                starts[e.session_id] = e
    raw_rationales = rationales or {}
    out: list[LabelledSession] = []
    for sid, ts in turns.items():
        label = labels.get(sid)
        if label is None or not label.items:
            continue
        ts = sorted(ts, key=lambda t: t.turn_id)
        start = starts[sid].at if sid in starts else ts[0].sent_at
        out.append(LabelledSession(sid, ts[0].counselor_id, ts[0].lang, start,
                                   tuple(Line(t.speaker, t.text) for t in ts), dict(label.items),
                                   raw_rationales.get(sid)))
    counts = {"unlabelled": sum(1 for s in turns if s not in labels), "missing": sum(1 for s in labels if s not in turns),
              "rejected": rejected}
    out.sort(key=lambda s: (s.started_at, s.session_id))
    return out, counts


def read_rationales(labels_path: str | Path) -> dict[str, dict[str, str]]:
    """Optional ``"rationales": {"Q1": "..."}`` per label line (the label reader ignores extra keys)."""
    import orjson

    out: dict[str, dict[str, str]] = {}
    with Path(labels_path).open("rb") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            r = data.get("rationales") if isinstance(data, dict) else None
            if isinstance(r, dict):
                out[data["session_id"]] = {k: str(v) for k, v in r.items() if k in ITEM_IDS and str(v).strip()}
    return out


def from_store(rated: Sequence[Any], without_text: Sequence[str] = ()) -> tuple[list[LabelledSession], dict]:
    """Labelled sessions from the store's client ratings and the store's chat turns.

    ``rated`` are ``store.ratings.rated_transcripts`` rows (session id, counselor,
    lang, start, ``(speaker, text)`` turns, the latest WAI-SR answers), read by
    the CLI and handed in; ``without_text`` are rated sessions whose turns the
    store does not keep. When none has text the store ran without
    ``ALLIANCE_STORE_TURNS=1`` (or retention purged it): training then needs the
    recorded session files, and says so.
    """
    if not rated:
        if without_text:
            raise TrainingError(f"the store has client ratings for {len(without_text)} session(s) but none of "
                                f"their chat text (the sink keeps turns only with ALLIANCE_STORE_TURNS=1, until "
                                f"retention purges them); give the recorded sessions: "
                                f"train --from-store --sessions FILE...")
        raise TrainingError("no WAI-SR ratings in the store yet (collect them with `alliance-monitor survey link` "
                            "or publish ClientRating records to chat.ratings)")
    out = [LabelledSession(r.session_id, r.counselor_id, r.lang, r.started_at,
                           tuple(Line(speaker, text) for speaker, text in r.turns),
                           {k: float(v) for k, v in r.answers.items() if k in ITEM_IDS})
           for r in rated]
    out.sort(key=lambda s: (s.started_at, s.session_id))
    return out, {"unlabelled": 0, "missing": len(without_text), "rejected": 0}


def fingerprint(sessions: Iterable[LabelledSession]) -> str:
    """A short hash of the sessions, their text and their labels (order-independent)."""
    h = hashlib.sha256()
    for s in sorted(sessions, key=lambda s: s.session_id):
        h.update(s.session_id.encode())
        for t in s.turns:
            h.update(b"\x00" + t.speaker.encode() + b"\x01" + t.text.encode())
        for k in sorted(s.answers):
            h.update(f"\x02{k}={s.answers[k]:g}".encode())
    return h.hexdigest()[:16]
