"""Benchmark mode: llama-bench's test expansion, statistics and output, real runs, the regression gate."""

from __future__ import annotations

import json
import sqlite3
import statistics
from pathlib import Path

import pytest

from profiler.bench import check, output, peer, plan, threads
from profiler.bench.plan import BenchTest
from profiler.bench.result import BenchResult, rep_seconds
from profiler.bench.runner import Bench, Options, carried_correction
from profiler.errors import BadInput
from profiler.phone.profiles import load_profile
from profiler.report import history, llamabench
from tests.conftest import run_cli

# -- the plan -----------------------------------------------------------------------------------------


def test_lists_and_ranges_read_as_llama_bench_reads_them():
    assert plan.parse_ints("1,2,4", "-t") == [1, 2, 4]
    assert plan.parse_ints("1-4", "-t") == [1, 2, 3, 4]
    assert plan.parse_ints("1-8+3", "-t") == [1, 4, 7]
    assert plan.parse_ints("1-16*2", "-t") == [1, 2, 4, 8, 16]
    assert plan.parse_ints("0", "-p") == [0]
    for bad in ("", "1,,2", "x", "4-1", "1-8*1", "-1"):
        with pytest.raises(BadInput):
            plan.parse_ints(bad, "-t", minimum=1)
    with pytest.raises(BadInput, match="-t: 0 is below 1"):
        plan.parse_ints("0,1", "-t", minimum=1)
    assert plan.parse_pairs(["512,128", "64,8"], "-pg") == [(512, 128), (64, 8)]
    for bad in ("512", "512,0", "a,b", "1,2,3"):
        with pytest.raises(BadInput):
            plan.parse_pairs([bad], "-pg")


def test_expansion_order_is_llama_benchs():
    tests = plan.expand(
        ["a", "b"], ["host"], prompts=[64, 0], gens=[16], pairs=[(8, 4)], threads=[1, 2], batches=[2048], ubatches=[512]
    )
    names = [(t.model, t.threads, t.name) for t in tests]
    assert names[:6] == [
        ("a", 1, "pp64"),
        ("a", 1, "tg16"),
        ("a", 1, "pp8+tg4"),
        ("a", 2, "pp64"),
        ("a", 2, "tg16"),
        ("a", 2, "pp8+tg4"),
    ]
    assert len(tests) == 12 and tests[6].model == "b"
    assert [t.kind for t in tests[:3]] == ["pp", "tg", "pg"]
    with pytest.raises(BadInput, match="nothing to run"):
        plan.expand(["a"], ["host"], prompts=[0], gens=[0], pairs=[], threads=[None], batches=[1], ubatches=[1])


# -- the statistics ----------------------------------------------------------------------------------------


def report(loaded: float, token_times: list[float], *, status: str = "completed", **summary: float) -> dict:
    tokens = [{"index": i, "t": t, "text": "x", "latency_ms": 0.0, "id": 7} for i, t in enumerate(token_times)]
    return {"status": status, "loaded_at_s": loaded, "tokens": tokens, "summary": summary, "run_id": "r", "config": {}}


def test_times_follow_llama_bench_per_test_kind():
    pp = BenchTest(model="m", profile="host", n_prompt=64, n_gen=0, threads=1)
    tg = BenchTest(model="m", profile="host", n_prompt=0, n_gen=3, threads=1)
    pg = BenchTest(model="m", profile="host", n_prompt=64, n_gen=3, threads=1)
    r = report(1.0, [1.5, 1.75, 2.25, 2.5])
    assert rep_seconds(pp, r) == pytest.approx(0.5)  # to the first token: the prompt's decode
    assert rep_seconds(tg, r) == pytest.approx(1.25)  # to the n_gen-th token
    assert rep_seconds(pg, r) == pytest.approx(1.25)
    short = report(1.0, [1.5, 1.75])
    assert rep_seconds(tg, short) is None  # never got to n_gen tokens: no time, not a short one


def test_repetitions_give_llama_benchs_mean_and_sample_sd():
    test = BenchTest(model="m", profile="host", n_prompt=0, n_gen=2, threads=1)
    result = BenchResult(
        test=test,
        reports=[
            report(0.0, [0.25, 0.5], decode_tokens_per_s=4.0),
            report(0.0, [0.2, 0.4], decode_tokens_per_s=5.0),
            report(0.0, [0.3, 0.5], decode_tokens_per_s=5.0),
            report(0.0, [0.1], status="killed"),  # left out of every statistic
        ],
    )
    assert result.samples_ns() == [500_000_000, 400_000_000, 500_000_000]
    assert result.samples_ts() == pytest.approx([4.0, 5.0, 4.0])
    values = output.row(result)
    assert values["avg_ns"] == int(statistics.fmean([5e8, 4e8, 5e8]))
    assert values["stddev_ns"] == int(statistics.stdev([5e8, 4e8, 5e8]))
    assert values["avg_ts"] == pytest.approx(13 / 3, abs=1e-6)
    assert values["stddev_ts"] == pytest.approx(statistics.stdev([4.0, 5.0, 4.0]), abs=1e-6)
    avg, sd, samples = result.metric("decode_ts")
    assert (
        samples == [4.0, 5.0, 5.0] and avg == pytest.approx(14 / 3) and sd == pytest.approx(statistics.stdev(samples))
    )
    assert result.metric("prefill_ts")[0] is None  # a one-token prompt has no prefill speed


# -- real runs -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], str]:
    """A real bench: both thread counts, pp and tg, two repetitions each, every one a profiled run."""
    folder = tmp_path_factory.mktemp("bench")
    home = folder / "home"
    out = folder / "bench.json"
    result = run_cli(
        "bench", "-m", "smollm2-135m", "-p", "16", "-n", "12", "-t", "1,2", "-r", "2", "-o", "json",
        "--json", str(out), env={**__import__("os").environ, "POCKETPROF_HOME": str(home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert json.loads(out.read_text()) == rows  # stdout and the file are the same results
    return out, rows, str(home)


@pytest.mark.model
def test_bench_runs_each_repetition_as_a_profiled_run(bench_json, monkeypatch):
    _, rows, home = bench_json
    assert [(r["n_threads"], r["n_prompt"], r["n_gen"]) for r in rows] == [
        (1, 16, 0),
        (1, 0, 12),
        (2, 16, 0),
        (2, 0, 12),
    ]
    monkeypatch.setenv("POCKETPROF_HOME", home)
    for row in rows:
        assert row["status"] == "completed" and row["reps"] == 2 and len(row["samples_ns"]) == 2
        # -r gives a real standard deviation: the repetitions differ, and sd is theirs
        assert row["samples_ns"][0] != row["samples_ns"][1]
        assert row["stddev_ts"] == pytest.approx(statistics.stdev(row["samples_ts"]), rel=1e-4)
        assert row["avg_ts"] == pytest.approx(statistics.fmean(row["samples_ts"]), rel=1e-4)
        for run_id in row["run_ids"]:
            stored = history.load(run_id)  # each repetition is in the history
            assert stored["config"]["prompt_tokens"] == row["n_prompt"] and stored["config"]["warmup"] is True
            assert stored["config"]["threads"] == row["n_threads"] and stored["samples"]
            # the warm-up generated as many tokens as the timed pass decodes after its prompt
            assert stored["child"]["engine"]["warmup_tokens"] == max(row["n_gen"] - 1, 0)
        assert row["peak_footprint_mb_avg"] > 10 and row["ttft_ms_avg"] > 0
        assert row["sampler"] == "greedy" and row["emulation"] == "none"
        assert row["model_type"].startswith("llama ") and row["model_n_params"] > 100_000_000  # the child's llama.cpp
        assert row["build_commit"] not in ("", "unknown") and row["cpu_info"]
    pp1, tg1 = rows[0], rows[1]
    assert pp1["decode_ts_avg"] is None and pp1["prefill_ts_avg"] > 0
    assert tg1["prefill_ts_avg"] is None and tg1["decode_ts_avg"] > 0
    # llama-bench's t/s of a tg test is its decode rate: n_gen tokens over the n_gen decodes
    assert tg1["avg_ts"] == pytest.approx(tg1["decode_ts_avg"], rel=0.25)


@pytest.mark.model
def test_output_fields_follow_llama_bench_then_ours(bench_json):
    _, rows, _ = bench_json
    assert list(rows[0]) == [*llamabench.FIELDS, "samples_ns", "samples_ts", *output.EXTRA_FIELDS]
    for name in llamabench.FIELDS:
        value = rows[0][name]
        if name in llamabench.INT_FIELDS:
            assert type(value) is int, name
        elif name in llamabench.BOOL_FIELDS:
            assert type(value) is bool, name
        elif name in llamabench.FLOAT_FIELDS:
            assert type(value) is float, name
        else:
            assert type(value) is str, name


def _peer_json(model: Path, args: list[str]) -> list[dict] | None:
    """A real llama-bench's JSON, built here if it is missing and can be built; None where it cannot."""
    try:
        binary = peer.find_or_build()
        return peer.run_json(binary, ["-m", str(model), *args])  # type: ignore[return-value]
    except (peer.PeerUnavailable, OSError) as exc:
        print(f"no llama-bench here ({exc}): checked against the recorded field list")
        return None


@pytest.mark.model
@pytest.mark.timeout(1800)  # a first llama-bench build where `make test` did not make one: minutes
def test_fields_and_values_match_a_real_llama_bench(bench_json, smollm2: Path, tmp_path: Path):
    ours_path, rows, _ = bench_json
    theirs = _peer_json(smollm2, ["-p", "16", "-n", "12", "-t", "1,2", "-r", "2", "-ngl", "0", "-lm", "mmap"])
    if theirs is None:
        assert list(llamabench.FIELDS)[:3] == ["build_commit", "build_number", "cpu_info"]
        assert list(llamabench.FIELDS)[-4:] == ["avg_ns", "stddev_ns", "avg_ts", "stddev_ts"]
        return
    shared = [k for k in theirs[0] if k in rows[0]]
    assert [k for k in rows[0] if k in theirs[0]] == shared  # the same order
    assert set(theirs[0]) <= set(rows[0])  # every llama-bench field is there
    same = ("model_type", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v")
    same += ("n_gpu_layers", "flash_attn", "load_mode", "n_prompt", "n_gen", "n_depth", "cpu_info", "backends")
    assert [{k: r[k] for k in same} for r in rows] == [{k: t[k] for k in same} for t in theirs]
    assert rows[0]["build_commit"].startswith(str(theirs[0]["build_commit"]))  # ggml_commit() adds "-dirty"
    # and a llama-bench result is a baseline `check` reads: the same settings, t/s compared
    baseline = tmp_path / "llama-bench.json"
    baseline.write_text(json.dumps(theirs))
    gate = run_cli("check", str(ours_path), "--baseline", str(baseline), "--max-slowdown", "60%")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert gate.stdout.count("t/s (llama-bench)") == 4 and "decode" not in gate.stdout.split("\n", 1)[1]


@pytest.mark.model
def test_markdown_and_sql_outputs():
    md = run_cli("bench", "-m", "smollm2-135m", "-p", "8", "-n", "0", "-r", "1", "--no-history")
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    assert lines[0].startswith("| model") and " t/s |" in lines[0] and "TTFT ms" in lines[0]
    assert "pp8" in lines[2] and " ± " in lines[2] and lines[-1].startswith("build: ")
    # SQL: llama-bench's own table, loadable by sqlite3 beside llama-bench's rows
    sql = run_cli("bench", "-m", "smollm2-135m", "-p", "8", "-n", "4", "-r", "1", "-o", "sql", "--no-history")
    assert sql.returncode == 0, sql.stderr
    db = sqlite3.connect(":memory:")
    db.executescript(sql.stdout)
    got = db.execute("SELECT n_prompt, n_gen, avg_ts > 0, flash_attn FROM llama_bench ORDER BY rowid").fetchall()
    assert got == [(8, 0, 1, -1), (0, 4, 1, -1)]


# -- the regression gate --------------------------------------------------------------------------------------


def _check(result: Path, baseline: Path, *extra: str):
    return run_cli("check", str(result), "--baseline", str(baseline), *extra)


@pytest.mark.model
def test_check_passes_a_rerun_and_fails_a_planted_regression(bench_json, tmp_path: Path):
    baseline, _rows, _home = bench_json
    again = tmp_path / "again.json"
    rerun = run_cli(
        "bench", "-m", "smollm2-135m", "-p", "16", "-n", "12", "-t", "1,2", "-r", "2", "-o", "jsonl",
        "--json", str(again), "--no-history",
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert len(rerun.stdout.splitlines()) == 4 and json.loads(rerun.stdout.splitlines()[0])["n_threads"] == 1
    passed = _check(again, baseline, "--max-slowdown", "50%")  # a rerun on a noisy 2-core host
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "pass" in passed.stdout and "decode tok/s" in passed.stdout
    slow = json.loads(baseline.read_text())
    for row in slow:  # plant: everything half as fast, the second test's footprint 300 MB bigger
        row["avg_ts"] /= 2
        row["samples_ts"] = [v / 2 for v in row["samples_ts"]]
        for key in ("decode_ts_avg", "prefill_ts_avg"):
            row[key] = None if row[key] is None else row[key] / 2
    slow[1]["peak_footprint_mb_avg"] += 300
    planted = tmp_path / "slow.json"
    planted.write_text(json.dumps(slow))
    failed = _check(planted, baseline)
    assert failed.returncode == 4, failed.stdout + failed.stderr
    assert failed.stdout.count("REGRESSION") >= 5 and "peak footprint" in failed.stdout
    memory_only = _check(planted, baseline, "--max-slowdown", "60%")
    assert memory_only.returncode == 4 and "+300.0 MB worse" in memory_only.stdout
    loose = _check(planted, baseline, "--max-slowdown", "60%", "--max-memory-growth", "0.5GB")
    assert loose.returncode == 0, loose.stdout


def test_check_refuses_other_settings_and_bad_input(tmp_path: Path):
    base = [
        {"model_filename": "/m/a.gguf", "n_prompt": 0, "n_gen": 8, "n_threads": 2, "n_batch": 2048, "n_ubatch": 512}
        | {"avg_ts": 50.0, "stddev_ts": 1.0, "samples_ns": [1, 2, 3], "cpu_info": "CPU A", "ctx": 64}
        | {"decode_ts_avg": 50.0, "decode_ts_sd": 1.0, "reps": 3, "profile": "host", "status": "completed"}
    ]
    baseline, current = tmp_path / "base.json", tmp_path / "cur.json"
    baseline.write_text(json.dumps(base))
    current.write_text(json.dumps([base[0] | {"cpu_info": "CPU B"}]))
    refused = _check(current, baseline)
    assert refused.returncode == 2 and refused.stderr.startswith("error: the baseline was taken under other settings")
    assert "'CPU A' then 'CPU B'" in refused.stderr and len(refused.stderr.splitlines()) == 1
    forced = _check(current, baseline, "--force")
    assert forced.returncode == 0 and "forced past a difference in machine" in forced.stdout
    other = tmp_path / "other.json"
    other.write_text(json.dumps([base[0] | {"n_threads": 4}]))
    assert _check(other, baseline).stderr.startswith("error: no test of the result is in the baseline")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    bad = _check(garbage, baseline)
    assert bad.returncode == 2 and bad.stderr.startswith(f"error: {garbage}: not a JSON bench result")
    for args in (("--max-slowdown", "fast"), ("--limit", "decode_ts"), ("--limit", "nope=5%")):
        wrong = _check(baseline, baseline, *args)
        assert wrong.returncode == 2 and len(wrong.stderr.splitlines()) == 1, args
    assert _check(baseline, baseline, "--limit", "decode_ts=1%").returncode == 0


def test_noise_decides_a_change_near_the_limit():
    base = check.Stat(100.0, 0.5, 5)
    limit = check.Limit(10.0, "%")
    assert check.judge(base, check.Stat(80.0, 0.5, 5), "decode_ts", limit)[2] == "regression"
    assert check.judge(base, check.Stat(88.0, 10.0, 5), "decode_ts", limit)[2] == "within noise"
    assert check.judge(base, check.Stat(95.0, 0.5, 5), "decode_ts", limit)[2] == "ok"
    assert check.judge(base, check.Stat(130.0, 0.5, 5), "decode_ts", limit)[2] == "improved"
    grew = check.judge(check.Stat(100.0, 0, 1), check.Stat(350.0, 0, 1), "peak_footprint_mb", check.Limit(200, "MB"))
    assert grew == (250.0, 0.0, "regression")
    faster_first_token = check.judge(base, check.Stat(50.0, 0.5, 5), "ttft_ms", limit)
    assert faster_first_token[2] == "improved"  # lower is better for a time


@pytest.mark.model
def test_check_reads_a_run_report_and_a_run_id(tmp_path: Path):
    out = tmp_path / "run.json"
    done = run_cli(
        "run", "--profile", "host", "--max-tokens", "12", "--temperature", "0", "--json", str(out), "--quiet"
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(out.read_text())["run_id"]
    same = run_cli("check", run_id, "--baseline", str(out), "--max-slowdown", "1%")  # itself: no change at all
    assert same.returncode == 0, same.stdout + same.stderr
    assert "run t=" in same.stdout
    report = json.loads(out.read_text())
    engine, host = report["child"]["engine"], report["host"]
    assert engine["cpu_info"] and engine["backends"]  # llama.cpp's own devices, as llama-bench reads them
    if engine["cpu_info"] == host["cpu"]:  # llama.cpp and the host name this CPU alike (x86 Linux: model name)
        engine["cpu_info"] = ""  # a report from before the engine said its CPU is the same machine
        old = tmp_path / "old.json"
        old.write_text(json.dumps(report))
        again = run_cli("check", str(out), "--baseline", str(old), "--max-slowdown", "1%")
        assert again.returncode == 0, again.stdout + again.stderr


# -- the thread sweep -------------------------------------------------------------------------------------------


def test_cliff_needs_a_drop_beyond_noise():
    curve = threads.Curve("x", "decode", "measured", [threads.Point(1, 10, 0.1), threads.Point(2, 19, 0.2)])
    curve.points += [threads.Point(3, 18.9, 0.2), threads.Point(4, 12, 0.2)]
    best, cliff = curve.best(), curve.cliff()
    assert best is not None and best.threads == 2
    assert cliff is not None and (cliff[0].threads, cliff[1].threads) == (3, 4)  # 19 -> 18.9 is noise
    noisy = threads.Curve("y", "decode", "measured", [threads.Point(1, 20, 3.0), threads.Point(2, 17, 3.0)])
    assert noisy.cliff() is None
    emulated = threads.Curve("z", "decode", "emulated", [threads.Point(1, 5, 0, "host too slow"), threads.Point(2, 9)])
    assert [p.threads for p in emulated.usable()] == [2]


def test_phone_curve_has_its_cliff_where_the_little_cores_start(smollm2: Path):
    from profiler.model import gguf_meta

    profile = load_profile("galaxy-s23")
    model = gguf_meta.read_metadata(smollm2)
    curves = threads.predicted(profile, model, ctx=256, prompt_tokens=64)
    assert {c.phase for c in curves} == {"decode", "prefill"}
    decode = next(c for c in curves if c.phase == "decode")
    assert [p.threads for p in decode.points] == list(range(1, (profile.cores or 0) + 1))
    little = min(profile.cpu_clusters, key=lambda c: c.max_ghz).core  # cortex-a510, 2.02 GHz
    bigger = sum(c.count for c in profile.cpu_clusters if c.core != little)
    cliff = decode.cliff()
    assert cliff is not None and cliff[1].threads == bigger + 1  # the first thread on a little core
    assert decode.cores[bigger] == little
    assert f"thread {bigger + 1} lands on a" in decode.summary()
    assert threads.predicted(load_profile("host"), model, ctx=256, prompt_tokens=64) == []


@pytest.mark.model
def test_an_emulated_tests_speed_governor_goes_on_from_the_last_repetition(tmp_path: Path, monkeypatch):
    """Each repetition is a new run whose governor would start from 1 and, in a decode under a
    second, end the run before it had steered (SmolLM2 tg32 under galaxy-s23: 1.17x the phone at the
    median, 1.00x with the correction carried; benchmarks/RESULTS.md)."""
    monkeypatch.setenv("POCKETPROF_HOME", str(tmp_path))
    test = BenchTest(model="smollm2-135m", profile="host", n_prompt=0, n_gen=48, threads=2)
    [result] = Bench([test], Options(reps=3, speed_factor=0.5, keep_history=False)).run()
    assert result.status == "completed", result.error
    started = [r["throttle"]["governor_start"] for r in result.reports]
    ended = [r["throttle"]["governor_correction"] for r in result.reports]
    assert started[0] == 1.0 and started[1:] == pytest.approx(ended[:-1], abs=1e-4)
    assert any(abs(c - 1.0) > 0.01 for c in ended)  # the governor did steer, so there was something to carry


def test_only_a_governor_that_steered_hands_its_correction_on():
    steered = {"governor_target_tokens_per_s": 61.3, "governor_correction": 0.8}
    assert carried_correction(steered, 1.0) == 0.8
    assert carried_correction({"governor_target_tokens_per_s": None, "governor_correction": 0.8}, 0.9) == 0.9
    assert carried_correction(None, 0.9) == 0.9  # no throttle: the host at full speed


def test_a_host_test_hands_its_tokens_over_at_its_end_unless_a_budget_is_watched() -> None:
    """Each hand-over wakes the parent, which stalls llama.cpp's threads on a host they fill: a host
    test sends its tokens when it ends. With a memory budget the child checks its footprint at each
    hand-over (worker.NearBudget), so those keep one a second, as a phone's test does."""
    from profiler.bench.runner import HELD_S, STREAM_S, config_for

    host = BenchTest(model="smollm2-135m", profile="host", n_prompt=0, n_gen=96, threads=2)
    assert config_for(host, Options(), 0).stream_interval_s == HELD_S >= 60
    assert config_for(host, Options(memory_budget_mb=500), 0).stream_interval_s == STREAM_S == 1.0
    phone = BenchTest(model="smollm2-135m", profile="galaxy-s23", n_prompt=0, n_gen=96, threads=2)
    assert config_for(phone, Options(), 0).stream_interval_s == STREAM_S
