"""One profiling run: spawn the child, cap it like a phone, sample it, record it.

``Session(config).run()`` blocks until the run ends and returns its
:class:`RunRecord`; ``stop()`` may be called from any thread. Events reach the
caller through ``on_event`` (called from the sampler and the run's own thread;
the GUI turns them into Qt signals, in batches).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from subprocess import Popen
from typing import Any

import psutil

from profiler import events, gguf_meta, hostinfo, leftovers, limits, models, paths, protocol
from profiler.calibrate import Calibration
from profiler.config import RunConfig, check_threads, plan_limits, validate
from profiler.emulate import Emulation
from profiler.energy import HostEnergyMeter
from profiler.errors import ProfilerError, ProtocolError
from profiler.events import Event
from profiler.gpu import GpuMonitor
from profiler.mechanisms import Throttling
from profiler.profiles import load_profile
from profiler.record import Kill, RunRecord, Sample, Token
from profiler.sampler import Sampler, kill_now
from profiler.throttle import SpeedGovernor

CONNECT_TIMEOUT_S = 60.0
STOP_GRACE_S = 3.0
POLL_S = 0.1  # the message loop's longest sleep: each wake-up costs a busy small host llama.cpp speed


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def _poke(address: Any) -> None:
    """Connect to a listener and hang up, so that a thread blocked in its accept() returns."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(address)
    except OSError:
        pass


def _exited(proc: Popen[bytes]) -> bool:
    """True once the child has exited, without reaping it (its pid stays ours)."""
    if hasattr(os, "waitid"):
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None
    return proc.poll() is not None


def _stderr_tail(path: Path, limit: int = 2000) -> str:
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace").strip()


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
            self.record.extra["warnings"] = [oversubscribed]
        self.calibrate = calibrate
        self.governor = SpeedGovernor(None)
        self._inner: Session | None = None  # the calibration run, while one is going
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.pid: int | None = None
        self._prediction: Any = None
        self.emulation: Emulation | None = None
        self._throttle: Throttling | None = None
        self._decode_start: tuple[float, float, float] | None = None  # throttle (running, stopped, held)
        self._socket_dir: Path | None = None

    # -- control -------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to end: the child finishes its token and reports, or is killed."""
        self._stop.set()
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
        for warning in record.extra.get("warnings", []):
            self._emit(events.Warned(warning))
        prediction = self.phone_prediction()
        if prediction is not None:
            record.extra["prediction"] = prediction.to_dict()
        self._emulate()
        t0 = time.monotonic()
        enforcement = limits.prepare(self.plan)
        gpu = GpuMonitor.open()
        meter = HostEnergyMeter(gpu=gpu)
        meter.start()
        key = secrets.token_bytes(32)
        leftovers.sweep()  # what a parent killed with SIGKILL could not remove
        listener = self._listen(key)
        proc: Popen[bytes] | None = None
        sampler: Sampler | None = None
        throttle: Throttling | None = None
        try:
            with open(self.log_path, "wb") as log:
                proc = self._spawn(listener, key, log, enforcement.spawn_prefix)
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
            conn = self._accept(listener, proc, sampler)
            if conn is not None:
                with conn:
                    hello = protocol.decode(conn.recv_bytes())
                    record.child |= {k: hello[k] for k in ("pid", "python", "llama_cpp")}
                    limits.apply(proc.pid, self.plan, enforcement)
                    record.limits = dict(enforcement.limits)
                    self._emit(events.LimitsApplied(record.limits))
                    throttle = enforcement.speed.start(proc.pid, record.limits["speed"], self._factor_at, t0)
                    self._throttle = throttle
                    conn.send_bytes(protocol.encode("start", config=self._child_config()))
                    self._emit(events.StatusChanged("loading"))
                    self._converse(conn, proc, sampler, t0)
        except (ProtocolError, OSError, EOFError) as exc:
            if record.status == "running":
                record.status, record.error = "error", f"lost the child: {exc}"
        finally:
            self._finish(proc, sampler, throttle, enforcement, listener, gpu, t0)
            self._energy(meter)
            if gpu is not None:
                gpu.close()
            self._emit(events.Finished(record))
        return record

    def phone_prediction(self) -> Any:
        """What the predictor says of this model on this phone (None for the host or a bad profile)."""
        from profiler import predict

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

    def warn(self, text: str) -> None:
        """A one-line warning: kept in the report's ``warnings`` and sent to the listener."""
        self.record.extra.setdefault("warnings", []).append(text)
        self._emit(events.Warned(text))

    def _warn_if_no_gpu(self, engine: dict[str, Any]) -> None:
        if self.config.gpu_layers > 0 and "gpu_info" in engine and not engine["gpu_info"]:
            self.warn(
                f"--gpu-layers {self.config.gpu_layers} did nothing: this llama.cpp build has no GPU backend "
                f"({engine.get('backends', 'CPU')}), so every layer ran on the CPU"
            )

    def _emulate(self) -> None:
        """Set the speed targets: the user's factor, or the phone's predicted prefill and decode speed.

        For a phone, :class:`profiler.emulate.Emulation` holds the targets and the host's
        calibration; the duty cycle, the governor and the first-token gate follow it.
        """
        config, profile, plan = self.config, self.profile, self.plan
        if config.speed_factor is not None or profile.is_host:
            calibration = self._calibration()[0] if plan.speed_factor < 1.0 else None
            host = calibration.decode_tps if calibration else None
            self.governor.target_tps = plan.speed_factor * host if host else None
            return
        prediction = self.phone_prediction()
        if prediction is None or prediction.speed.decode_tokens_per_s is None:
            return
        speed = prediction.speed
        calibration, source = self._calibration()
        self.emulation = Emulation(
            target_decode_tps=speed.decode_tokens_per_s,
            target_prefill_tps=speed.prefill_tokens_per_s,
            backend=speed.backend,
            calibration=calibration,
            calibration_source=source,
            decode_error_pct=speed.decode_error_pct,
            prefill_error_pct=speed.prefill_error_pct,
        )
        if calibration is not None:
            self.governor.target_tps = speed.decode_tokens_per_s
            self.plan = dataclasses.replace(plan, speed_factor=self.emulation.decode_factor)
        self.record.extra["emulation"] = self.emulation.report()

    def _calibration(self) -> tuple[Calibration | None, str]:
        """The host's speed for this model: cached if fresh and trusted, else measured now (stoppable)."""
        from profiler import calibrate

        if not self.calibrate or self._stop.is_set():
            return None, "none"
        threads, ctx = self.plan.threads, self.config.ctx
        found, why = calibrate.lookup(self.model_path, threads, ctx)
        if found is not None:
            return found, "cached"
        load = calibrate.background_load()
        inner = Session(calibrate.config_for(self.model_path, threads, ctx), calibrate=False)
        self._inner = inner
        if self._stop.is_set():
            return None, "none"
        self._emit(events.StatusChanged(f"measuring this host's speed for the model ({why})"))
        run = inner.run()
        measured = calibrate.from_record(self.model_path, threads, ctx, run, load_before=load)
        if measured is None:
            return None, f"none: the measuring run ended {run.status}" + (f" ({run.error})" if run.error else "")
        if measured.trusted:
            try:
                calibrate.store(measured)
            except OSError:
                pass  # an unwritable cache costs a re-measure next time, not this run
        return measured, "measured now" if measured.trusted else "measured now, not trusted: not cached"

    def _energy(self, meter: HostEnergyMeter) -> None:
        from profiler import predict

        record = self.record
        joules, source = meter.stop()
        record.extra["host_energy"] = (
            {"j_total": round(joules, 3), "source": source, "note": "measured on this host, not the phone"}
            if joules is not None
            else {"j_total": None, "reason": source}
        )
        try:
            # a host slower than the phone did not decode at the phone's speed: price the predicted one
            lagged = (record.extra.get("emulation") or {}).get("host_slower_than_target")
            record.extra["energy"] = predict.run_energy(
                self.profile,
                model=self.model,
                generated_tokens=len(record.tokens),
                decode_tps=None if lagged else record.summary.decode_tokens_per_s,
                ctx=self.config.ctx,
            )
        except ProfilerError as exc:
            record.extra["energy"] = None
            record.extra["energy_error"] = str(exc)

    def _factor_at(self, seconds: float) -> float:
        """The throttle's factor now: the phase's base factor, the phone's sustained curve, the governor."""
        emulation = self.emulation
        if emulation is not None and emulation.phase == "prefill":
            return min(1.0, emulation.base_factor() * self._fraction_at(seconds))
        return min(1.0, self.plan.speed_factor * self._fraction_at(seconds) * self.governor.correction)

    def _fraction_at(self, seconds: float) -> float:
        return self.profile.speed_fraction_at(seconds) if self.plan.follows_curve else 1.0

    def _listen(self, key: bytes) -> Listener:
        """The socket the child connects to, in a folder named for this process (see profiler.leftovers)."""
        if sys.platform == "win32":
            return Listener(authkey=key)  # a named pipe: nothing on disk
        self._socket_dir = leftovers.socket_dir()
        return Listener(address=str(self._socket_dir / "child.sock"), family="AF_UNIX", authkey=key)

    def _spawn(self, listener: Listener, key: bytes, log: Any, prefix: list[str]) -> Popen[bytes]:
        env = paths.child_env(POCKETPROF_AUTHKEY=key.hex())
        cmd = [*prefix, sys.executable, "-m", "profiler.worker", str(listener.address)]
        return Popen(cmd, stdin=None, stdout=log, stderr=log, env=env, start_new_session=True)

    def _accept(self, listener: Listener, proc: Popen[bytes], sampler: Sampler) -> Connection | None:
        box: list[Connection] = []

        def accept() -> None:
            try:
                box.append(listener.accept())
            except (OSError, EOFError, ValueError):
                pass

        thread = threading.Thread(target=accept, name="pocketprof-accept", daemon=True)
        thread.start()
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while thread.is_alive():
            thread.join(0.05)
            if _exited(proc) or sampler.kill is not None or self._stop.is_set():
                break
            if time.monotonic() > deadline:
                self.record.status = "error"
                self.record.error = f"the child did not connect within {CONNECT_TIMEOUT_S:.0f} s"
                break
        if box:
            return box[0]
        if thread.is_alive():  # closing a listening socket does not always wake a blocked accept(): poke it
            _poke(listener.address)
        listener.close()
        thread.join(1.0)
        for conn in box:  # our own wake-up call, or a child that connected too late
            conn.close()
        return None

    def _child_config(self) -> dict[str, Any]:
        c = self.config
        return {
            "model_path": str(self.model_path),
            "n_ctx": c.ctx,
            "n_threads": self.plan.threads,
            "use_mmap": c.mmap,
            "seed": c.seed,
            "temperature": c.temperature,
            "max_tokens": c.max_tokens,
            "prompt": c.prompt,
            "raw": c.raw,
            "gpu_layers": c.gpu_layers,
            "logits_all": c.logits_all,
            "ignore_eos": c.ignore_eos,
            "n_batch": c.batch,
            "n_ubatch": c.ubatch,
            "flash_attn": c.flash_attn,
            "prompt_tokens": c.prompt_tokens,
            "warmup": c.warmup,
        }

    def _on_sample(self, sample: Sample) -> None:
        with self._lock:
            self.record.samples.append(sample)
        self._emit(events.Sampled(sample))

    def _converse(self, conn: Connection, proc: Popen[bytes], sampler: Sampler, t0: float) -> None:
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
            if stop_sent is not None and now - stop_sent > STOP_GRACE_S:
                break
            if record.loaded_at_s is None and now - started > self.config.load_timeout_s:
                record.status = "error"
                record.error = f"the model did not load within {self.config.load_timeout_s:g} s (load timeout)"
                break
            if sampler.kill is not None:
                break
            try:
                ready = conn.poll(POLL_S)
                message = protocol.decode(conn.recv_bytes()) if ready else None
            except (EOFError, OSError):
                break
            if message is None:
                if _exited(proc) and not conn.poll(0):
                    break
                continue
            if self._handle(message, t0):
                break

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
            self._warn_if_no_gpu(record.child["engine"])
            if self.emulation is not None:
                self.emulation.on_loaded(message["prompt_tokens"], self._prefill_target(message["prompt_tokens"]))
            self._emit(events.ModelLoaded(message))
        elif kind == "token":
            t = message["t"] - t0
            if not record.tokens:
                t = self._gate_first_token(t, t0)
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
            self.governor.on_token(t, self.plan.speed_factor, self._fraction_at(t))
            self._emit(events.TokenStreamed(token))
        elif kind == "done":
            record.stop_reason = message["reason"]
            record.status = "stopped" if message["reason"] == "stopped" else "completed"
            return True
        elif kind == "error":
            record.status = "error"
            record.error = message["message"]
            record.extra["error_kind"] = message["kind"]
            if message["kind"] == "model_load":
                record.error = _load_error(self.model_path, self.log_path, message["message"])
            return True
        return False

    def phone_speed(self, prompt_tokens: int, backend: str | None = None) -> Any:
        """The phone's predicted speed for this run's threads and this prompt length (None on the host)."""
        from profiler import predict

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

    def _prefill_target(self, prompt_tokens: int) -> float | None:
        """The phone's prefill speed for this prompt's length (the prediction's was for a typical one)."""
        speed = self.phone_speed(prompt_tokens)
        if speed is None or self.emulation is None or speed.backend != self.emulation.backend:
            return None
        return float(speed.prefill_tokens_per_s) if speed.prefill_tokens_per_s else None

    def _gate_first_token(self, t: float, t0: float) -> float:
        """Hold the child until the phone's time to first token; the token counts from then."""
        emulation, throttle = self.emulation, self._throttle
        if emulation is None:
            return t
        release = emulation.first_token_release(self.record.loaded_at_s or t, t)
        if throttle is not None:
            if release is not None:
                throttle.hold(t0 + release)
            running, stopped = throttle.snapshot()
            self._decode_start = (running, stopped, throttle.held_s)
        elif release is not None:
            emulation.notes.append("time to first token not gated: no duty cycle (--throttle quota)")
            return t
        return release if release is not None else t

    def _decode_duty(self, throttle: Throttling | None) -> float | None:
        """The share of the decode phase the throttle let the child run."""
        if throttle is None or self._decode_start is None:
            return 1.0 if throttle is None else None
        running, stopped = throttle.snapshot()
        r0, s0, h0 = self._decode_start
        run_s = running - r0
        stop_s = (stopped - s0) - (throttle.held_s - h0)  # the first-token gate is not decode time
        return run_s / (run_s + stop_s) if run_s + stop_s > 0 else None

    def _check_calibration(self, throttle: Throttling | None) -> None:
        """A run whose own speed contradicts the calibration drops it: the next run re-measures."""
        from profiler import calibrate

        emulation = self.emulation
        if emulation is None:
            return
        why = ""
        if self.record.status == "completed" and len(self.record.tokens) >= 16:
            why = emulation.check(self.record.summary.decode_tokens_per_s, self._decode_duty(throttle))
            if why and emulation.calibration is not None:
                calibrate.forget(emulation.calibration.key)
        report = emulation.report()
        if why:
            report["calibration_disagreement"] = why
        self.record.extra["emulation"] = report

    def _finish(
        self,
        proc: Popen[bytes] | None,
        sampler: Sampler | None,
        throttle: Throttling | None,
        enforcement: limits.Enforcement,
        listener: Listener,
        gpu: GpuMonitor | None,
        t0: float,
    ) -> None:
        record = self.record
        if proc is not None:
            deadline = time.monotonic() + 5.0
            while not _exited(proc) and time.monotonic() < deadline and record.status in ("completed", "stopped"):
                time.sleep(0.01)  # a clean child closes llama.cpp and exits by itself
            if not _exited(proc):
                try:
                    kill_now(proc.pid)
                except (ProcessLookupError, psutil.Error):
                    pass
        if throttle is not None:
            throttle.stop()
            record.extra["throttle"] = {
                "achieved_factor": throttle.achieved_factor,
                "governor_correction": round(self.governor.correction, 4),
                "governor_target_tokens_per_s": self.governor.target_tps,
            }
        if sampler is not None:
            sampler.stop()
            sampler.join(2.0)
        with self._lock:
            self.pid = None  # reaped below: its pid may be reused, so abort() must not touch it
        exit_code = proc.wait() if proc is not None else None
        record.child["exit_code"] = exit_code
        listener.close()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        oom = enforcement.oom_kills()
        enforcement.release()
        self._classify(sampler, exit_code, oom, t0)
        record.finish_summary()
        self._check_calibration(throttle)
        record.summary.wall_time_s = time.monotonic() - t0
        if sampler is not None:
            record.extra["sampler_cpu_s"] = sampler.cpu_seconds

    def _classify(self, sampler: Sampler | None, exit_code: int | None, oom: int, t0: float) -> None:
        record = self.record
        if sampler is not None and sampler.kill is not None and record.status != "completed":
            record.status, record.kill = "killed", sampler.kill
            record.error = None
            return
        if record.status != "running":
            return
        if oom and record.limits.get("dram") is not None:
            last = record.samples[-1] if record.samples else None
            record.status = "killed"
            record.kill = Kill(
                reason="dram_limit",
                at_s=last.t if last else time.monotonic() - t0,
                footprint_mb=last.footprint_mb if last else 0.0,
                limit_mb=float(record.limits["dram"].value or 0),
                tokens_before_kill=len(record.tokens),
            )
        elif self._stop.is_set():
            record.status, record.stop_reason = "stopped", "stopped"
        else:
            record.status = "error"
            record.error = _crash_message(exit_code, self.log_path)


def _load_error(model_path: Path, log_path: Path, fallback: str) -> str:
    """llama.cpp's own reason for refusing a model (it logs it), naming the file, in one line."""
    reasons = [
        line.split("error loading model:", 1)[1].strip()
        for line in _stderr_tail(log_path, 20_000).splitlines()
        if "error loading model:" in line
    ]
    if not reasons:
        return f"{model_path}: llama.cpp could not load it ({fallback})"
    reason = reasons[-1].removeprefix("error loading model architecture: ")
    return f"{model_path}: llama.cpp cannot load it: {reason}"


def _crash_message(exit_code: int | None, log_path: Path) -> str:
    if exit_code is not None and exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        what = f"the child process crashed ({name})"
        if -exit_code == getattr(signal, "SIGKILL", 9):
            what = "the child process was killed (SIGKILL) from outside pocketprof: the kernel's OOM killer or a user"
    else:
        what = f"the child process exited unexpectedly (code {exit_code})"
    tail = _stderr_tail(log_path, 300).splitlines()
    return what + (f"; last log line: {tail[-1]}" if tail else "") + f"; log: {log_path}"


__all__ = ["Event", "ProfilerError", "RunConfig", "Session"]
