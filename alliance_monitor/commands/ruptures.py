"""``alliance-monitor ruptures FILE…``: the rupture episodes the processor finds in recorded sessions.

Runs the recorded sessions through the processor's own core offline (no
broker, no model: model drops need a scorer) and prints one row per episode —
its type, repair status, the turns that mark it and the repair moves — so the
rules can be checked on a site's own transcripts before going live. Prints turn
ids and cue names only, never message text.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys
from pathlib import Path

from ..errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ruptures", help="rupture episodes (type, repair) found in recorded sessions, offline")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="replay files (JSON Lines) or directories")
    p.add_argument("--json", action="store_true", help="print the final episodes as JSON Lines")
    p.set_defaults(func=cmd_ruptures)


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(path.glob("*.jsonl"))
        elif path.is_file():
            out.append(path)
        else:
            raise CliError(f"no such file or directory: {path}")
    if not out:
        raise CliError("no replay files (*.jsonl) found")
    return out


def _turns(markers) -> str:
    return " ".join(f"{m.turn_id}:{m.cue}" for m in markers) or "–"


def cmd_ruptures(args) -> int:
    from streams.rupture_replay import final_episodes, replay_ruptures

    rows = []
    for path in _files(args.files):
        episodes = final_episodes(replay_ruptures(path))  # a bad file: BadReplayFile, one line via the CLI
        if args.json:
            for e in episodes:
                sys.stdout.write(e.model_dump_json() + "\n")
            continue
        if not episodes:
            rows.append((path.name, "–", "none", "", "", "", "", "", ""))
        for e in episodes:
            rows.append((path.name, e.episode_id.rsplit(":", 1)[1], e.kind, e.status, e.phase, str(e.opened_turn_id),
                         _turns(e.markers), _turns(e.repair_moves),
                         "–" if e.reengaged_turn_id is None else str(e.reengaged_turn_id)))
    if not args.json:
        head = ("file", "#", "kind", "status", "phase", "opened", "client markers (turn:cue)",
                "repair moves (turn:move)", "re-engaged")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        for r in [head, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0
