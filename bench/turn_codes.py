"""Turn-level detectors per code on the synthetic coded corpus: word rules vs trained detectors, beside length.

    python bench/turn_codes.py              # 60 sessions, 1000 resamples
    python bench/turn_codes.py --quick      # 16 sessions, 300 resamples (what `make bench` runs)
    python bench/turn_codes.py --no-hidden  # rules and the lexical detector only (no model pass)
    python bench/turn_codes.py --model DIR  # hidden states of that model (default: ALLIANCE_MODEL, else the demo model)

The corpus (``validation/synthetic_turns.py``, en + zh) writes each coded turn from a known cue,
half of them cues the word rules know and half cues they do not. Sessions are split in two
(both languages on each side). The trained detectors are the three ``train-turns --features``
kinds, fitted per code by the project's own code (``training.turn_detector.fit``) on the first
half's codes (the coders' mean, as ``train-turns`` reads a coded file): ``lexical`` (word and
character n-grams of the turn, word n-grams of its previous turn), ``hidden`` (the scoring model's
middle-layer states of the turn read after its previous turn, pooled over the turn's own tokens:
``training.turn_hidden.turn_states``, the extractor the scorer and ``eval-turns`` use) and ``both``.
Every detector is scored on the second half: Cohen's kappa with the coders, a 95% interval that
resamples sessions, and the same kappa for turn length alone (``validation.turn_agreement.evaluate_code``),
plus the coders' own agreement on the double-coded turns. Then the cost per held-out turn of each
detector (every code of the turn's speaker), measured in the same run, and its ratio to the rules;
for ``hidden``/``both`` the model pass (the extraction rate is printed) plus the classifiers.
``--quick`` uses fewer sessions because the model pass is the slow part (a few turns per second on
a loaded 2-core CPU); ``--no-hidden`` skips it. Without a model (no demo model pulled, no
transformers) the hidden rows are left out with a one-line note.

What the corpus can show: that a detector trained on a site's codes finds cues the rules miss, and
what each detector costs. What it cannot: the corpus's cues are fixed word templates, so a lexical
detector learns them almost perfectly and the hidden states have little left to add; whether they
add anything on real counseling (paraphrase, context, cues spread over turns) is not measured here.
The demo model is a small model; another ``--model`` gives other hidden rows.

Then the rupture rules per session (episode type, repaired) and the process flags per window against the
synthetic episode corpus (``validation/synthetic_episodes.py``: whole coded sessions, each written from a
plan), replayed through the processor's core as ``eval-turns`` replays them, once with the cues the rules
know and once with half of them unknown to the rules (36 sessions with --quick, 60 without).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring.turn_features import rule_codes  # noqa: E402
from streams.signals import text_length  # noqa: E402
from validation.synthetic_turns import CODES, coded_corpus  # noqa: E402
from validation.turn_agreement import CodedTurn, evaluate_code  # noqa: E402

#: The trained detectors' rows, in order (``train-turns --features``; the last two need the model pass).
KINDS: tuple[str, ...] = ("lexical", "hidden", "both")


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


def _labelled(corpus: list[Any]) -> list[Any]:
    """The corpus as ``train-turns`` reads a coded file: each turn with its previous turn, coders' codes averaged."""
    from training.turn_detector import labelled_turns

    texts = {(t.session_id, t.turn_id): (t.speaker, t.text) for t in corpus}
    coded = {(t.session_id, t.turn_id): [{k: float(v) for k, v in c.items()} for c in t.coders] for t in corpus}
    return labelled_turns(texts, coded)


def _hidden_states(model: str | None, turns: list[Any]) -> tuple[Any, dict[tuple[str, int], Any], Any]:
    """The scoring model's pooled states of every turn in its context, as ``train-turns --features hidden`` reads
    them: (the model identity, states by (session, turn), the extraction's ``TurnStates``)."""
    from scoring.models import resolve
    from training.turn_hidden import identity_of, pooler_for, turn_states

    pooler = pooler_for(resolve(model))
    got = turn_states(pooler, [(t.text, t.previous, t.speaker) for t in turns], progress=True, desc="bench hidden")
    states = {(t.session_id, t.turn_id): h for t, h in zip(turns, got.hidden, strict=True)}
    return identity_of(pooler), states, got


def _fmt(a) -> str:
    return f"{a.agreement:5.2f} [{a.ci.low:5.2f}, {a.ci.high:5.2f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sessions and resamples (make bench)")
    ap.add_argument("--sessions", type=int, default=None)
    ap.add_argument("--resamples", type=int, default=None)
    ap.add_argument("--model", default=None, metavar="DIR",
                    help="local Hugging Face model directory whose hidden states the hidden/both detectors read "
                         "(default: ALLIANCE_MODEL, else the demo model)")
    ap.add_argument("--no-hidden", action="store_true", help="leave out the hidden/both rows (no model pass)")
    args = ap.parse_args(argv)
    n_sessions = args.sessions or (16 if args.quick else 60)
    resamples = args.resamples or (300 if args.quick else 1000)
    if n_sessions < 4:
        print("--sessions: at least 4 (sessions are split in two, both languages on each side)")
        return 2
    try:
        import sklearn  # noqa: F401 - the trained detectors' library
    except ImportError:
        print("scikit-learn is not installed: pip install scikit-learn (the trained detectors need it)")
        return 2
    import numpy as np

    from scoring.errors import ModelError
    from training.errors import TrainingError
    from training.turn_detector import feature_text, fit, speaker_of

    corpus = coded_corpus(n_sessions=n_sessions)
    synthetic = {(t.session_id, t.turn_id): t for t in corpus}
    turns = _labelled(corpus)
    train = [t for t in turns if int(t.session_id[-3:]) % 4 < 2]
    test = [t for t in turns if int(t.session_id[-3:]) % 4 >= 2]
    kinds = ["lexical"]
    identity = states = extraction = None
    if not args.no_hidden:
        try:
            identity, states, extraction = _hidden_states(args.model, turns)
            kinds = list(KINDS)
        except (ModelError, ImportError, OSError) as err:
            if args.model:
                print(f"--model {args.model}: {err}")
                return 2
            print(f"hidden/both rows left out (no scoring model here: {str(err).splitlines()[0]}); "
                  "give --model DIR, or --no-hidden")
    print(f"synthetic coded corpus: {n_sessions} sessions (en + zh), {len(corpus)} turns; trained on "
          f"{len({t.session_id for t in train})} sessions, scored on {len({t.session_id for t in test})}; "
          f"kappa with the coders, 95% intervals over {resamples} session resamples")
    if identity is not None and extraction is not None:
        print(f"hidden states: {identity.key} ({identity.salt}); extraction {extraction.hidden.shape[0]} turns in "
              f"{extraction.seconds:.1f} s ({extraction.rate:.1f} turns/s)")
    header = "".join(f"{k:<20} " for k in ("rules", *kinds, "length"))
    print(f"  {'code':<16} {'n':>4} {'yes':>4}  {header}{'coders':>6}")

    t0 = time.perf_counter()
    rules_of = {(t.session_id, t.turn_id): rule_codes(t.text, t.speaker) for t in test}
    seconds = {"rules": time.perf_counter() - t0, **{k: 0.0 for k in kinds}}
    try:
        for code in CODES:
            speaker = speaker_of(code)
            te = [t for t in test if t.speaker == speaker]
            x = [feature_text(t.text, t.previous) for t in te]
            h = None if states is None else np.stack([states[(t.session_id, t.turn_id)] for t in te])
            measures = {"rules": [float(rules_of[(t.session_id, t.turn_id)][code]) for t in te]}
            for kind in kinds:
                model = fit((code,), train, kind, hidden=states, model=identity)[code]
                t0 = time.perf_counter()
                got = model.predict(x) if kind == "lexical" else model.predict(x, h)
                seconds[kind] += time.perf_counter() - t0
                measures[kind] = [float(v) for v in got]

            def coded(measure: list[float], rows=te, c=code) -> list[CodedTurn]:
                return [CodedTurn(t.session_id, t.turn_id,
                                  tuple(float(k[c]) for k in synthetic[(t.session_id, t.turn_id)].coders), m,
                                  float(text_length(t.text))) for t, m in zip(rows, measure, strict=True)]

            scored = {name: evaluate_code(code, coded(m), resamples=resamples) for name, m in measures.items()}
            by_rules = scored["rules"]
            base = f"{by_rules.baseline:5.2f} [{by_rules.baseline_ci.low:5.2f}, {by_rules.baseline_ci.high:5.2f}]"
            coders = "—" if by_rules.coders is None else f"{by_rules.coders:.2f}"
            cells = "".join(f"{_fmt(scored[k]):<20} " for k in ("rules", *kinds))
            print(f"  {code:<16} {by_rules.n:>4} {by_rules.positives:>4}  {cells}{base:<20} {coders:>6}")
    except TrainingError as err:
        print(f"cannot train on {n_sessions} sessions: {err}")
        return 2

    per_turn = {k: s / len(test) for k, s in seconds.items()}
    if extraction is not None:
        pass_per_turn = extraction.seconds / extraction.hidden.shape[0]
        for kind in ("hidden", "both"):
            per_turn[kind] += pass_per_turn
    print(f"cost per held-out turn, every code of its speaker ({len(test)} turns, this run; classifiers batched):")
    for name, s in per_turn.items():
        ratio = "" if name == "rules" else f"  {s / per_turn['rules']:8.1f}x the rules"
        extra = ""
        if name in ("hidden", "both") and extraction is not None:
            extra = (f"  (model pass {pass_per_turn * 1e3:.1f} ms + classifiers "
                     f"{(s - pass_per_turn) * 1e6:.0f} µs)")
        print(f"  {name:<8} {s * 1e6:10.0f} µs{ratio}{extra}")
    for missed in (0.0, 0.5):
        _units(36 if args.quick else 60, resamples, missed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
