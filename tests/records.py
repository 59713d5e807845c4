"""Run records built by hand, for the tests of what reads a finished run (history, exporters, compare).

Every column gets its own value (RSS, footprint, file-backed, anonymous and swap all differ), so a
column written from the wrong field, or a formula that uses the wrong one, gives a different number.
Real runs are used wherever the run itself is under test; these stand for a run already on disk.
"""

from __future__ import annotations

from typing import Any

from profiler.record import Kill, Limit, RunRecord, Sample, Token


def record(
    run_id: str = "20261201-120000-aaaaaa",
    *,
    started_at: str = "2026-12-01T12:00:00.000+00:00",
    model: str = "SmolLM2 135M Instruct",
    quant: str = "Q4_1",
    profile: str = "galaxy-a25",
    status: str = "completed",
    tokens: int = 12,
    latency_ms: float = 25.0,
    peak_mb: float = 180.0,
    kill_at: int | None = None,
) -> RunRecord:
    rec = RunRecord(
        run_id=run_id,
        started_at=started_at,
        config={"model": model, "profile": profile, "prompt": "Why <b>?", "max_tokens": tokens, "threads": 2},
        model={"name": model, "file_name": f"{model.replace(' ', '-')}.{quant}.gguf", "quantization": quant},
        profile={"id": profile, "name": profile.replace("-", " ").title(), "battery_wh": 19.0},
        host={"cpu": "test CPU", "cores": 2},
        status=status,
    )
    rec.limits = {
        "memory_budget": Limit(2048.0, "MB", "watchdog"),
        "cores": Limit(2.0, "cores", "affinity", "pinned"),
    }
    rec.loaded_at_s = 0.5
    rec.summary.prompt_tokens = 20
    for i in range(tokens):
        latency = 200.0 if i == 0 else latency_ms * (1.0 + 0.1 * (i % 3))
        t = 0.7 + sum(latency_ms * (1.0 + 0.1 * (k % 3)) for k in range(1, i + 1)) / 1000.0
        rec.tokens.append(Token(index=i, t=round(t, 6), text=f" t{i}", latency_ms=latency, id=100 + i))
    for j in range(10):
        rss = 100.0 + 8.0 * j
        rec.samples.append(
            Sample(
                t=0.1 * j,
                rss_mb=rss,
                footprint_mb=min(peak_mb, rss * 0.9 + 3.0 * j),
                file_mb=rss * 0.5,
                anon_mb=rss * 0.4,
                swap_mb=0.25 * j,
                cpu_percent=150.0 + j,
                threads=3 + j % 2,
                gpu_mem_mb=None,
                gpu_power_w=None,
            )
        )
    if kill_at is not None:
        rec.tokens = rec.tokens[:kill_at]
        rec.kill = Kill("memory_budget", 1.0, peak_mb, 2048.0, kill_at, crossed_at_s=0.98)
    rec.output_text = "".join(t.text for t in rec.tokens)
    rec.finish_summary()
    rec.summary.load_time_s = 0.5
    rec.summary.wall_time_s = 2.0
    return rec


def report(run_id: str = "20261201-120000-aaaaaa", **kwargs: Any) -> dict[str, Any]:
    return record(run_id, **kwargs).to_dict()
