"""The child's decode loop in C (``profiler/data/decode_loop.c``), built once against the installed llama.cpp.

A Python loop around llama.cpp pays the interpreter between two decodes on every token: the
sampler chain's call, the stamp, the checks, on caches the decode has just swept. Driven from
C, a burst of tokens costs one call, and each token is still picked by llama.cpp's own sampler
chain and stamped as it comes (benchmarks/RESULTS.md, "The decode loop in C"). The parent
builds the library before it starts a child (the child may not write files) with the C compiler
llama-cpp-python was built with (``$CC``, else ``cc``), against the ``llama.h`` and ``libllama``
installed with it, into the cache folder, keyed by all three. Where that cannot be done (no
compiler, no header, Windows) the child keeps its Python loop and the record says why.
``POCKETPROF_DECODE_LOOP=python`` asks for the Python loop.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from profiler import paths

SOURCE = "decode_loop.c"
OFF = "python"  # POCKETPROF_DECODE_LOOP=python: the child's Python loop
BUILD_TIMEOUT_S = 120


def llama_files() -> tuple[Path, Path] | None:
    """(llama.h's folder, libllama's folder) of the installed llama-cpp-python, found without loading it."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    header = package.parent / "include" / "llama.h"
    libs = [package / "lib" / name for name in ("libllama.so", "libllama.dylib")]
    lib = next((p for p in libs if p.exists()), None)
    return (header.parent, lib.parent) if header.exists() and lib is not None else None


def _key(source: bytes, include: Path, libdir: Path, compiler: str) -> str:
    digest = hashlib.sha256(source)
    digest.update((include / "llama.h").read_bytes())
    for lib in sorted(libdir.glob("libllama*")):
        stat = lib.stat()
        digest.update(f"{lib.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(f"{compiler}:{platform.machine()}:{sys.platform}".encode())
    return digest.hexdigest()[:16]


@functools.cache
def library() -> tuple[str | None, str]:
    """(the built library's path, "c") or (None, why the child keeps its Python loop)."""
    if os.environ.get("POCKETPROF_DECODE_LOOP") == OFF:
        return None, f"python (POCKETPROF_DECODE_LOOP={OFF})"
    if sys.platform == "win32":
        return None, "python (the C loop is built on Linux and macOS only)"
    found = llama_files()
    if found is None:
        return None, "python (llama.h or libllama not found beside llama-cpp-python)"
    include, libdir = found
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        return None, "python (no C compiler: set CC)"
    source = resources.files("profiler.data").joinpath(SOURCE).read_bytes()
    folder = paths.cache_dir() / "decode_loop"
    target = folder / f"decode_loop-{_key(source, include, libdir, compiler)}.so"
    if target.exists():
        return str(target), "c"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        src, out = Path(scratch) / SOURCE, Path(scratch) / target.name
        src.write_bytes(source)
        command = [compiler, "-O2", "-shared", "-fPIC", "-o", str(out), str(src), f"-I{include}"]
        command += [f"-L{libdir}", "-lllama", f"-Wl,-rpath,{libdir}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"python (the C loop did not build: {exc})"
        if done.returncode != 0 or not out.exists():
            why = (done.stderr.strip().splitlines() or [f"{compiler} exited {done.returncode}"])[-1]
            return None, f"python (the C loop did not build: {why})"
        os.replace(out, target)  # atomic: a second parent building at once finds a whole file
    return str(target), "c"
