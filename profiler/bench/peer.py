"""llama-bench, the peer pocketprof is measured against: found, or built from the llama.cpp
that ships inside the llama-cpp-python source release pocketprof runs on.

``find()`` looks at ``$POCKETPROF_LLAMA_BENCH``, then ``llama-bench`` on the PATH, then the
cache (``~/.cache/pocketprof/llama-bench-<llama-cpp-python version>-<machine>/``). ``build()``
fetches that release's source distribution from the package index (``pip download``), and
builds the ``llama-bench`` target with CMake into the cache (about as long as building
llama-cpp-python itself: minutes on a small machine), with the flags llama-cpp-python is built
with (``profiler.run.llama_build``: native, without the AMX kernels that crash on some CPUs).
``<machine>`` is a hash of the CPU's instruction-set flags (Linux's /proc/cpuinfo; elsewhere only
the machine and processor names) and those compiler flags, so on Linux a cache shared between
machines does not hand one a binary built for another's CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from profiler.run import hostinfo, llama_build


class PeerUnavailable(Exception):
    """No llama-bench here, and it could not be built (the message says why, in one line)."""


def version() -> str:
    return hostinfo.package_version("llama_cpp_python") or "unknown"


def machine_tag() -> str:
    """8 hex digits naming what a native build depends on: the CPU's flags and our compiler flags."""
    features = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            features += next((line for line in cpuinfo if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    features += " ".join(llama_build.compiler_flags())
    return hashlib.sha256(features.encode()).hexdigest()[:8]


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "pocketprof" / f"llama-bench-{version()}-{machine_tag()}"


def find() -> Path | None:
    given = os.environ.get("POCKETPROF_LLAMA_BENCH")
    if given:
        return Path(given) if Path(given).is_file() else None
    cached = cache_dir() / "llama-bench"
    if cached.is_file():
        return cached
    on_path = shutil.which("llama-bench")
    return Path(on_path) if on_path else None


def configure_command(source: Path, build_dir: Path) -> list[str]:
    """CMake's configure step for llama-bench; run it with ``llama_build.build_env`` (the flags
    llama-cpp-python is built with, as ``make setup`` builds it)."""
    flags = ["-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DBUILD_SHARED_LIBS=OFF"]
    return ["cmake", "-S", str(source), "-B", str(build_dir), *flags]


def _run(
    cmd: list[str], log: Path, cwd: Path | None = None, timeout: float = 3600, env: dict[str, str] | None = None
) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        raise PeerUnavailable(f"`{' '.join(cmd[:3])} …` failed (exit {done.returncode}); see {log}")


def build(*, jobs: int | None = None) -> Path:
    """Download llama-cpp-python's sdist (same version) and build llama-bench from its vendor/llama.cpp."""
    if shutil.which("cmake") is None:
        raise PeerUnavailable("cmake is not installed; it builds llama-bench (and llama-cpp-python)")
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    log = target / "build.log"
    with tempfile.TemporaryDirectory(prefix="pocketprof-llama-bench-") as tmp:
        work = Path(tmp)
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={version()}",
                "-d",
                str(work),
            ],
            log,
        )
        archives = list(work.glob("llama_cpp_python-*.tar.gz"))
        if not archives:
            raise PeerUnavailable(f"pip downloaded no llama-cpp-python {version()} source release; see {log}")
        with tarfile.open(archives[0]) as archive:
            archive.extractall(work, filter="data")
        source = next(work.glob("llama_cpp_python-*/vendor/llama.cpp"))
        _run(configure_command(source, work / "build"), log, env=llama_build.build_env(os.environ))
        count = str(jobs or os.cpu_count() or 2)
        _run(["cmake", "--build", str(work / "build"), "--target", "llama-bench", "-j", count], log)
        shutil.copy2(work / "build" / "bin" / "llama-bench", target / "llama-bench")  # static: one file
    return target / "llama-bench"


def find_or_build() -> Path:
    return find() or build()


def run_json(binary: Path, args: list[str], timeout: float = 1800) -> list[dict[str, object]]:
    """``llama-bench ARGS -o json``, parsed."""
    env = dict(os.environ, LD_LIBRARY_PATH=f"{binary.parent}:{os.environ.get('LD_LIBRARY_PATH', '')}")  # shared builds
    done = subprocess.run(
        [str(binary), *args, "-o", "json"], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if done.returncode != 0:
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise PeerUnavailable(f"llama-bench exited {done.returncode}: {tail[0]}")
    result: list[dict[str, object]] = json.loads(done.stdout)
    return result


def ensure() -> str:
    """Find or build llama-bench; one line saying where it is, or why there is none (never raises).
    ``make test`` runs it before the suite (``python -m profiler.bench.peer``), so a first build
    (minutes) is not timed against a test's limit."""
    try:
        return f"llama-bench: {find_or_build()}"
    except (PeerUnavailable, OSError, subprocess.SubprocessError) as exc:
        return f"no llama-bench here ({exc}); the tests check against the recorded field list"


if __name__ == "__main__":
    print(ensure())
