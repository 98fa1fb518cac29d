"""Capacity on paper: GPU-seconds per session and concurrent live sessions per GPU.

Pure arithmetic, no I/O (docs/capacity.md has the inputs and their sources). A
session of ``session_minutes`` is scored at each of its phase boundaries
(early/middle/late). Per phase the engine *computes* the prompt tokens the prefix
cache does not hold (``new``), *reads* the ones it holds (``cached``, weighted by
``cached_weight``: 0 treats a cache hit as free) and *generates* ``output`` tokens.
On a GPU serving many sessions at once, vLLM batches all of them, so the cost of
a phase is its share of the GPU's aggregate throughput:

    gpu_seconds(phase)   = (new + cached_weight * cached) / prefill_tps + output / decode_tps
    gpu_seconds(session) = sum over the phases
    sessions per GPU     = utilisation * session_seconds / gpu_seconds(session)

"Concurrent live sessions" are sessions whose phase boundaries arrive as a steady
stream (starts spread evenly over time); bursts need the headroom that
``utilisation`` < 1 leaves.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class PhaseTokens:
    """Tokens of one phase score (all 12 items, plus rationales if any)."""

    new: float  #: prompt tokens computed (not served from the prefix cache)
    cached: float  #: prompt tokens served from the prefix cache
    output: float  #: generated tokens (1 per item; + the rationale lines)

    def __post_init__(self) -> None:
        if min(self.new, self.cached, self.output) < 0:
            raise ValueError("token counts must be >= 0")


@dataclass(frozen=True)
class Throughput:
    """Aggregate batched throughput of one GPU for the model, tokens per second."""

    prefill_tps: float
    decode_tps: float

    def __post_init__(self) -> None:
        if self.prefill_tps <= 0 or self.decode_tps <= 0:
            raise ValueError("throughputs must be > 0")


@dataclass(frozen=True)
class Capacity:
    gpu_seconds_per_session: float
    prefill_seconds: float
    decode_seconds: float
    sessions_per_gpu: float


def gpu_seconds(phases: Sequence[PhaseTokens], gpu: Throughput, *, cached_weight: float = 0.0) -> tuple[float, float]:
    """(prefill seconds, decode seconds) of one session's phases on one GPU."""
    if cached_weight < 0:
        raise ValueError("cached_weight must be >= 0")
    prefill = sum(p.new + cached_weight * p.cached for p in phases) / gpu.prefill_tps
    decode = sum(p.output for p in phases) / gpu.decode_tps
    return prefill, decode


def capacity(phases: Sequence[PhaseTokens], gpu: Throughput, *, session_minutes: float = 50.0,
             utilisation: float = 0.5, cached_weight: float = 0.0) -> Capacity:
    """GPU-seconds per session and the concurrent live sessions one GPU carries at ``utilisation``."""
    if not phases:
        raise ValueError("a session has at least one phase")
    if session_minutes <= 0:
        raise ValueError("session_minutes must be > 0")
    if not 0 < utilisation <= 1:
        raise ValueError("utilisation must be in (0, 1]")
    prefill, decode = gpu_seconds(phases, gpu, cached_weight=cached_weight)
    total = prefill + decode
    sessions = utilisation * session_minutes * 60.0 / total if total > 0 else float("inf")
    return Capacity(total, prefill, decode, sessions)


def from_measured_seconds(seconds_per_session: float, *, session_minutes: float = 50.0,
                          utilisation: float = 1.0) -> float:
    """Concurrent sessions one worker carries when a session's scoring was *timed* (the CPU build)."""
    if seconds_per_session <= 0:
        raise ValueError("seconds_per_session must be > 0")
    return utilisation * session_minutes * 60.0 / seconds_per_session
