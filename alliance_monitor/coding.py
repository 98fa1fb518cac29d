"""The ``/code`` page's parts, composed: the word rules that stratify the sample, the store behind the page.

Why here: the rules live in ``scoring`` and ``streams``, the codes in ``store``, the
page in ``gateway``; shells of different packages do not import each other, so the
command line hands each the others' functions (as it hands the gateway its
``archive_loader``).
"""

from __future__ import annotations

__layer__ = "cli"

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from scoring.turn_features import feature_patterns, features, rule_codes
from validation.codebook import SESSION_TURN
from validation.coding_sample import CONTEXT_TURNS, DOUBLE_SHARE, SAMPLE_SIZE, SampledTurn

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gateway.auth import Viewer

#: The window to sample from when the store keeps turns forever (no retention): ten years.
KEEP_FOREVER_DAYS = 3650.0


def rule_fired(speaker: str, text: str) -> bool:
    """Did a word rule fire on this turn (the stratum it is sampled from)?

    Counselor turns: any word-level feature (a question, a reflection, a directive,
    a self-disclosure) or the "passive response" pattern; client turns: a withdrawal
    or confrontation marker (``scoring.turn_features.rule_codes``: a bare
    acknowledgement is not one).
    """
    if speaker == "counselor":
        return any(rule_codes(text, speaker).values()) or bool(feature_patterns(features(text)))
    return any(rule_codes(text, speaker).values())


class StoreCodingDesk:
    """The coding page's store (``gateway.coding_socket.CodingDesk``): the sample, its context, the codes.

    The sample is drawn anew on each load from the turns in the store and the
    viewer's scope (their groups; all groups for an all-groups token) — the same
    turns for the same store, so two coders are offered the same double turns. A
    coder is the token's ``name``. One engine for the gateway's life, made on first use.
    """

    def __init__(self, db_url: str | None, *, retention_days: float | None, size: int = SAMPLE_SIZE,
                 double_share: float = DOUBLE_SHARE, seed: int = 0, context: int = CONTEXT_TURNS,
                 clock: Callable[[], float] = time.time):
        self.db_url = db_url
        self.retention_days = retention_days if retention_days is not None else KEEP_FOREVER_DAYS
        self.size, self.double_share, self.seed, self.context = size, double_share, seed, context
        self.clock = clock
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from store.db import make_engine

            self._engine = make_engine(self.db_url)
        return self._engine

    def _sample(self, viewer: Viewer) -> list[SampledTurn]:
        from store.turn_codes import coding_sample

        groups = None if viewer.all_groups else frozenset(viewer.groups)
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        return coding_sample(self.engine, rule_fired, now=now, retention_days=self.retention_days, size=self.size,
                             double_share=self.double_share, seed=self.seed, groups=groups)

    def turns_for(self, viewer: Viewer) -> list[dict[str, Any]]:
        from store.turn_codes import read_turn_codes, turn_with_context
        from validation.coding_sample import queue_for

        sample = self._sample(viewer)
        coded_by: dict[tuple[str, int], set[str]] = {}
        mine: dict[tuple[str, int], tuple[str, ...]] = {}
        ruptures: dict[str, dict | None] = {}  # this coder's rupture code per session, where given
        for r in read_turn_codes(self.engine):
            if r.turn_id == SESSION_TURN:
                if r.coder_id == viewer.name:
                    ruptures[r.session_id] = r.rupture
                continue
            coded_by.setdefault((r.session_id, r.turn_id), set()).add(r.coder_id)
            if r.coder_id == viewer.name:
                mine[(r.session_id, r.turn_id)] = r.codes
        queue = queue_for(viewer.name, sample, {k: frozenset(v) for k, v in coded_by.items()})
        return [{"session_id": t.session_id, "turn_id": t.turn_id, "speaker": t.speaker,
                 "context": turn_with_context(self.engine, t.session_id, t.turn_id, self.context),
                 "codes": list(mine[(t.session_id, t.turn_id)]) if (t.session_id, t.turn_id) in mine else None,
                 "session_coded": t.session_id in ruptures, "rupture": ruptures.get(t.session_id)}
                for t in queue]

    def save(self, viewer: Viewer, session_id: str, turn_id: int, codes: object) -> dict[str, Any]:
        """Record the viewer's codes of a turn of their sample (any other turn is refused: LookupError).

        ``turn_id`` = ``SESSION_TURN``: the session's rupture code, for a session of the sample.
        """
        from store.turn_codes import write_turn_code

        if turn_id == SESSION_TURN:
            if session_id not in {t.session_id for t in self._sample(viewer)}:
                raise LookupError(f"session {session_id} is not in your coding sample")
            at = datetime.fromtimestamp(self.clock(), timezone.utc)
            row = write_turn_code(self.engine, session_id=session_id, turn_id=turn_id, coder_id=viewer.name,
                                  speaker="session", codes=codes, coded_at=at)
            return {"session_id": session_id, "turn_id": turn_id, "codes": [], "rupture": row.rupture}
        turn = next((t for t in self._sample(viewer) if (t.session_id, t.turn_id) == (session_id, turn_id)), None)
        if turn is None:
            raise LookupError(f"turn {turn_id} of {session_id} is not in your coding sample")
        at = datetime.fromtimestamp(self.clock(), timezone.utc)
        row = write_turn_code(self.engine, session_id=session_id, turn_id=turn_id, coder_id=viewer.name,
                              speaker=turn.speaker, codes=codes, coded_at=at)
        return {"session_id": session_id, "turn_id": turn_id, "codes": list(row.codes)}

    def agreement(self, viewer: Viewer) -> dict[str, Any]:
        """The coders' agreement on the viewer's sample, per codebook code (turns two coders coded)."""
        from store.turn_codes import read_turn_codes
        from validation.codebook import coder_agreement
        from validation.stats import finite_or_none

        in_sample = {(t.session_id, t.turn_id): t.speaker for t in self._sample(viewer)}
        by_turn: dict[tuple[str, int], list[tuple[str, tuple[str, ...]]]] = {}
        for r in read_turn_codes(self.engine):
            if (r.session_id, r.turn_id) in in_sample:
                by_turn.setdefault((r.session_id, r.turn_id), []).append((r.coder_id, r.codes))
        pairs = [(in_sample[k], sorted(v)[0][1], sorted(v)[1][1]) for k, v in by_turn.items() if len(v) >= 2]
        return {"double_coded": len(pairs), "coded": len(by_turn), "sampled": len(in_sample),
                "codes": [{"code": a.code, "turns": a.n, "percent": finite_or_none(a.percent),
                           "kappa": finite_or_none(a.kappa)} for a in coder_agreement(pairs)]}
