"""Benchmark: the hidden-state extraction of ``train --method head`` (sessions/s), old pass vs new, same run.

    python bench/feature_extraction.py --quick            # 12 sessions, one round
    python bench/feature_extraction.py                    # 40 sessions, three rounds (median)
    python bench/feature_extraction.py --model DIR        # another model (default: the demo model)

Sessions: the hard synthetic corpus (``corpus synth --hard``, ~30 turns; not clinical data).
Each round runs every variant over the same sessions, interleaved, so a shared machine's load
falls on all of them alike; the figures are medians over rounds:

* ``old``: the pass as it was — float32, the decoder cut above the pooled layer (layer + 1
  layers, every hidden state returned), ``torch.no_grad``, batches of 8 in corpus order,
  half the cores (the live default);
* ``new float32``: only the layers below the pooled one, ``inference_mode``, batches of similar
  length (longest first), every core — the same numbers as ``old``;
* ``new bfloat16``: as ``new float32`` with bfloat16 weights (what ``train`` uses for feature
  blocks; the number format is in the cache key and the head).

Prints sessions/s, the ratio to ``old``, the extrapolated time for 1,000 sessions, and how far
each variant's pooled states are from ``old``'s (correlation, relative error). Note the load
average: on a shared CPU the absolute rates move with it, the ratios much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def old_extractor(base, threads: int):
    """The original pass: layers[:layer + 1], ``output_hidden_states``, ``no_grad``, float32."""
    import torch
    from transformers import AutoModelForCausalLM

    from scoring.features import HiddenStateExtractor

    ext = HiddenStateExtractor(base, threads=threads)
    full = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    decoder = full.model
    decoder.layers = decoder.layers[:ext.layer + 1]
    ext.model = decoder.eval()

    def states(input_ids, attention_mask=None):
        with ext._lock, torch.no_grad():
            out = ext.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                            use_cache=False)
        return out.hidden_states[ext.layer].float()

    ext.states = states  # type: ignore[method-assign]
    return ext


def run_old(pooler, rows) -> list[np.ndarray]:
    """The old ``extract_hidden`` loop: batches of 8 in corpus order."""
    from scoring.feature_views import PHASES, VIEWS, phase_cut

    out: list[np.ndarray] = []
    for b in range(0, len(rows), 8):
        chunk = rows[b:b + 8]
        cuts = [[phase_cut(len(s.turns), p) for p in PHASES] for s in chunk]
        out += pooler.pool([(s.turns, s.lang) for s in chunk], views=VIEWS, per_session_cuts=cuts)
    return out


def run_new(pooler, rows) -> list[np.ndarray]:
    from training.block_training import extract_hidden

    return extract_hidden(pooler, rows, None, progress=False).hidden


def agreement(ref: list[np.ndarray], got: list[np.ndarray]) -> tuple[float, float]:
    """(lowest per-session correlation, mean relative L2 error) of ``got`` against ``ref``."""
    corr = [float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) for a, b in zip(ref, got, strict=True)]
    rel = [float(np.linalg.norm(a - b) / np.linalg.norm(a)) for a, b in zip(ref, got, strict=True)]
    return min(corr), float(np.mean(rel))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 sessions, one round")
    ap.add_argument("--sessions", type=int, default=None, help="sessions per round (default 40)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    ap.add_argument("--model", default=None, help="model directory (default: the demo model)")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    n = args.sessions or (12 if args.quick else 40)
    rounds = args.rounds or (1 if args.quick else 3)

    import torch

    from scoring.engines.hf_engine import cpu_threads
    from scoring.features import BLOCK_DTYPE, HiddenStateExtractor, PooledHidden
    from scoring.models import resolve
    from store.eval import read_labels
    from training.corpus_files import write_corpus
    from training.dataset import from_files
    from training.synthetic_corpus import CorpusSpec

    work = Path(tempfile.mkdtemp(prefix="bench-features-"))
    _, paths = write_corpus(CorpusSpec(sessions=n, seed=args.seed, difficulty="hard"), work / "corpus")
    rows, _ = from_files(read_labels(paths["labels"]), [paths["sessions"]])
    base = resolve(args.model)
    live, batch_threads = cpu_threads(), cpu_threads(batch_job=True)
    variants = {
        "old": (PooledHidden(old_extractor(base, live)), run_old, live),
        "new float32": (PooledHidden(HiddenStateExtractor(base, threads=batch_threads)), run_new, batch_threads),
        f"new {BLOCK_DTYPE}": (PooledHidden(HiddenStateExtractor(base, dtype=BLOCK_DTYPE, threads=batch_threads)),
                               run_new, batch_threads),
    }
    tokens = [len(variants["old"][0]._ids(s.turns, s.lang)[0]) for s in rows]
    print(f"{base.name}@{base.revision}: pooled layer {variants['old'][0].extractor.layer}; {n} hard synthetic "
          f"sessions, {np.mean([len(s.turns) for s in rows]):.0f} turns and {np.mean(tokens):.0f} tokens on average "
          f"(max {max(tokens)}); {rounds} round(s); threads: old {live}, new {batch_threads} of {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    seconds: dict[str, list[float]] = {k: [] for k in variants}
    feats: dict[str, list[np.ndarray]] = {}
    for r in range(rounds):
        for name, (pooler, run, threads) in variants.items():
            torch.set_num_threads(threads)
            t = time.perf_counter()
            feats[name] = run(pooler, rows)
            seconds[name].append(time.perf_counter() - t)
            print(f"  round {r + 1} {name}: {n / seconds[name][-1]:.3f} sessions/s", flush=True)
    base_rate = n / statistics.median(seconds["old"])
    print(f"\n{'pass':<16} {'sessions/s':>10} {'ratio':>6} {'1,000 sessions':>15} {'min corr':>9} {'rel err':>8}")
    for name in variants:
        rate = n / statistics.median(seconds[name])
        corr, rel = agreement(feats["old"], feats[name])
        print(f"{name:<16} {rate:>10.3f} {rate / base_rate:>6.2f} {1000 / rate / 60:>11.1f} min {corr:>9.6f} "
              f"{rel:>8.2e}")
    print(f"(ratio: vs old in the same run; load average at the end {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
