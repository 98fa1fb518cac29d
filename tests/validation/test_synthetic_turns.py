"""The synthetic coded corpus: seeded, en + zh, codes from known cues the word rules partly know (issue 23)."""

from __future__ import annotations

from scoring.turn_features import rule_codes
from validation.synthetic_turns import CODES, coded_corpus


def test_the_corpus_is_seeded_bilingual_and_double_coded_in_part():
    a, b = coded_corpus(n_sessions=8), coded_corpus(n_sessions=8)
    assert a == b and {t.lang for t in a} == {"en", "zh"}
    double = sum(1 for t in a if len(t.coders) == 2)
    assert 0.15 < double / len(a) < 0.45
    assert {t.code for t in a} >= set(CODES)


def test_the_rules_see_the_cues_they_know_and_miss_the_others():
    corpus = [t for t in coded_corpus(n_sessions=16) if t.code is not None]
    seen = {v: [rule_codes(t.text, t.speaker)[t.code] for t in corpus if t.rule_visible == v] for v in (True, False)}
    assert sum(seen[True]) / len(seen[True]) > 0.95  # the rules' own cues
    assert sum(seen[False]) / len(seen[False]) < 0.25  # the same codes in words the rules do not know
