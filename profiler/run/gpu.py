"""NVIDIA GPU readings through NVML (``nvidia-ml-py``), silent where there is no GPU."""

from __future__ import annotations

from typing import Any


class GpuMonitor:
    """Reads GPU memory used by a process and board power; ``open()`` returns None without a GPU."""

    def __init__(self, nvml: Any, handle: Any, name: str) -> None:
        self._nvml = nvml
        self._handle = handle
        self.name = name

    @classmethod
    def open(cls, index: int = 0) -> GpuMonitor | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            if pynvml.nvmlDeviceGetCount() <= index:
                pynvml.nvmlShutdown()
                return None
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
        except Exception:  # no driver, no library, no device: absent, without warnings
            return None
        return cls(pynvml, handle, name.decode() if isinstance(name, bytes) else str(name))

    def read(self, pid: int) -> tuple[float | None, float | None]:
        """(MB used by ``pid`` on the GPU, board power in W); None where unreadable."""
        nvml = self._nvml
        mem = power = None
        try:
            procs = nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
            used = [p.usedGpuMemory for p in procs if p.pid == pid and p.usedGpuMemory]
            mem = sum(used) / (1024 * 1024) if used else 0.0
        except Exception:
            mem = None
        try:
            power = nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0
        except Exception:
            power = None
        return mem, power

    def energy_j(self) -> float | None:
        """The board's total energy counter in joules, where the driver exposes it."""
        try:
            return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0
        except Exception:
            return None

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass
