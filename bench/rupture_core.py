"""What rupture episodes add to the processor's per-turn work, measured on the six samples.

    python bench/rupture_core.py              # 7 repeats
    python bench/rupture_core.py --repeat 3

Replays every turn of samples/ through the processor's pure core
(``streams.session_state.on_turn``) three times in the same run: with the rupture
core as shipped (the marker rules), with it replaced by a no-op (the baseline: the
processor before rupture episodes), and with a trained rupture-marker detector served
in place of the rules (``process --rupture-detector``: trained here on the synthetic
coded corpus for withdrawal and confrontation, written and read back as the processor
loads it; it answers client turns only). Prints the median microseconds per turn of
each and their ratios. The Faust shell, Kafka and the network are not included: they
cost far more per turn and are the same with and without ruptures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dataclasses  # noqa: E402
import tempfile  # noqa: E402

from streams import ruptures  # noqa: E402
from streams import session_state as core  # noqa: E402
from streams.contracts import ChatTurn, SessionEvent  # noqa: E402
from streams.replay import read_file  # noqa: E402


def load() -> list:
    events = []
    for path in sorted((ROOT / "samples").glob("*.jsonl")):
        evs, bad = read_file(path)
        assert not bad, bad
        events += [e.event for e in evs]
    return events


def served_detector() -> ruptures.MarkerDetector:
    """A rupture-markers stand-in trained on the synthetic coded corpus, loaded as ``process`` loads it."""
    from alliance_monitor.commands.process import load_rupture_detector
    from training.turn_detector import data_hash, fit, labelled_turns
    from training.turn_detector_files import save
    from validation.synthetic_turns import CLIENT_CODES, coded_corpus

    corpus = coded_corpus(n_sessions=12, missed_share=0.5)
    texts = {(t.session_id, t.turn_id): (t.speaker, t.text) for t in corpus}
    coded = {(t.session_id, t.turn_id): [{k: float(v) for k, v in c.items()} for c in t.coders] for t in corpus}
    turns = labelled_turns(texts, coded)
    with tempfile.TemporaryDirectory(prefix="am-rupture-detector-") as tmp:
        _detector, path = save(fit(CLIENT_CODES, turns), "rupture-markers", CLIENT_CODES, out=Path(tmp) / "det",
                               data_source="synthetic", data_fingerprint=data_hash(turns),
                               train_sessions=frozenset(t.session_id for t in turns), n_held_out=0, params={},
                               root=Path(tmp) / "trained")
        return load_rupture_detector(str(path))


def run_once(events: list, s: core.ProcessorSettings) -> tuple[float, int]:
    states: dict[str, dict] = {}
    turns = 0
    t0 = time.perf_counter()
    for ev in events:
        wall = (ev.sent_at if isinstance(ev, ChatTurn) else ev.at).timestamp()
        if isinstance(ev, ChatTurn):
            states[ev.session_id] = core.on_turn(states.get(ev.session_id), ev, wall, s).state
            turns += 1
        elif isinstance(ev, SessionEvent):
            states[ev.session_id] = core.on_session_event(states.get(ev.session_id), ev, wall, s).state
    return time.perf_counter() - t0, turns


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=20, help="passes over the samples per measurement")
    ap.add_argument("--quick", action="store_true", help="3 repeats of 5 rounds (what `make bench` runs)")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.rounds = 3, 5
    base = load()
    # every pass under new session ids: a repeated turn would be a duplicate and skip all the work
    events = [e.model_copy(update={"session_id": f"{e.session_id}#{r}"}) for r in range(args.rounds) for e in base]
    s = core.ProcessorSettings(signal_min_interval_s=0.0)
    markers = served_detector()
    s_served = dataclasses.replace(s, ruptures=ruptures.RuptureSettings(markers=markers))
    real_on_turn = ruptures.on_turn

    def no_op(state, info, **kw):
        return ruptures.Decision([], state or ruptures.new_state())

    with_r, without, with_served = [], [], []
    for _ in range(args.repeat):
        core.rup.on_turn = real_on_turn
        secs, n = run_once(events, s)
        with_r.append(secs / n * 1e6)
        secs, n = run_once(events, s_served)
        with_served.append(secs / n * 1e6)
        core.rup.on_turn = no_op
        secs, n = run_once(events, s)
        without.append(secs / n * 1e6)
    core.rup.on_turn = real_on_turn
    w, b, t = statistics.median(with_r), statistics.median(without), statistics.median(with_served)
    client = sum(1 for e in events if isinstance(e, ChatTurn) and e.speaker == "client")
    print(f"turns per measurement: {n}, repeats: {args.repeat}")
    print(f"processor core with rupture episodes  median {w:8.1f} µs/turn  runs {[round(x, 1) for x in with_r]}")
    print(f"baseline (rupture core a no-op)       median {b:8.1f} µs/turn  runs {[round(x, 1) for x in without]}")
    print(f"ratio with/baseline                   {w / b:8.2f}")
    print(f"served {markers.key} ({', '.join(markers.codes)}; client turns only, {client}/{n} of turns)")
    print(f"processor core, served detector       median {t:8.1f} µs/turn  runs {[round(x, 1) for x in with_served]}")
    print(f"ratio served/rules                    {t / w:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
