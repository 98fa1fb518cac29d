"""Builders for the events the gateway consumes (real contracts, encoded as on the topics)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.contracts import (
    AllianceAlert,
    AllianceScore,
    DimensionScore,
    Evidence,
    ItemScore,
    ModelIdentity,
    ProcessSignal,
    Quote,
    SessionEvent,
)

DIM_OF = {f"Q{i}": ("goal" if i <= 4 else "approach" if i <= 8 else "bond") for i in range(1, 13)}
T0 = datetime.now(timezone.utc).replace(microsecond=0)


def started(session_id: str, counselor_id: str, group: str | None = None, minutes_ago: float = 5) -> SessionEvent:
    return SessionEvent(session_id=session_id, kind="started", at=T0 - timedelta(minutes=minutes_ago),
                        counselor_id=counselor_id, group=group, planned_minutes=50)


def ended(session_id: str, counselor_id: str, group: str | None = None) -> SessionEvent:
    return SessionEvent(session_id=session_id, kind="ended", at=T0, counselor_id=counselor_id, group=group)


def _probs(expected: float) -> list[float]:
    lo = int(expected)
    hi = min(lo + 1, 5)
    w = expected - lo
    probs = [0.0] * 5
    probs[lo - 1] += 1 - w
    probs[hi - 1] += w
    return probs


def score(session_id: str, counselor_id: str, phase: str, goal: float, approach: float, bond: float,
          *, pad: int = 0) -> AllianceScore:
    """A score for one phase; ``pad`` lengthens rationales (to fill slow sockets)."""
    level = {"goal": goal, "approach": approach, "bond": bond}
    items = []
    for item_id, dim in DIM_OF.items():
        items.append(ItemScore(
            item_id=item_id, dimension=dim, expected=level[dim], probs=_probs(level[dim]),
            rationale=f"Reason for {item_id} in the {phase} phase." + " ." * pad,
            quotes=[Quote(text="we agreed to work on sleep", verified=True),
                    Quote(text="an invented sentence", verified=False)],
        ))
    return AllianceScore(
        request_id=f"{session_id}:{phase}", session_id=session_id, counselor_id=counselor_id, phase=phase,
        upto_turn_id=10, items=items,
        dimensions={d: DimensionScore(score=v) for d, v in level.items()},
        model=ModelIdentity(name="smollm2-135m-demo"),
    )


def signal(session_id: str, counselor_id: str, phase: str = "early", flags: tuple[str, ...] = ()) -> ProcessSignal:
    return ProcessSignal(session_id=session_id, counselor_id=counselor_id, at=T0, upto_turn_id=8, phase=phase,
                         elapsed_s=300, client_length_ratio=0.6, client_latency_s=40.0, question_streak=3,
                         flags=list(flags))


def alert(alert_id: str, session_id: str, counselor_id: str, *, dimension: str = "bond", validated: bool = True,
          severity: str = "warning", kind: str = "drop", phase: str = "middle") -> AllianceAlert:
    return AllianceAlert(
        alert_id=alert_id, session_id=session_id, counselor_id=counselor_id, dimension=dimension, kind=kind,
        severity=severity, previous=4.0, current=3.1, phase=phase, validated=validated, model="smollm2-135m-demo",
        message=f"{dimension} fell from 4.0 to 3.1 since the early phase",
        evidence=[Evidence(item_id="Q9", dimension=dimension, previous=4.0, current=3.0, delta=-1.0,
                           rationale="The client sounds less sure the counselor is on their side.",
                           quotes=[Quote(text="you don't get it", verified=True),
                                   Quote(text="made-up words", verified=False)])],
    )
