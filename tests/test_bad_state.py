"""Bad input and damaged state: numbers that are not numbers, more threads than cores, a corrupt history."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from profiler import paths
from profiler.cli import ladder_cmd
from profiler.report import compare, history
from profiler.run import calibrate
from profiler.run.config import RunConfig
from profiler.run.limits import host_cores
from profiler.run.session import Session
from tests.conftest import run_cli


def _one_line_error(result: object, *words: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    for word in words:
        assert word in stderr, stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--memory-budget-mb", "nan"),  # was accepted, and the budget silently switched off
        ("--dram-mb", "nan"),  # was a traceback
        ("--temperature", "nan"),
        ("--load-timeout", "inf"),
        ("--speed-factor", "nan"),
        ("--memory-budget-mb", "-inf"),
    ],
)
def test_not_a_number_is_refused_in_one_line_naming_the_option(option: str, value: str, tmp_path: Path):
    out = tmp_path / "run.json"
    result = run_cli("run", "--model", "smollm2-135m", f"{option}={value}", "--max-tokens", "2", "--json", str(out))
    _one_line_error(result, option, "finite")
    assert not out.exists()


def test_more_threads_than_the_phone_has_cores_is_refused():
    result = run_cli("run", "--model", "smollm2-135m", "--profile", "iphone-16", "--threads", "999")
    _one_line_error(result, "--threads 999", "iphone-16", "6 CPU cores")


@pytest.mark.model
def test_more_threads_than_the_host_is_warned_marked_and_never_a_calibration(tmp_path: Path):
    threads = len(host_cores()) + 1
    out = tmp_path / "run.json"
    result = run_cli(
        "run", "--model", "smollm2-135m", "--threads", str(threads), "--max-tokens", "12", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"--threads {threads}" in warnings[0], result.stderr
    report = json.loads(out.read_text())
    assert report["warnings"] == [warnings[0].removeprefix("warning: ")]
    session = Session(RunConfig(model="smollm2-135m", threads=threads, max_tokens=12, ignore_eos=True))
    record = session.run()
    assert record.status == "completed" and len(record.tokens) >= 8, record.error
    measured = calibrate.from_record(session.model_path, threads, 2048, record, load_before=0.0)
    assert measured is not None and not measured.trusted
    assert "oversubscription" in measured.reason
    fitting = calibrate.from_record(session.model_path, threads - 1, 2048, record, load_before=0.0)
    assert fitting is not None and "oversubscription" not in fitting.reason


def _corrupt_history(home: Path) -> bytes:
    junk = os.urandom(200)
    (home / "history.sqlite3").write_bytes(junk)
    return junk


@pytest.mark.parametrize("command", [["history"], ["show", "20261201-000000-abcdef"], ["compare", "a1", "b2"]])
def test_a_corrupt_history_is_kept_aside_and_a_new_one_started(command: list[str]):
    home = paths.home()
    junk = _corrupt_history(home)
    result = run_cli(*command)
    assert "Traceback" not in result.stderr, result.stderr
    notices = [line for line in result.stderr.splitlines() if "kept it as" in line]
    assert len(notices) == 1, result.stderr
    kept = [p for p in home.iterdir() if p.name.startswith("history.sqlite3.corrupt-")]
    assert len(kept) == 1 and kept[0].read_bytes() == junk  # kept, never deleted
    assert str(kept[0]) in notices[0]
    assert history.integrity() == ["ok"] and history.list_runs() == []  # a new one, sound and empty
    again = run_cli("history", "--check")
    assert again.returncode == 0 and "history ok" in again.stdout, again.stdout + again.stderr


def test_history_check_reports_damage_inside_a_database(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    with history.connect(path) as db:
        with db:
            for i in range(400):
                db.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (f"run{i}", f"2026-12-01T00:{i % 60:02d}", "m", "p", "completed", 1, 1.0, 1.0, "x" * 500),
                )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file, where the scribble lands
    assert history.integrity(path) == ["ok"]
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 3 : page * 3 + 64] = os.urandom(64)  # scribble over an inner page
    path.write_bytes(bytes(data))
    findings = history.integrity(path)
    assert findings != ["ok"] and findings, findings


def test_a_data_folder_that_is_a_file_is_one_line(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = {**os.environ, "POCKETPROF_HOME": str(blocker)}
    env.pop("POCKETPROF_CACHE", None)
    result = run_cli("profiles", env=env)
    _one_line_error(result, "POCKETPROF_HOME")


@pytest.mark.model
def test_a_prompt_longer_than_the_context_leaves_an_existing_report_as_it_was(tmp_path: Path):
    out = tmp_path / "good.json"
    out.write_text('{"a good": "report"}')
    result = run_cli("run", "--ctx", "64", "--prompt", "memory " * 200, "--quiet", "--json", str(out))
    assert result.returncode == 2 and "the context holds 64" in result.stderr, result.stderr
    assert out.read_text() == '{"a good": "report"}'  # it used to be replaced by an error stub
    assert history.list_runs() == []  # nothing measured, nothing stored, as for every other bad input


def test_prompt_and_prompt_file_together_is_refused(tmp_path: Path):
    prompt_file = tmp_path / "p.txt"
    prompt_file.write_text("from the file")
    result = run_cli("run", "--prompt", "from the option", "--prompt-file", str(prompt_file))
    _one_line_error(result, "--prompt-file", "--prompt")


@pytest.mark.parametrize("option", ["--html", "--json", "--csv"])
def test_an_empty_report_path_is_one_line(option: str):
    result = run_cli("run", "--max-tokens", "2", f"{option}=")
    _one_line_error(result, option, "empty path")


def _row(db: object, run_id: str, quant: str) -> None:
    report = json.dumps({"run_id": run_id, "model": {"quantization": quant}, "status": "completed"})
    db.execute(  # type: ignore[attr-defined]
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, "2026-12-01T00:00:00", "SmolLM2", "iphone-16", "completed", 4, 50.0, 90.0, report),
    )


def test_history_shows_the_quantization_and_an_ambiguous_id_lists_its_matches():
    with history.connect() as db, db:
        _row(db, "20261201-000001-aaaaaa", "Q4_1")
        _row(db, "20261201-000002-bbbbbb", "Q8_0")
    listing = run_cli("history")
    assert listing.returncode == 0
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert " Q4_1 " in lines["20261201-000001-aaaaaa"] and " Q8_0 " in lines["20261201-000002-bbbbbb"]
    ambiguous = run_cli("show", "20261201-00000")
    _one_line_error(ambiguous, "matches 2 runs", "20261201-000001-aaaaaa", "20261201-000002-bbbbbb")
    assert json.loads(run_cli("show", "bbbbbb", "--json").stdout)["model"]["quantization"] == "Q8_0"


def test_hours_of_decoding_has_no_better_side_energy_per_token_does():
    def report(tps: float, watts: float) -> dict[str, object]:
        energy = {"j_per_token": watts / tps, "hours_continuous": 50_000 / watts / 3600}
        return {"status": "completed", "summary": {"decode_tokens_per_s": tps}, "energy": energy}

    fast, slow = report(60.0, 4.0), report(20.0, 2.0)  # the slow one lasts longer and writes a third as much
    rows = {row.metric.key: row for row in compare.table([fast, slow])}
    assert rows["energy.hours_continuous"].values[1] > rows["energy.hours_continuous"].values[0]
    assert rows["energy.hours_continuous"].best is None  # it marked the slower model as better
    assert rows["energy.j_per_token"].best == 0 and rows["summary.decode_tokens_per_s"].best == 0


def test_progress_in_a_log_is_plain_lines(capsys: pytest.CaptureFixture[str]):
    for stage, quant, fraction in [("quantize", "Q8_0", 0.0), ("quantize", "Q8_0", 0.5), ("run", "Q8_0", 1.0)]:
        ladder_cmd._bar(stage, quant, fraction)
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines() == ["  quantize Q8_0", "  run Q8_0"]


@pytest.mark.model
def test_gpu_layers_on_a_cpu_only_build_says_it_did_nothing(tmp_path: Path):
    out = tmp_path / "run.json"
    result = run_cli("run", "--gpu-layers", "8", "--max-tokens", "4", "--quiet", "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    if report["child"]["engine"].get("gpu_info"):
        pytest.skip(f"this llama.cpp has a GPU: {report['child']['engine']['gpu_info']}")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--gpu-layers 8 did nothing" in warnings[0], result.stderr
    assert report["warnings"] == [warnings[0].removeprefix("warning: ")]


@pytest.mark.model
def test_a_killed_runs_energy_says_it_is_at_the_predicted_speed(tmp_path: Path):
    out = tmp_path / "run.json"
    result = run_cli("run", "--profile", "iphone-16", "--memory-budget-mb", "40", "--quiet", "--json", str(out))
    assert result.returncode == 3, result.stderr
    energy_line = next(line for line in result.stdout.splitlines() if "phone energy" in line)
    assert "at predicted speed" in energy_line, energy_line
    report = json.loads(out.read_text())
    error = report["energy"]["error_pct"]
    assert f"phone energy (estimate ±{error:.0f} %)" in energy_line, energy_line  # how good, in every view
    target = next(line for line in result.stdout.splitlines() if "decode target / achieved" in line)
    assert f"(the target predicted ±{report['emulation']['target_decode_error_pct']:.0f} %)" in target, target
