"""The replay ``eval-turns`` judges the rupture rules and the process flags by (streams/session_replay.py): hand-made
sessions whose episodes are known, and the same episodes as the processor core's own replay (streams/rupture_replay.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.contracts import ChatTurn, SessionEvent
from streams.replay_format import ReplayEvent
from streams.rupture_replay import final_episodes, replay_events
from streams.session_replay import ReplayTurn, replay_session
from streams.topics import CHAT_SESSIONS, CHAT_TURNS

T0 = datetime(2026, 3, 2, 10, tzinfo=timezone.utc)
ENGAGED = "When I think about the new job my chest gets tight, and it has been like that most evenings this month."
BACK = ("Okay, honestly it was the part about my mother, it felt like you had already decided what I should do and "
        "I just wanted to be heard first.")


def session(client_lines: list[str], counselor=lambda i: "What is that like for you?") -> list[ReplayTurn]:
    turns = []
    for i, line in enumerate(client_lines):
        turns.append(ReplayTurn(2 * i, "counselor", counselor(i), T0 + timedelta(seconds=60 * i)))
        turns.append(ReplayTurn(2 * i + 1, "client", line, T0 + timedelta(seconds=60 * i + 30)))
    return turns


def test_an_engaged_client_with_acknowledgements_opens_no_episode():
    s = replay_session("s-engaged", session([ENGAGED, ENGAGED, "yeah", ENGAGED, "mm", ENGAGED, ENGAGED]))
    assert s.episodes == [] and len(s.flags) == 14 and s.skipped == 0


def test_withdrawal_opens_an_episode_that_closes_unrepaired_at_the_end():
    s = replay_session("s-w", session([ENGAGED] * 3 + ["idk", "I guess.", "fine", "not really", "idk"]))
    assert [(e.kind, e.status) for e in s.episodes] == [("withdrawal", "unrepaired")]
    assert any("minimal_responses" in f for f in s.flags.values())  # the flags the rules were handed


def test_a_repair_move_then_a_reply_with_content_repairs_it():
    def counselor(i: int) -> str:
        return ("I notice your replies have got shorter. Did something I said not fit? Tell me if so." if i == 7
                else "What is that like for you?")

    s = replay_session("s-r", session([ENGAGED] * 3 + ["idk", "I guess.", "fine", "not really", BACK, ENGAGED],
                                      counselor))
    assert [(e.kind, e.status) for e in s.episodes] == [("withdrawal", "repaired")]


def test_a_criticism_opens_a_confrontation_at_once():
    s = replay_session("s-c", session([ENGAGED] * 3 + ["This isn't helping.", ENGAGED]))
    assert [(e.kind, e.status) for e in s.episodes] == [("confrontation", "unrepaired")]


def test_the_same_episodes_as_the_processor_cores_replay():
    turns = session([ENGAGED] * 3 + ["idk", "I guess.", "fine", "not really", "This isn't helping.", ENGAGED])
    events = [ReplayEvent(CHAT_SESSIONS.name, SessionEvent(session_id="s-p", kind="started", at=T0,
                                                           counselor_id="c1"), T0, "t", 0)]
    events += [ReplayEvent(CHAT_TURNS.name, ChatTurn(session_id="s-p", turn_id=t.turn_id, speaker=t.speaker, text=t.text,
                                                     sent_at=t.at, counselor_id="c1"), t.at, "t", t.turn_id + 1)
               for t in turns]
    processor = final_episodes(replay_events(events).episodes)
    ours = replay_session("s-p", turns, counselor_id="c1").episodes
    assert processor and [(e.kind, e.status, e.opened_turn_id, [m.cue for m in e.markers]) for e in ours] == \
           [(e.kind, e.status, e.opened_turn_id, [m.cue for m in e.markers]) for e in processor]


def test_a_repeated_turn_id_is_skipped_not_counted_twice():
    turns = session([ENGAGED] * 3)
    s = replay_session("s-d", [*turns, turns[-1]])
    assert s.skipped == 1 and len(s.flags) == 6
