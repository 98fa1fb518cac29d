"""What the demo prints for an alert: the signal or dimension, and who may see it."""

from pathlib import Path

from alliance_monitor.demo import format_alert, format_episode
from streams.alert_policy import AlertSettings, on_signal_flags
from streams.rupture_replay import final_episodes, replay_ruptures
from tests.gateway import events as ev

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_model_alert_says_unvalidated_and_counts_quotes_without_printing_them():
    """Quotes are chat text: shown only on the board, to someone whose token has the session in scope."""
    text = format_alert(ev.alert("s1:middle:bond:drop", "s1", "c1", validated=False))
    assert "bond drop 4.00 → 3.10" in text and "UNVALIDATED model: supervisors only" in text
    assert "you don't get it" not in text and "made-up words" not in text
    assert "1 verified quote (on the board)" in text


def test_validated_model_alert_says_validated():
    text = format_alert(ev.alert("s1:middle:bond:drop", "s1", "c1", validated=True))
    assert "[validated]" in text and "UNVALIDATED" not in text


def test_process_alert_is_named_by_its_signal_and_gated_like_a_model():
    # a process alert as the alert policy really raises it, from the signal flag "rushing"
    decision = on_signal_flags(None, session_id="s1", counselor_id="c1", phase="early", flags=["rushing"],
                               figures={"question_streak": 4}, settings=AlertSettings())
    (alert,) = decision.alerts
    text = format_alert(alert)
    assert "process signal rushing" in text and "[UNVALIDATED rule: supervisors only]" in text
    assert "[validated]" in format_alert(alert.model_copy(update={"validated": True}))


def test_a_rupture_episode_names_its_turns_and_repair_and_no_text():
    (episode,) = final_episodes(replay_ruptures(SAMPLES / "s04_confrontation_repaired_en.jsonl"))
    text = format_episode(episode)
    assert text.startswith("RUPTURE confrontation repaired  sample-04-confrontation-repair-en")
    assert "markers: 17 criticism, 18 criticism; repair: 19 acknowledging; client re-engaged at 20" in text
    assert "[UNVALIDATED rule: supervisors only]" in text and "helping" not in text
    assert "[counselor and supervisors]" in format_episode(episode.model_copy(update={"validated": True}))
    model_only = episode.model_copy(update={"sources": ["model"], "markers": [], "model_drop": {
        "alert_id": "a", "dimension": "bond", "phase": "middle"}})
    assert "UNVALIDATED model: supervisors only" in format_episode(model_only)
