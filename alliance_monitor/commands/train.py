"""``alliance-monitor train``: learn from a site's client ratings (a read-out head, or LoRA fine-tuning).

Thin: parse, load the labelled sessions through ``training.dataset``, call
``training.run``, print the summary. Every result is a new model identity that
stays unvalidated until ``eval`` passes for it.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys
from pathlib import Path

from ..argtypes import fraction, positive_float, positive_int
from ..errors import CliError
from .common import add_db_argument, store_engine


def _default_method() -> str:
    try:
        import torch

        return "lora" if torch.cuda.is_available() else "head"
    except ImportError:
        return "head"


def _cmd_train(args) -> int:
    from scoring.models import resolve
    from store.eval import read_labels
    from training.dataset import from_files, from_store, read_rationales
    from training.lora import LoraSettings
    from training.run import train_head, train_lora

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    method = args.method or _default_method()
    if args.from_store:
        if args.labels:
            raise CliError("give either --labels FILE or --from-store, not both")
        from store.ratings import rated_transcripts, wai_labels

        engine = store_engine(args)
        if args.sessions:  # ratings from the store, transcripts from the recorded session files
            sessions, counts = from_files(wai_labels(engine), args.sessions)
            source = "store ratings + session files"
        else:  # ratings and the chat turns the store kept (ALLIANCE_STORE_TURNS=1)
            sessions, counts = from_store(*rated_transcripts(engine))
            source = "store ratings + stored turns"
            if counts["missing"]:
                log(f"{counts['missing']} rated session(s) have no stored chat text and are left out "
                    f"(add --sessions FILE... to use their recordings)")
    else:
        if not args.labels or not args.sessions:
            raise CliError("give --labels FILE and --sessions FILE... (or --from-store)")
        sessions, counts = from_files(read_labels(args.labels), args.sessions, read_rationales(args.labels))
        source = f"labels {Path(args.labels).name}"
    log(f"labelled sessions: {len(sessions)} (left out: {counts.get('unlabelled', 0)} without a label, "
        f"{counts.get('missing', 0)} labels without a session, {counts.get('rejected', 0)} rejected lines)")
    if not sessions:
        raise CliError("no labelled sessions: the labels and the sessions share no session id")
    base = resolve(args.model)
    out = Path(args.out) if args.out else None
    if method == "head":
        report = train_head(sessions, base=base, features=args.features, eval_share=args.eval_share, out=out,
                            data_source=source, engine=args.engine, progress=not args.no_progress,
                            seed=args.seed, cache=Path(args.cache) if args.cache else None, log=log)
    else:
        settings = LoraSettings(max_steps=args.max_steps, batch_size=args.batch_size,
                                learning_rate=args.learning_rate, rank=args.rank,
                                checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device)
        report = train_lora(sessions, base=base, settings=settings, eval_share=args.eval_share, out=out,
                            data_source=source, resume=args.resume, progress=not args.no_progress, log=log)
    print(report.summary())
    if report.table is not None:
        print("\nheld-out comparison (each feature block alone, the chosen combination per phase):")
        print(report.table)
    if report.held_out is not None:
        from validation.formatting import format_record

        print("\nheld-out check (the validation gate's evaluation on the newest sessions; `eval` on the store "
              "decides for real):")
        print(format_record(report.held_out))
    print(f"\n{report.identity} is a new model identity: unvalidated until `alliance-monitor eval` passes for it.")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the scorer on client ratings: a read-out head (CPU) or LoRA")
    src = p.add_argument_group("labelled sessions")
    src.add_argument("--labels", help="client ratings, JSON Lines (the `eval --labels` format)")
    src.add_argument("--sessions", nargs="+", metavar="FILE", help="recorded sessions (replay .jsonl files or folders)")
    src.add_argument("--from-store", action="store_true",
                     help="the latest WAI-SR rating per session from the store (chat.ratings), with the chat "
                          "turns the store kept (ALLIANCE_STORE_TURNS=1) or, with --sessions, the recordings")
    add_db_argument(src)
    p.add_argument("--method", choices=("head", "lora"), default=None,
                   help="head: ridge read-out on frozen features (default on a CPU); lora: fine-tuning "
                        "(default with a CUDA device)")
    p.add_argument("--model", default=None, help="base model directory (default: ALLIANCE_MODEL, else the demo model)")
    p.add_argument("--out", default=None, help="artefact directory (default: under the trained-models cache)")
    p.add_argument("--eval-share", type=fraction(one_allowed=False), default=0.3,
                   help="newest share of sessions held out, never trained on (default 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    h = p.add_argument_group("--method head")
    h.add_argument("--features", default="every",
                   help="feature blocks, comma-separated: lexical and hidden, each of the whole transcript or "
                        "with a view :client, :counselor, :window (e.g. lexical,lexical:client,hidden); "
                        "lexical:* / hidden:* = the four views, every = all eight (default); combined by CV on "
                        "the training split. probs / hidden+probs: the first head format with option probabilities")
    h.add_argument("--cache", default=None, metavar="DIR",
                   help="keep pooled hidden states here between runs (default: feature-cache/ under the "
                        "trained-models directory)")
    h.add_argument("--engine", choices=("transformers", "vllm"), default="transformers",
                   help="engine for the scoring pass of probs features (default transformers)")
    lo = p.add_argument_group("--method lora")
    lo.add_argument("--max-steps", type=positive_int, default=100, help="optimizer steps (default 100)")
    lo.add_argument("--batch-size", type=positive_int, default=4, help="examples (session x item) per step")
    lo.add_argument("--learning-rate", type=positive_float, default=5e-4)
    lo.add_argument("--rank", type=positive_int, default=8, help="LoRA rank (default 8)")
    lo.add_argument("--checkpoint-every", type=positive_int, default=25, help="steps between checkpoints")
    lo.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    lo.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="auto: cuda when available, else cpu")
    p.set_defaults(func=_cmd_train)
