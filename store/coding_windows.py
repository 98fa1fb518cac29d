"""The ``/code`` page's stretches from the store: stored sessions replayed for their flags and cut into windows.

The shell around the stretch half of :mod:`validation.coding_sample`: reads the stored
turns of the sessions a supervisor may see, replays each session through the processor's
pure core (:mod:`streams.session_replay`, exactly as ``eval-turns`` replays it) for the
flags up after each turn, and hands the sampler the windows
(:func:`validation.window_agreement.blocks`). Also: a stretch's turns with their
redacted context, and how many windows the codes so far give a reference
(:func:`validation.window_agreement.window_progress`). Turn text is read by the rules and
by :mod:`privacy.redact`, and leaves only redacted; it is never logged.
"""

from __future__ import annotations

__layer__ = "shell"

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from privacy.redact import redact
from streams.session_replay import ReplayTurn, replay_session
from validation.codebook import SESSION_TURN, eval_codes
from validation.coding_sample import (
    CandidateStretch,
    SampledStretch,
    SessionTurn,
    context_ids,
    sample_stretches,
    session_stretches,
)
from validation.window_agreement import WindowProgress, WindowTurn, window_progress

from .models import ChatSession, Turn

#: Per session: the turn ids replayed and the flags up after each. A session's flags change only when a
#: turn is added, so the page replays a session again only then (one cache per gateway).
ReplayCache = dict[str, tuple[tuple[int, ...], dict[int, tuple[str, ...]]]]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _scoped(q: Any, t: Any, groups: frozenset[str] | None) -> Any:
    if groups is None:
        return q
    s = ChatSession.__table__
    return q.join(s, s.c.session_id == t.c.session_id).where(s.c.group_id.in_(sorted(groups)))


def candidate_stretches(engine: Engine, groups: frozenset[str] | None = None,
                        cache: ReplayCache | None = None) -> list[CandidateStretch]:
    """Every stored session's windows that can get a reference (of sessions in ``groups``, if given)."""
    t = Turn.__table__
    q = _scoped(select(t.c.session_id, t.c.turn_id, t.c.speaker, t.c.text, t.c.sent_at, t.c.lang), t, groups)
    by_session: dict[str, list[Any]] = defaultdict(list)
    with engine.connect() as conn:
        for r in conn.execute(q):
            by_session[r.session_id].append(r)
    cache = {} if cache is None else cache
    out: list[CandidateStretch] = []
    for sid, rows in sorted(by_session.items()):
        ids = tuple(sorted(r.turn_id for r in rows))
        cached = cache.get(sid)
        if cached is None or cached[0] != ids:
            replayed = replay_session(sid, [ReplayTurn(r.turn_id, r.speaker, r.text, _aware(r.sent_at)) for r in rows],
                                      lang=rows[0].lang or "en")
            cached = cache[sid] = (ids, replayed.flags)
        out += session_stretches(sid, [SessionTurn(r.turn_id, r.speaker, _aware(r.sent_at)) for r in rows], cached[1])
    return out


def scope_fingerprint(engine: Engine, groups: frozenset[str] | None = None) -> tuple[Any, ...]:
    """What changes whenever the stored turns in scope do (a turn stored, a turn purged): one aggregate query,
    so the page need not read every turn's text again on each save to know its sample still stands."""
    t = Turn.__table__
    q = _scoped(select(func.count(), func.min(t.c.sent_at), func.max(t.c.sent_at), func.max(t.c.turn_id)), t, groups)
    with engine.connect() as conn:
        return tuple(conn.execute(q).one())


def stretch_sample(engine: Engine, *, now: datetime, retention_days: float, size: int, double_share: float,
                   seed: int = 0, groups: frozenset[str] | None = None, cache: ReplayCache | None = None
                   ) -> list[SampledStretch]:
    return sample_stretches(candidate_stretches(engine, groups, cache), now=now, retention_days=retention_days,
                            size=size, double_share=double_share, seed=seed)


def stretch_with_context(engine: Engine, session_id: str, turn_ids: Sequence[int], context: int
                         ) -> dict[int, list[dict]]:
    """Per turn of the stretch: the turn and the ``context`` turns before it, oldest first, each redacted."""
    t = Turn.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.turn_id, t.c.speaker, t.c.text).where(t.c.session_id == session_id)
                            .order_by(t.c.turn_id)).all()
    wanted = {i for tid in turn_ids for i in (*context_ids(tid, [r.turn_id for r in rows], context), tid)}
    shown = {r.turn_id: {"turn_id": r.turn_id, "speaker": r.speaker, "text": redact(r.text).text}
             for r in rows if r.turn_id in wanted}
    ids = [r.turn_id for r in rows]
    return {tid: [shown[i] for i in (*context_ids(tid, ids, context), tid) if i in shown] for tid in turn_ids}


def coded_window_progress(engine: Engine, groups: frozenset[str] | None = None) -> list[WindowProgress]:
    """Windows the stored codes give a reference, per judging speaker, over the sessions in ``groups`` (all
    without): what ``eval-turns --from-store --detector process-signals`` counts, beside what a record needs."""
    from .turn_codes import read_turn_codes

    rows = [r for r in read_turn_codes(engine) if r.turn_id != SESSION_TURN]
    coders = sorted({r.coder_id for r in rows})
    codes: dict[tuple[str, int], dict[str, dict[str, float]]] = defaultdict(dict)
    for r in rows:
        codes[(r.session_id, r.turn_id)][r.coder_id] = eval_codes(r.codes, r.speaker)
    sessions = sorted({sid for sid, _ in codes})
    t = Turn.__table__
    turns: dict[str, list[WindowTurn]] = defaultdict(list)
    if sessions:
        q = _scoped(select(t.c.session_id, t.c.turn_id, t.c.speaker).where(t.c.session_id.in_(sessions)), t, groups)
        with engine.connect() as conn:
            for row in conn.execute(q):
                by_coder = codes.get((row.session_id, row.turn_id), {})
                turns[row.session_id].append(WindowTurn(row.turn_id, row.speaker, 0, (),
                                                        tuple(by_coder.get(c) for c in coders)))
    return window_progress(turns)
