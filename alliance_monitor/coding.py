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
from validation.coding_sample import (
    CONTEXT_TURNS,
    DOUBLE_SHARE,
    SAMPLE_SIZE,
    STRETCH_SAMPLE_SIZE,
    SampledStretch,
    SampledTurn,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gateway.auth import Viewer
    from store.coding_windows import ReplayCache

#: The page's two ways of sampling: single turns, or whole windows ("stretches") coded turn by turn.
MODES = ("turns", "stretch")

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

    ``mode`` "stretch" (``/code?mode=stretch``): whole windows instead of single turns, for the
    process-signal flags' window record (validation/coding_sample.py); each session is replayed for
    its flags once per new turn (``_replays``), not per call.
    """

    def __init__(self, db_url: str | None, *, retention_days: float | None, size: int = SAMPLE_SIZE,
                 double_share: float = DOUBLE_SHARE, seed: int = 0, context: int = CONTEXT_TURNS,
                 stretches: int = STRETCH_SAMPLE_SIZE, clock: Callable[[], float] = time.time):
        self.db_url = db_url
        self.retention_days = retention_days if retention_days is not None else KEEP_FOREVER_DAYS
        self.size, self.double_share, self.seed, self.context = size, double_share, seed, context
        self.stretches = stretches
        self.clock = clock
        self._engine: Engine | None = None
        self._replays: ReplayCache = {}
        self._stretches: dict[frozenset[str] | None, tuple[tuple[Any, ...], list[SampledStretch]]] = {}

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

    def _stretch_sample(self, viewer: Viewer) -> list[SampledStretch]:
        """The viewer's stretch sample; drawn again only when the turns in scope change or a minute passes
        (every save checks membership: reading every turn's text on each would make coding crawl)."""
        from store.coding_windows import scope_fingerprint, stretch_sample

        groups = None if viewer.all_groups else frozenset(viewer.groups)
        now_s = self.clock()
        key = (groups, scope_fingerprint(self.engine, groups), int(now_s // 60))
        cached = self._stretches.get(groups)
        if cached is not None and cached[0] == key:
            return cached[1]
        now = datetime.fromtimestamp(now_s, timezone.utc)
        sample = stretch_sample(self.engine, now=now, retention_days=self.retention_days, size=self.stretches,
                                double_share=self.double_share, seed=self.seed, groups=groups, cache=self._replays)
        if len(self._stretches) >= 64:  # a handful of scopes in practice; never unbounded
            self._stretches.clear()
        self._stretches[groups] = (key, sample)
        return sample

    def _sampled_turns(self, viewer: Viewer, mode: str) -> dict[tuple[str, int], str]:
        """(session, turn) -> speaker of every turn of the viewer's sample in ``mode``."""
        if mode == "stretch":
            return {(s.session_id, tid): sp for s in self._stretch_sample(viewer)
                    for tid, sp in zip(s.turn_ids, s.speakers, strict=True)}
        return {(t.session_id, t.turn_id): t.speaker for t in self._sample(viewer)}

    def turns_for(self, viewer: Viewer, mode: str = "turns") -> list[dict[str, Any]]:
        """The turns the viewer codes next, in order; in stretch mode every turn of each of their stretches,
        each with ``stretch`` {number, of, index (the window in its session), position, size}."""
        from store.turn_codes import read_turn_codes, turn_with_context
        from validation.coding_sample import queue_for, stretch_queue_for

        sample = self._sample(viewer) if mode != "stretch" else []
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
        if mode == "stretch":
            from store.coding_windows import stretch_with_context

            stretches = stretch_queue_for(viewer.name, self._stretch_sample(viewer),
                                          {k: frozenset(v) for k, v in coded_by.items()})
            out = []
            for n, st in enumerate(stretches, start=1):
                context = stretch_with_context(self.engine, st.session_id, st.turn_ids, self.context)
                for pos, (tid, speaker) in enumerate(zip(st.turn_ids, st.speakers, strict=True), start=1):
                    key = (st.session_id, tid)
                    out.append({"session_id": st.session_id, "turn_id": tid, "speaker": speaker,
                                "context": context[tid], "codes": list(mine[key]) if key in mine else None,
                                "session_coded": st.session_id in ruptures, "rupture": ruptures.get(st.session_id),
                                "stretch": {"number": n, "of": len(stretches), "index": st.index, "position": pos,
                                            "size": len(st.turn_ids)}})
            return out
        queue = queue_for(viewer.name, sample, {k: frozenset(v) for k, v in coded_by.items()})
        return [{"session_id": t.session_id, "turn_id": t.turn_id, "speaker": t.speaker,
                 "context": turn_with_context(self.engine, t.session_id, t.turn_id, self.context),
                 "codes": list(mine[(t.session_id, t.turn_id)]) if (t.session_id, t.turn_id) in mine else None,
                 "session_coded": t.session_id in ruptures, "rupture": ruptures.get(t.session_id)}
                for t in queue]

    def save(self, viewer: Viewer, session_id: str, turn_id: int, codes: object, mode: str = "turns"
             ) -> dict[str, Any]:
        """Record the viewer's codes of a turn of their sample in ``mode`` (any other turn is refused: LookupError).

        ``turn_id`` = ``SESSION_TURN``: the session's rupture code, for a session of the sample.
        """
        from store.turn_codes import write_turn_code

        sampled = self._sampled_turns(viewer, mode)
        if turn_id == SESSION_TURN:
            if session_id not in {sid for sid, _ in sampled}:
                raise LookupError(f"session {session_id} is not in your coding sample")
            at = datetime.fromtimestamp(self.clock(), timezone.utc)
            row = write_turn_code(self.engine, session_id=session_id, turn_id=turn_id, coder_id=viewer.name,
                                  speaker="session", codes=codes, coded_at=at)
            return {"session_id": session_id, "turn_id": turn_id, "codes": [], "rupture": row.rupture}
        speaker = sampled.get((session_id, turn_id))
        if speaker is None:
            raise LookupError(f"turn {turn_id} of {session_id} is not in your coding sample")
        at = datetime.fromtimestamp(self.clock(), timezone.utc)
        row = write_turn_code(self.engine, session_id=session_id, turn_id=turn_id, coder_id=viewer.name,
                              speaker=speaker, codes=codes, coded_at=at)
        return {"session_id": session_id, "turn_id": turn_id, "codes": list(row.codes)}

    def agreement(self, viewer: Viewer, mode: str = "turns") -> dict[str, Any]:
        """The coders' agreement on the viewer's sample in ``mode``, per codebook code (turns two coders coded);
        and the windows the codes give a reference so far, beside what a window record needs."""
        from store.coding_windows import coded_window_progress
        from store.turn_codes import read_turn_codes
        from validation.codebook import coder_agreement
        from validation.stats import finite_or_none

        in_sample = self._sampled_turns(viewer, mode)
        by_turn: dict[tuple[str, int], list[tuple[str, tuple[str, ...]]]] = {}
        for r in read_turn_codes(self.engine):
            if (r.session_id, r.turn_id) in in_sample:
                by_turn.setdefault((r.session_id, r.turn_id), []).append((r.coder_id, r.codes))
        pairs = [(in_sample[k], sorted(v)[0][1], sorted(v)[1][1]) for k, v in by_turn.items() if len(v) >= 2]
        groups = None if viewer.all_groups else frozenset(viewer.groups)
        windows = [{"speaker": p.speaker, "flags": list(p.flags), "windows": p.windows, "sessions": p.sessions,
                    "need_windows": p.need_windows, "need_sessions": p.need_sessions}
                   for p in coded_window_progress(self.engine, groups)]
        return {"double_coded": len(pairs), "coded": len(by_turn), "sampled": len(in_sample),
                "codes": [{"code": a.code, "turns": a.n, "percent": finite_or_none(a.percent),
                           "kappa": finite_or_none(a.kappa)} for a in coder_agreement(pairs)],
                "windows": windows}
