"""Tokens per phase for docs/capacity.md: prompt tokens, what an ideal prefix cache serves, what is new.

One command, no model run (seconds): ``python bench/capacity_tokens.py`` renders the
real item prompts (scoring.prompts) of every sample session at its three phase
boundaries with a tokenizer and counts, per phase, the 12 item prompts' tokens, the
tokens vLLM's prefix cache can serve (whole blocks of ``--block`` tokens shared with
an earlier prompt of the same session) and the rest, which the GPU computes. With
``--rationale-items 8`` (goal + bond, the worker's default ``alerts``) the rationale
passes are added: the prompt again plus the chosen option and a newline (cached up
to the last whole block) and up to ``--rationale-tokens`` generated tokens.

``--tokenizer DIR``: any Hugging Face tokenizer directory (tokenizer.json +
tokenizer_config.json with a chat template); default: the demo model's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scoring_cache import PHASES, load_session  # noqa: E402


def common_prefix(a: list[int], b: list[int]) -> int:
    """Tokens two prompts share from the start (what a prefix cache can reuse)."""
    return len(os.path.commonprefix([a, b]))  # noqa: RUF071 - token id lists, not paths: element-wise is right


def session_rows(tok, path: Path, block: int, rationale_items: int, rationale_tokens: int,
                 cross_phase: bool = True):
    from scoring.instrument import ITEMS
    from scoring.prompts import render_item

    _, lang, minutes, phases = load_session(path)
    enc = lambda s: list(tok.encode(s, add_special_tokens=False))  # noqa: E731
    seen: list[list[int]] = []  # prompts already in the cache (this session)
    rows = []
    for phase in PHASES:
        if not cross_phase:
            seen = []  # the previous phase's blocks were evicted
        prompts = [enc(render_item(tok, phases[phase], item, lang)) for item in ITEMS]
        total = new = 0
        choice = enc("3\n")
        for k, ids in enumerate(prompts):
            hit = max((common_prefix(ids, s) for s in seen), default=0)
            hit = (hit // block) * block
            total += len(ids)
            new += len(ids) - hit
            seen.append(ids)
            if k < rationale_items:
                r = ids + choice
                rhit = (len(ids) // block) * block
                total += len(r)
                new += len(r) - rhit
        out = len(prompts) + rationale_items * rationale_tokens
        rows.append({"phase": phase, "turns": len(phases[phase]), "prompt": total, "new": new,
                     "cached": total - new, "output": out, "item_prompt": statistics.mean(map(len, prompts))})
    return lang, minutes, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", type=Path, default=None, help="tokenizer directory (default: the demo model)")
    ap.add_argument("--block", type=int, default=16, help="prefix-cache block size in tokens (vLLM GPU default 16)")
    ap.add_argument("--rationale-items", type=int, default=0, help="items with a rationale per phase (alerts: 8)")
    ap.add_argument("--rationale-tokens", type=int, default=64, help="max new tokens per rationale (worker default 64)")
    ap.add_argument("--no-cross-phase", action="store_true",
                    help="the previous phase's prompts are evicted from the cache (each phase starts cold)")
    ap.add_argument("--quick", action="store_true",
                    help="accepted for `make bench`; the count is already quick (tokenizer only, no model)")
    ap.add_argument("sessions", nargs="*", type=Path)
    args = ap.parse_args()

    from transformers import AutoTokenizer

    if args.tokenizer is None:
        from scoring.models import resolve
        args.tokenizer = resolve(None).path
    tok = AutoTokenizer.from_pretrained(str(args.tokenizer))
    paths = args.sessions or sorted((ROOT / "samples").glob("s0*.jsonl"))
    print(f"tokenizer {args.tokenizer}; block {args.block}; rationale items {args.rationale_items} × "
          f"{args.rationale_tokens} tokens; cross-phase cache {'off' if args.no_cross_phase else 'on'}")
    print(f"{'session':<38} {'phase':<7} {'turns':>5} {'item prompt':>11} {'prompt':>8} {'cached':>8} "
          f"{'new':>6} {'output':>6}")
    per_session = []
    for path in paths:
        lang, minutes, rows = session_rows(tok, path, args.block, args.rationale_items, args.rationale_tokens,
                                          not args.no_cross_phase)
        for r in rows:
            print(f"{path.stem[:38]:<38} {r['phase']:<7} {r['turns']:>5} {r['item_prompt']:>11.0f} "
                  f"{r['prompt']:>8} {r['cached']:>8} {r['new']:>6} {r['output']:>6}")
        per_session.append((path.stem, lang, minutes, {k: sum(r[k] for r in rows) for k in
                                                       ("prompt", "cached", "new", "output")}))
    print("\nper session (3 phases):")
    for name, lang, minutes, s in per_session:
        print(f"  {name[:38]:<38} {lang} {minutes:g} min  prompt {s['prompt']:>7}  cached {s['cached']:>7}  "
              f"new {s['new']:>6}  output {s['output']:>5}")
    for key in ("prompt", "cached", "new", "output"):
        vals = [s[key] for *_, s in per_session]
        print(f"  {key:<7} mean {statistics.mean(vals):9.0f}  max {max(vals):7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
