"""How a run ended, in words a user can act on: killed, stopped, crashed, or refused by llama.cpp.

Also the run's energy: the phone's estimate and the host's own measured figure, kept apart.
"""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from pathlib import Path

from profiler.errors import ProfilerError
from profiler.model.gguf_meta import ModelInfo
from profiler.phone.profiles import Profile
from profiler.record import Kill, RunRecord
from profiler.run.host_energy import HostEnergyMeter


def classify(
    record: RunRecord,
    *,
    budget_kill: Kill | None,
    exit_code: int | None,
    oom_kills: int,
    stopped: bool,
    t0: float,
    log_path: Path,
) -> None:
    """Settle a run still marked 'running' once its child is gone: a kill, a stop, or an error."""
    if budget_kill is not None and record.status != "completed":
        # the sampler counted the tokens it had seen; the record also holds those still in the pipe
        record.status, record.kill = "killed", replace(budget_kill, tokens_before_kill=len(record.tokens))
        record.error = None
        return
    if record.status != "running":
        return
    if oom_kills and record.limits.get("dram") is not None:
        last = record.samples[-1] if record.samples else None
        record.status = "killed"
        record.kill = Kill(
            reason="dram_limit",
            at_s=last.t if last else time.monotonic() - t0,
            footprint_mb=last.footprint_mb if last else 0.0,
            limit_mb=float(record.limits["dram"].value or 0),
            tokens_before_kill=len(record.tokens),
        )
    elif stopped:
        record.status, record.stop_reason = "stopped", "stopped"
    else:
        record.status = "error"
        record.error = crash_message(exit_code, log_path)


def stderr_tail(path: Path, limit: int = 2000) -> str:
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace").strip()


def load_error(model_path: Path, log_path: Path, fallback: str) -> str:
    """llama.cpp's own reason for refusing a model (it logs it), naming the file, in one line."""
    reasons = [
        line.split("error loading model:", 1)[1].strip()
        for line in stderr_tail(log_path, 20_000).splitlines()
        if "error loading model:" in line
    ]
    if not reasons:
        return f"{model_path}: llama.cpp could not load it ({fallback})"
    reason = reasons[-1].removeprefix("error loading model architecture: ")
    return f"{model_path}: llama.cpp cannot load it: {reason}"


def crash_message(exit_code: int | None, log_path: Path) -> str:
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
    tail = stderr_tail(log_path, 300).splitlines()
    return what + (f"; last log line: {tail[-1]}" if tail else "") + f"; log: {log_path}"


def record_energy(record: RunRecord, meter: HostEnergyMeter, profile: Profile, model: ModelInfo, ctx: int) -> None:
    """The host's measured energy and the phone's estimate, each labelled for what it is."""
    from profiler.phone import predict

    joules, source = meter.stop()
    record.host_energy = (
        {"j_total": round(joules, 3), "source": source, "note": "measured on this host, not the phone"}
        if joules is not None
        else {"j_total": None, "reason": source}
    )
    try:
        # a host slower than the phone did not decode at the phone's speed: price the predicted one
        lagged = (record.emulation or {}).get("host_slower_than_target")
        record.energy = predict.run_energy(
            profile,
            model=model,
            generated_tokens=len(record.tokens),
            decode_tps=None if lagged else record.summary.decode_tokens_per_s,
            ctx=ctx,
        )
    except ProfilerError as exc:
        record.energy = None
        record.energy_error = str(exc)
