"""Client ratings in the store: the reads evaluation and reports need (the write is ``store.writes.write_rating``).

Why revisions and not upserts: a client (or a platform) may rate the same session
twice — a corrected answer, a second survey. Both are kept; each new
``rating_id`` for a session and instrument becomes the next ``revision``, and
evaluation reads only the latest. The same ``rating_id`` again (a replayed
record) changes nothing. Ratings never enter the ``events`` journal: that
journal feeds the gateway's history, and an individual client's answers must
never reach a browser.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from streams.contracts import DIMENSIONS, INSTRUMENT_ITEMS, ITEM_DIMENSION
from streams.topics import RATINGS

from .models import ChatSession, Rating, Turn


@dataclass(frozen=True)
class StoredRating:
    rating_id: str
    session_id: str
    instrument: str
    instrument_version: str
    revision: int
    answers: dict[str, int]
    lang: str
    source: str
    link_id: str | None
    submitted_at: datetime

    def dimension_means(self) -> dict[str, float]:
        """WAI-SR only: the mean of each dimension's four answers."""
        if self.instrument != "wai-sr":
            return {}
        out: dict[str, float] = {}
        for dim in DIMENSIONS:
            vals = [v for k, v in self.answers.items() if ITEM_DIMENSION.get(k) == dim]
            out[dim] = sum(vals) / len(vals)
        return out


def _stored(r) -> StoredRating:
    return StoredRating(r.rating_id, r.session_id, r.instrument, r.instrument_version, r.revision,
                        {k: int(v) for k, v in dict(r.answers).items()}, r.lang, r.source, r.link_id,
                        r.submitted_at)


def ratings(engine: Engine, *, session_id: str | None = None, instrument: str | None = None,
            latest_only: bool = False) -> list[StoredRating]:
    """Stored ratings, by session then instrument then revision; ``latest_only``: one per session+instrument."""
    t = Rating.__table__
    q = select(t).order_by(t.c.session_id, t.c.instrument, t.c.revision)
    if session_id is not None:
        q = q.where(t.c.session_id == session_id)
    if instrument is not None:
        q = q.where(t.c.instrument == instrument)
    with engine.connect() as conn:
        rows = [_stored(r) for r in conn.execute(q)]
    if not latest_only:
        return rows
    latest: dict[tuple[str, str], StoredRating] = {}
    for r in rows:  # ordered by revision: the last one wins
        latest[(r.session_id, r.instrument)] = r
    return list(latest.values())


#: ``labels_source`` of a validation record made by ``eval --from-store``.
STORE_LABELS_SOURCE = f"store: latest WAI-SR rating per session ({RATINGS.name})"


def wai_labels(engine: Engine) -> dict:
    """The latest WAI-SR rating of every session as ``store.eval.Label``s (what ``eval --from-store`` reads)."""
    from .eval import parse_label

    out = {}
    for r in ratings(engine, instrument="wai-sr", latest_only=True):
        out[r.session_id] = parse_label({"session_id": r.session_id, "items": r.answers},
                                        f"{RATINGS.name} {r.rating_id} (revision {r.revision})")
    return out


@dataclass(frozen=True)
class RatedTranscript:
    """A rated session with its stored chat turns: what ``train --from-store`` learns from."""

    session_id: str
    counselor_id: str
    lang: str
    started_at: datetime
    #: (speaker, text) in turn order
    turns: tuple[tuple[str, str], ...]
    #: the latest WAI-SR rating's answers, item id -> 1..5
    answers: dict[str, int]


def rated_transcripts(engine: Engine) -> tuple[list[RatedTranscript], list[str]]:
    """The latest WAI-SR rating of each session joined to the session's stored turns.

    Turns are in the store only when the sink ran with ``ALLIANCE_STORE_TURNS=1``
    (and retention has not purged them yet). Returns the rated transcripts (oldest
    first) and the ids of rated sessions whose text the store does not have.
    """
    latest = {r.session_id: r for r in ratings(engine, instrument="wai-sr", latest_only=True)}
    if not latest:
        return [], []
    s, t = ChatSession.__table__, Turn.__table__
    ids = sorted(latest)
    turns: dict[str, list] = {}
    sessions: dict[str, Any] = {}  # session_id -> its chat_sessions row
    with engine.connect() as conn:
        for i in range(0, len(ids), 500):  # bounded IN lists
            chunk = ids[i:i + 500]
            for row in conn.execute(select(t).where(t.c.session_id.in_(chunk)).order_by(t.c.session_id, t.c.turn_id)):
                turns.setdefault(row.session_id, []).append(row)
            for row in conn.execute(select(s).where(s.c.session_id.in_(chunk))):
                sessions[row.session_id] = row
    out: list[RatedTranscript] = []
    without_text: list[str] = []
    for sid in ids:
        rows = turns.get(sid)
        if not rows:
            without_text.append(sid)
            continue
        sess = sessions.get(sid)
        counselor = (sess.counselor_id if sess is not None else None) or rows[0].counselor_id or ""
        lang = (sess.lang if sess is not None else None) or rows[0].lang or latest[sid].lang or "en"
        started = (sess.started_at if sess is not None else None) or rows[0].sent_at
        out.append(RatedTranscript(sid, counselor, lang, started, tuple((r.speaker, r.text) for r in rows),
                                   dict(latest[sid].answers)))
    out.sort(key=lambda r: (r.started_at, r.session_id))
    return out, without_text


@dataclass(frozen=True)
class ResponseRate:
    counselor_id: str
    ended: int
    rated: int

    @property
    def rate(self) -> float:
        return self.rated / self.ended if self.ended else float("nan")


def response_rates(engine: Engine, instrument: str | None = None) -> list[ResponseRate]:
    """Per counselor: ended sessions, and how many of them have a rating (of ``instrument``, or any)."""
    s, t = ChatSession.__table__, Rating.__table__
    rated_q = select(t.c.session_id).distinct()
    if instrument is not None:
        rated_q = rated_q.where(t.c.instrument == instrument)
    with engine.connect() as conn:
        ended = conn.execute(select(s.c.session_id, s.c.counselor_id).where(s.c.ended_at.is_not(None))).all()
        rated = {r[0] for r in conn.execute(rated_q)}
    per: dict[str, list[int]] = {}
    for sid, cid in ended:
        row = per.setdefault(cid or "(unknown)", [0, 0])
        row[0] += 1
        row[1] += sid in rated
    return [ResponseRate(cid, n, k) for cid, (n, k) in sorted(per.items())]


@dataclass(frozen=True)
class Distribution:
    """How often each answer was given, per item, over the latest rating of each session."""

    instrument: str
    sessions: int
    #: item id -> {answer value: count}
    items: dict[str, dict[int, int]]
    #: WAI-SR: dimension -> list of per-session dimension means
    dimension_means: dict[str, list[float]]


def distributions(engine: Engine) -> list[Distribution]:
    """One distribution per instrument that has ratings."""
    latest = ratings(engine, latest_only=True)
    out = []
    for instrument, (ids, low, high) in INSTRUMENT_ITEMS.items():
        rows = [r for r in latest if r.instrument == instrument]
        if not rows:
            continue
        items = {i: {v: 0 for v in range(low, high + 1)} for i in ids}
        dims: dict[str, list[float]] = {d: [] for d in DIMENSIONS} if instrument == "wai-sr" else {}
        for r in rows:
            for i in ids:
                items[i][r.answers[i]] += 1
            for d, m in r.dimension_means().items():
                dims[d].append(m)
        out.append(Distribution(instrument, len(rows), items, dims))
    return out
