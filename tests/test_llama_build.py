"""llama.cpp built without the AMX kernels that crash on some Xeons, and a build that fails here is found."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from profiler.bench import check, peer
from profiler.run import llama_build

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("machine", "system", "compiler", "flags"),
    [
        ("x86_64", "Linux", "true", list(llama_build.NO_AMX)),  # a compiler that takes the flags
        ("x86_64", "Darwin", "true", list(llama_build.NO_AMX)),
        ("x86_64", "Linux", "false", []),  # GCC or Clang before 11: an unknown -mno- option stops it
        ("x86_64", "Linux", "no-such-compiler-here", []),
        ("arm64", "Darwin", "true", []),  # Apple silicon: no AMX to leave out
        ("aarch64", "Linux", "true", []),
        ("AMD64", "Windows", "true", []),  # MSVC: no such flags (and no -march=native to undo)
    ],
)
def test_amx_is_left_out_where_the_compiler_would_put_it_in(
    machine: str, system: str, compiler: str, flags: list[str]
) -> None:
    assert llama_build.compiler_flags(machine, system, compiler) == flags


def test_the_flags_go_after_the_users_own_cflags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_build, "compiler_flags", lambda *a: list(llama_build.NO_AMX))
    flags = " ".join(llama_build.NO_AMX)
    env = llama_build.build_env({"CFLAGS": "-O3 ", "CMAKE_ARGS": "-DGGML_CUDA=on", "PATH": "/bin"})
    assert env == {"CFLAGS": f"-O3 {flags}", "CXXFLAGS": flags, "CMAKE_ARGS": "-DGGML_CUDA=on", "PATH": "/bin"}
    monkeypatch.setattr(llama_build, "compiler_flags", lambda *a: [])
    assert llama_build.build_env({"PATH": "/bin"}) == {"PATH": "/bin"}


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
    monkeypatch.setattr(llama_build, "PROBE", "pass")  # exits cleanly before any decode
    assert llama_build.check(str(smollm2)) == "the test decode ended without a verdict"
    monkeypatch.setattr(llama_build, "PROBE", "print('amx')")
    assert "AMX" in (llama_build.check(str(smollm2)) or "")


def test_a_model_that_does_not_load_is_not_mended_by_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from profiler.errors import ProfilerError
    from profiler.model import models

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))  # a header llama.cpp refuses
    problem = llama_build.check(str(broken)) or ""
    assert problem.startswith(llama_build.MODEL_PROBLEM) and str(broken) in problem
    assert "GGUF" in problem.split(str(broken))[1]  # llama.cpp's own reason, after the path
    no_backend = (
        "from profiler.run import llama_direct\nllama_direct.build_info = lambda: {'cpu_info': '', 'gpu_info': ''}\n"
    )
    with monkeypatch.context() as patch:  # a build that loaded no backend refuses every model: that one is rebuilt
        patch.setattr(llama_build, "PROBE", no_backend + llama_build.PROBE)
        problem = llama_build.check(str(broken)) or ""
    assert problem.startswith("the test decode failed: ") and "ModelRefused" in problem

    def no_rebuild() -> int:
        raise AssertionError("rebuilt llama-cpp-python for a model problem")

    monkeypatch.setattr(llama_build, "_reinstall", no_rebuild)
    monkeypatch.setattr(models, "resolve", lambda name: broken)
    assert llama_build.main(["ensure"]) == 1
    assert llama_build.MODEL_PROBLEM in capsys.readouterr().err

    def missing(name: str) -> Path:
        raise ProfilerError(f"model {name} is not installed")

    monkeypatch.setattr(models, "resolve", missing)
    assert llama_build.main(["ensure"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "llama-cpp-python cannot be checked: model smollm2-135m is not installed"
    ]


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


def test_llama_bench_is_cached_per_machine_and_built_with_the_same_flags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(llama_build, "compiler_flags", lambda *a: list(llama_build.NO_AMX))
    here = peer.machine_tag()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert peer.cache_dir().name.endswith(f"-{here}") and len(here) == 8
    configured: list[dict[str, str]] = []

    def fake_run(cmd: list[str], log: Path, cwd: object = None, timeout: float = 0, env: object = None) -> None:
        """pip download, cmake configure and cmake build, each leaving what the real one would."""
        if "download" in cmd:
            vendor = tmp_path / "src" / "llama_cpp_python-0.0" / "vendor" / "llama.cpp"
            vendor.mkdir(parents=True)
            with tarfile.open(Path(cmd[cmd.index("-d") + 1]) / "llama_cpp_python-0.0.tar.gz", "w:gz") as archive:
                archive.add(tmp_path / "src" / "llama_cpp_python-0.0", arcname="llama_cpp_python-0.0")
        elif "--build" in cmd:
            binary = Path(cmd[cmd.index("--build") + 1]) / "bin" / "llama-bench"
            binary.parent.mkdir(parents=True)
            binary.write_text("")
        else:
            configured.append(dict(env or {}))  # type: ignore[call-overload]

    monkeypatch.setattr(peer, "_run", fake_run)
    monkeypatch.setattr(peer.shutil, "which", lambda name: f"/usr/bin/{name}")  # cmake, here or not
    monkeypatch.setenv("CFLAGS", "-O3")
    assert peer.build() == peer.cache_dir() / "llama-bench"
    assert configured[0]["CFLAGS"] == "-O3 " + " ".join(llama_build.NO_AMX)
    assert configured[0]["CXXFLAGS"] == " ".join(llama_build.NO_AMX)
    monkeypatch.setattr(llama_build, "compiler_flags", lambda *a: [])  # a build from before: AMX on
    assert peer.machine_tag() != here


def test_make_test_finds_or_builds_llama_bench_first_and_never_fails_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test` runs `python -m profiler.bench.peer` before the suite: one line, whatever happens."""
    built = tmp_path / "llama-bench"
    monkeypatch.setattr(peer, "find", lambda: None)
    monkeypatch.setattr(peer, "build", lambda: built)
    assert peer.ensure() == f"llama-bench: {built}"

    def no_cmake() -> Path:
        raise peer.PeerUnavailable("cmake is not installed")

    monkeypatch.setattr(peer, "build", no_cmake)
    said = "no llama-bench here (cmake is not installed); the tests check against the recorded field list"
    assert peer.ensure() == said
    monkeypatch.delenv("POCKETPROF_LLAMA_BENCH", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # neither llama-bench nor cmake: the real module, in its own process
    done = subprocess.run([sys.executable, "-m", "profiler.bench.peer"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("no llama-bench here (cmake is not installed") and done.stdout.count("\n") == 1


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
