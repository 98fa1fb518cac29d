"""Text retention: after the retention period no chat text is left anywhere in the store.

Chat text reaches the store in four places: stored turns (``turns.text``, only with
``ALLIANCE_STORE_TURNS=1``), the model's reasons and quotes per item
(``prediction_items.rationale`` / ``quotes``), the same inside alert evidence
(``alerts.evidence``), and copies of scores and alerts in the ``events`` journal
(``events.data``); free-text notes of acknowledgements (``alert_acks.note``) may
name the client too, and turn-level feedback quotes the counselor's turn
(``counselor_feedback.quote`` / ``next_move``). Purging only ``turns`` would leave
verbatim quotes forever, so one purge covers them all:

* turns older than the cutoff are deleted;
* predictions, alerts and journal events older than the cutoff keep their numbers
  (scores, probabilities, deltas, severities: what reports and the validation gate
  read) and lose every text field (rationale, quotes).

The audit trail (``access_events`` and the sessions each names) holds no chat text
and is kept for a retention of its own, usually longer: :func:`purge_audit` deletes
views older than ``ALLIANCE_AUDIT_RETENTION_DAYS``.

The rewrite of JSON documents happens in Python (portable across SQLite and
PostgreSQL JSON/JSONB) and only touches rows that still carry text, so running the
purge again changes nothing.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, delete, null, or_, select, update

from .models import (
    AccessEventRow,
    AccessEventSession,
    Alert,
    AlertAck,
    CounselorFeedbackRow,
    Event,
    Prediction,
    PredictionItem,
    Turn,
)

#: rows rewritten per UPDATE batch when scrubbing JSON documents.
BATCH = 500


@dataclass
class PurgeResult:
    """What one purge changed, per place text lives (row counts)."""

    turns: int = 0
    prediction_items: int = 0
    alerts: int = 0
    ack_notes: int = 0
    feedback: int = 0
    events: int = 0

    @property
    def total(self) -> int:
        return self.turns + self.prediction_items + self.alerts + self.ack_notes + self.feedback + self.events

    def line(self) -> str:
        return (f"deleted {self.turns} chat turns; removed quotes and rationales from {self.prediction_items} "
                f"prediction items, {self.alerts} alerts, {self.ack_notes} ack notes, {self.feedback} feedback "
                f"records and {self.events} journal events")


def scrub_evidence(evidence: Any) -> Any:
    """Alert evidence without rationale or quotes (numbers, item ids and notes stay)."""
    if not isinstance(evidence, list):
        return evidence
    out = []
    for ev in evidence:
        if isinstance(ev, dict):
            ev = {**ev, "rationale": None, "quotes": []}
        out.append(ev)
    return out


def scrub_event_data(kind: str, data: Any) -> Any:
    """A journal event's payload without chat text: score items and alert evidence lose their reasons."""
    if not isinstance(data, dict):
        return data
    if kind == "score" and isinstance(data.get("items"), list):
        items = [{**i, "rationale": None, "quotes": []} if isinstance(i, dict) else i for i in data["items"]]
        return {**data, "items": items}
    if kind == "alert" and "evidence" in data:
        return {**data, "evidence": scrub_evidence(data["evidence"])}
    if kind == "ack" and data.get("note") is not None:
        return {**data, "note": None}
    if kind == "feedback" and (data.get("quote") or data.get("next_move")):
        return {**data, "quote": None, "next_move": None}
    return data


def cutoff_for(older_than_days: float, now: datetime | None = None) -> datetime:
    if older_than_days < 0:
        raise ValueError("older_than_days must be >= 0")
    return (now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)


def purge_text(conn: Connection, older_than_days: float, *, now: datetime | None = None) -> PurgeResult:
    """Remove every chat text older than ``older_than_days`` from the store (one transaction: ``conn``)."""
    cutoff = cutoff_for(older_than_days, now)
    res = PurgeResult()
    t = Turn.__table__
    res.turns = conn.execute(delete(t).where(t.c.sent_at < cutoff)).rowcount or 0

    pi, p = PredictionItem.__table__, Prediction.__table__
    old_predictions = select(p.c.id).where(p.c.scored_at < cutoff).scalar_subquery()
    res.prediction_items = conn.execute(
        update(pi)
        .where(pi.c.prediction_id.in_(old_predictions), or_(pi.c.rationale.is_not(None), pi.c.quotes.is_not(None)))
        .values(rationale=None, quotes=null())
    ).rowcount or 0

    a = Alert.__table__
    rows = conn.execute(select(a.c.alert_id, a.c.evidence).where(a.c.created_at < cutoff, a.c.evidence.is_not(None)))
    changed = [(aid, scrub_evidence(ev)) for aid, ev in rows if scrub_evidence(ev) != ev]
    for aid, ev in changed:
        conn.execute(update(a).where(a.c.alert_id == aid).values(evidence=ev))
    res.alerts = len(changed)

    k = AlertAck.__table__
    res.ack_notes = conn.execute(
        update(k).where(k.c.acked_at < cutoff, k.c.note.is_not(None)).values(note=None)
    ).rowcount or 0

    f = CounselorFeedbackRow.__table__
    res.feedback = conn.execute(
        update(f).where(f.c.created_at < cutoff, or_(f.c.quote.is_not(None), f.c.next_move.is_not(None)))
        .values(quote=None, next_move=None)
    ).rowcount or 0

    e = Event.__table__
    last = 0
    while True:  # in seq order, a batch at a time, so a big journal is never loaded at once
        batch = conn.execute(
            select(e.c.seq, e.c.kind, e.c.data)
            .where(e.c.at < cutoff, e.c.kind.in_(("score", "alert", "ack", "feedback")), e.c.seq > last)
            .order_by(e.c.seq).limit(BATCH)
        ).all()
        if not batch:
            break
        last = batch[-1].seq
        for seq, kind, data in batch:
            clean = scrub_event_data(kind, data)
            if clean != data:
                conn.execute(update(e).where(e.c.seq == seq).values(data=clean))
                res.events += 1
    return res


def purge_audit(conn: Connection, older_than_days: float, *, now: datetime | None = None) -> int:
    """Delete audit records viewed more than ``older_than_days`` ago (and their session rows); returns the count."""
    cutoff = cutoff_for(older_than_days, now)
    a, s = AccessEventRow.__table__, AccessEventSession.__table__
    old = select(a.c.event_id).where(a.c.viewed_at < cutoff)
    conn.execute(delete(s).where(s.c.event_id.in_(old)))
    return conn.execute(delete(a).where(a.c.viewed_at < cutoff)).rowcount or 0


__all__ = ["PurgeResult", "purge_text", "purge_audit", "scrub_evidence", "scrub_event_data", "cutoff_for"]
