"""``up``: run the whole pipeline (broker, processor, scorer, sink, gateway) until Ctrl-C."""

from __future__ import annotations

__layer__ = "cli"

import argparse

from streams import environment

from ..argtypes import base_url, non_negative_float, port, positive_int
from ..stopping import stop_on_sigterm
from ..up import PARTS
from .common import add_trusted_source_argument, announce


def add_up_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--without", action="append", choices=PARTS, help="leave a part out (repeatable)")
    add_trusted_source_argument(p)
    p.add_argument("--engine", choices=("vllm", "transformers"), default="vllm",
                   help="scoring engine (default vllm; transformers loads faster)")
    p.add_argument("--model", help="model directory (default: the demo model from `models pull-demo`)")
    p.add_argument("--db-url", help="store URL (default: the SQLite file)")
    p.add_argument("--host", default="127.0.0.1", help="gateway host")
    p.add_argument("--port", type=port, default=8765, help="gateway port (default 8765)")
    p.add_argument("--clock-rate", type=non_negative_float, default=0.0,
                   help="processor clock rate (event seconds per wall second; the replay speed)")
    p.add_argument("--processors", type=positive_int, default=1, metavar="N",
                   help="processor workers in one group: the partitions of chat.turns are split between them "
                        "(default 1)")
    p.add_argument("--scorers", type=positive_int, default=1, metavar="M",
                   help="scoring workers in one group, each with its own engine; on a CPU each takes memory and "
                        "cores (default 1)")
    p.add_argument("--gateways", type=positive_int, default=1, metavar="K",
                   help="gateway replicas on --port, --port+1, ... (default 1); any replica serves any client")
    p.add_argument("--unhealthy-grace", type=non_negative_float, default=30.0, metavar="SECONDS",
                   help="restart a running part whose /healthz has failed this long; the grace doubles with each "
                        "such restart that does not make it healthy, up to 300 s (default 30; 0 = never)")
    p.add_argument("--survey-links", metavar="BASE_URL", type=base_url,
                   help="also publish a client survey link per ended session to chat.survey_links, for the "
                        "gateway at BASE_URL as clients reach it (docs/ratings.md)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="run the whole pipeline (broker, processor, scorer, sink, gateway) until Ctrl-C")
    add_up_arguments(p)
    p.set_defaults(func=cmd_up)


def cmd_up(args: argparse.Namespace) -> int:
    from streams.broker import ensure_topics, kafka_bootstrap, state_dir

    from ..supervision import RestartPolicy
    from ..up import PARTS_FILE, Supervisor, clear_parts, default_specs, gate_status, write_parts

    with kafka_bootstrap(announce=announce, embedded=True) as bootstrap:
        ensure_topics(bootstrap)
        specs = default_specs(args, bootstrap)
        sup = Supervisor(specs, state_dir() / "logs",
                         policy=RestartPolicy(unhealthy_grace_s=args.unhealthy_grace or None))
        stop_on_sigterm(sup.stopping.set)
        if "scorer" not in (args.without or []):
            sup.say(gate_status(args.model, args.db_url or environment.get("ALLIANCE_DB_URL")))
        try:
            sup.start()
            write_parts(state_dir() / PARTS_FILE, specs)  # for `alliance-monitor status`
            sup.run()
        except KeyboardInterrupt:
            pass
        finally:
            sup.stop()
            clear_parts(state_dir() / PARTS_FILE)
    return 1 if sup.failed() else 0
