"""Does training turn a failing model into a passing one? zero-shot vs head vs LoRA on held-out sessions.

    python bench/validity_loop.py --quick     # 240 sessions (72 held out), LoRA 30 steps
    python bench/validity_loop.py             # 600 sessions (180 held out), LoRA 150 steps

What it does, all with the real parts:
1. writes the labelled SYNTHETIC corpus (``corpus synth``; not clinical data) and
   reads it back through the same interface as ``train`` (labels file + sessions);
2. splits by time and by session (the newest 30 % held out);
3. trains a head (``train --method head``) and LoRA (``train --method lora``) on the
   older sessions, timing each;
4. scores the held-out sessions with the real vLLM engine: the demo model zero-shot
   and with the head applied (one engine pass gives both), then the merged LoRA model;
5. evaluates each with the validation gate (``validation.verdict.evaluate_sessions``:
   raw r, length-controlled r with its 95 % CI, the length-only baseline, pass/fail)
   and prints one line per method and dimension, plus training time and scoring
   cost per phase (median ``latency_ms``; the head's extra is measured in the same run);
6. which frozen features carry signal: 5-fold CV ridge on the held-out sessions with
   the zero-shot option probabilities vs the pooled hidden states;
7. feature blocks (``train --features every``) on a larger HARD synthetic corpus (1,000 sessions
   with --quick: 300 held out, so an r's interval is about ±.1): the comparison table ``train``
   prints — each block alone, the combination chosen per dimension by CV on the training split
   (per phase), the length baseline — and per dimension whether the combination beats each block
   alone (paired bootstrap of the difference over the held-out sessions). Its hidden states come
   from the tiny random-weight model (tests/tiny_model.py; ``--blocks-model`` for another): the
   step measures the combination, not what a model knows.

    python bench/validity_loop.py --quick --blocks-only      # step 7 alone (5-14 min here)

``--hard`` writes the hard synthetic corpus for steps 1-6 too (~30 turns, sparse cues on both
speakers' turns, length against the rating, retest-level rating noise; docs/training.md).

Time of ``--quick`` on this shared 2-core CPU, cold: step 7 about 5 min, the demo model's hidden pass
for step 3 about 10 min, zero-shot + head through vLLM 10 min, LoRA 30 steps 14 min, the LoRA
model through vLLM 12 min — about 55 min (40 min measured with steps 3 and 7 reading their hidden states
from a cache), too long for ``make bench``; ``--blocks-only`` is the
part that fits there.

Synthetic labels prove the mechanics, not clinical validity.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _gate(model, scores, sessions, settings):
    from validation.verdict import evaluate_sessions

    labels = {s.session_id: {d: sum(s.answers[q] for q in ids) / 4 for d, ids in DIMS.items()} for s in sessions}
    preds = {sc.session_id: {d: v.score for d, v in sc.dimensions.items()} for sc in scores}
    cov = {sc.session_id: (float(sc.transcript_chars), float(sc.client_turns)) for sc in scores}
    return evaluate_sessions(model, preds, labels, cov, settings, labels_source="synthetic held-out split")


DIMS = {"goal": ("Q1", "Q2", "Q3", "Q4"), "approach": ("Q5", "Q6", "Q7", "Q8"), "bond": ("Q9", "Q10", "Q11", "Q12")}


async def _score_all(scorer, sessions, concurrency: int, desc: str, both: bool = False):
    from tqdm import tqdm

    sem = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(sessions), desc=desc, unit="session")

    async def one(s):
        async with sem:
            kw = dict(session_id=s.session_id, phase="late", turns=s.turns, lang=s.lang, counselor_id=s.counselor_id)
            out = await (scorer.score_with_base(**kw) if both else scorer.score(**kw))
            bar.update()
            return out

    out = await asyncio.gather(*(one(s) for s in sessions))
    bar.close()
    return out


def _run_engine(model_ref, fn):
    """Build a vLLM engine, run ``fn(engine)`` (a coroutine), close it, in one event loop."""
    from scoring.engines import load_engine
    from scoring.engines.base import EngineSettings

    async def main():
        engine = load_engine("vllm", model_ref, EngineSettings(max_model_len=2048, cpu_kv_cache_gib=1))
        try:
            return await fn(engine)
        finally:
            await engine.aclose()

    return asyncio.run(main())


def _cv_signal(x, sessions, seed: int = 0) -> dict[str, float]:
    """5-fold CV ridge r per dimension of features ``x`` against the labels (same sessions)."""
    import numpy as np

    from training.head_training import answers_matrix, dimension_means
    from training.ridge import fit_ridge
    from validation.stats import fold_ids, pearson

    y = answers_matrix(sessions)
    ids = fold_ids(len(sessions), 5, seed)
    pred = np.zeros_like(y)
    for f in range(5):
        fit = fit_ridge(x[ids != f], y[ids != f], seed=seed)
        pred[ids == f] = fit.predict(x[ids == f])
    p, t = dimension_means(pred), dimension_means(y)
    return {d: pearson(p[d], t[d]).r for d in DIMS}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="240 sessions, LoRA 30 steps")
    ap.add_argument("--sessions", type=int, default=None)
    ap.add_argument("--lora-steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=4, help="sessions scored at once")
    ap.add_argument("--skip-lora", action="store_true")
    ap.add_argument("--out", default=None, help="keep the corpus and artefacts here (default: a temp dir)")
    ap.add_argument("--hard", action="store_true", help="the hard synthetic corpus (difficulty='hard')")
    ap.add_argument("--blocks-only", action="store_true",
                    help="only the feature-block comparison (no vLLM scoring, no LoRA)")
    ap.add_argument("--blocks-sessions", type=int, default=None,
                    help="hard-corpus sessions for the feature-block step (default 1000 with --quick, else 2000)")
    ap.add_argument("--blocks-model", default=None,
                    help="model whose hidden states the feature-block step reads: a directory, 'base' (the --model), "
                         "default the tiny random-weight model (tests/tiny_model.py)")
    ap.add_argument("--model", default=None, help="base model directory (default: ALLIANCE_MODEL, else the demo model)")
    args = ap.parse_args()

    import numpy as np

    from scoring.features import prob_features
    from scoring.head import HeadScorer, load_head
    from scoring.models import resolve
    from scoring.scorer import Scorer
    from training.corpus_files import write_corpus
    from training.dataset import from_files
    from training.head_training import hidden_features
    from training.lora import LoraSettings
    from training.run import train_head, train_lora
    from training.split import split_by_time
    from training.synthetic_corpus import CorpusSpec
    from validation.verdict import GateSettings

    n = args.sessions or (240 if args.quick else 600)
    steps = args.lora_steps or (30 if args.quick else 150)
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="validity-loop-"))
    import os

    os.environ.setdefault("ALLIANCE_TRAINED_DIR", str(work / "trained"))
    blocks_n = args.blocks_sessions or (1000 if args.quick else 2000)
    if args.blocks_only:
        base = resolve(args.model) if args.blocks_model == "base" else None
        print(_feature_blocks(blocks_n, args.seed, _blocks_model(args.blocks_model, base), work))
        print(f"\nartefacts and corpus: {work}")
        return 0
    spec = CorpusSpec(sessions=n, seed=args.seed, difficulty="hard" if args.hard else "easy")
    _, paths = write_corpus(spec, work / "corpus")
    from store.eval import read_labels

    sessions, _ = from_files(read_labels(paths["labels"]), [paths["sessions"]])
    split = split_by_time(sessions, 0.3)
    held = list(split.evaluation)
    print(f"SYNTHETIC corpus ({spec.difficulty}): {n} sessions (seed {args.seed}); {split.summary()}", flush=True)
    base = resolve(args.model)
    settings = GateSettings()
    print(_feature_blocks(blocks_n, args.seed, _blocks_model(args.blocks_model, base), work) + "\n", flush=True)

    # ---- head
    report = train_head(sessions, base=base, features="hidden", eval_share=0.3, out=work / "head",
                        data_source="synthetic corpus")
    head_train_s = report.seconds
    head = load_head(work / "head")
    from scoring.features import HiddenStateExtractor

    extractor = HiddenStateExtractor(base)

    async def zero_and_head(engine):
        hs = HeadScorer(Scorer(engine), head, extractor)
        await _score_all(hs.scorer, held[:2], args.concurrency, "warm-up")
        out = await _score_all(hs, held, args.concurrency, "zero-shot + head (vLLM)", both=True)
        return out, list(hs.head_seconds)

    pairs, head_extra = _run_engine(base, zero_and_head)
    zero = [p[0] for p in pairs]
    headed = [p[1] for p in pairs]
    results = {"zero-shot": (zero[0].model, zero, 0.0), "head": (headed[0].model, headed, head_train_s)}

    # ---- which features carry signal (same held-out sessions, CV within them)
    x_probs = np.stack([prob_features(s) for s in zero])
    x_hidden = hidden_features(extractor, held, desc="hidden states (signal check)")
    signal = {"option probabilities (60)": _cv_signal(x_probs, held, args.seed),
              f"pooled hidden states ({x_hidden.shape[1]})": _cv_signal(x_hidden, held, args.seed)}

    # ---- LoRA
    lora_note = ""
    if not args.skip_lora:
        lrep = train_lora(sessions, base=base, settings=LoraSettings(max_steps=steps, batch_size=4,
                                                                    checkpoint_every=max(1, steps // 2)),
                          eval_share=0.3, out=work / "lora", data_source="synthetic corpus")
        lref = resolve(lrep.artefact)

        async def lora_scores(engine):
            await _score_all(Scorer(engine), held[:2], args.concurrency, "warm-up")
            return await _score_all(Scorer(engine), held, args.concurrency, "LoRA merged (vLLM)")

        lscores = list(_run_engine(lref, lora_scores))
        results["lora"] = (lscores[0].model, lscores, lrep.seconds)
        lora_note = f" (LoRA: {steps} steps x 4 examples, final loss {lrep.details.get('final loss')})"

    # ---- report
    print()
    print(f"held-out SYNTHETIC sessions: n={len(held)}; gate: length-controlled r > {settings.counselor_r} and > "
          f"length-only baseline, 95% CI lower bound > 0, n >= {settings.min_n}{lora_note}")
    print(f"{'method':<10} {'dimension':<9} {'raw r':>6} {'partial r':>9} {'95% CI':>16} {'length r':>8} "
          f"{'train s':>8} {'ms/phase':>9}  verdict")
    for method, (model, scores, train_s) in results.items():
        rec = _gate(model, scores, held, settings)
        ms = statistics.median(s.latency_ms for s in scores)
        for dim, v in rec.dimensions.items():
            ci = f"[{v.partial_ci[0]:.3f}, {v.partial_ci[1]:.3f}]" if v.partial_ci else "n/a"
            f = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
            print(f"{method:<10} {dim:<9} {f(v.r):>6} {f(v.partial_r):>9} {ci:>16} {f(v.baseline_r):>8} "
                  f"{train_s:8.1f} {ms:9.0f}  {'pass' if v.passed else 'fail'}")
    zero_ms = statistics.median(s.latency_ms for s in zero)
    head_ms = statistics.median(s.latency_ms for s in headed)
    print(f"\nscoring cost per phase (median, same run): zero-shot {zero_ms:.0f} ms; with head {head_ms:.0f} ms "
          f"(ratio {head_ms / zero_ms:.2f}); the head's extra wall time after the engine pass: median "
          f"{statistics.median(head_extra) * 1000:.0f} ms (hidden-state pass of the transcript, run beside the "
          f"engine, + read-out)")
    print("\nwhich frozen features carry signal (5-fold CV ridge within the held-out sessions, r per dimension):")
    for name, rs in signal.items():
        print(f"  {name:<32} " + "  ".join(f"{d} {r:.3f}" for d, r in rs.items()))
    print(f"\nartefacts and corpus: {work}")
    return 0


def _blocks_model(choice: str | None, base):
    """The model whose hidden states step 7 reads: the tiny random-weight one unless told otherwise."""
    from scoring.models import resolve

    if choice == "base":
        return base
    if choice:
        return resolve(choice)
    from tests.tiny_model import tiny_model

    return tiny_model()


def _feature_blocks(n: int, seed: int, model, work: Path) -> str:
    """Step 7: ``train --features every`` on the hard corpus; each block alone, the combination, the differences."""
    import time

    from store.eval import read_labels
    from training.corpus_files import write_corpus
    from training.dataset import from_files
    from training.run import train_head
    from training.synthetic_corpus import CorpusSpec

    spec = CorpusSpec(sessions=n, seed=seed, difficulty="hard")
    _, paths = write_corpus(spec, work / "corpus-hard")
    sessions, _ = from_files(read_labels(paths["labels"]), [paths["sessions"]])
    t = time.perf_counter()
    rep = train_head(sessions, base=model, features="every", eval_share=0.3, out=work / "head-every",
                     data_source="synthetic corpus (hard)", cache=work / "feature-cache", seed=seed, progress=False)
    seconds = time.perf_counter() - t
    d = rep.details
    return "\n".join([
        (f"feature blocks (train --features every) on the HARD synthetic corpus: {n} sessions (seed {seed}); "
        f"{rep.split.summary()}; hidden states of {model.name} ({model.path.name})"),
        f"  combination (5-fold CV on the training split): {d.get('combination (CV on the training split)', '')}",
        (f"  hidden-state extraction: {d.get('hidden-state extraction', 'none')}; lexical + kernels "
        f"{d.get('lexical + kernels s', '?')} s; combination {d.get('combination (CV) s', '?')} s; "
        f"whole train run {seconds:.0f} s"),
        "",
        rep.table or "(no table)",
    ])


if __name__ == "__main__":
    sys.exit(main())
