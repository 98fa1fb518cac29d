"""Rupture episodes, pure core: cues (en + zh), opening, typing, repair, session end, model drops, samples."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from streams import rupture_cues as cues
from streams import ruptures as rup
from streams.contracts import AllianceAlert, RuptureEpisode
from streams.rupture_replay import final_episodes, replay_ruptures

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
INFO_EN = rup.SessionInfo("s-en", "c-1", "en")
INFO_ZH = rup.SessionInfo("s-zh", "c-2", "zh")

BASELINE_EN = [
    "My partner and I have been fighting a lot lately, every other day, and it was never like this before.",
    "Usually it starts with something small like the dishes and then it escalates until one of us walks out.",
    "He started a new job in January with a lot of travel, and we are both tired all the time now.",
]
BASELINE_ZH = [
    "最近工作特别累，几乎每天加班到十点以后，周末也经常要开会，早上起来就不想去上班。",
    "我在一家互联网公司做产品，上个月做的一个功能熬了好几个通宵，上线两周就被砍了。",
    "我其实挺想弄清楚，自己到底还喜不喜欢做产品，还是只是太累了，所以什么都不想做。",
]


def cue_names(text: str) -> list[tuple[str, str]]:
    return [(c.family, c.name) for c in cues.client_cues(text)]


# --- cues ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("ok", ("withdrawal", "acknowledgement")),
    ("sure", ("withdrawal", "acknowledgement")),
    ("fine", ("withdrawal", "empty_agreement")),
    ("I guess we can try.", ("withdrawal", "empty_agreement")),
    ("I mean, sure, I've heard of it.", ("withdrawal", "empty_agreement")),
    ("maybe", ("withdrawal", "minimal")),
    ("idk. embarrassing", ("withdrawal", "deflecting")),
    ("its fine", ("withdrawal", "deflecting")),
    ("Anyway, my sister called me yesterday about the holidays and the whole family plan.", ("withdrawal", "topic_change")),
    ("yeah but I've done all that before", ("confrontation", "disagreement")),
    ("its not that simple", ("confrontation", "disagreement")),
    ("This isn't helping. I didn't come here to learn phrases.", ("confrontation", "criticism")),
    ("You're not listening to me.", ("confrontation", "criticism")),
    ("嗯", ("withdrawal", "acknowledgement")),
    ("不知道", ("withdrawal", "minimal")),
    ("好吧", ("withdrawal", "empty_agreement")),
    ("嗯，我试试吧", ("withdrawal", "empty_agreement")),
    ("不知道。有点累。", ("withdrawal", "deflecting")),
    ("对了，上周同事约我周末去爬山，我没去，后来他们在群里发照片。", ("withdrawal", "topic_change")),
    ("嗯……可是十点以后经常还有需求要改。", ("confrontation", "disagreement")),
    ("我们那边的氛围不太可能这样说。", ("confrontation", "disagreement")),
    ("你根本没在听我说什么。", ("confrontation", "criticism")),
    ("聊了这么久，现在好像还是一样。", ("confrontation", "criticism")),
])
def test_client_cues_in_both_languages(text, expected):
    assert expected in cue_names(text)


@pytest.mark.parametrize("text", [
    "Yes. That's it exactly.",
    "Yeah. A one-week experiment. I can do that.",
    "I go to bed around 11:30, which is fine, but then I just lie there replaying the day.",
    "试过听白噪音，没什么用。",  # about a remedy, not about the counselor
    "可能是觉得自己还有希望吧。不过第二天又错了好多，就又回去了。",
    "我想能睡好一点，还有就是不要每天都这么慌，能正常复习就好。",
])
def test_ordinary_replies_carry_no_marker(text):
    assert cue_names(text) == []


@pytest.mark.parametrize("text, move", [
    ("I notice your answers have gotten shorter. How are you feeling about our conversation?", "meta_communication"),
    ("You're right, and I'm sorry. I jumped to a technique too fast.", "acknowledging"),
    ("If something I said didn't fit, tell me.", "inviting_disagreement"),
    ("Can we slow down? What is it about, underneath?", "changing_course"),
    ("我注意到你的回复变短了。", "meta_communication"),
    ("对不起，是我太急了。", "acknowledging"),
    ("如果刚才有哪句话让你不太舒服，也可以直接告诉我。", "inviting_disagreement"),
    ("我们可以慢一点，你想说多少都可以。", "changing_course"),
])
def test_repair_moves_in_both_languages(text, move):
    assert move in cues.repair_moves(text)


def test_a_plain_question_is_no_repair_move():
    assert cues.repair_moves("How many hours a day are you studying right now?") == []
    assert cues.repair_moves("你平时有什么爱好吗？") == []


# --- a small driver ------------------------------------------------------------------


class Session:
    """Feeds turns one by one into the pure core, one minute apart."""

    def __init__(self, info: rup.SessionInfo, settings: rup.RuptureSettings = rup.RuptureSettings()):
        self.info, self.settings = info, settings
        self.state: dict | None = None
        self.turn = 0
        self.last = ""  # the previous turn's text (a served marker detector's context)
        self.records: list[RuptureEpisode] = []

    def at(self) -> datetime:
        return T0 + timedelta(minutes=self.turn)

    def say(self, speaker: str, text: str, flags: tuple[str, ...] = (), phase: str = "middle") -> list[RuptureEpisode]:
        d = rup.on_turn(self.state, self.info, turn_id=self.turn, speaker=speaker, text=text, at=self.at(),
                        phase=phase, flags=flags, settings=self.settings, previous=self.last)
        self.state, self.turn, self.last = d.state, self.turn + 1, text
        self.records += d.episodes
        return d.episodes

    def client(self, text: str, flags: tuple[str, ...] = ()) -> list[RuptureEpisode]:
        return self.say("client", text, flags)

    def counselor(self, text: str) -> list[RuptureEpisode]:
        return self.say("counselor", text)

    def end(self) -> list[RuptureEpisode]:
        d = rup.on_session_end(self.state, self.info, at=self.at())
        self.state = d.state
        self.records += d.episodes
        return d.episodes

    def drop(self, alert: AllianceAlert) -> list[RuptureEpisode]:
        d = rup.on_model_drop(self.state, self.info, alert, at=self.at(), settings=self.settings)
        self.state = d.state
        self.records += d.episodes
        return d.episodes

    def latest(self) -> RuptureEpisode:
        return final_episodes(self.records)[-1]

    def warm_up(self) -> "Session":
        base = BASELINE_ZH if self.info.lang == "zh" else BASELINE_EN
        for text in base:
            self.counselor("嗯，能多说一些吗？" if self.info.lang == "zh" else "Tell me more about that.")
            assert self.client(text) == []
        return self


# --- withdrawal ----------------------------------------------------------------------


def test_withdrawal_opens_on_the_third_marker_and_closes_unrepaired_at_session_end_en():
    s = Session(INFO_EN).warm_up()
    s.counselor("You should make a timetable.")
    assert s.client("idk") == []
    s.counselor("And you should go to office hours.")
    assert s.client("maybe") == []
    s.counselor("Have you tried the pomodoro technique?")
    opened = s.client("i guess")
    assert len(opened) == 1
    ep = opened[0]
    assert (ep.kind, ep.status, ep.closed, ep.sources, ep.version) == ("withdrawal", "open", False, ["markers"], 1)
    assert [m.turn_id for m in ep.markers] == [7, 9, 11]
    assert ep.episode_id == "s-en:rupture:1" and ep.opened_turn_id == 11
    assert ep.suggestion.startswith("Name the shift") and "turn 7" in ep.suggestion
    assert not ep.validated  # markers are process evidence, not a model output
    closed = s.end()
    assert [(e.status, e.closed, e.version) for e in closed] == [("unrepaired", True, 2)]
    assert closed[0].suggestion == "" and closed[0].closed_at is not None
    assert s.end() == []  # idempotent
    assert s.client("ok") == [] and s.client("sure") == [] and s.client("fine") == []  # nothing after the end


def test_a_client_withdrawal_flag_lowers_the_bar_zh():
    s = Session(INFO_ZH).warm_up()
    s.counselor("你应该早点睡。")
    assert s.client("不知道") == []
    s.counselor("还要每周运动三次。")
    assert s.client("好吧", flags=()) == []  # two markers: not yet
    s2 = Session(INFO_ZH).warm_up()
    s2.counselor("你应该早点睡。")
    s2.client("不知道")
    s2.counselor("还要每周运动三次。")
    opened = s2.client("好吧", flags=("withdrawal",))
    assert [(e.kind, e.flags) for e in opened] == [("withdrawal", ["withdrawal"])]
    assert "第" in opened[0].suggestion  # the suggestion is in the session's language


@pytest.mark.parametrize("info, acks", [(INFO_EN, ("yeah", "okay", "mm", "ok", "sure", "yes")),
                                        (INFO_ZH, ("嗯", "好的", "嗯嗯", "对", "好", "是的"))])
def test_acknowledgements_between_substantive_turns_are_not_withdrawal(info, acks):
    """An engaged client says "yeah" / "嗯" while the counselor reflects: relative to this client's own
    rhythm (turns with content in the same window) that is listening, not withdrawal (issue 23)."""
    s = Session(info).warm_up()
    body = BASELINE_EN if info.lang == "en" else BASELINE_ZH
    for i, ack in enumerate(acks):
        s.counselor("It sounds like that has been a lot." if info.lang == "en" else "听起来这段时间挺不容易的。")
        assert s.client(ack) == []
        s.counselor("What happened then?" if info.lang == "en" else "后来发生了什么？")
        assert s.client(body[i % 3]) == []
    assert final_episodes(s.records) == []  # and nothing opened on the way


def test_a_client_who_only_acknowledges_has_withdrawn():
    s = Session(INFO_EN).warm_up()
    opened = []
    for ack in ("yeah", "ok", "sure", "mm"):
        s.counselor("Have you tried writing it down?")
        opened += s.client(ack)
    assert [(e.kind, [m.cue for m in e.markers]) for e in opened] == [("withdrawal", ["acknowledgement"] * 4)]


def test_a_reply_far_below_the_clients_own_baseline_is_a_marker():
    s = Session(INFO_EN).warm_up()
    for answer in ("econ", "stats again", "no"):
        s.counselor("Which exam is first?")
        s.client(answer)
    assert [m.cue for m in s.latest().markers] == ["short_reply", "short_reply", "minimal"]


# --- confrontation and mixed ------------------------------------------------------------


def test_one_criticism_opens_a_confrontation_that_is_repaired_en():
    s = Session(INFO_EN).warm_up()
    s.counselor("Let's practise the I-statement for the dishwasher next.")
    opened = s.client("Ok can I be honest? This isn't helping. You're not listening.")
    assert [(e.kind, e.status) for e in opened] == [("confrontation", "open")]
    assert opened[0].suggestion.startswith("Acknowledge your part")
    attempt = s.counselor("You're right, and I'm sorry. I jumped to a technique. Can we slow down?")
    assert [(e.status, e.version) for e in attempt] == [("repair_attempted", 2)]
    assert [m.cue for m in attempt[0].repair_moves] == ["acknowledging", "changing_course"]
    assert attempt[0].suggestion.startswith("You named it")
    done = s.client("Ok. Thanks for saying that. I think I feel like a roommate now, not his person, since the job.")
    assert [(e.status, e.closed, e.reengaged_turn_id) for e in done] == [("repaired", True, 9)]
    assert s.end() == []  # nothing left open


def test_a_repair_attempt_without_reengagement_stays_unrepaired_zh():
    s = Session(INFO_ZH).warm_up()
    s.counselor("第一步，你先列一下每天的时间安排。")
    opened = s.client("你根本没在听我说什么。")
    assert [e.kind for e in opened] == ["confrontation"]
    s.counselor("对不起，是我太急了。你可以直接告诉我哪里不对。")
    s.client("嗯")
    s.client("不知道")
    assert s.latest().status == "repair_attempted"
    assert [(e.status, e.kind) for e in s.end()] == [("unrepaired", "mixed")]


def test_the_client_talking_at_length_without_being_invited_back_is_not_a_repair():
    s = Session(INFO_EN).warm_up()
    s.counselor("You should try it again.")
    s.client("This isn't helping.")
    s.counselor("Okay. How many hours do you sleep?")
    s.client("Around six hours on weeknights, more on weekends when I do not have to get up early for lectures.")
    assert s.latest().status == "open"
    assert s.end()[0].status == "unrepaired"


def test_two_rejections_open_a_confrontation_then_withdrawal_makes_it_mixed_zh():
    s = Session(INFO_ZH).warm_up()
    s.counselor("你就需要学会拒绝。")
    assert s.client("嗯……可是十点以后经常还有需求要改。") == []
    s.counselor("时间长肯定是主要原因。")
    opened = s.client("我们那边的氛围不太可能这样说。")
    assert [e.kind for e in opened] == ["confrontation"]
    s.counselor("建议你每周至少运动三次。")
    retyped = s.client("嗯")
    assert [e.kind for e in retyped] == ["mixed"]  # a type change is a new version
    s.counselor("那就把画画捡起来。")
    assert s.client("好吧") == []  # same type: no new record
    assert s.latest().suggestion.startswith("放慢节奏")


def test_a_lone_rejection_in_a_good_session_opens_nothing():
    s = Session(INFO_EN).warm_up()
    s.counselor("Have you tried the pomodoro technique?")
    assert s.client("yeah I've tried it, it kind of works when my friend is there with me in the library") == []
    s.counselor("What made it work with her there?")
    assert s.client("I think I'm less in my head when someone else is studying right next to me.") == []
    assert s.records == []


def test_kind_of_uses_the_smaller_familys_share():
    w, c = ["t", "withdrawal"], ["t", "confrontation"]
    assert rup.kind_of([w, w, w, c], 0.25) == "mixed"
    assert rup.kind_of([w, w, w, w, c], 0.25) == "withdrawal"
    assert rup.kind_of([c, c, w], 0.4) == "confrontation"
    assert rup.kind_of([], 0.25) == "untyped"


# --- model drops --------------------------------------------------------------------


def drop_alert(validated: bool, kind: str = "drop", dimension: str = "bond") -> AllianceAlert:
    return AllianceAlert(alert_id=f"s-en:middle:{dimension}:{kind}", session_id="s-en", counselor_id="c-1",
                         dimension=dimension, kind=kind, severity="warning", previous=4.0, current=3.2,  # type: ignore[arg-type]  # kind, dimension: strs
                         phase="middle", model="m", validated=validated, created_at=T0)


def test_a_model_drop_opens_an_untyped_episode_that_carries_the_gate_verdict():
    s = Session(INFO_EN).warm_up()
    opened = s.drop(drop_alert(validated=False))
    assert len(opened) == 1
    ep = opened[0]
    assert (ep.kind, ep.sources, ep.validated, ep.version) == ("untyped", ["model"], False, 1)
    assert ep.model_drop is not None and ep.model_drop.dimension == "bond"
    s.counselor("What would make it an 8?")
    typed = s.client("idk")
    assert [(e.kind, e.sources) for e in typed] == [("withdrawal", ["model"])]
    assert Session(INFO_EN).drop(drop_alert(validated=True))[0].validated


def test_a_model_drop_joins_the_open_marker_episode_and_other_alerts_are_ignored():
    s = Session(INFO_EN).warm_up()
    s.counselor("Let's do the worksheet.")
    s.client("This isn't helping.")
    assert s.drop(drop_alert(validated=False, kind="low")) == []
    joined = s.drop(drop_alert(validated=False))
    assert [(e.sources, e.version, e.episode_id) for e in joined] == [(["markers", "model"], 2, "s-en:rupture:1")]
    assert s.drop(drop_alert(validated=False, dimension="goal")) == []  # already has its drop


def test_a_late_drop_after_the_session_ended_joins_the_closed_episode_or_arrives_closed():
    s = Session(INFO_EN).warm_up()
    s.counselor("Let's do the worksheet.")
    s.client("This isn't helping.")
    s.end()
    joined = s.drop(drop_alert(validated=False))
    assert [(e.status, e.closed, e.sources, e.version) for e in joined] == [
        ("unrepaired", True, ["markers", "model"], 3)]
    quiet = Session(INFO_EN).warm_up()
    quiet.end()
    late = quiet.drop(drop_alert(validated=False))
    assert [(e.kind, e.status, e.closed, e.version) for e in late] == [("untyped", "unrepaired", True, 1)]
    assert late[0].suggestion == ""


def test_settings_are_checked():
    with pytest.raises(ValueError):
        rup.RuptureSettings(withdrawal_open=5, window=4)
    with pytest.raises(ValueError):
        rup.RuptureSettings(mixed_share=0.8)


def test_state_is_json_and_keeps_no_text():
    s = Session(INFO_EN).warm_up()
    secret = "This isn't helping, my landlord Zebulon keeps calling."
    s.client(secret)
    dumped = json.dumps(s.state)
    assert "Zebulon" not in dumped and "helping" not in dumped
    assert s.state["open"]["markers"] == [[6, "confrontation", "criticism"]]


# --- the six samples -------------------------------------------------------------------

#: What each sample was written to show (samples/README.md and each file's header).
EXPECTED = {
    "s01_steady_good_alliance_en.jsonl": [],
    "s02_bond_rupture_middle_en.jsonl": [("withdrawal", "unrepaired", "middle", True)],
    "s03_goal_drift_zh.jsonl": [("mixed", "unrepaired", "late", True)],
    "s04_confrontation_repaired_en.jsonl": [("confrontation", "repaired", "middle", True)],
    "s05_client_goes_silent_zh.jsonl": [("withdrawal", "unrepaired", "middle", True)],
    "s06_over_directing_zh.jsonl": [("mixed", "unrepaired", "early", False)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_yields_the_episodes_it_was_written_to_show(name):
    episodes = final_episodes(replay_ruptures(SAMPLES / name))
    found = [(e.kind, e.status, e.phase, bool(e.repair_moves)) for e in episodes]
    assert found == EXPECTED[name]
    assert all(e.closed for e in episodes)


def test_the_confrontation_sample_is_repaired_by_the_apology_and_the_clients_answer():
    (ep,) = final_episodes(replay_ruptures(SAMPLES / "s04_confrontation_repaired_en.jsonl"))
    assert [m.turn_id for m in ep.markers] == [17, 18]
    assert ep.repair_moves[0].turn_id == 19 and ep.reengaged_turn_id == 20


def test_tail_describes_an_episode_by_ids_and_cues():
    from alliance_monitor.commands.broker import describe

    (ep,) = final_episodes(replay_ruptures(SAMPLES / "s04_confrontation_repaired_en.jsonl"))
    line = describe(ep)
    assert line == ("sample-04-confrontation-repair-en:rupture:1 v3 confrontation repaired (markers) middle, "
                    "from turn 17; markers 17:criticism 18:criticism")


# --- a detector served in place of the marker rules (process --rupture-detector) --------------------

SERVED_KEY = "trained.rupture-markers@0123456789ab"


class Confronts:
    """The marker function under test's input: says confrontation for turns that call the chat a lecture or a
    script (words the rules do not know) and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, text: str, previous: str) -> dict[str, bool]:
        self.asked.append((text, previous))
        return {"confrontation": "lecture" in text or "script" in text}


def served(answer) -> rup.RuptureSettings:
    return rup.RuptureSettings(markers=rup.MarkerDetector(SERVED_KEY, ("confrontation",), answer))


def test_a_served_detector_opens_an_episode_that_names_it_and_reads_client_turns_only():
    answer = Confronts()
    s = Session(INFO_EN, served(answer))
    for text in BASELINE_EN:
        s.counselor("Tell me more.")
        s.client(text)
    s.counselor("You should try writing the worries down before bed.")
    assert s.client("This feels like a lecture.") == []  # one served yes counts like a rejection: not alone
    s.counselor("Writing things down helps many people.")
    (opened,) = s.client("You clearly have a script you follow.")
    assert (opened.kind, opened.sources, opened.opened_turn_id) == ("confrontation", ["markers"], 9)
    assert [(m.turn_id, m.family, m.cue) for m in opened.markers] == [
        (7, "confrontation", rup.TRAINED_CUE), (9, "confrontation", rup.TRAINED_CUE)]
    assert opened.marker_detectors == {"confrontation": SERVED_KEY}
    assert len(answer.asked) == 5  # client turns only
    assert answer.asked[-1] == ("You clearly have a script you follow.", "Writing things down helps many people.")


def test_the_rules_answer_the_codes_the_detector_was_not_trained_for():
    s = Session(INFO_EN, served(lambda text, previous: {"confrontation": False}))
    for text in BASELINE_EN:
        s.client(text)
    assert s.client("This isn't helping.") == []  # the rules' criticism: the served detector answers it (no)
    s.client("idk")
    (opened,) = s.client("fine")  # withdrawal: still the rules' (a short reply, a deflection, a hedge)
    assert opened.kind == "withdrawal" and opened.marker_detectors == {}
    assert [m.cue for m in opened.markers] == ["short_reply", "minimal", "empty_agreement"]
    plain = Session(INFO_EN)
    for text in BASELINE_EN:
        plain.client(text)
    assert plain.client("This isn't helping.")[0].kind == "confrontation"  # what the rules alone would open


def test_an_episode_keeps_naming_the_detector_that_typed_it_after_a_restart_without_it():
    s = Session(INFO_EN, served(Confronts()))
    s.client("This feels like a lecture.")
    (opened,) = s.client("You clearly have a script you follow.")
    s.settings = rup.RuptureSettings()  # the worker restarted without --rupture-detector
    (joined,) = s.client("idk")  # the rules' withdrawal joins it: now mixed
    assert joined.episode_id == opened.episode_id and joined.kind == "mixed"
    assert joined.marker_detectors == {"confrontation": SERVED_KEY}  # withdrawal: the rules' (no entry)
