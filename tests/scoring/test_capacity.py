import pytest

from scoring.capacity import PhaseTokens, Throughput, capacity, from_measured_seconds


def test_hand_computed_case():
    # 3 phases × (1,000 new + 9,000 cached prompt tokens, 12 output tokens)
    phases = [PhaseTokens(new=1_000, cached=9_000, output=12)] * 3
    gpu = Throughput(prefill_tps=10_000, decode_tps=1_200)
    c = capacity(phases, gpu, session_minutes=50, utilisation=0.5)
    # prefill 3 000 / 10 000 = 0.3 s; decode 36 / 1 200 = 0.03 s; total 0.33 s
    assert c.prefill_seconds == pytest.approx(0.3)
    assert c.decode_seconds == pytest.approx(0.03)
    assert c.gpu_seconds_per_session == pytest.approx(0.33)
    # 0.5 × 3 000 s / 0.33 s
    assert c.sessions_per_gpu == pytest.approx(1500 / 0.33)


def test_cached_tokens_cost_only_with_a_weight():
    phases = [PhaseTokens(new=100, cached=1_000, output=0)]
    gpu = Throughput(prefill_tps=1_000, decode_tps=1_000)
    assert capacity(phases, gpu).prefill_seconds == pytest.approx(0.1)
    assert capacity(phases, gpu, cached_weight=0.1).prefill_seconds == pytest.approx(0.2)


def test_rationales_cost_more():
    gpu = Throughput(prefill_tps=20_000, decode_tps=3_000)
    plain = [PhaseTokens(new=1_500, cached=20_000, output=12)] * 3
    # 8 rationale items: their prompts again (cached but a partial block) and 64 new tokens each
    reasons = [PhaseTokens(new=1_500 + 8 * 20, cached=20_000 + 8 * 7_000, output=12 + 8 * 64)] * 3
    a, b = capacity(plain, gpu), capacity(reasons, gpu)
    assert b.gpu_seconds_per_session > a.gpu_seconds_per_session
    assert b.sessions_per_gpu < a.sessions_per_gpu


def test_measured_seconds_and_bad_inputs():
    # the CPU build: 76 s of work per 50-minute session, one worker, serially
    assert from_measured_seconds(76) == pytest.approx(3000 / 76)
    with pytest.raises(ValueError):
        Throughput(prefill_tps=0, decode_tps=1)
    with pytest.raises(ValueError):
        PhaseTokens(new=-1, cached=0, output=0)
    with pytest.raises(ValueError):
        capacity([PhaseTokens(1, 0, 0)], Throughput(1, 1), utilisation=0)
