"""Process signals: text features (English and Chinese), rolling windows, per-client baselines, flags."""

from __future__ import annotations

import pytest

from streams import signals as sig

T0 = 1_800_000_000.0


@pytest.mark.parametrize("text", ["ok", "OK.", "okay!", "idk", "I don't know", "yeah", "hmm...", "嗯", "好", "好的",
                                  "嗯嗯嗯", "不知道", "哦。", "👍", "?", "  k  ", "还行吧"[:2]])
def test_minimal_responses(text):
    assert sig.is_minimal(text)


@pytest.mark.parametrize("text", ["ok, but my boss keeps calling me at night", "I don't know what to do about my mum",
                                  "好的，我试着跟他谈谈这个问题", "嗯，我最近睡得不好", "no idea why I keep failing exams"])
def test_replies_with_content_are_not_minimal(text):
    assert not sig.is_minimal(text)


def test_question_reflection_directive_in_both_languages():
    assert sig.is_question("How did that feel?")
    assert sig.is_question("What happened next")
    assert sig.is_question("你最近睡得怎么样？")
    assert sig.is_question("你能说说发生了什么吗")
    assert not sig.is_question("That was brave.")
    assert sig.is_reflection("It sounds like you felt left out.")
    assert sig.is_reflection("听起来你很委屈")
    assert not sig.is_reflection("What time is it?")
    assert sig.is_directive("You should talk to your manager.")
    assert sig.is_directive("我建议你先休息一下")
    assert not sig.is_directive("What do you think would help?")


def test_text_length_counts_words_and_cjk_characters():
    assert sig.text_length("I feel stuck at work") == 5
    assert sig.text_length("我很难过") == 4
    assert sig.text_length("ok 好") == 2


def feed(state, rows, settings=sig.SignalSettings()):
    for i, (speaker, text, at) in enumerate(rows):
        sig.update(state, sig.features(i, speaker, text, T0 + at), settings)


LONG = "I have been feeling really stuck at work lately and I cannot sleep well at night"


def test_withdrawal_against_the_clients_own_baseline():
    st = sig.SignalState()
    rows = []
    t = 0
    for _ in range(3):  # baseline: long replies
        rows += [("counselor", "Tell me more?", t), ("client", LONG, t + 20)]
        t += 40
    for _ in range(6):  # then short ones
        rows += [("counselor", "And then?", t), ("client", "work was bad", t + 20)]
        t += 40
    feed(st, rows)
    f = sig.compute(st, T0 + t)
    assert f.client_length_ratio == pytest.approx(3 / 16)
    assert "withdrawal" in f.flags


def test_a_terse_client_is_not_withdrawn():
    st = sig.SignalState()
    rows = []
    for i in range(8):
        rows += [("counselor", "How was it?", i * 40), ("client", "work was bad", i * 40 + 20)]
    feed(st, rows)
    f = sig.compute(st, T0 + 330)
    assert f.client_length_ratio == pytest.approx(1.0)
    assert "withdrawal" not in f.flags


def test_no_baseline_means_unknown_not_fine():
    st = sig.SignalState()
    feed(st, [("counselor", "Hello, what brings you here?", 0), ("client", LONG, 10)])
    f = sig.compute(st, T0 + 10)
    assert f.client_length_ratio is None
    assert f.directive_density is None and f.minimal_response_rate is None
    assert f.flags == ()


def test_reply_latency_and_slow_replies():
    st = sig.SignalState()
    rows = []
    t = 0
    for lat in (10, 12, 8):
        rows += [("counselor", "And?", t), ("client", LONG, t + lat)]
        t += 60
    for lat in (150, 200):
        rows += [("counselor", "Are you there?", t), ("client", LONG, t + lat)]
        t += 300
    feed(st, rows)
    f = sig.compute(st, T0 + t)
    assert f.client_latency_s == 12  # median of 10, 12, 8, 150, 200
    # median still low -> no flag yet; add more slow replies
    for lat in (180, 240, 200):
        feed(st, [("counselor", "Still there?", t), ("client", LONG, t + lat)])
        t += 300
    f = sig.compute(st, T0 + t)
    assert f.client_latency_s >= 150 and "slow_replies" in f.flags


def test_idle_client():
    st = sig.SignalState()
    feed(st, [("counselor", "Hi", 0), ("client", LONG, 10), ("counselor", "Go on?", 20)])
    assert sig.compute(st, T0 + 100).client_idle_s == 90
    assert "idle" in sig.compute(st, T0 + 10 + 180).flags


def test_question_streak_counts_questions_the_client_has_not_answered_with_substance():
    st = sig.SignalState()
    feed(st, [("counselor", "Why?", 0), ("client", "no", 5), ("counselor", "When?", 10),
              ("counselor", "How often?", 15)])
    assert sig.compute(st, T0 + 15).question_streak == 3
    assert "rushing" not in sig.compute(st, T0 + 15).flags  # three questions is ordinary exploring
    feed(st, [("client", "idk", 16), ("counselor", "And at night?", 17)])
    assert sig.compute(st, T0 + 17).question_streak == 4
    assert "rushing" in sig.compute(st, T0 + 17).flags
    feed(st, [("counselor", "It sounds like this has been exhausting.", 20)])
    assert sig.compute(st, T0 + 20).question_streak == 0


def test_a_question_after_a_substantive_answer_follows_the_client_and_is_not_rushing():
    """The steady sample's counselor asks question after question, each after the client said something of
    substance: exploring, not rushing (issue 23: `make demo` raised `rushing` for the good session)."""
    st = sig.SignalState()
    for i in range(8):
        feed(st, [("counselor", "What happened next?", 20 * i), ("client", LONG, 20 * i + 10)])
    assert sig.compute(st, T0 + 170).question_streak == 0
    assert "rushing" not in sig.compute(st, T0 + 170).flags


def test_acknowledgements_between_substantive_replies_are_not_minimal_responses_or_withdrawal():
    st = sig.SignalState()
    t = 0
    for reply in (LONG, "yeah", LONG, "mm", LONG, "嗯", LONG, "okay", LONG, "好的"):
        feed(st, [("counselor", "It sounds like that matters to you.", t), ("client", reply, t + 8)])
        t += 30
    f = sig.compute(st, T0 + t)
    assert f.minimal_response_rate == pytest.approx(0.5)
    assert "minimal_responses" not in f.flags and "withdrawal" not in f.flags
    assert f.client_length_ratio == pytest.approx(1.0)  # the replies with content kept their length


def test_directive_density_and_minimal_rate():
    st = sig.SignalState()
    feed(st, [("counselor", "You should sleep more.", 0), ("client", "ok", 5),
              ("counselor", "I suggest a walk.", 10), ("client", "嗯", 15),
              ("counselor", "How was your week?", 20), ("client", "idk", 25)])
    f = sig.compute(st, T0 + 25)
    assert f.directive_density == pytest.approx(2 / 3)
    assert f.minimal_response_rate == 1.0
    assert {"over_directing", "minimal_responses"} <= set(f.flags)


def test_windows_forget_old_turns():
    settings = sig.SignalSettings(window_s=120)
    st = sig.SignalState()
    feed(st, [("client", "ok", 0), ("client", "ok", 1), ("client", "ok", 2)], settings)
    assert sig.compute(st, T0 + 3, settings).minimal_response_rate == 1.0
    assert sig.compute(st, T0 + 500, settings).minimal_response_rate is None


def test_state_keeps_no_text_and_roundtrips():
    st = sig.SignalState()
    feed(st, [("counselor", "secret counselor words", 0), ("client", "secret client words", 5)])
    data = st.to_dict()
    assert "secret" not in repr(data)
    assert sig.SignalState.from_dict(data) == st
