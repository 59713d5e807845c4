"""Slowing the child to a phone's speed with a SIGSTOP/SIGCONT duty cycle.

Every ``period_s`` (15 ms by default) the child runs for ``factor × period`` and
is stopped for the rest. SIGSTOP stops all of llama.cpp's threads at once, so
they never wait at a barrier for a thread the throttle froze mid-step (which a
CPU quota does: its p95 inter-token latency was 60 ms against the duty cycle's
24 ms, benchmarks/RESULTS.md "Throttle accuracy"), and per-token latency stays realistic. The
factor may change over the run (a phone's sustained-performance curve).
psutil's suspend/resume does the same on macOS and Windows.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

import psutil


class DutyCycle(threading.Thread):
    """Runs the child a fraction ``factor_at(t)`` of every period until stopped.

    The schedule corrects itself: each on-phase is sized so that the child's total
    running time so far matches ``factor × elapsed``, so a throttle thread woken
    late (the child keeps every core busy) does not let the child run faster.
    """

    def __init__(
        self, pid: int, factor_at: Callable[[float], float], *, period_s: float = 0.015, origin: float | None = None
    ) -> None:
        super().__init__(name="pocketprof-throttle", daemon=True)
        self.factor_at = factor_at  # called with seconds since ``origin`` (monotonic; default: start)
        self.period_s = period_s
        self.origin = origin
        self.pid = pid
        self._proc = psutil.Process(pid)
        self._halt = threading.Event()
        self.running_s = 0.0
        self.stopped_s = 0.0
        self.target_s = 0.0  # running time the factors asked for so far
        self.held_s = 0.0  # time the child was held stopped on purpose (see ``hold``)
        self._hold_until = 0.0  # monotonic time before which the child stays stopped

    def hold(self, until: float) -> None:
        """Keep the child stopped now and until the monotonic time ``until`` (a gate, not a duty).

        Stops it at once from the caller's thread; the duty-cycle thread resumes it no earlier
        than ``until``, and neither the hold nor its length counts as owed running time.
        """
        self._hold_until = until
        self._signal(pause=True)

    def _wait_out_hold(self) -> float:
        """If a hold is in force, sleep it out (the child stays stopped); returns the seconds held."""
        start = time.monotonic()
        while not self._halt.is_set() and time.monotonic() < self._hold_until:
            self._halt.wait(max(0.0005, self._hold_until - time.monotonic()))
        held = time.monotonic() - start
        self.held_s += held
        return held

    def snapshot(self) -> tuple[float, float]:
        """(running, stopped) seconds so far, holds included in stopped: two snapshots bound a phase."""
        return self.running_s, self.stopped_s + self.held_s

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=1.0)

    @property
    def achieved_factor(self) -> float | None:
        total = self.running_s + self.stopped_s
        return self.running_s / total if total > 0 else None

    def _signal(self, pause: bool) -> None:
        if sys.platform == "win32":
            self._proc.suspend() if pause else self._proc.resume()
        else:  # the session reaps the child only after this thread stopped: the pid is ours
            os.kill(self.pid, signal.SIGSTOP if pause else signal.SIGCONT)

    def run(self) -> None:
        period = self.period_s
        last = time.monotonic()  # the child runs from ``last`` on
        origin = self.origin if self.origin is not None else last
        try:
            while not self._halt.is_set():
                if time.monotonic() < self._hold_until:
                    self._signal(pause=True)
                    self.running_s += max(0.0, time.monotonic() - last)
                    self._wait_out_hold()
                    self._signal(pause=False)
                    last = time.monotonic()
                    continue
                factor = min(1.0, max(0.01, self.factor_at(last - origin)))
                if factor >= 1.0:
                    self._halt.wait(period)
                    now = time.monotonic()
                    self.running_s += now - last
                    self.target_s += now - last
                    last = now
                    continue
                debt = self.target_s - self.running_s  # > 0: the child is owed running time
                on = min(2 * period, max(0.0005, factor * period + debt))
                self._halt.wait(max(0.0, last + on - time.monotonic()))
                if self._halt.is_set():
                    break
                self._signal(pause=True)
                t_stop = time.monotonic()
                self.running_s += t_stop - last
                # end the cycle when running time is back on target: target + factor × cycle = running
                cycle_end = last + (self.running_s - self.target_s) / factor
                self._halt.wait(max(0.0005, cycle_end - time.monotonic()))
                held = self._wait_out_hold()  # a gate set mid-cycle keeps the child stopped
                self._signal(pause=False)
                now = time.monotonic()
                self.target_s += factor * (now - last - held)
                self.stopped_s += now - t_stop - held
                last = now
        except (ProcessLookupError, psutil.Error):
            return  # the child is gone
        finally:
            self.running_s += max(0.0, time.monotonic() - last)
            try:
                self._signal(pause=False)
            except (ProcessLookupError, psutil.Error):
                pass


MIN_TOKENS = 6  # the governor's window holds at least this many tokens before it steers
HORIZON_WINDOWS = 4  # ...reaching back at most this many windows (or two target-rate spans of them)


class SpeedGovernor:
    """Closes the loop on the decode rate: nudges the duty cycle's factor until it lands on target.

    The open-loop factor assumes the host runs a throttled child exactly as fast per
    running second as an unthrottled one; measured here, a child that runs half the
    time gets more than half the work done (boost clocks, less contention), so the
    governor compares the rate over the last ``window_s`` with the target and scales
    the factor by (target / observed) ** gain, at most every 100 ms.
    """

    def __init__(self, target_tps: float | None, *, window_s: float = 0.75, gain: float = 0.35) -> None:
        self.target_tps = target_tps
        self.window_s = window_s
        self.gain = gain
        self.initial_correction = self.correction = 1.0  # a bench's later repetition sets both (speed_emulation)
        self._stamps: deque[float] = deque()
        self._updated = 0.0

    def on_token(self, t: float, base_factor: float, fraction: float = 1.0) -> None:
        """Feed one token's time (s); ``fraction`` is the sustained curve's value now."""
        if self.target_tps is None or self.target_tps <= 0:
            return
        stamps = self._stamps
        stamps.append(t)
        # the window is the last window_s, or the last MIN_TOKENS tokens where fewer came in it (a phone
        # under 8 tok/s, or a run slowed below that): with fewer it would never steer again; never older
        # than the horizon, so a stall long past is forgotten
        horizon = max(HORIZON_WINDOWS * self.window_s, 2 * MIN_TOKENS / self.target_tps)
        while len(stamps) > 2 and (
            t - stamps[0] > horizon or (len(stamps) > MIN_TOKENS and t - stamps[0] > self.window_s)
        ):
            stamps.popleft()
        if len(stamps) < MIN_TOKENS or t - self._updated < 0.1 or t <= stamps[0]:
            return
        observed = (len(stamps) - 1) / (t - stamps[0])
        want = self.target_tps * fraction
        ceiling = 1.0 / max(1e-3, base_factor * fraction)  # never ask for more than full speed
        # the floor lets it slow a host many times faster than the target (a calibration that said otherwise)
        self.correction = min(ceiling, max(0.02, self.correction * (want / observed) ** self.gain))
        self._updated = t
