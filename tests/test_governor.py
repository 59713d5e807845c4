"""The speed governor's loop, against a plant that behaves as this host does.

Measured here (benchmarks/RESULTS.md, "Throttle accuracy"): a child run a fraction F of the
time gets more than F of its work done (0.55–0.79 of full speed at F = 0.5). The plant below
does the same, with some jitter, and the governor must bring the rate onto the target.
"""

from __future__ import annotations

import random

import pytest

from profiler.throttle import SpeedGovernor


def _run(governor: SpeedGovernor, *, host_tps: float, base_factor: float, seconds: float, seed: int = 7) -> float:
    """Simulated decode: each token takes 1 / rate, the rate following the duty the governor sets."""
    rng = random.Random(seed)
    t, stamps = 0.0, []
    while t < seconds:
        duty = min(1.0, base_factor * governor.correction)
        rate = host_tps * min(1.0, 1.3 * duty) * rng.uniform(0.92, 1.08)  # more work per running second
        t += 1.0 / rate
        stamps.append(t)
        governor.on_token(t, base_factor)
    tail = [s for s in stamps if s > seconds - 3.0]
    return (len(tail) - 1) / (tail[-1] - tail[0])


def test_the_governor_lands_the_rate_on_target_where_the_open_loop_overshoots():
    target, host = 50.0, 100.0
    open_loop = _run(SpeedGovernor(None), host_tps=host, base_factor=target / host, seconds=12)
    assert open_loop > 1.2 * target  # the plant overshoots: the test can tell the governor is needed
    governed = _run(SpeedGovernor(target), host_tps=host, base_factor=target / host, seconds=12)
    assert governed == pytest.approx(target, rel=0.05)


def test_the_governor_follows_a_sustained_curve_and_never_asks_past_full_speed():
    governor = SpeedGovernor(80.0)
    reached = _run(governor, host_tps=60.0, base_factor=1.0, seconds=6)  # the host is slower than the target
    assert governor.correction == pytest.approx(1.0)  # capped: full speed, not more
    assert reached == pytest.approx(60.0, rel=0.08)
    slowed = SpeedGovernor(80.0)
    for i in range(1, 400):
        slowed.on_token(i / 160.0, 0.5, fraction=0.5)  # 160 tok/s seen, the curve wants 40
    assert slowed.correction < 0.6
