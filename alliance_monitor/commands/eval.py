"""``eval``: agreement of stored predictions with client-rated labels, and the validation gate's record."""

from __future__ import annotations

__layer__ = "cli"

import argparse
from pathlib import Path

from ..argtypes import correlation_or, int_at_least
from ..errors import CliError
from .common import add_db_argument, lookup_message, store_engine


def add_gate_arguments(p: argparse.ArgumentParser) -> None:
    """The gate's thresholds as options (defaults: ``validation.verdict.GateSettings``)."""
    g = p.add_argument_group("validation gate (docs/validation.md)")
    g.add_argument("--min-n", type=int_at_least(10), default=50, metavar="N",
                   help="fewest labelled sessions for a dimension to pass (default 50)")
    g.add_argument("--reference", type=correlation_or("published"), default=0.28, metavar="R",
                   help="counselor-client agreement to beat: a correlation (default 0.28) or 'published' "
                        "for .290/.286/.261 per dimension")
    g.add_argument("--resamples", type=int_at_least(100), default=2000, metavar="B",
                   help="bootstrap resamples for the 95%% intervals (default 2000)")
    g.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the folds (default 0)")
    g.add_argument("--no-record", action="store_true", help="print only; do not write the validation record")


def gate_settings(args: argparse.Namespace):
    """``GateSettings`` from the options (an invalid combination raises ``GateError``: one line)."""
    from validation.verdict import PUBLISHED_COUNSELOR_R, GateSettings

    if args.reference == "published":
        return GateSettings(counselor_r_by_dimension=dict(PUBLISHED_COUNSELOR_R), min_n=args.min_n,
                            resamples=args.resamples, seed=args.seed)
    return GateSettings(counselor_r=float(args.reference), min_n=args.min_n, resamples=args.resamples,
                        seed=args.seed)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="Pearson r of predictions vs client-rated WAI-SR labels; self-consistency")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--labels", type=Path, metavar="FILE", help="JSONL labels (see docs/store.md)")
    src.add_argument("--from-store", action="store_true",
                     help="the latest WAI-SR rating of each session from the store's ratings (chat.ratings)")
    p.add_argument("--phase", choices=("early", "middle", "late"), default="late",
                   help="which phase's prediction to compare (default late = whole session)")
    p.add_argument("--model", help="model identity name[@revision][:prompt][/readout] (default: most predictions)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")
    add_db_argument(p)
    add_gate_arguments(p)
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    import orjson

    from store.eval import evaluate, format_result, read_labels, result_json, scorer_consistency, self_consistency
    from store.gate_eval import gate_section, item_partials
    from store.repository import ModelKey, StoreRepository, pick_model

    settings = gate_settings(args)
    if args.from_store:
        from store.ratings import STORE_LABELS_SOURCE, wai_labels

        engine = store_engine(args)
        labels = wai_labels(engine)  # a bad stored answer is a LabelError (StoreError): one line
        if not labels:
            raise CliError("no WAI-SR ratings in the store yet (collect them with `alliance-monitor survey link` "
                           "or publish ClientRating records to chat.ratings; docs/ratings.md)")
        source = STORE_LABELS_SOURCE
    else:
        labels = read_labels(args.labels)
        engine = store_engine(args)
        source = str(args.labels)
    repo = StoreRepository(engine)
    identities = repo.model_identities()
    try:
        key = pick_model(identities, args.model)
    except LookupError as err:
        raise CliError(lookup_message(err)) from None
    records = repo.predictions(key, phase=args.phase)
    res = evaluate(records, labels, args.phase)
    if res.matched == 0:
        raise CliError(f"none of the {len(labels)} labelled sessions has a {args.phase}-phase prediction "
                       f"by {key}")
    sampled = ModelKey(key.name, key.revision, key.prompt_version, "sampled")
    if any(k == sampled for k, _ in identities):
        sampled_records = repo.predictions(sampled)
        res.consistency = self_consistency(sampled_records)
        if not res.consistency:
            res.scorer_consistency = scorer_consistency(sampled_records)
    res.item_partials = item_partials(records, labels, args.phase)
    print(format_result(res, str(key)))
    gate_text, record = gate_section(repo, key, records, labels, settings, phase=args.phase,
                                     labels_source=source, write_record=not args.no_record)
    print(gate_text)
    if args.json:
        data = result_json(res, str(key))
        data["validation"] = orjson.loads(record.to_json()) if record is not None else None
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return 0
