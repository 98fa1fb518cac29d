"""One definition of the watched dimensions: what the alert policy watches, the scorer writes rationales for.

``watched: [..., "approach"]`` in the alert settings must yield approach alerts
whose evidence carries the model's rationales: the processor names the watched
dimensions in every ScoreRequest and the scorer's "alerts" rationales follow it.
Pure parts only (no engine): the settings book, the processor core, the scoring config.
"""

from __future__ import annotations

import json

from scoring.scorer import ScoringConfig
from streams import session_state as core
from streams.alert_policy import SettingsBook, on_score
from streams.contracts import DIMENSION_ITEMS, WATCHED_DIMENSIONS
from tests.streams.session_factory import session
from tests.streams.test_alert_policy import score
from tests.streams.test_session_state import Harness, replay


def test_default_watched_comes_from_the_contract():
    book = SettingsBook.builtin()
    assert book.watched() == WATCHED_DIMENSIONS == ("goal", "bond")
    assert ScoringConfig(rationale="alerts").rationale_items() == set(DIMENSION_ITEMS["goal"] + DIMENSION_ITEMS["bond"])


def test_watching_approach_gives_approach_alerts_with_rationales(tmp_path):
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps({"default": {"watched": ["goal", "bond", "approach"]}}))
    book = SettingsBook.from_json(path)
    assert book.watched() == ("goal", "approach", "bond")

    # the processor core puts the watched dimensions into every request it emits
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    h = Harness(core.ProcessorSettings(clock=core.ProcessorSettings().clock, clock_rate=60.0, watched=book.watched()))
    replay(h, st, turns, end)
    assert h.requests and all(r.watched == ["goal", "approach", "bond"] for r in h.requests)

    # the scorer writes rationales for exactly those items
    want = ScoringConfig(rationale="alerts").rationale_items(h.requests[0].watched)
    assert set(DIMENSION_ITEMS["approach"]) <= want

    # so an approach drop's evidence carries the rationale of an approach item
    def scored(phase: str, approach: float):
        s = score("s1", phase, {"approach": approach, "goal": 4.0, "bond": 4.0})
        items = [i if i.item_id in want else i.model_copy(update={"rationale": None, "quotes": []}) for i in s.items]
        return s.model_copy(update={"items": items})

    settings = book.for_model("care-8b")
    first = on_score(None, scored("early", 4.2), settings)
    drop = on_score(first.state, scored("middle", 3.0), settings)
    (alert,) = [a for a in drop.alerts if a.dimension == "approach"]
    assert alert.evidence and all(e.item_id in DIMENSION_ITEMS["approach"] and e.rationale for e in alert.evidence)


def test_a_request_from_an_older_processor_falls_back_to_the_contract_default():
    assert ScoringConfig(rationale="alerts").rationale_items(None) == \
        ScoringConfig(rationale="alerts").rationale_items(list(WATCHED_DIMENSIONS))
