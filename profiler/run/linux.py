"""Everything Linux-only: /proc readings and cgroup limits.

Other modules import this lazily, inside functions, after checking
``sys.platform``; on macOS and Windows they fall back to psutil and record the
cgroup limits as not enforced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")

_STATUS_KEYS = {
    "VmRSS": "rss",
    "RssAnon": "anon",
    "RssFile": "file",
    "RssShmem": "shmem",
    "VmSwap": "swap",
    "Threads": "threads",
}


def read_status(pid: int) -> dict[str, int]:
    """Memory (bytes) and thread count from /proc/PID/status; raises OSError once gone."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", "rb") as handle:
        for line in handle:
            key, _, rest = line.partition(b":")
            name = _STATUS_KEYS.get(key.decode("ascii", "replace"))
            if name is None:
                continue
            parts = rest.split()
            value = int(parts[0])
            out[name] = value * 1024 if len(parts) > 1 else value
    return out


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def read_statm(pid: int) -> dict[str, int]:
    """rss, file (file-backed + shmem) and anon bytes from /proc/PID/statm: one line, several times
    cheaper than status (the sampler reads it 50 times a second beside llama.cpp's threads)."""
    with open(f"/proc/{pid}/statm", "rb") as handle:
        fields = handle.read().split()
    rss, shared = int(fields[1]) * PAGE, int(fields[2]) * PAGE
    return {"rss": rss, "file": shared, "anon": max(0, rss - shared)}


def thread_affinities(pid: int) -> list[set[int]]:
    """The CPU affinity of every thread of a process."""
    result = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            result.append(set(os.sched_getaffinity(int(tid))))
        except OSError:
            continue
    return result


def set_affinity_all(pid: int, cpus: list[int]) -> None:
    """Pin every existing thread of a process (threads made later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            continue


def _own_cgroup_v1(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, rel = line.split(":", 2)
        if controller in names.split(","):
            return rel
    return "/"


def _own_cgroup_v2() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return "/"


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@dataclass
class Cgroup:
    """A cgroup made for one child; ``kind`` is 'cgroup v2' or 'cgroup v1'."""

    kind: str
    dirs: dict[str, Path]

    def add(self, pid: int) -> None:
        for path in self.dirs.values():
            (path / "cgroup.procs").write_text(f"{pid}\n")

    def set_memory_max(self, limit_bytes: int) -> None:
        if self.kind == "cgroup v2":
            (self.dirs["memory"] / "memory.max").write_text(f"{limit_bytes}\n")
            swap = self.dirs["memory"] / "memory.swap.max"
            if swap.exists():
                swap.write_text("0\n")
        else:
            (self.dirs["memory"] / "memory.limit_in_bytes").write_text(f"{limit_bytes}\n")

    def set_cpu_quota(self, cpus: float, period_us: int = 100_000) -> None:
        quota = max(1000, int(cpus * period_us))
        if self.kind == "cgroup v2":
            (self.dirs["cpu"] / "cpu.max").write_text(f"{quota} {period_us}\n")
        else:
            (self.dirs["cpu"] / "cpu.cfs_period_us").write_text(f"{period_us}\n")
            (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(f"{quota}\n")

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup."""
        path = self.dirs.get("memory")
        if path is None:
            return 0
        name = "memory.events" if self.kind == "cgroup v2" else "memory.oom_control"
        try:
            for line in (path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            return 0
        return 0

    def remove(self) -> None:
        for path in self.dirs.values():
            try:
                path.rmdir()
            except OSError:
                pass


def make_cgroup(name: str, need: tuple[str, ...]) -> Cgroup | None:
    """Create a cgroup with the controllers in ``need`` ('memory', 'cpu'), or None."""
    unified = CGROUP_ROOT / "unified" if (CGROUP_ROOT / "unified").is_dir() else CGROUP_ROOT
    controllers = unified / "cgroup.controllers"
    if controllers.exists():
        parent = unified / _own_cgroup_v2().lstrip("/")
        available = set((parent / "cgroup.controllers").read_text().split()) if parent.is_dir() else set()
        if set(need) <= available and _writable_dir(parent):
            try:
                path = parent / name
                path.mkdir(exist_ok=True)
                if set(need) <= set((path / "cgroup.controllers").read_text().split()):
                    return Cgroup("cgroup v2", dict.fromkeys(need, path))
                path.rmdir()
            except OSError:
                pass
    dirs: dict[str, Path] = {}
    for controller in need:
        base = CGROUP_ROOT / controller
        if not (base / "cgroup.procs").exists():
            break
        parent = base / _own_cgroup_v1(controller).lstrip("/")
        for candidate in (parent, base):
            if _writable_dir(candidate):
                try:
                    (candidate / name).mkdir(exist_ok=True)
                    dirs[controller] = candidate / name
                    break
                except OSError:
                    continue
    if set(dirs) == set(need):
        return Cgroup("cgroup v1", dirs)
    Cgroup("cgroup v1", dirs).remove()
    return None


def systemd_scope_prefix(memory_max_bytes: int | None, cpu_quota_percent: int | None) -> list[str] | None:
    """A ``systemd-run --user --scope`` prefix for the child command, or None."""
    if shutil.which("systemd-run") is None or shutil.which("systemctl") is None:
        return None
    probe = subprocess.run(
        ["systemctl", "--user", "is-system-running"], capture_output=True, text=True, timeout=5, check=False
    )
    if probe.stdout.strip() not in {"running", "degraded"}:
        return None
    prefix = ["systemd-run", "--user", "--scope", "--quiet", "--collect"]
    if memory_max_bytes is not None:
        prefix += ["-p", f"MemoryMax={memory_max_bytes}", "-p", "MemorySwapMax=0"]
    if cpu_quota_percent is not None:
        prefix += ["-p", f"CPUQuota={cpu_quota_percent}%"]
    return prefix


def cgroups_named(prefix: str) -> list[Path]:
    """The cgroups whose name starts with ``prefix``, wherever :func:`make_cgroup` may have made them."""
    parents: set[Path] = set()
    unified = CGROUP_ROOT / "unified" if (CGROUP_ROOT / "unified").is_dir() else CGROUP_ROOT
    try:
        if (unified / "cgroup.controllers").exists():
            parents.add(unified / _own_cgroup_v2().lstrip("/"))
        for controller in ("memory", "cpu"):
            base = CGROUP_ROOT / controller
            if (base / "cgroup.procs").exists():
                parents |= {base / _own_cgroup_v1(controller).lstrip("/"), base}
    except OSError:
        return []
    found: list[Path] = []
    for parent in parents:
        try:
            found += [p for p in parent.glob(f"{prefix}*") if p.is_dir()]
        except OSError:
            continue
    return sorted(set(found))
