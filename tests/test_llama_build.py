"""llama.cpp built without the AMX kernels that crash on some Xeons, and a build that fails here is found."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.bench import check, peer
from profiler.run import llama_build

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("machine", "system", "flags"),
    [
        ("x86_64", "Linux", list(llama_build.NO_AMX)),
        ("AMD64", "Darwin", list(llama_build.NO_AMX)),
        ("arm64", "Darwin", []),  # Apple silicon: clang knows no -mno-amx-tile
        ("aarch64", "Linux", []),
        ("AMD64", "Windows", []),  # MSVC: no such flags (and no -march=native to undo)
    ],
)
def test_amx_is_turned_off_where_the_compiler_would_turn_it_on(machine: str, system: str, flags: list[str]) -> None:
    assert llama_build.compiler_flags(machine, system) == flags
    cmake = llama_build.cmake_flags(machine, system)
    assert cmake == ([f"-DCMAKE_C_FLAGS={' '.join(flags)}", f"-DCMAKE_CXX_FLAGS={' '.join(flags)}"] if flags else [])


def test_cmake_args_split_back_into_the_flags_after_the_users_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_build.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(llama_build.platform, "system", lambda: "Linux")
    flags = " ".join(llama_build.NO_AMX)
    # scikit-build-core splits CMAKE_ARGS with shlex: each definition must come back whole.
    assert shlex.split(llama_build.cmake_args_env("-DGGML_CUDA=on")) == [
        "-DGGML_CUDA=on",
        f"-DCMAKE_C_FLAGS={flags}",
        f"-DCMAKE_CXX_FLAGS={flags}",
    ]


def test_the_compiler_leaves_amx_out_whatever_march_says(tmp_path: Path) -> None:
    """The flags do what they claim with this machine's compiler, after -march=native as llama.cpp adds it."""
    import shutil

    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None or not llama_build.compiler_flags():
        pytest.skip("no C compiler, or not x86")
    source = tmp_path / "amx.c"
    source.write_text("#ifdef __AMX_INT8__\n#error AMX on\n#endif\nint main(void) { return 0; }\n")
    cmd = [compiler, *llama_build.compiler_flags(), "-march=native", "-c", str(source), "-o", str(tmp_path / "a.o")]
    assert subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    forced = [compiler, "-march=native", "-mamx-tile", "-mamx-int8", "-c", str(source), "-o", str(tmp_path / "b.o")]
    assert subprocess.run(forced, capture_output=True, check=False).returncode != 0  # the probe can fail


@pytest.mark.model
def test_the_installed_build_runs_here_without_amx(smollm2: Path) -> None:
    assert llama_build.check(str(smollm2)) is None


def test_a_build_that_crashes_is_named_by_its_signal(smollm2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a wheel built for another CPU does at its first instruction this one lacks: die by a signal.
    monkeypatch.setattr(llama_build, "PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGILL)")
    assert llama_build.check(str(smollm2)) == "llama.cpp crashed on a 17-token decode (signal 4)"
    monkeypatch.setattr(llama_build, "PROBE", "raise SystemExit('cannot load libllama.so')")
    assert llama_build.check(str(smollm2)) == "the test decode failed: cannot load libllama.so"
    monkeypatch.setattr(llama_build, "PROBE", "print('amx')")
    assert "AMX" in (llama_build.check(str(smollm2)) or "")


AMX_PROBE = """
import sys
from profiler.run import llama_direct
llama_direct.has_amx = lambda: sys.argv[2] == "amx"  # what an AMX build reports
engine = llama_direct.Engine(sys.argv[1], llama_direct.Settings(n_ctx=64, n_threads=2))
engine.set_sampling(llama_direct.Sampling())
engine.decode(engine.random_prompt(16, seed=1))
print(engine.weight_repack.split(":")[0], engine.sample())
"""


@pytest.mark.model
def test_an_amx_build_loads_without_extra_buffers_and_says_so(gemma3: Path) -> None:
    """On an AMX build the AMX kernels are never reached: no weight goes to an extra buffer type
    (llama.cpp logs a CPU_REPACK buffer for Gemma's Q4_K weights on x86 and Arm when it does)."""
    runs = {}
    for kind in ("amx", "plain"):
        done = subprocess.run(
            [sys.executable, "-c", AMX_PROBE, str(gemma3), kind], capture_output=True, text=True, cwd=ROOT, check=True
        )
        runs[kind] = (done.stdout.split(), "REPACK model buffer" in done.stderr)
    assert runs["amx"][0][0] == "off" and runs["plain"][0][0] == "on"
    assert runs["amx"][0][1] == runs["plain"][0][1]  # the same greedy token either way
    if not runs["plain"][1]:
        pytest.skip("this CPU repacks none of Gemma's weights: nothing to tell apart")
    assert not runs["amx"][1]


def test_llama_bench_is_cached_per_machine_and_built_with_the_same_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    here = peer.machine_tag()
    assert peer.cache_dir().name.endswith(f"-{here}") and len(here) == 8
    if not llama_build.compiler_flags():
        pytest.skip("not x86: no flags of ours in the tag")
    monkeypatch.setattr(llama_build, "compiler_flags", lambda *a: [])  # a build from before: AMX on
    assert peer.machine_tag() != here


def _row(repack: bool) -> dict[str, object]:
    return {"model_filename": "/m/a.gguf", "n_prompt": 0, "n_gen": 8, "n_threads": 2, "n_batch": 2048} | {
        "n_ubatch": 512,
        "avg_ts": 50.0,
        "stddev_ts": 1.0,
        "samples_ns": [1, 2, 3],
        "cpu_info": "CPU A",
        "repack": repack,
    }


def test_check_refuses_a_baseline_taken_with_other_weight_repacking(tmp_path: Path) -> None:
    base, current = tmp_path / "base.json", tmp_path / "cur.json"
    base.write_text(json.dumps([_row(True)]))
    current.write_text(json.dumps([_row(False)]))
    found = check.mismatches(check.load(str(base))[0], check.load(str(current))[0])
    assert found == ["repack: True then False"]
    old = tmp_path / "old.json"  # a baseline from before the field was ours: llama-bench's default
    old.write_text(json.dumps([{k: v for k, v in _row(True).items() if k != "repack"}]))
    assert check.mismatches(check.load(str(old))[0], check.load(str(base))[0]) == []


def test_reports_say_where_weights_were_not_repacked() -> None:
    from profiler.report import llamabench

    off = "off: this build has llama.cpp's AMX kernels"
    assert llamabench.settings({"child": {"engine": {"weight_repack": off}}})["repack"] is False
    assert llamabench.settings({"child": {"engine": {"weight_repack": "on"}}})["repack"] is True
    assert llamabench.settings({})["repack"] is True  # a report from before the field: llama-bench's default


def test_a_run_on_an_amx_build_warns_that_its_weights_were_not_repacked() -> None:
    from profiler.run.config import RunConfig
    from profiler.run.session import Session

    session = Session(RunConfig(model="smollm2-135m"))
    session._warn_about_the_build({"weight_repack": "on", "gpu_info": ""})
    assert session.record.warnings == []
    off = "off: this build has llama.cpp's AMX kernels, which crash on some CPUs (llama.cpp #20824)"
    session._warn_about_the_build({"weight_repack": off})
    assert session.record.warnings == [
        "weights not repacked, so slower than llama.cpp can be: "
        "this build has llama.cpp's AMX kernels, which crash on some CPUs (llama.cpp #20824)"
    ]
