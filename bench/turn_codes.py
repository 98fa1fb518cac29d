"""Turn-level detectors per code on the synthetic coded corpus: word rules vs a lexical detector, beside length.

    python bench/turn_codes.py            # 60 sessions, 1000 resamples
    python bench/turn_codes.py --quick    # 32 sessions, 300 resamples (what `make bench` runs)

Then the rupture rules per session (episode type, repaired) and the process flags per window against the
synthetic episode corpus (``validation/synthetic_episodes.py``: whole coded sessions, each written from a
plan), replayed through the processor's core as ``eval-turns`` replays them, once with the cues the rules
know and once with half of them unknown to the rules (36 sessions with --quick, 60 without).

The corpus (``validation/synthetic_turns.py``, en + zh) writes each coded turn from a known cue,
half of them cues the word rules know and half cues they do not. Sessions are split in two
(both languages on each side); the lexical detector (word 1-2-grams and character 1-3-grams,
logistic regression, one per code; scikit-learn) is trained on the first half's codes and both
detectors are scored on the second half: Cohen's kappa with the coders, a 95% interval that
resamples sessions, and the same kappa for turn length alone (``validation.turn_agreement.evaluate_code``),
plus the coders' own agreement on the double-coded turns. Then the cost per turn of each
detector, measured in the same run, and their ratio. The corpus is easy by construction: the
numbers show that a detector trained on a site's codes can find cues the rules miss, not how
well either does on real counseling.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring.turn_features import rule_codes  # noqa: E402
from streams.signals import text_length  # noqa: E402
from validation.synthetic_turns import CLIENT_CODES, CODES, coded_corpus  # noqa: E402
from validation.turn_agreement import CodedTurn, evaluate_code  # noqa: E402


def _units(n_sessions: int, resamples: int, missed_share: float) -> None:
    """The rupture rules per session and the process flags per window, replayed through the processor's core."""
    from streams.session_replay import ReplayTurn, replay_session
    from validation.episode_agreement import CodedSession, evaluate_episodes
    from validation.synthetic_episodes import episode_corpus
    from validation.window_agreement import WindowTurn, evaluate_windows

    corpus = episode_corpus(n_sessions, missed_share=missed_share)
    sessions, windows = [], {}
    t0 = time.perf_counter()
    for s in corpus:
        replayed = replay_session(s.session_id, [ReplayTurn(t.turn_id, t.speaker, t.text, t.at) for t in s.turns],
                                  lang=s.lang)
        sessions.append(CodedSession(s.session_id, s.rupture, tuple((e.kind, e.status) for e in replayed.episodes),
                                     float(sum(text_length(t.text) for t in s.turns))))
        windows[s.session_id] = [WindowTurn(t.turn_id, t.speaker, text_length(t.text), replayed.flags.get(t.turn_id, ()),
                                            tuple({k: float(v) for k, v in c.items()} for c in t.coders))
                                 for t in s.turns]
    per_session = (time.perf_counter() - t0) / len(corpus) * 1e3
    turns = sum(len(s.turns) for s in corpus)
    print(f"\nsessions and windows (validation/synthetic_episodes.py, {n_sessions} sessions, {turns} turns; "
          f"{missed_share:.0%} of the coded cues unknown to the rules): kappa, 95% intervals over {resamples} "
          "session resamples")
    print(f"  {'unit':<8} {'code':<18} {'n':>4} {'yes':>4}  {'rules':<20} {'length':<20} {'coders':>6}  verdict")
    for unit, rows in (("session", evaluate_episodes(sessions, resamples=resamples)),
                       ("window", evaluate_windows(windows, resamples=resamples))):
        for a in rows:
            base = f"{a.baseline:5.2f} [{a.baseline_ci.low:5.2f}, {a.baseline_ci.high:5.2f}]"
            coders = "—" if a.coders is None or a.coders != a.coders else f"{a.coders:.2f}"
            print(f"  {unit:<8} {a.code:<18} {a.n:>4} {a.positives:>4}  {_fmt(a):<20} {base:<20} {coders:>6}  "
                  f"{a.verdict}")
    print(f"  replay through the processor core: {per_session:.1f} ms per session "
          f"({per_session / (turns / len(corpus)) * 1e3:.0f} µs per turn)")


def _speaker(code: str) -> str:
    return "client" if code in CLIENT_CODES else "counselor"


def _lexical(train_texts: list[str], train_labels: list[int]):
    """Word + character n-grams and a logistic regression; None when the codes do not vary."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    if len(set(train_labels)) < 2:
        return None
    features = make_union(TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                          TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True))
    model = make_pipeline(features, LogisticRegression(max_iter=2000, class_weight="balanced", C=4.0))
    return model.fit(train_texts, train_labels)


def _fmt(a) -> str:
    return f"{a.agreement:5.2f} [{a.ci.low:5.2f}, {a.ci.high:5.2f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sessions and resamples (make bench)")
    ap.add_argument("--sessions", type=int, default=None)
    ap.add_argument("--resamples", type=int, default=None)
    args = ap.parse_args(argv)
    n_sessions = args.sessions or (32 if args.quick else 60)
    resamples = args.resamples or (300 if args.quick else 1000)
    try:
        import sklearn  # noqa: F401 - the lexical detector's library
    except ImportError:
        print("scikit-learn is not installed: pip install scikit-learn (the lexical detector needs it)")
        return 2

    corpus = coded_corpus(n_sessions=n_sessions)
    train = [t for t in corpus if int(t.session_id[-3:]) % 4 < 2]
    test = [t for t in corpus if int(t.session_id[-3:]) % 4 >= 2]
    print(f"synthetic coded corpus: {n_sessions} sessions (en + zh), {len(corpus)} turns; trained on "
          f"{len({t.session_id for t in train})} sessions, scored on {len({t.session_id for t in test})}; "
          f"kappa with the coders, 95% intervals over {resamples} session resamples")
    print(f"  {'code':<16} {'n':>4} {'yes':>4}  {'rules':<20} {'lexical':<20} {'length':<20} {'coders':>6}")
    rule_s = lexical_s = 0.0
    predicted = 0
    for code in CODES:
        speaker = _speaker(code)
        tr = [t for t in train if t.speaker == speaker]
        te = [t for t in test if t.speaker == speaker]
        model = _lexical([t.text for t in tr], [int(t.coders[0][code]) for t in tr])
        t0 = time.perf_counter()
        rules = [float(rule_codes(t.text, speaker)[code]) for t in te]
        rule_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        lexical = [float(v) for v in model.predict([t.text for t in te])] if model is not None else [0.0] * len(te)
        lexical_s += time.perf_counter() - t0
        predicted += len(te)

        def turns(measure: list[float], rows=te, c=code) -> list[CodedTurn]:
            return [CodedTurn(t.session_id, t.turn_id, tuple(float(k[c]) for k in t.coders), m,
                              float(text_length(t.text))) for t, m in zip(rows, measure, strict=True)]

        by_rules = evaluate_code(code, turns(rules), resamples=resamples)
        by_words = evaluate_code(code, turns(lexical), resamples=resamples)
        base = f"{by_rules.baseline:5.2f} [{by_rules.baseline_ci.low:5.2f}, {by_rules.baseline_ci.high:5.2f}]"
        coders = "—" if by_rules.coders is None else f"{by_rules.coders:.2f}"
        print(f"  {code:<16} {by_rules.n:>4} {by_rules.positives:>4}  {_fmt(by_rules):<20} {_fmt(by_words):<20} "
              f"{base:<20} {coders:>6}")
    per_rule = rule_s / predicted * 1e6
    per_lexical = lexical_s / predicted * 1e6
    print(f"cost per turn (this run): rules {per_rule:.0f} µs, lexical detector {per_lexical:.0f} µs "
          f"(batch predict; {per_lexical / per_rule:.1f}x the rules)")
    for missed in (0.0, 0.5):
        _units(36 if args.quick else 60, resamples, missed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
