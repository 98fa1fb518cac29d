"""``alliance-monitor corpus synth``: write the labelled synthetic corpus (tests, benchmarks; not clinical data)."""

from __future__ import annotations

__layer__ = "cli"

import argparse

from ..argtypes import fraction, positive_int


def _langs(value: str) -> tuple[str, ...]:
    langs = tuple(x.strip() for x in value.split(",") if x.strip())
    bad = [x for x in langs if x not in ("en", "zh")]
    if not langs or bad:
        raise argparse.ArgumentTypeError(f"languages are a comma list of en, zh; got {value!r}")
    return langs


def _cmd_synth(args) -> int:
    from training.corpus_files import write_corpus
    from training.synthetic_corpus import CorpusSpec

    spec = CorpusSpec(sessions=args.sessions, seed=args.seed, langs=args.langs, inverse_share=args.inverse_share,
                      counselors=args.counselors, difficulty="hard" if args.hard else "easy")
    sessions, paths = write_corpus(spec, args.out)
    inverse = sum(1 for s in sessions if s.part == "length-inverse")
    turns = sorted(len(s.turns) for s in sessions)
    print(f"SYNTHETIC corpus (tests and benchmarks only, not clinical data): {len(sessions)} sessions "
          f"({', '.join(f'{lang} {sum(s.lang == lang for s in sessions)}' for lang in spec.langs)}), "
          f"{inverse} in the length-inverse part, {turns[0]}-{turns[-1]} turns, seed {spec.seed}")
    for name in ("sessions", "labels", "latents"):
        print(f"  {name:<8} {paths[name]}")
    print(f"next: alliance-monitor train --labels {paths['labels']} --sessions {paths['sessions']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    corpus = sub.add_parser("corpus", help="labelled synthetic corpus for tests and benchmarks (not clinical data)")
    csub = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", parser_class=sub._parser_class)
    p = csub.add_parser("synth", help="write seeded synthetic sessions (replay format) and client labels")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--sessions", type=positive_int, default=600, help="number of sessions (default 600)")
    p.add_argument("--seed", type=int, default=0, help="seed (the same seed writes the same corpus)")
    p.add_argument("--langs", type=_langs, default=("en", "zh"), help="comma list of en, zh (default en,zh)")
    p.add_argument("--inverse-share", type=fraction(), default=0.5,
                   help="share of sessions where length runs against the rating (default 0.5)")
    p.add_argument("--counselors", type=positive_int, default=12, help="number of counselors (default 12)")
    p.add_argument("--hard", action="store_true",
                   help="~30 turns, sparse cues on both speakers' turns, length against the rating in every "
                        "session, ratings as noisy as a WAI-SR retest (docs/training.md)")
    p.set_defaults(func=_cmd_synth)
    corpus.set_defaults(func=lambda a: (corpus.print_help(), 2)[1])
