"""Which feature blocks a site-trained head reads, and which turns each block sees (pure).

A *block* is a feature source seen through a *view*:

* sources: ``lexical`` (word 1–2-grams + character 2–4-grams, TF-IDF: :mod:`scoring.lexical`),
  ``hidden`` (mean-pooled middle-layer states of the scoring model: :mod:`scoring.features`);
* views: ``all`` (the whole transcript; written without a suffix), ``client`` (the client's
  turns), ``counselor`` (the counselor's turns), ``window`` (the last :data:`WINDOW_TURNS`
  turns of the phase being scored).

Why views: on real rated chats the client's words carry the "felt understood" rating and the
counselor's words the "relevant" one, information that one pooled block of the whole
transcript blurs (docs/training.md). ``--features`` names blocks with commas
(``lexical,lexical:client,hidden``); ``lexical:*`` / ``hidden:*`` expand to the four views and
``every`` to all eight. The old names ``probs`` and ``hidden+probs`` stay for the first head
format (:class:`scoring.head.ReadoutHead`).

Phases: a head trained on whole sessions applies at every phase cut. Offline (training, the
held-out check) a phase is cut by its share of the turns — early = the first third, middle =
the first two thirds, late = all — standing in for the live clock's thirds of the planned time.
"""

from __future__ import annotations

__layer__ = "core"

import hashlib
from typing import Literal, Sequence

from streams.contracts import Lang, Phase

from .errors import HeadError
from .prompts import TurnLike

SOURCES = ("lexical", "hidden")
VIEWS = ("all", "client", "counselor", "window")
View = Literal["all", "client", "counselor", "window"]
PHASES: tuple[Phase, ...] = ("early", "middle", "late")
#: Turns in the ``window`` view: the last exchanges before the cut (about four each).
WINDOW_TURNS = 8
#: Heads of the first format (one source, no views, optionally the option probabilities).
LEGACY_KINDS = ("probs", "hidden+probs")

ALL_BLOCKS: tuple[str, ...] = tuple(src if view == "all" else f"{src}:{view}" for src in SOURCES for view in VIEWS)


def block_name(source: str, view: str) -> str:
    return source if view == "all" else f"{source}:{view}"


def split_block(block: str) -> tuple[str, View]:
    """``"lexical:client"`` -> ``("lexical", "client")``; ``"hidden"`` -> ``("hidden", "all")``."""
    source, _, view = block.partition(":")
    view = view or "all"
    if source not in SOURCES or view not in VIEWS:
        raise HeadError(f"unknown feature block {block!r} (sources {', '.join(SOURCES)}; views "
                               f"{', '.join(VIEWS)}: e.g. lexical, lexical:client, hidden:window)")
    if view == "client":
        return source, "client"
    if view == "counselor":
        return source, "counselor"
    if view == "window":
        return source, "window"
    return source, "all"


def parse_blocks(spec: str) -> tuple[str, ...]:
    """The blocks a ``--features`` value names, in :data:`ALL_BLOCKS` order, each once."""
    wanted: set[str] = set()
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            continue
        if part == "every":
            wanted.update(ALL_BLOCKS)
        elif part.endswith(":*"):
            src = part[:-2]
            if src not in SOURCES:
                raise HeadError(f"unknown feature source {src!r} (expected one of {', '.join(SOURCES)})")
            wanted.update(block_name(src, v) for v in VIEWS)
        else:
            split_block(part)
            wanted.add(part if not part.endswith(":all") else part[:-4])
    if not wanted:
        raise HeadError("no feature block named (e.g. --features lexical,lexical:client,hidden)")
    return tuple(b for b in ALL_BLOCKS if b in wanted)


def sources_of(blocks: Sequence[str]) -> set[str]:
    return {split_block(b)[0] for b in blocks}


def phase_cut(n_turns: int, phase: Phase) -> int:
    """How many leading turns an offline phase cut keeps (by share of the turns)."""
    if phase == "late":
        return n_turns
    share = 1 if phase == "early" else 2
    return max(1, (n_turns * share + 2) // 3) if n_turns else 0


def view_indices(speakers: Sequence[str], view: str, upto: int | None = None,
                 window: int = WINDOW_TURNS) -> list[int]:
    """Indices of the turns (before ``upto``) that ``view`` reads."""
    end = len(speakers) if upto is None else min(upto, len(speakers))
    if view == "all":
        return list(range(end))
    if view == "window":
        return list(range(max(0, end - window), end))
    if view in ("client", "counselor"):
        return [i for i in range(end) if speakers[i] == view]
    raise HeadError(f"unknown view {view!r}")


def view_text(turns: Sequence[TurnLike], view: str, upto: int | None = None) -> str:
    """What the lexical source reads: the texts of the view's turns, one per line (speakers by view)."""
    idx = view_indices([t.speaker for t in turns], view, upto)
    return "\n".join(" ".join(turns[i].text.split()) for i in idx)


def content_hash(turns: Sequence[TurnLike], lang: Lang, *salt: str) -> str:
    """A key for a session's extracted features: its language, speakers and texts (plus ``salt``)."""
    h = hashlib.sha256()
    for s in salt:
        h.update(s.encode() + b"\x00")
    h.update(lang.encode())
    for t in turns:
        h.update(b"\x01" + t.speaker.encode() + b"\x02" + t.text.encode())
    return h.hexdigest()[:32]
