"""Who may see what on the board and the panel: scope by counselor and group, the validation gate per kind.

Pure: a viewer, an event's payload and the :class:`~gateway.policy.Policy` in, a
yes/no or the payload as this audience may receive it out. The per-dimension
decisions are :mod:`validation.gate`'s; this module applies them to the
gateway's payloads.
"""

from __future__ import annotations

__layer__ = "core"

from typing import Any

from validation.detectors import opened_alert, opened_episode
from validation.gate import (
    GATE_OPENED,
    GATE_UNVALIDATED,
    episode_reaches_counselor,
    feedback_reaches_counselor,
    gate_label,
    reaches_counselor,
)

from .auth import Viewer
from .policy import Policy


def sees_session(viewer: Viewer, counselor_id: str | None, group: str | None) -> bool:
    """Counselor: own sessions only. Supervisor: sessions of their groups, or all."""
    if viewer.role == "counselor":
        return counselor_id is not None and counselor_id == viewer.counselor_id
    if viewer.all_groups:
        return True
    return group is not None and group in viewer.groups


def counselor_score(data: dict[str, Any], withheld: frozenset[str]) -> dict[str, Any]:
    """A score event as a counselor may receive it: nothing of a withheld dimension.

    Its dimension score, its items (expected value, probabilities, rationale,
    quotes) and the cross-item self-consistency are removed; ``withheld`` names
    what was taken out so the panel can say "validation mode" instead.
    """
    if not withheld:
        return data
    out = {k: v for k, v in data.items() if k != "consistency"}
    out["dimensions"] = {d: v for d, v in (data.get("dimensions") or {}).items() if d not in withheld}
    out["items"] = [i for i in data.get("items") or () if i.get("dimension") not in withheld]
    out["withheld"] = sorted(withheld)
    return out


def alert_is_gated(alert: dict[str, Any], policy: Policy) -> bool:
    """True if a counselor must not see this alert: the decision is :func:`validation.gate.reaches_counselor`,
    or a process-signal flag the site opened by setting (:func:`validation.detectors.opened_alert`)."""
    return not (reaches_counselor(alert, gate_enabled=not policy.unvalidated_to_counselors)
                or opened_alert(alert, policy.opened_detectors))


def alert_view(alert: dict[str, Any], policy: Policy | None = None) -> dict[str, Any]:
    """An alert as the pages get it: with ``gate`` (validated / unvalidated / opened) from the gate modules,
    so no page re-derives the routing."""
    if "gate" in alert:
        return alert
    label = gate_label(alert)
    if label == GATE_UNVALIDATED and policy is not None and opened_alert(alert, policy.opened_detectors):
        label = GATE_OPENED
    return {**alert, "gate": label}


def episode_is_gated(episode: dict[str, Any], policy: Policy) -> bool:
    """True if a counselor must not see this rupture episode.

    Like an alert: only a validated episode (its rupture-marker detector passed
    for its kind, or its model drop was validated) reaches a counselor, or one
    whose markers the site opened by setting.
    """
    return not (episode_reaches_counselor(episode, gate_enabled=not policy.unvalidated_to_counselors)
                or opened_episode(episode, policy.opened_detectors))


def episode_gate(episode: dict[str, Any], policy: Policy) -> str:
    """``validated`` / ``opened`` / ``unvalidated``: how the pages mark an episode."""
    if episode.get("validated"):
        return "validated"
    return GATE_OPENED if opened_episode(episode, policy.opened_detectors) else GATE_UNVALIDATED


def episode_for_counselor(episode: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The counselor's view of a visible episode: an unvalidated model drop in it is left out."""
    drop = episode.get("model_drop")
    if policy.unvalidated_to_counselors or not drop or drop.get("validated"):
        return episode
    return {**episode, "model_drop": None, "sources": [x for x in episode.get("sources") or () if x != "model"]}


def feedback_is_gated(feedback: dict[str, Any], policy: Policy) -> bool:
    """True if a counselor must not see this turn-level feedback: a model output, gated like an alert."""
    return not feedback_reaches_counselor(feedback, gate_enabled=not policy.unvalidated_to_counselors)
