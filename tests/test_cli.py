"""The pocketprof command: exit codes, one-line errors, history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import gguf_corpus
from tests.conftest import ROOT, run_cli


def assert_bad_input(result, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--max-tokens", "0"], ["--max-tokens must be positive"]),
        (["--max-tokens", "-5"], ["--max-tokens"]),
        (["--memory-budget-mb", "0"], ["--memory-budget-mb must be positive"]),
        (["--speed-factor", "1.5"], ["--speed-factor must be in (0, 1]"]),
        (["--speed-factor", "0"], ["--speed-factor"]),
        (["--ctx", "100000"], ["--ctx 100000 is larger than", "8192"]),
        (["--prompt", "   "], ["--prompt is empty"]),
        (["--profile", "iphone-61"], ["unknown profile 'iphone-61'", "did you mean"]),
        (["--model", "no-such-model"], ["not a built-in name"]),
        (["--max-tokens", "many"], ["invalid int value"]),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], needles: list[str]):
    assert_bad_input(run_cli("run", *args), *needles)


@pytest.mark.parametrize("case", sorted(gguf_corpus.BROKEN))
def test_bad_model_files_exit_2(tmp_path: Path, smollm2: Path, case: str):
    make, needle = gguf_corpus.BROKEN[case]
    folder = tmp_path / case
    folder.mkdir()
    path = make(folder, smollm2)
    assert_bad_input(run_cli("run", "--model", str(path)), str(path), needle)


def test_bad_profile_file_exits_2(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "profiles" / "iphone-16.toml").read_text().replace("dram_mb = 8192", 'dram_mb = "lots"'))
    assert_bad_input(run_cli("run", "--profile", str(bad)), str(bad), "dram_mb")


def test_prompt_longer_than_the_context_exits_2():
    result = run_cli("run", "--ctx", "64", "--prompt", "memory " * 200, "--quiet")
    assert result.returncode == 2, result.stderr
    assert "the context holds 64" in result.stderr


@pytest.mark.model
def test_history_lists_and_shows_runs(tmp_path: Path):
    out = tmp_path / "r.json"
    assert run_cli("run", "--max-tokens", "4", "--quiet", "--json", str(out)).returncode == 0
    run_id = json.loads(out.read_text())["run_id"]
    listing = run_cli("history")
    assert listing.returncode == 0 and run_id in listing.stdout
    shown = run_cli("show", run_id, "--json")
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == json.loads(out.read_text())
    assert_bad_input(run_cli("show", "nonexistent-run"), "no run 'nonexistent-run'")


def test_profiles_table_and_show():
    table = run_cli("profiles")
    assert table.returncode == 0 and "iphone-16" in table.stdout and "host" in table.stdout
    shown = run_cli("profiles", "show", "iphone-16")
    assert shown.returncode == 0 and "source:" in shown.stdout and "dram_mb" in shown.stdout
