"""The engine's greedy pick is llama.cpp's: the same tokens as its greedy sampler chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each model in its own process, as the child loads llama.cpp: the engine's greedy pick, then
# llama.cpp's own chain (the fast path turned off) on the same prompt, 40 tokens each.
PROBE = """
import sys
from profiler.run import llama_direct

engine = llama_direct.Engine(sys.argv[1], llama_direct.Settings(n_ctx=128, n_threads=2))
engine.set_sampling(llama_direct.Sampling())
for fast in (True, False):
    engine.clear()
    engine.greedy = fast and engine.greedy
    engine.decode(engine.tokenize(b"The three largest cities of Canada are", add_bos=engine.adds_bos(), special=False))
    tokens = []
    for _ in range(40):
        tokens.append(engine.sample())
        engine.decode(tokens[-1:])
    print(int(engine.greedy), *tokens)
engine.close()
"""


@pytest.mark.model
@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_the_fast_greedy_pick_is_llama_cpp_s_greedy_sampler(model: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(model)
    command = [sys.executable, "-c", PROBE, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    fast, chain = (line.split() for line in done.stdout.strip().splitlines()[-2:])
    assert (fast[0], chain[0]) == ("1", "0")  # the first run took the fast pick, the second llama.cpp's chain
    assert fast[1:] == chain[1:] and len(set(chain[1:])) > 3


# llama.cpp's logits for the prompt's last position with two of them poked to NaN, then the pick:
# first the engine's (fast path on), then llama.cpp's chain on the same poked logits.
NAN_PROBE = """
import ctypes, sys
import numpy as np
import llama_cpp as L
from profiler.run import llama_direct

engine = llama_direct.Engine(sys.argv[1], llama_direct.Settings(n_ctx=64, n_threads=2))
engine.set_sampling(llama_direct.Sampling())
greedy = engine.greedy
for fast in (True, False):
    engine.clear()
    engine.greedy = fast and greedy
    engine.decode(engine.tokenize(b"The capital of France is", add_bos=engine.adds_bos(), special=False))
    pointer = ctypes.cast(L.llama_get_logits_ith(engine.ctx, -1), ctypes.c_void_p).value
    row = np.frombuffer((ctypes.c_float * engine.n_vocab).from_address(pointer), dtype=np.float32)
    row[[3, 7]] = np.nan
    print(int(engine.greedy), int(np.nanargmax(row)), engine.sample())
engine.close()
"""


@pytest.mark.model
def test_a_nan_logit_is_passed_over_as_llama_cpp_s_greedy_sampler_does(smollm2: Path) -> None:
    """numpy's argmax stops at the first NaN; llama.cpp's greedy comparisons never pick one."""
    command = [sys.executable, "-c", NAN_PROBE, str(smollm2)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    fast, chain = (line.split() for line in done.stdout.strip().splitlines()[-2:])
    assert (fast[0], chain[0]) == ("1", "0")
    assert fast[2] == chain[2] == chain[1] and chain[2] not in ("3", "7")


def test_only_a_plain_greedy_chain_takes_the_fast_pick() -> None:
    """A repeat penalty or a temperature needs llama.cpp's chain (each chain is built for real)."""
    from profiler.run import llama_direct

    cases = {
        llama_direct.Sampling(): True,
        llama_direct.Sampling(repeat_penalty=1.1): False,
        llama_direct.Sampling(temperature=0.7): False,
    }
    engine = object.__new__(llama_direct.Engine)  # no model needed to build a chain
    engine.sampler, engine.n_vocab = None, 1000
    try:
        for sampling, greedy in cases.items():
            engine.set_sampling(sampling)
            assert engine.greedy is greedy, sampling
    finally:
        llama_direct.L.llama_sampler_free(engine.sampler)


# The same prompt through the C decode loop (in bursts: a deadline already past returns after one
# token, a far one runs on), llama.cpp's chain from Python, and the child's greedy pick; then with
# a temperature (a seeded chain: the loop must keep the chain's state as Python's calls do). Each
# line: the loop, then the tokens. Then the burst rule alone, and libllama's copies in memory.
LOOP_PROBE = """
import sys, time
from profiler.run import decode_loop, llama_direct

path, why = decode_loop.library()
assert path, why
engine = llama_direct.Engine(sys.argv[1], llama_direct.Settings(n_ctx=128, n_threads=2))
prompt = engine.tokenize(b"The three largest cities of Canada are", add_bos=engine.adds_bos(), special=False)

def python(greedy):
    engine.clear()
    engine.greedy = greedy and engine.greedy
    engine.decode(prompt)
    tokens = []
    for i in range(40):
        tokens.append(engine.sample())
        if i < 39:
            engine.decode(tokens[-1:])
    return tokens

def c():
    engine.clear()
    engine.decode(prompt)
    tokens, calls = [], 0
    while len(tokens) < 40:
        left = 40 - len(tokens)
        n = min(left, 7)
        deadline = time.monotonic() - 1 if calls % 2 else time.monotonic() + 60
        ids, stamps, ended = engine.run(n, deadline, ignore_eos=True, decode_last=n < left)
        assert not ended and len(ids) == len(stamps) == (1 if calls % 2 else n), (calls, len(ids))
        assert stamps == sorted(stamps)
        tokens += ids
        calls += 1
    assert engine.positions == len(prompt) + 39, engine.positions
    return tokens

for sampling in (llama_direct.Sampling(), llama_direct.Sampling(temperature=0.8, seed=7)):
    engine.set_sampling(sampling)
    print("python-chain", *python(False))
    engine.set_sampling(sampling)
    engine.attach_loop(path)
    print("c", *c())
    engine._loop = None
    engine.set_sampling(sampling)
    print("python-pick", *python(True))
engine.close()
mapped = [line.split()[-1] for line in open("/proc/self/maps") if "libllama" in line]
print("maps", *sorted({p.rsplit("/", 1)[-1] for p in mapped}))
"""


@pytest.mark.model
@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_the_c_loop_samples_with_llama_cpp_s_chain_in_bursts(model: str, request: pytest.FixtureRequest) -> None:
    """The C decode loop gives llama.cpp's chain's tokens, greedy and sampled, in bursts of any size,
    and loads the libllama llama-cpp-python loaded, not a second copy."""
    path = request.getfixturevalue(model)
    done = subprocess.run([sys.executable, "-c", LOOP_PROBE, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line.split() for line in done.stdout.strip().splitlines()[-7:]]
    greedy, sampled, maps = lines[:3], lines[3:6], lines[6]
    assert [line[0] for line in greedy + sampled] == ["python-chain", "c", "python-pick"] * 2
    assert greedy[0][1:] == greedy[1][1:] == greedy[2][1:] and len(set(greedy[0][1:])) > 3
    assert sampled[0][1:] == sampled[1][1:] and sampled[0][1:] != greedy[0][1:]
    assert maps[0] == "maps" and len(maps) == 2, maps  # one libllama


def test_without_a_compiler_the_loop_says_why_and_the_child_keeps_python(monkeypatch: pytest.MonkeyPatch) -> None:
    from profiler.run import decode_loop

    monkeypatch.setenv("CC", "/bin/false")
    decode_loop.library.cache_clear()
    try:
        path, why = decode_loop.library()
        assert path is None and why.startswith("python (the C loop did not build: ")
        monkeypatch.setenv("POCKETPROF_DECODE_LOOP", "python")
        decode_loop.library.cache_clear()
        assert decode_loop.library() == (None, "python (POCKETPROF_DECODE_LOOP=python)")
    finally:
        decode_loop.library.cache_clear()


MAPS_PROBE = """
import sys
import llama_cpp
from profiler.run import llama_direct

llama_cpp.llama_backend_init()
info, amx = llama_direct.build_info(), llama_direct.has_amx()
mapped = {line.split()[-1] for line in open("/proc/self/maps") if "ggml" in line}
print(info["cpu_info"] and info["build_commit"] != "unknown", *sorted(mapped))
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/self/maps (Linux)")
def test_reading_the_build_loads_no_second_copy_of_ggml() -> None:
    """build_info and has_amx find ggml's functions through the libraries llama.cpp loaded: a
    second copy opened by path has its own, empty backend registry and adds to the footprint."""
    done = subprocess.run([sys.executable, "-c", MAPS_PROBE], capture_output=True, text=True, cwd=ROOT, check=True)
    found, *paths = done.stdout.split()
    stems = [Path(path).name.split(".so")[0] for path in paths]
    assert found == "True" and "libggml-base" in stems
    assert len(stems) == len(set(stems)), paths


# The bench warm-up on a real engine, counting its decodes: the test's tokens when there is time,
# one when there is none, the prompt alone for a prefill test; the memory cleared after each.
WARM_PROBE = """
import sys
from profiler.run import llama_direct
from profiler.run.worker import warm_up

class Counting(llama_direct.Engine):
    decodes = 0

    def decode(self, tokens):
        self.decodes += 1
        super().decode(tokens)

engine = Counting(sys.argv[1], llama_direct.Settings(n_ctx=64, n_threads=2))
engine.set_sampling(llama_direct.Sampling())
prompt = engine.random_prompt(4, seed=1)
for tokens, for_s in ((20, 60.0), (20, 0.0), (0, 60.0)):
    engine.decodes = 0
    generated = warm_up(engine, prompt, tokens, for_s=for_s)
    print(generated, engine.decodes, engine.positions)
engine.close()
"""


@pytest.mark.model
def test_the_bench_warm_up_generates_the_test_s_tokens_within_its_time(smollm2: Path) -> None:
    command = [sys.executable, "-c", WARM_PROBE, str(smollm2)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    rows = [tuple(map(int, line.split())) for line in done.stdout.strip().splitlines()[-3:]]
    assert rows == [(20, 21, 0), (1, 2, 0), (0, 1, 0)]  # (generated, decodes with the prompt's, positions after)
