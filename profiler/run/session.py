"""One profiling run: spawn the child, cap it like a phone, sample it, record it.

``Session(config).run()`` blocks until the run ends and returns its
:class:`RunRecord`; ``stop()`` may be called from any thread. Events reach the
caller through ``on_event`` (called from the sampler and the run's own thread;
the GUI turns them into Qt signals, in batches).
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from multiprocessing.connection import Connection, Listener, Pipe, wait
from pathlib import Path
from subprocess import Popen
from typing import Any

import psutil

from profiler import paths
from profiler.errors import ProfilerError, ProtocolError
from profiler.model import gguf_meta, models
from profiler.phone.profiles import load_profile
from profiler.record import Kill, RunRecord, Sample, Token
from profiler.run import child, decode_loop, events, hostinfo, leftovers, limits, outcome, protocol
from profiler.run.config import UNWATCHED_STREAM_S, RunConfig, check_threads, child_config, plan_limits, validate
from profiler.run.events import Event
from profiler.run.gpu import GpuMonitor
from profiler.run.host_energy import HostEnergyMeter
from profiler.run.sampler import Sampler, kill_now
from profiler.run.speed_emulation import Hooks, SpeedEmulation
from profiler.series import EnergyRate

STOP_GRACE_S = 3.0
POLL_S = 1.0  # the message loop's longest sleep (messages, the child's exit and stop() wake it sooner):
# each needless wake-up pre-empts one of llama.cpp's threads on a host they fill


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class Session:
    """Resolves and validates everything up front (raising BadInput), then runs once."""

    def __init__(
        self, config: RunConfig, *, on_event: Callable[[Event], None] | None = None, calibrate: bool = True
    ) -> None:
        self.config = config
        self.on_event = on_event or (lambda event: None)
        self.model_path = models.resolve(config.model)
        self.model = gguf_meta.read_metadata(self.model_path)
        self.profile = load_profile(config.profile)
        validate(config, self.model)
        oversubscribed = check_threads(config, self.profile)
        self.plan = plan_limits(config, self.profile)
        self.run_id = new_run_id()
        self.log_path = paths.logs_dir() / f"{self.run_id}.log"
        self.record = RunRecord(
            run_id=self.run_id,
            started_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            config=config.to_dict() | {"model_path": str(self.model_path), "threads": self.plan.threads},
            model=self.model.to_dict(),
            profile=self.profile.to_dict(),
            host=hostinfo.describe(),
            log_path=str(self.log_path),
        )
        if oversubscribed:
            self.record.warnings = [oversubscribed]
        self._inner: Session | None = None  # the calibration run, while one is going
        self.turns_after_stop = 0  # message-loop wake-ups once the stop went out (a handful; a spin is thousands)
        self._stop = threading.Event()
        self._wake_w: Connection | None = None  # while the message loop runs, stop() wakes it through this pipe
        self._lock = threading.Lock()
        self.pid: int | None = None
        self._prediction: Any = None
        self._socket_dir: Path | None = None
        hooks = Hooks(self.phone_prediction, self.phone_speed, self._measure, self._stop.is_set)
        self.speed = SpeedEmulation(config, self.profile, self.model_path, self.plan, hooks, calibrate=calibrate)

    # -- control -------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to end: the child finishes its token and reports, or is killed."""
        self._stop.set()
        wake = self._wake_w
        if wake is not None:
            try:
                wake.send_bytes(b"")
            except OSError:
                pass  # the loop ended and closed its pipe as the stop came
        if self._inner is not None:
            self._inner.stop()  # a calibration run in progress

    def abort(self) -> None:
        """Stop now: kill the child without waiting for its last token (the app is closing)."""
        self.stop()
        if self._inner is not None:
            self._inner.abort()
        with self._lock:
            if self.pid is not None:
                try:
                    kill_now(self.pid)
                except (ProcessLookupError, psutil.Error):
                    pass

    def _emit(self, event: Event) -> None:
        try:
            self.on_event(event)
        except Exception:  # a listener's bug must not lose the run
            pass

    # -- the run -------------------------------------------------------------------
    def run(self) -> RunRecord:
        record = self.record
        record.started_at = datetime.now(UTC).isoformat(timespec="milliseconds")  # built early (a sweep), run later
        for warning in record.warnings:
            self._emit(events.Warned(warning))
        prediction = self.phone_prediction()
        if prediction is not None:
            record.prediction = prediction.to_dict()
        self.plan = self.speed.prepare()  # the calibrated factor; the decode one then follows the tokens' position
        if self.speed.emulation is not None:
            record.emulation = self.speed.emulation.report()
        try:
            with ExitStack() as stack:  # closes, last first: the listener, the cgroup, NVML
                self._run_child(stack)
        finally:
            self._emit(events.Finished(record))
        return record

    def _run_child(self, stack: ExitStack) -> None:
        record, t0 = self.record, time.monotonic()
        gpu = GpuMonitor.open()
        if gpu is not None:
            stack.callback(gpu.close)
        meter = HostEnergyMeter(gpu=gpu)
        meter.start()
        enforcement = limits.prepare(self.plan)
        stack.callback(enforcement.release)
        key = secrets.token_bytes(32)
        leftovers.sweep()  # what a parent killed with SIGKILL could not remove
        listener, self._socket_dir = child.listen(key)
        stack.callback(self._close_listener, listener)
        proc: Popen[bytes] | None = None
        sampler: Sampler | None = None
        try:
            with open(self.log_path, "wb") as log:
                proc = child.spawn(listener, key, log, enforcement.spawn_prefix)
            self.pid = proc.pid
            record.child = {"pid": proc.pid}
            sampler = Sampler(
                proc.pid,
                t0,
                rate_hz=self.config.sample_hz,
                budget_mb=self.plan.budget_mb,
                tokens_so_far=lambda: len(record.tokens),
                on_sample=self._on_sample,
                gpu=gpu,
            )
            sampler.start()
            self._emit(events.StatusChanged("starting"))
            conn, timed_out = child.accept(listener, proc, lambda: sampler.kill is not None or self._stop.is_set())
            if timed_out:
                record.status, record.error = (
                    "error",
                    f"the child did not connect within {child.CONNECT_TIMEOUT_S:.0f} s",
                )
            if conn is not None:
                with conn:
                    self._start_child(conn, proc, enforcement, t0)
                    self._converse(conn, proc, sampler, t0)
        except (ProtocolError, OSError, EOFError) as exc:
            if record.status == "running":
                record.status, record.error = "error", f"lost the child: {exc}"
        finally:
            self._finish(proc, sampler, enforcement, t0)
            outcome.record_energy(record, meter, self.profile, self.model, self.config.ctx)

    def _start_child(self, conn: Connection, proc: Popen[bytes], enforcement: limits.Enforcement, t0: float) -> None:
        """The child said hello: put it under its limits, start the speed mechanism, send it the run."""
        record = self.record
        hello = protocol.decode(conn.recv_bytes())
        record.child |= {k: hello[k] for k in ("pid", "python", "llama_cpp")}
        limits.apply(proc.pid, self.plan, enforcement)
        record.limits = dict(enforcement.limits)
        self._emit(events.LimitsApplied(record.limits))
        self.speed.attach(enforcement.speed.start(proc.pid, record.limits["speed"], self.speed.factor_at, t0))
        config = child_config(self.config, self.model_path, self.plan.threads)
        config["stream_interval_s"] = self.speed.stream_interval(config["stream_interval_s"])
        config["budget_mb"] = self.plan.budget_mb  # near it, the child sends every token at once
        # The first token goes out at once where something waits on it: a watched run's display, or the
        # phone's first-token gate (its run is steered, so it hands over every 50 ms). An unwatched run
        # (a bench test, a calibration: a second or more between hand-overs) sends it with the rest and
        # spares llama.cpp's threads a wake of the parent.
        config["first_at_once"] = config["stream_interval_s"] < UNWATCHED_STREAM_S
        config["decode_loop"], config["decode_loop_note"] = decode_loop.library()  # built here: the child cannot write
        record.config["stream_interval_s"] = config["stream_interval_s"]  # what the child was told
        conn.send_bytes(protocol.encode("start", config=config))
        self._emit(events.StatusChanged("loading"))

    def _close_listener(self, listener: Listener) -> None:
        listener.close()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def phone_prediction(self) -> Any:
        """What the predictor says of this model on this phone (None for the host or a bad profile)."""
        from profiler.phone import predict

        if self.profile.is_host:
            return None
        if self._prediction is None:
            try:
                self._prediction = predict.predict(
                    self.profile, model=self.model, ctx=self.config.ctx, threads=self.config.threads
                )
            except ProfilerError:
                return None
        return self._prediction

    def phone_target_tps(self) -> float | None:
        """The decode speed this run emulates: the phone's predicted one; None for the host or a set factor."""
        if self.config.speed_factor is not None or self.profile.is_host:
            return None
        prediction = self.phone_prediction()
        return prediction.speed.decode_tokens_per_s if prediction is not None else None

    def energy_rate(self) -> EnergyRate | None:
        """The phone's energy as this run goes, as the report will price it: the predicted backend's and
        threads' power, paced at the phone's speed (a slower host would otherwise draw it for longer)."""
        from profiler.phone import energy

        prediction = self.phone_prediction()
        speed = prediction.speed if prediction is not None else None
        return energy.energy_rate(
            self.profile,
            backend=speed.backend if speed is not None else None,
            threads=speed.threads if speed is not None else None,
            pace_tps=self.phone_target_tps(),
        )

    def warn(self, text: str) -> None:
        """A one-line warning: kept in the report's ``warnings`` and sent to the listener."""
        self.record.warnings.append(text)
        self._emit(events.Warned(text))

    def _warn_about_the_build(self, engine: dict[str, Any]) -> None:
        if self.config.gpu_layers > 0 and "gpu_info" in engine and not engine["gpu_info"]:
            self.warn(
                f"--gpu-layers {self.config.gpu_layers} did nothing: this llama.cpp build has no GPU backend "
                f"({engine.get('backends', 'CPU')}), so every layer ran on the CPU"
            )
        if str(engine.get("weight_repack") or "on") != "on":
            why = str(engine["weight_repack"]).removeprefix("off: ")
            self.warn(f"weights not repacked, so slower than llama.cpp can be: {why}")

    def _measure(self, config: RunConfig, why: str) -> RunRecord | None:
        """The calibration run (no calibration of its own); None if the run was stopped before it began."""
        inner = Session(config, calibrate=False)
        self._inner = inner
        if self._stop.is_set():
            return None
        self._emit(events.StatusChanged(f"measuring this host's speed for the model ({why})"))
        return inner.run()

    def _on_sample(self, sample: Sample) -> None:
        with self._lock:
            self.record.samples.append(sample)
        self._emit(events.Sampled(sample))

    def _converse(self, conn: Connection, proc: Popen[bytes], sampler: Sampler, t0: float) -> None:
        """The message loop, with the pipe stop() wakes it through open only while it runs."""
        wake, self._wake_w = Pipe(duplex=False)
        try:
            self._message_loop(conn, proc, sampler, t0, wake)
        finally:
            writer, self._wake_w = self._wake_w, None
            wake.close()
            if writer is not None:
                writer.close()

    def _message_loop(
        self, conn: Connection, proc: Popen[bytes], sampler: Sampler, t0: float, wake: Connection
    ) -> None:
        record = self.record
        started = time.monotonic()
        stop_sent: float | None = None
        while True:
            now = time.monotonic()
            if self._stop.is_set() and stop_sent is None:
                stop_sent = now
                if record.loaded_at_s is None:
                    break  # still loading: nothing to wait for, the child is killed
                try:
                    conn.send_bytes(protocol.encode("stop"))
                except OSError:
                    break  # the child is already gone (abort() killed it as the stop went out): a stop all the same
            if stop_sent is not None:
                if now - stop_sent > STOP_GRACE_S:
                    break
                self.turns_after_stop += 1
            if record.loaded_at_s is None and now - started > self.config.load_timeout_s:
                record.status = "error"
                record.error = f"the model did not load within {self.config.load_timeout_s:g} s (load timeout)"
                break
            if sampler.kill is not None:
                self._drain(conn, t0, sampler.kill)
                break
            try:
                woken = wait([conn, wake], POLL_S)
                if wake in woken:
                    while wake.poll():
                        wake.recv_bytes()  # a stop: the loop's top sends it on
                message = protocol.decode(conn.recv_bytes()) if conn in woken else None
            except (EOFError, OSError):
                break
            if message is None:
                if child.exited(proc) and not conn.poll(0):
                    break
                continue
            if sampler.kill is not None:  # the kill landed while the loop waited: this came from before it
                self._after_kill(message, t0, sampler.kill)
                continue  # the loop's top reads the rest
            if message["type"] == "loaded":
                sampler.settle()  # the load's fast growth is over: the sampler may slow while memory holds still
            if self._handle(message, t0):
                break

    def _drain(self, conn: Connection, t0: float, kill: Kill) -> None:
        """After a budget kill, read what the child sent before it died (see ``_after_kill``)."""
        try:
            while conn.poll(0):
                self._after_kill(protocol.decode(conn.recv_bytes()), t0, kill)
        except (EOFError, OSError, ProtocolError):
            return

    def _after_kill(self, message: dict[str, Any], t0: float, kill: Kill) -> None:
        """A message the child sent before a budget kill: its tokens were measured, so they are kept.

        Not its end ("done" would make the run completed; the phone killed it) nor its status. Nor a
        first token that an emulated phone's first-token gate would still have held at the kill:
        the app never showed it.
        """
        kind = message["type"]
        first = kind == "token" and not self.record.tokens
        if first and self.speed.holds_first_token_past(self.record.loaded_at_s, kill.at_s):
            return
        if kind in ("loaded", "token", "near_budget"):
            self._handle(message, t0)

    def _handle(self, message: dict[str, Any], t0: float) -> bool:
        """Apply one message to the record; True when the run is over."""
        record = self.record
        kind = message["type"]
        if kind == "progress":
            self._emit(events.StatusChanged(message["stage"]))
        elif kind == "loaded":
            record.loaded_at_s = message["t"] - t0
            record.summary.load_time_s = message["load_time_s"]
            record.summary.prompt_tokens = message["prompt_tokens"]
            record.child |= {
                "n_ctx": message["n_ctx"],
                "chat_template": message["chat_template"],
                "sandbox": message.get("sandbox", "none"),
                "engine": message.get("engine", {}),
            }
            self._warn_about_the_build(record.child["engine"])
            self.speed.on_loaded(message["prompt_tokens"])
            self._emit(events.ModelLoaded(message))
        elif kind == "token":
            t = message["t"] - t0
            if not record.tokens:
                t = self.speed.first_token(t, t0, record.loaded_at_s)
            previous = record.tokens[-1].t if record.tokens else (record.loaded_at_s or t)
            token = Token(
                index=len(record.tokens),
                t=t,
                text=message["text"],
                latency_ms=(t - previous) * 1000.0,
                id=message["id"],
            )
            with self._lock:
                record.tokens.append(token)
                record.output_text += token.text
            self.speed.on_token(t)
            self._emit(events.TokenStreamed(token))
        elif kind == "near_budget":  # from this token on the child sent each one at once (worker.NearBudget)
            at = {"token": message["i"], "t_s": message["t"] - t0, "footprint_mb": message["footprint_mb"]}
            record.child["each_token_from"] = at
        elif kind == "done":
            record.stop_reason = message["reason"]
            record.child["decode_loop_ran"] = message.get("decode_loop")  # "c" or "python"
            record.status = "stopped" if message["reason"] == "stopped" else "completed"
            return True
        elif kind == "error":
            record.status = "error"
            record.error = message["message"]
            record.error_kind = message["kind"]
            if message["kind"] == "model_load":
                record.error = outcome.load_error(self.model_path, self.log_path, message["message"])
            return True
        return False

    def phone_speed(self, prompt_tokens: int, backend: str | None = None) -> Any:
        """The phone's predicted speed for this run's threads and this prompt length (None on the host)."""
        from profiler.phone import predict

        if self.profile.is_host:
            return None
        try:
            return predict.predict(
                self.profile,
                model=self.model,
                ctx=self.config.ctx,
                threads=self.config.threads,
                prompt_tokens=prompt_tokens,
                backend=backend,
            ).speed
        except ProfilerError:
            return None

    def _finish(
        self, proc: Popen[bytes] | None, sampler: Sampler | None, enforcement: limits.Enforcement, t0: float
    ) -> None:
        """The child is done or must be: reap it, stop what watched it, and settle how the run ended."""
        record = self.record
        if proc is not None:
            deadline = time.monotonic() + 5.0
            while not child.exited(proc) and time.monotonic() < deadline and record.status in ("completed", "stopped"):
                time.sleep(0.01)  # a clean child closes llama.cpp and exits by itself
            if not child.exited(proc):
                try:
                    kill_now(proc.pid)
                except (ProcessLookupError, psutil.Error):
                    pass
        self.speed.stop_throttle(record)
        if sampler is not None:
            sampler.stop()
            sampler.join(2.0)
        with self._lock:
            self.pid = None  # reaped below: its pid may be reused, so abort() must not touch it
        exit_code = proc.wait() if proc is not None else None
        record.child["exit_code"] = exit_code
        outcome.classify(
            record,
            budget_kill=sampler.kill if sampler is not None else None,
            exit_code=exit_code,
            oom_kills=enforcement.oom_kills(),
            stopped=self._stop.is_set(),
            t0=t0,
            log_path=self.log_path,
        )
        record.finish_summary()
        self.speed.check_calibration(record)
        record.summary.wall_time_s = time.monotonic() - t0
        if sampler is not None:
            record.sampler_cpu_s = sampler.cpu_seconds


__all__ = ["Event", "ProfilerError", "RunConfig", "Session"]
