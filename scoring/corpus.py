"""Offline scoring of a rated corpus: recorded sessions → engine → store, without Kafka.

Why: a site validates a model on its own historical, client-rated sessions
(``eval`` reads the late-phase predictions from the store). Those predictions
must be the ones the live pipeline would have stored, or the validation says
nothing about the live model. So every step is the live step, only without the
topics in between:

* the phase cuts come from the processor's pure core (:mod:`streams.offline`);
* each request is scored by :func:`scoring.worker.score_request` — the worker's
  own timeout, retries and calibration — with one :class:`~scoring.scorer.Scorer`
  (one model load for the whole run);
* the results are written by the sink's writer (``store.writes``): the same
  ``predictions`` / ``prediction_items`` / ``events`` rows, keyed by request id
  and model identity, plus the ``sessions`` rows the sink writes from
  ``chat.sessions``.

The store is passed in, not imported (shells of different packages meet only in
the command line, docs/architecture.md): ``stored`` answers which request ids
are already stored for the run's model identity, ``write`` commits one
session's events in one transaction (``alliance_monitor/commands/score_corpus.py``
wires both to the store).

Resumable: a session's new predictions are committed in one transaction when
the session is done, and a request already stored for this model identity is
not scored again, so after Ctrl-C the same command continues where it stopped.
Nothing here logs or prints message text.
"""

from __future__ import annotations

__layer__ = "shell"

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

from streams.contracts import AllianceScore, ChatTurn, ModelIdentity, Phase, ScoreRequest, SessionEvent
from streams.offline import SessionPlan, plan_session
from streams.replay_format import BadLine, iter_files, merge, read_file
from streams.session_state import ProcessorSettings

from .errors import CorpusError
from .prompts import PROMPT_VERSION
from .scorer import Readout, Scorer
from .worker import WorkerConfig, WorkerStats, score_request

PhaseChoice = Literal["all", "late"]


#: Which of the given request ids are already stored for the run's model identity.
StoredLookup = Callable[[list[str]], set[str]]
#: Commit one session's SessionEvents and new scores in one transaction.
SessionWriter = Callable[[list[SessionEvent | AllianceScore]], object]  # what it returns is not used


# --------------------------------------------------------------------------- reading

@dataclass
class Corpus:
    """What the files hold: one plan per session, and the lines that could not be read."""

    plans: list[SessionPlan] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    #: sessions left out because a line naming them is bad: scoring a session with a
    #: turn missing would store a prediction on the wrong transcript.
    held_back: dict[str, list[str]] = field(default_factory=dict)
    #: bad lines whose session could not be told (not JSON enough to name one).
    unattributed: list[BadLine] = field(default_factory=list)


_SESSION_ID = re.compile(rb'"session_id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _session_named_by(bad: BadLine) -> str | None:
    """The session id a bad line names, read from its raw bytes (it may not parse)."""
    path, _, lineno = bad.source.rpartition(":")
    try:
        with open(path, "rb") as f:
            for i, raw in enumerate(f, start=1):
                if i == int(lineno):
                    m = _SESSION_ID.search(raw)
                    return m.group(1).decode("utf-8", "replace") if m else None
    except (OSError, ValueError):
        return None
    return None


def load_corpus(paths: Sequence[str], settings: ProcessorSettings | None = None) -> Corpus:
    """Read replay files (folders give their ``*.jsonl``) and plan every session's requests."""
    files = list(iter_files(paths))
    if not files:
        raise CorpusError("no replay files given (a folder must contain *.jsonl files)")
    for f in files:
        if not f.is_file():
            raise CorpusError(f"no such file: {f}")
    corpus = Corpus()
    streams = []
    for f in files:
        events, bad = read_file(f)
        streams.append(events)
        corpus.bad.extend(bad)
    for b in corpus.bad:
        sid = _session_named_by(b)
        if sid is None:
            corpus.unattributed.append(b)
        else:
            corpus.held_back.setdefault(sid, []).append(b.source)
    by_session: dict[str, list[ChatTurn | SessionEvent]] = {}
    for ev in merge(streams):  # the order a replay would publish them in
        by_session.setdefault(ev.session_id, []).append(ev.event)
    for sid, session_events in by_session.items():
        if sid not in corpus.held_back:
            corpus.plans.append(plan_session(sid, session_events, settings))
    return corpus


# --------------------------------------------------------------------------- planning

def identity_for(model_name: str, revision: str, readout: Readout) -> ModelIdentity:
    """The identity the scorer will stamp on every score (known before the model loads)."""
    return ModelIdentity(name=model_name, revision=revision, prompt_version=PROMPT_VERSION, readout=readout)


# --------------------------------------------------------------------------- scoring

@dataclass(frozen=True)
class SessionResult:
    """One session done (ids and counts only, never text)."""

    session_id: str
    scored: tuple[str, ...]  # phases scored and stored now
    skipped: tuple[str, ...]  # phases already stored for this model identity
    failed: tuple[tuple[str, str], ...]  # (phase, reason) that failed after the retries
    seconds: float


@dataclass
class CorpusStats:
    sessions_done: int = 0
    sessions_already_stored: int = 0
    requests_scored: int = 0
    requests_skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (request id, reason)
    worker: WorkerStats = field(default_factory=WorkerStats)


@dataclass
class Work:
    """The requests still to score, per session, after the store was asked."""

    #: (plan, requests to score, phases already stored) per session with something to do.
    todo: list[tuple[SessionPlan, list[ScoreRequest], tuple[Phase, ...]]]
    already_stored: int  # requests skipped
    sessions_already_stored: int

    @property
    def requests(self) -> int:
        return sum(len(reqs) for _, reqs, _ in self.todo)


def remaining_work(plans: Sequence[SessionPlan], stored_ids: StoredLookup, phases: PhaseChoice = "all") -> Work:
    """What a run has to do: every wanted request ``stored_ids`` does not report as stored for the run's model."""
    def wanted(plan: SessionPlan) -> list[ScoreRequest]:
        return [r for r in plan.requests if phases == "all" or r.phase == "late"]

    stored = stored_ids(list(dict.fromkeys(r.request_id for p in plans for r in wanted(p))))
    todo, skipped, full = [], 0, 0
    for plan in plans:
        reqs = wanted(plan)
        left = [r for r in reqs if r.request_id not in stored]
        skipped += len(reqs) - len(left)
        if left:
            todo.append((plan, left, tuple(r.phase for r in reqs if r.request_id in stored)))
        elif reqs:
            full += 1
    return Work(todo, skipped, full)


async def score_work(work: Work, scorer: Scorer, write: SessionWriter, cfg: WorkerConfig, stats: CorpusStats, *,
                     progress: bool = True, on_session: Callable[[SessionResult], None] | None = None) -> CorpusStats:
    """Score each session's requests in phase order and commit the session; updates ``stats`` as it goes.

    Phases of one session go one after another so the next phase reuses the
    previous one's cached transcript prefix. A request that fails after the
    worker's retries is reported and left unstored: the next run tries it again.
    """
    from tqdm import tqdm

    with tqdm(total=work.requests, unit="phase", desc="scoring", disable=not progress, leave=False) as bar:
        for plan, requests, already in work.todo:
            start = time.perf_counter()
            scores: list[AllianceScore] = []
            failed: list[tuple[str, str]] = []
            for req in requests:
                bar.set_postfix_str(req.request_id, refresh=False)
                outcome = await score_request(scorer, req, cfg, stats.worker)
                if outcome.score is not None:
                    scores.append(outcome.score)
                else:
                    failed.append((req.phase, outcome.dlq_reason or "unknown"))
                bar.update(1)
            write([*plan.session_events, *scores])  # synchronous: a Ctrl-C cannot split the transaction
            stats.sessions_done += 1
            stats.requests_scored += len(scores)
            stats.failed.extend((f"{plan.session_id}:{phase}", reason) for phase, reason in failed)
            if on_session:
                on_session(SessionResult(plan.session_id, tuple(s.phase for s in scores), already,
                                         tuple(failed), time.perf_counter() - start))
    return stats


__all__ = ["Corpus", "CorpusError", "CorpusStats", "PhaseChoice", "SessionResult", "SessionWriter", "StoredLookup",
           "Work", "identity_for", "load_corpus", "remaining_work", "score_work"]
