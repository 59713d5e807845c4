"""NVML readings. The GPU is the one thing faked here: this machine has none.

(The real path was checked on an H100: name, 78.3 W board power, and an energy
counter whose delta over 1 s gave 77.8 W.)
"""

from __future__ import annotations

import sys
import time
import types

import pytest

from profiler.run.gpu import GpuMonitor

BOARD_MW = 78_350


def fake_nvml(devices: int = 1, fail_init: bool = False) -> types.ModuleType:
    """NVML as an H100 answers it. The energy counter advances as the real one does: millijoules since the
    driver loaded, growing at the board's power (so a run that reads 0 J, or a frozen counter, is caught)."""
    nvml = types.ModuleType("pynvml")
    loaded = time.monotonic() - 1000.0  # the driver has been up for a while

    def init() -> None:
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    proc = types.SimpleNamespace(pid=4242, usedGpuMemory=512 * 1024 * 1024)
    other = types.SimpleNamespace(pid=1, usedGpuMemory=1024)
    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: None
    nvml.nvmlDeviceGetCount = lambda: devices
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"handle{i}"
    nvml.nvmlDeviceGetName = lambda h: b"NVIDIA H100 80GB HBM3"
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda h: [proc, other]
    nvml.nvmlDeviceGetPowerUsage = lambda h: BOARD_MW  # milliwatts
    nvml.nvmlDeviceGetTotalEnergyConsumption = lambda h: int(BOARD_MW * (time.monotonic() - loaded))  # mJ
    return nvml


def test_reads_process_memory_power_and_energy(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    monitor = GpuMonitor.open()
    assert monitor is not None and monitor.name == "NVIDIA H100 80GB HBM3"
    assert monitor.read(4242) == (512.0, 78.35)
    assert monitor.read(999) == (0.0, 78.35)  # a process with nothing on the GPU
    first, t = monitor.energy_j(), time.monotonic()
    time.sleep(0.3)
    second, dt = monitor.energy_j(), time.monotonic() - t
    assert first is not None and second is not None and first > 78_000  # joules since the driver loaded
    assert (second - first) / dt == pytest.approx(78.35, rel=0.05)  # the counter's rate is the board's power
    monitor.close()


@pytest.mark.parametrize("nvml", [fake_nvml(devices=0), fake_nvml(fail_init=True), None])
def test_no_gpu_means_absent_without_warnings(monkeypatch: pytest.MonkeyPatch, nvml):
    monkeypatch.setitem(sys.modules, "pynvml", nvml)  # None: the import itself fails
    assert GpuMonitor.open() is None


@pytest.mark.model
def test_a_run_reads_host_energy_and_gpu_samples_through_nvml(monkeypatch: pytest.MonkeyPatch):
    from profiler.run.config import RunConfig
    from profiler.run.session import Session

    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml())
    record = Session(RunConfig(model="smollm2-135m", profile="host", max_tokens=8)).run()
    assert record.status == "completed"
    assert "NVML (NVIDIA H100 80GB HBM3)" in record.host_energy["source"]
    assert any(s.gpu_power_w == 78.35 for s in record.samples)
    joules, wall = record.host_energy["j_total"], record.summary.wall_time_s
    assert wall is not None and joules >= 0.9 * 78.35 * wall  # the counter's delta over the run
    if "RAPL" not in record.host_energy["source"]:  # NVML alone: nothing else is summed in
        assert joules == pytest.approx(78.35 * wall, rel=0.1)
