"""How llama.cpp is built for pocketprof, and whether the installed build runs on this CPU.

llama-cpp-python, and llama-bench (``profiler.bench.peer``), compile llama.cpp with
``-march=native``. On x86 CPUs with AMX (Intel Xeon since Sapphire Rapids) that compiles in
llama.cpp's AMX kernels, which on some machines crash in ``ggml_backend_amx_mul_mat`` at the first
matrix product (llama.cpp issue #20824, closed as stale without a fix; stanfordnlp/dspy PR #10079
removed the AMX build from its CI for the same crash). On such a host every run segfaults. So
pocketprof builds without them: ``-mno-amx-*`` appended to ``CFLAGS`` and ``CXXFLAGS`` (GCC and
Clang let an explicit ``-mno-`` flag win over ``-march``, whatever the order), everything else
still native.

pip's wheel cache keys a built wheel by its source, not by the flags it was built with, so a
wheel built elsewhere (with AMX, or on a CPU with instructions this one lacks) can come back from
the cache. ``python -m profiler.run.llama_build ensure`` (run by ``make setup``) decodes a few tokens
in a child process and, if the build crashes there or has AMX compiled in, removes it from pip's
cache and rebuilds it with these flags.

Usage: python -m profiler.run.llama_build cflags | check | ensure
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping

NO_AMX = ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16")
CHECK_TIMEOUT_S = 300
MODEL_PROBLEM = "the test model did not load"  # the build may be fine: no rebuild for this
WHY = ("error", "failed", "bad ", "invalid", "unknown")  # llama.cpp's log lines that say why a load failed


def compiler_flags(machine: str | None = None, system: str | None = None, compiler: str | None = None) -> list[str]:
    """The C and C++ flags pocketprof adds to llama.cpp's own: none off x86, on Windows, or where
    the C compiler (``$CC``, else ``cc``) does not know them (GCC and Clang before 11, which
    cannot emit AMX either, and stop at an unknown ``-mno-`` option)."""
    machine = (machine or platform.machine()).lower()
    system = system or platform.system()
    if system == "Windows" or machine not in ("x86_64", "amd64", "x64", "i386", "i686"):
        return []
    return list(NO_AMX) if _knows(compiler or os.environ.get("CC") or "cc") else []


@functools.lru_cache(maxsize=8)
def _knows(compiler: str) -> bool:
    command = [*shlex.split(compiler), *NO_AMX, "-x", "c", "-c", os.devnull, "-o", os.devnull]
    try:
        return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def build_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the flags after any ``CFLAGS`` and ``CXXFLAGS`` of the user's: CMake starts
    CMAKE_C_FLAGS and CMAKE_CXX_FLAGS from them on a fresh configure, as pip's builds are."""
    env, flags = dict(environ), " ".join(compiler_flags())
    if flags:
        for name in ("CFLAGS", "CXXFLAGS"):
            env[name] = " ".join(part for part in (environ.get(name, "").strip(), flags) if part)
    return env


PROBE = """
import sys
from profiler.run import llama_direct
try:
    engine = llama_direct.Engine(sys.argv[1], llama_direct.Settings(n_ctx=64, n_threads=2))
except llama_direct.ModelRefused as exc:
    info = llama_direct.build_info()
    if not (info["cpu_info"] or info["gpu_info"]):  # no backend loaded: the build, not the model
        raise
    print("model:", exc)  # the model: a rebuild would not mend it
    sys.exit(0)
engine.set_sampling(llama_direct.Sampling())
engine.decode(engine.random_prompt(16, seed=1))
engine.decode([engine.sample()])
engine.synchronize()
print("amx" if llama_direct.has_amx() else "ok")
"""


def check(model_path: str) -> str | None:
    """What is wrong with the installed llama.cpp on this CPU (one line), or None if nothing.

    A 16-token prompt and one token through ``profiler.run.llama_direct`` in a child process: a
    crash there (SIGILL: built for another CPU; SIGSEGV: AMX, above) does not take this one down.
    """
    from profiler import paths

    env = paths.child_env()  # pocketprof's folder on PYTHONPATH, as for the run's own child
    try:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, model_path],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"a 17-token decode did not finish in {CHECK_TIMEOUT_S} s"
    if done.returncode < 0:
        return f"llama.cpp crashed on a 17-token decode (signal {-done.returncode})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the test decode failed: {last}"
    verdict = done.stdout.strip().splitlines()[-1:]
    if verdict and verdict[0].startswith("model: "):
        reasons = [line for line in done.stderr.splitlines() if any(w in line.lower() for w in WHY)]
        why = f" ({reasons[0].strip()})" if reasons else ""  # llama.cpp's first word on it
        return f"{MODEL_PROBLEM}: {verdict[0].removeprefix('model: ')}{why}"
    if verdict == ["amx"]:
        return "llama.cpp was built with AMX kernels, which crash on some CPUs (llama.cpp #20824)"
    if verdict != ["ok"]:  # it never reached the end of the decode
        return "the test decode ended without a verdict"
    return None


def _reinstall() -> int:
    version = importlib.metadata.version("llama_cpp_python")
    pip = [sys.executable, "-m", "pip"]
    removed = subprocess.run([*pip, "cache", "remove", "llama_cpp_python"], capture_output=True, check=False)
    command = [*pip, "install", "--quiet", "--force-reinstall", "--no-deps", "--no-binary", "llama-cpp-python"]
    if removed.returncode != 0:  # a cache we cannot clear (read-only, or off): never read the bad wheel back
        command.append("--no-cache-dir")
    return subprocess.run([*command, f"llama-cpp-python=={version}"], env=build_env(os.environ), check=False).returncode


def main(argv: list[str]) -> int:
    if argv[:1] == ["cflags"]:
        print(" ".join(compiler_flags()))
        return 0
    if argv[:1] not in (["check"], ["ensure"]):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    from profiler.errors import ProfilerError
    from profiler.model import models

    try:
        model = str(models.resolve("smollm2-135m"))
    except ProfilerError as exc:  # the default model's package is missing: set-up did not finish
        print(f"llama-cpp-python cannot be checked: {exc}", file=sys.stderr)
        return 1
    problem = check(model)
    if problem is None:
        print("llama.cpp runs on this CPU")
        return 0
    print(f"llama-cpp-python: {problem}", file=sys.stderr)
    if argv[0] == "check" or problem.startswith(MODEL_PROBLEM):
        return 1
    print("rebuilding llama-cpp-python from source without AMX (a few minutes)", file=sys.stderr)
    if _reinstall() != 0:
        print("llama-cpp-python: the rebuild failed (pip's output above)", file=sys.stderr)
        return 1
    problem = check(model)
    if problem is not None:
        print(f"llama-cpp-python after the rebuild: {problem}", file=sys.stderr)
        return 1
    print("llama.cpp rebuilt; it runs on this CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
