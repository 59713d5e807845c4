"""Runs a profiling Session off the GUI thread and hands its events to widgets in batches.

The engine calls ``on_event`` from its own threads; we only append to a deque
there. A 20 Hz timer on the GUI thread drains it and emits one signal per kind,
so the widgets never see more than 20 updates a second, whatever the token rate.
"""

from __future__ import annotations

import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from profiler.errors import ProfilerError
from profiler.record import RunRecord
from profiler.report import history
from profiler.run import events
from profiler.run.config import RunConfig
from profiler.run.session import Event, Session
from profiler.series import EnergyRate

DRAIN_MS = 50
LIVE_THREADS: weakref.WeakSet[QThread] = weakref.WeakSet()  # tests check none is left running
_OWNER: list[object] = []  # the one window whose model is running: runs never overlap (timings)


def claim(owner: object) -> bool:
    """Take the right to run a model; False while another window holds it."""
    if _OWNER and _OWNER[0] is not owner:
        return False
    _OWNER[:] = [owner]
    return True


def release(owner: object) -> None:
    if _OWNER and _OWNER[0] is owner:
        _OWNER.clear()


def holder() -> object | None:
    return _OWNER[0] if _OWNER else None


class JobThread(QThread):
    """A long engine job (a ladder, a bench) off the GUI thread: its result or one line of error."""

    sig_done = Signal(object)
    sig_failed = Signal(str)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        LIVE_THREADS.add(self)

    def work(self) -> object:
        raise NotImplementedError

    def halt(self) -> None:
        """Ask the job to stop; it keeps what it finished."""
        raise NotImplementedError

    def run(self) -> None:
        try:
            self.sig_done.emit(self.work())
        except (ProfilerError, InterruptedError) as exc:
            self.sig_failed.emit(str(exc))
        except Exception as exc:  # the window must survive anything the job meets
            self.sig_failed.emit(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class RunInfo:
    """What the charts need before the first sample: the limits' values and the energy model."""

    run_id: str
    model_name: str
    profile_name: str
    budget_mb: float | None
    dram_mb: float | None
    energy: EnergyRate | None
    target_tps: float | None = None  # the phone's predicted decode speed, when the run emulates one


class _RunThread(QThread):
    """Builds the Session (resolving the model may take a while) and runs it to the end."""

    sig_session = Signal(object)  # RunInfo
    sig_failed = Signal(str)
    sig_record = Signal(object)  # RunRecord

    def __init__(self, config: RunConfig, events: deque[Event], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pocketprof-run")
        LIVE_THREADS.add(self)
        self.config = config
        self.events = events
        self.session: Session | None = None
        self._abort = False
        self._stop_asked = False

    def run(self) -> None:
        try:
            session = Session(self.config, on_event=self.events.append)
        except ProfilerError as exc:
            self.sig_failed.emit(str(exc))
            return
        except Exception as exc:  # never let a surprise take the window down
            self.sig_failed.emit(f"could not start the run: {type(exc).__name__}: {exc}")
            return
        self.session = session
        if self._abort:
            return
        if self._stop_asked:
            session.stop()  # Stop was pressed while the model was being looked up
        try:
            rate = session.energy_rate()
        except ProfilerError:
            rate = None
        target = session.phone_target_tps()
        self.sig_session.emit(
            RunInfo(
                run_id=session.run_id,
                model_name=session.model.name,
                profile_name=session.profile.name,
                budget_mb=session.plan.budget_mb,
                dram_mb=session.plan.dram_mb,
                energy=rate,
                target_tps=target,
            )
        )
        try:
            record = session.run()
        except Exception as exc:  # the engine keeps its own errors in the record; this is a surprise
            self.sig_failed.emit(f"the run failed: {type(exc).__name__}: {exc}")
            return
        if problem := history.keep(record):  # the run is still shown; say why it is not in the history
            record.history_error = problem
        self.sig_record.emit(record)

    def stop(self, *, now: bool = False) -> None:
        self._abort = self._abort or now
        self._stop_asked = True
        session = self.session
        if session is not None:
            session.abort() if now else session.stop()


class RunController(QObject):
    """One run at a time. Start it, stop it, and listen to the ``sig_*`` batches."""

    sig_started = Signal(object)  # RunInfo
    sig_status = Signal(str)
    sig_limits = Signal(object)  # dict name -> Limit
    sig_samples = Signal(list)  # [Sample]
    sig_tokens = Signal(list)  # [Token]
    sig_finished = Signal(object)  # RunRecord
    sig_failed = Signal(str)  # the run could not start: bad model, profile or option

    def __init__(self, parent: QObject | None = None, *, owner: object | None = None) -> None:
        super().__init__(parent)
        self.owner = owner if owner is not None else self
        self._events: deque[Event] = deque()
        self._thread: _RunThread | None = None
        self._record: RunRecord | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self.drain)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, config: RunConfig) -> bool:
        """Start a run; False (and nothing started) if one is already going."""
        if self._thread is not None or not claim(self.owner):
            return False
        self._events.clear()
        self._record = None
        thread = _RunThread(config, self._events, self)
        thread.sig_session.connect(self.sig_started)
        thread.sig_failed.connect(self.sig_failed)
        thread.sig_record.connect(self._on_record)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        thread.start()
        self._timer.start()
        return True

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop()

    def shutdown(self, timeout_ms: int = 15000) -> None:
        """Kill the child now and wait for the run's thread (closing the window)."""
        thread = self._thread
        if thread is None:
            return
        thread.stop(now=True)
        if not thread.wait(timeout_ms):
            thread.terminate()
            thread.wait(2000)
        self._timer.stop()
        self._thread = None
        if self.owner is self:
            release(self)

    @Slot()
    def drain(self) -> None:
        samples: list[Any] = []
        tokens: list[Any] = []
        while self._events:
            event = self._events.popleft()
            if isinstance(event, events.Sampled):
                samples.append(event.sample)
            elif isinstance(event, events.TokenStreamed):
                tokens.append(event.token)
            elif isinstance(event, events.StatusChanged):
                self.sig_status.emit(event.text)
            elif isinstance(event, events.Warned):
                self.sig_status.emit(f"warning: {event.text}")
            elif isinstance(event, events.LimitsApplied):
                self.sig_limits.emit(event.limits)
            elif isinstance(event, events.ModelLoaded):
                self.sig_status.emit("generating")
        if samples:
            self.sig_samples.emit(samples)
        if tokens:
            self.sig_tokens.emit(tokens)

    @Slot(object)
    def _on_record(self, record: RunRecord) -> None:
        self._record = record

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return  # shut down already
        thread.wait()
        self._thread = None
        self._timer.stop()
        if self.owner is self:  # a window that claimed for a series of runs releases it itself
            release(self)
        self.drain()
        thread.deleteLater()
        if self._record is not None:
            self.sig_finished.emit(self._record)
