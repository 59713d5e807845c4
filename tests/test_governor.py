"""The speed governor's loop, against a plant that behaves as this host does.

Measured here (benchmarks/RESULTS.md, "Throttle accuracy"): a child run a fraction F of the
time gets more than F of its work done (0.55–0.79 of full speed at F = 0.5). The plant below
does the same, with some jitter, and the governor must bring the rate onto the target.
"""

from __future__ import annotations

import random

import pytest

from profiler.run.throttle import SpeedGovernor


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


def test_the_governor_steers_a_phone_slower_than_eight_tokens_a_second():
    """A 7B model on a phone decodes at a few tokens a second: fewer than six in the 0.75 s window.
    The window then keeps the last six tokens, however long they took, so the governor still steers
    (and one that overshot below that rate comes back instead of stopping for good)."""
    target, host = 3.0, 30.0
    open_loop = _run(SpeedGovernor(None), host_tps=host, base_factor=target / host, seconds=60)
    assert open_loop > 1.2 * target
    governed = _run(SpeedGovernor(target), host_tps=host, base_factor=target / host, seconds=60)
    assert governed == pytest.approx(target, rel=0.06)
    from_full = _run(SpeedGovernor(6.0), host_tps=160.0, base_factor=1.0, seconds=30)  # a calibration said "slower"
    assert from_full == pytest.approx(6.0, rel=0.06)


# -- one step of the loop, by hand ------------------------------------------------------------------------


def _feed(governor: SpeedGovernor, times: list[float], base_factor: float = 0.5, fraction: float = 1.0) -> None:
    for t in times:
        governor.on_token(t, base_factor, fraction)


def test_the_first_step_waits_for_six_tokens_and_a_tenth_of_a_second():
    governor = SpeedGovernor(50.0)
    assert governor.correction == 1.0
    _feed(governor, [i / 100 for i in range(10)])  # 10 tokens at 100 tok/s, up to 0.09 s
    assert governor.correction == 1.0
    _feed(governor, [0.1])  # 11 tokens over 0.1 s: 100 tok/s observed, twice the target
    assert governor.correction == pytest.approx(0.5**0.35)
    _feed(governor, [0.15])  # within 100 ms of the last step: no new step
    assert governor.correction == pytest.approx(0.5**0.35)
    early = SpeedGovernor(50.0)
    _feed(early, [0.5 + i / 1000 for i in range(5)] + [0.6])  # six tokens, 0.1 s after start, but only 5 gaps
    assert early.correction == pytest.approx((50 / (5 / 0.1)) ** 0.35)  # = 1: observed 50
    fewer = SpeedGovernor(10.0)
    _feed(fewer, [0.2, 0.3, 0.4, 0.5, 0.6])  # five tokens are not enough
    assert fewer.correction == 1.0


def test_a_step_is_capped_at_full_speed_and_floored_at_two_percent():
    fast = SpeedGovernor(1000.0)  # asks for 10× what it gets: capped at 1 / base_factor
    _feed(fast, [i / 100 for i in range(11)], base_factor=0.5)
    assert fast.correction == 2.0
    curve = SpeedGovernor(1000.0)  # on a sustained curve at half: the cap is 1 / (factor × fraction)
    _feed(curve, [i / 100 for i in range(11)], base_factor=0.5, fraction=0.5)
    assert curve.correction == pytest.approx((500 / 100) ** 0.35)
    slow = SpeedGovernor(0.001)
    _feed(slow, [i / 100 for i in range(11)])
    assert slow.correction == 0.02


def test_no_target_means_no_steps_and_a_small_target_still_steps():
    for target in (None, 0.0, -1.0):
        governor = SpeedGovernor(target)
        _feed(governor, [i / 100 for i in range(30)])
        assert governor.correction == 1.0 and not governor._stamps
    small = SpeedGovernor(0.5)
    _feed(small, [i / 100 for i in range(11)])
    assert small.correction == pytest.approx(max(0.02, (0.5 / 100) ** 0.35))


def test_the_window_forgets_tokens_older_than_it():
    governor = SpeedGovernor(20.0, window_s=0.75)
    _feed(governor, [0.0, 0.001])  # an old burst, older than the horizon (4 windows) when the next come
    _feed(governor, [5.0 + i / 20 for i in range(7)])  # then 20 tok/s for 0.3 s
    assert governor._stamps[0] == 5.0  # the burst left the window
    assert governor.correction == pytest.approx(1.0)  # observed 20 tok/s: on target, nothing to change
    kept = SpeedGovernor(20.0, window_s=0.75)
    _feed(kept, [2.0 + i / 20 for i in range(15)])  # 0.7 s of tokens: all inside the window
    assert len(kept._stamps) == 15
    slow = SpeedGovernor(20.0, window_s=0.75)  # tokens 0.5 s apart: the window keeps the last six
    _feed(slow, [i / 2 for i in range(10)])
    assert list(slow._stamps) == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
    assert slow.correction > 1.0  # it steers (2 tok/s against 20): it asks for more
    edge = SpeedGovernor(20.0, window_s=0.5)
    _feed(edge, [0.0, 0.25, 0.5])  # exactly the window's length apart: kept
    assert list(edge._stamps) == [0.0, 0.25, 0.5]
