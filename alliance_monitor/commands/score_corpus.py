"""``alliance-monitor score-corpus FILE...``: score recorded sessions offline into the store.

Thin glue: parse, call :mod:`scoring.corpus`, print ids and counts (never
message text). Engine, model and calibration options are the scoring worker's,
so an offline run stores what the live worker would have stored.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import asyncio
import dataclasses
import sys

from ..argtypes import int_at_least, positive_float
from ..errors import CliError
from .common import add_db_argument, db_failure, store_url
from .score import _add_engine_args, _build, load_calibration, load_head


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score-corpus",
                       help="score recorded sessions (replay .jsonl) offline into the store, resumable")
    p.add_argument("files", nargs="+", metavar="FILE", help="replay .jsonl files or folders of them")
    _add_engine_args(p)
    p.add_argument("--phases", choices=("all", "late"), default="all",
                   help="score every phase (default, as live) or only the late one (what eval uses)")
    p.add_argument("--rationale", choices=("all", "alerts", "none"), default="alerts",
                   help="rationales as the worker writes them (default alerts: goal and bond items)")
    add_db_argument(p)
    p.add_argument("--records-db", metavar="URL",
                   help="store holding the model's validation record and calibration (default: --db)")
    p.add_argument("--no-calibration", action="store_true",
                   help="store raw scores even when a calibration is stored for this model")
    p.add_argument("--timeout", type=positive_float, default=300.0,
                   help="seconds per phase before it counts as failed")
    p.add_argument("--retries", type=int_at_least(0), default=2,
                   help="retries of a failed phase before it is reported")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_score_corpus)


def _open_store(url: str):
    """An engine on the target store, migrated first when it is a local SQLite file (as the sink does)."""
    from store.db import make_engine, require_schema, upgrade
    from store.errors import StoreError

    try:
        if url.startswith("sqlite"):  # one local file: safe to migrate here
            upgrade(url)
        db = make_engine(url)
        require_schema(db)
    except StoreError:
        raise  # already one line
    except Exception as err:  # noqa: BLE001 - unreachable server, bad credentials...
        raise db_failure(err, url) from None
    return db


def cmd_score_corpus(args) -> int:
    from tqdm import tqdm

    from scoring.corpus import CorpusStats, identity_for, load_corpus, remaining_work, score_work
    from scoring.errors import HeadError
    from scoring.models import resolve
    from scoring.prompts import PROMPT_VERSION
    from scoring.worker import WorkerConfig
    from store.repository import stored_request_ids
    from store.writes import write_in_one_transaction

    corpus = load_corpus(args.files)  # CorpusError (a ScoringError): one line, exit 2
    for bad in corpus.bad:
        print(f"rejected {bad}", file=sys.stderr)
    for sid, sources in corpus.held_back.items():
        print(f"held back session {sid}: bad line(s) at {', '.join(sources)}; fix them and run again",
              file=sys.stderr)
    if not corpus.plans:
        print(f"done: nothing to score, {len(corpus.held_back)} session(s) held back, {len(corpus.bad)} bad line(s)")
        return 1 if corpus.bad else 0
    ref = resolve(args.model)  # ModelError (a ScoringError): one line, exit 2
    head = load_head(args.head)  # HeadError (a ScoringError): checked before the engine loads
    if head is None:
        identity = identity_for(ref.name, ref.revision, args.readout)
    else:  # a trained head is its own model identity: resume and eval follow it
        if (head.base_name, head.base_revision) != (ref.name, ref.revision):
            raise HeadError(f"the head was trained on {head.base_name}@{head.base_revision}, but --model is "
                            f"{ref.name}@{ref.revision}")
        identity = head.identity(PROMPT_VERSION)
    url = store_url(args)
    db = _open_store(url)
    work = remaining_work(corpus.plans, lambda ids: stored_request_ids(db, identity, ids), args.phases)
    print(f"{len(corpus.plans)} session(s), model {identity.name}@{identity.revision} ({identity.readout}): "
          f"{work.requests} phase(s) to score, {work.already_stored} already stored", flush=True)
    stats = CorpusStats(requests_skipped=work.already_stored, sessions_already_stored=work.sessions_already_stored)
    code = 1 if corpus.bad else 0
    if work.requests:
        cfg = WorkerConfig(timeout_s=args.timeout, retries=args.retries)

        def done(r) -> None:
            line = f"stored {r.session_id}: {' '.join(r.scored) or 'nothing'} ({r.seconds:.0f} s)"
            if r.skipped:
                line += f"; already stored: {' '.join(r.skipped)}"
            for phase, reason in r.failed:
                line += f"; FAILED {phase}: {reason.split(':')[0]}"
            tqdm.write(line, file=sys.stdout)
            sys.stdout.flush()

        async def main() -> None:
            nonlocal cfg
            engine, scorer = _build(args, args.rationale)  # the one model load of the run
            try:
                if scorer.identity != identity:
                    raise CliError(f"the engine reports model {scorer.identity} but {identity} was planned")
                if not args.no_calibration:
                    cfg = dataclasses.replace(cfg, calibration=load_calibration(identity, args.records_db or url))
                await score_work(work, scorer, lambda events: write_in_one_transaction(db, events), cfg, stats,
                                 progress=not args.no_progress, on_session=done)
            finally:
                await engine.aclose()

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print(f"interrupted: {stats.sessions_done} session(s) stored this run; run the same command again "
                  f"to continue", file=sys.stderr, flush=True)
            return 130
    for rid, reason in stats.failed:
        print(f"failed {rid}: {reason}", file=sys.stderr)
    if stats.failed:
        code = 1
    print(f"done: {stats.requests_scored} phase(s) scored in {stats.sessions_done} session(s), "
          f"{stats.requests_skipped} already stored, {len(stats.failed)} failed, "
          f"{len(corpus.held_back)} session(s) held back, {len(corpus.bad)} bad line(s)", flush=True)
    return code
