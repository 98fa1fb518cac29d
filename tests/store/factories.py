"""Builders of valid contract events for store tests (no message text needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.contracts import (
    AlertAck,
    AllianceAlert,
    AllianceScore,
    CounselorFeedback,
    DimensionScore,
    Evidence,
    ItemScore,
    ModelIdentity,
    Quote,
    SessionEvent,
    request_id_for,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
DIM_OF = {f"Q{i}": ("goal" if i <= 4 else "approach" if i <= 8 else "bond") for i in range(1, 13)}
PHASE_MIN = {"early": 17, "middle": 34, "late": 50}


def session_events(sid: str, counselor: str = "c-1", group: str = "g-1", start: datetime = T0,
                   lang: str = "en") -> list[SessionEvent]:
    return [
        SessionEvent(session_id=sid, kind="started", at=start, counselor_id=counselor, group=group, lang=lang),
        SessionEvent(session_id=sid, kind="ended", at=start + timedelta(minutes=50), counselor_id=counselor,
                     group=group, lang=lang),
    ]


def probs_for(level: float) -> list[float]:
    """Five probabilities whose expected value is ``level`` (mass on the two nearest options)."""
    lo = int(min(4, max(1, int(level))))
    w_hi = level - lo
    p = [0.0] * 5
    p[lo - 1] = 1.0 - w_hi
    p[lo] += w_hi
    return p


def score(sid: str, phase: str, items: dict[str, float] | float, *, model: str = "test-model",
          readout: str = "expected", counselor: str | None = "c-1", scored_at: datetime | None = None,
          samples: dict[str, list[int]] | None = None, start: datetime = T0,
          with_text: bool = True, **extra) -> AllianceScore:
    """An AllianceScore whose item expected values are ``items`` (a dict, or one value for all 12)."""
    if not isinstance(items, dict):
        items = {f"Q{i}": float(items) for i in range(1, 13)}
    item_scores = []
    for item_id, level in items.items():
        item_scores.append(ItemScore(
            item_id=item_id, dimension=DIM_OF[item_id], expected=level, probs=probs_for(level),
            rationale=f"reason for {item_id}" if with_text else None,
            quotes=[Quote(text=f"quote {item_id}", verified=True)] if with_text else [],
            samples=(samples or {}).get(item_id),
        ))
    dims = {}
    for d in ("goal", "approach", "bond"):
        vals = [i.expected for i in item_scores if i.dimension == d]
        if vals:
            dims[d] = DimensionScore(score=sum(vals) / len(vals), spread=0.1)
    return AllianceScore(
        request_id=request_id_for(sid, phase), session_id=sid, counselor_id=counselor, phase=phase,
        upto_turn_id=PHASE_MIN[phase], items=item_scores, dimensions=dims,
        model=ModelIdentity(name=model, readout=readout), prompt_tokens=1000 + PHASE_MIN[phase],
        cached_tokens=900, latency_ms=12.5,
        scored_at=scored_at or start + timedelta(minutes=PHASE_MIN[phase], seconds=5), **extra,
    )


def alert(sid: str, n: int = 1, counselor: str = "c-1", phase: str = "middle") -> AllianceAlert:
    return AllianceAlert(
        alert_id=f"{sid}:bond:drop:{n}", session_id=sid, counselor_id=counselor, dimension="bond", kind="drop",
        severity="warning", previous=4.0, current=3.0, phase=phase,
        evidence=[Evidence(item_id="Q9", dimension="bond", previous=4.0, current=2.5, delta=-1.5,
                           rationale="less warmth", quotes=[Quote(text="ok", verified=True)])],
        message="bond dropped", model="test-model", created_at=T0 + timedelta(minutes=34, seconds=n),
    )


def feedback(sid: str, turn_id: int = 4, *, counselor: str = "c-1", phase: str = "middle", empathy: float = 2.0,
             model: str = "test-model", minutes: int = 20, validated: bool = False) -> CounselorFeedback:
    return CounselorFeedback(
        feedback_id=f"{sid}:{phase}:{turn_id}", session_id=sid, counselor_id=counselor, phase=phase, turn_id=turn_id,
        quote="What do you want to work on?", principles={"empathy": empathy, "autonomy": 4.0},
        patterns={"passive_response": 3.0}, features={"open_question": True}, principle="empathy",
        next_move='Before asking "What do you want to work on?", reflect what you heard.',
        model=ModelIdentity(name=model), validated=validated, created_at=T0 + timedelta(minutes=minutes))


def ack(a: AllianceAlert, by: str = "sup-1", minutes: int = 35) -> AlertAck:
    return AlertAck(alert_id=a.alert_id, session_id=a.session_id, by=by, role="supervisor",
                    at=T0 + timedelta(minutes=minutes))


def client_rating(sid: str, answers: dict[str, int] | int = 4, *, rating_id: str | None = None,
                  instrument: str = "wai-sr", minutes: int = 55, source: str = "platform",
                  link_id: str | None = None, start: datetime = T0):
    """A ClientRating of ``sid`` (one answer for every item, or a dict)."""
    from streams.contracts import INSTRUMENT_ITEMS, ClientRating

    if not isinstance(answers, dict):
        answers = {i: int(answers) for i in INSTRUMENT_ITEMS[instrument][0]}
    return ClientRating(rating_id=rating_id or f"{sid}:{instrument}:{minutes}", session_id=sid,
                        instrument=instrument, answers=answers, lang="en",
                        submitted_at=start + timedelta(minutes=minutes), source=source, link_id=link_id)
