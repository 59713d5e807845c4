"""Untrusted input: model files, chat templates and prompts from the internet, and the child's sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.errors import ModelFileError
from profiler.model import gguf_meta
from profiler.run import sandbox
from tests import gguf_corpus
from tests.conftest import ROOT, run_cli

LANDLOCK = subprocess.run(
    [sys.executable, "-c", "from profiler.run import sandbox; print(sandbox.confine())"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    check=False,
).stdout.strip()
needs_landlock = pytest.mark.skipif(not LANDLOCK.startswith("landlock"), reason=f"no Landlock here: {LANDLOCK}")


# -- the GGUF reader, fuzzed -----------------------------------------------------------
@pytest.fixture(scope="module")
def header(smollm2: Path) -> bytes:
    """The first 1.5 MB of a real model: header, all metadata (the vocabulary) and the tensor table."""
    with open(smollm2, "rb") as handle:
        return handle.read(1_536_000)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_headers_raise_only_our_error(header: bytes, data: st.DataObject, tmp_path_factory):
    """Flip, overwrite, cut or splice bytes of a valid header: only ModelFileError may escape."""
    buf = bytearray(header)
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        kind = data.draw(st.sampled_from(["byte", "u64", "cut"]), label="kind")
        at = data.draw(st.integers(0, 4096) | st.integers(0, len(buf) - 9), label="at")  # mostly the header
        if kind == "byte":
            buf[at] = data.draw(st.integers(0, 255))
        elif kind == "u64":  # a count or a length: small, huge, or all ones
            value = data.draw(st.sampled_from([0, 1, 2**31, 2**60, 2**64 - 1]) | st.integers(0, 2**64 - 1))
            buf[at : at + 8] = value.to_bytes(8, "little")
        else:
            del buf[at:]
            break
    path = tmp_path_factory.mktemp("fuzz") / "mutant.gguf"
    path.write_bytes(bytes(buf))
    try:
        info = gguf_meta.read_metadata(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)
    else:
        assert info.file_size_bytes == len(buf)


def test_a_fifo_named_gguf_fails_at_once_instead_of_hanging(tmp_path: Path):
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        gguf_meta.read_metadata(fifo)


# -- model files llama.cpp refuses, and files we may not read -------------------------
@pytest.mark.model
def test_an_unknown_architecture_is_one_line_exit_2(tmp_path: Path):
    path = gguf_corpus.unknown_architecture(tmp_path / "martian model ü.gguf")
    result = run_cli("run", "--model", str(path), "--profile", "host", "--ctx", "128", "--quiet")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: llama.cpp cannot load it: unknown model architecture: 'martian'"
    ]


AS_NOBODY = """
import os, sys
from profiler.cli import build_parser, main
from profiler import record
from profiler.run import session
from profiler.report import history  # everything the refusal needs, loaded while root
build_parser()
os.setgroups([]); os.setgid(65534); os.setuid(65534)  # from here on, 'nobody'
sys.exit(main(sys.argv[1:]))
"""


def test_an_unreadable_model_is_refused_for_a_user_who_cannot_read_it(smollm2: Path):
    """As root every file is readable, so the CLI drops to 'nobody' before it looks at the model."""
    if os.geteuid() != 0:
        pytest.skip("the test drops privileges from root; as a normal user the chmod test in test_gguf_meta runs")
    folder = Path(tempfile.mkdtemp(prefix="pocketprof-unreadable-"))
    try:
        folder.chmod(0o755)
        locked = Path(shutil.copy(smollm2, folder / "locked.gguf"))
        locked.chmod(0)
        home = folder / "home"
        home.mkdir()
        home.chmod(0o777)
        env = dict(os.environ, POCKETPROF_HOME=str(home), POCKETPROF_CACHE=str(home / "cache"))
        result = subprocess.run(
            [sys.executable, "-c", AS_NOBODY, "run", "--model", str(locked), "--profile", "host"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"error: {locked}: permission denied (cannot read the model file)"
    finally:
        shutil.rmtree(folder)


# -- chat templates and prompts are data -------------------------------------------------
ESCAPE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"


@pytest.mark.model
def test_a_malicious_chat_template_is_refused_by_the_sandbox(smollm2: Path):
    from profiler.run import llama_direct, worker

    engine = llama_direct.Engine(str(smollm2), llama_direct.Settings(n_ctx=256, n_threads=1))
    try:
        real_meta = engine.meta
        engine.meta = lambda key: ESCAPE if key == "tokenizer.chat_template" else real_meta(key)  # a hostile GGUF's
        with pytest.raises(worker.TemplateRefused) as info:
            worker._prompt_tokens(engine, {"prompt": "hello", "raw": False, "seed": 1})
        assert str(info.value).startswith("the model's chat template is refused by the sandbox: ")
        assert "\n" not in str(info.value)
        tokens, templated = worker._prompt_tokens(engine, {"prompt": "hello", "raw": True, "seed": 1})  # --raw works
        assert tokens and not templated
    finally:
        engine.close()


def test_prompt_text_is_never_evaluated_as_a_template():
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template="{{ messages[0]['content'] }}", eos_token="", bos_token="")
    assert formatter(messages=[{"role": "user", "content": "{{ 7 * 7 }} " + ESCAPE}]).prompt == "{{ 7 * 7 }} " + ESCAPE


@pytest.mark.model
def test_control_characters_mixed_scripts_and_emoji_run(tmp_path: Path):
    prompt = "Say hi in three scripts: Ελληνικά, 日本語, العربية 🙂🚀\x07\x1b[31m\tend\r\n"
    report = tmp_path / "run.json"
    result = run_cli("run", "--profile", "host", "--max-tokens", "8", "--prompt", prompt, "--json", str(report))
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["status"] == "completed" and data["config"]["prompt"] == prompt
    assert data["summary"]["prompt_tokens"] > 20


@pytest.mark.model
def test_a_100_kb_prompt_is_one_line_exit_2():
    prompt = ("The quick brown fox jumps over the lazy dog. " * 2300)[:102_400]
    result = run_cli("run", "--profile", "host", "--prompt", prompt, "--quiet")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: prompt is ") and last.endswith("the context holds 2048; raise --ctx or shorten it")


# -- the child's sandbox ------------------------------------------------------------------
CONFINED = """
import os, socket, sys
from profiler.run import sandbox
print(sandbox.confine())
open(sys.argv[1], "rb").read(4)  # reading the model stays allowed
for name, attempt in [
    ("write", lambda: open(sys.argv[2], "w")),
    ("tcp", lambda: socket.create_connection(("127.0.0.1", 9), timeout=2)),
    ("signal", lambda: os.kill(os.getppid(), 0)),
]:
    try:
        attempt()
        print(name, "allowed")
    except PermissionError:
        print(name, "denied")
    except OSError as exc:
        print(name, "other", exc)
"""


@needs_landlock
def test_the_sandbox_forbids_writes_network_and_signals(tmp_path: Path, smollm2: Path):
    target = tmp_path / "written-by-the-child.txt"
    result = subprocess.run(
        [sys.executable, "-c", CONFINED, str(smollm2), str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("landlock ABI"), result.stderr
    assert "write denied" in lines
    assert not target.exists()
    if "no TCP" in lines[0]:
        assert "tcp denied" in lines
    if "no signals outside" in lines[0]:
        assert "signal denied" in lines


@needs_landlock
@pytest.mark.model
def test_a_real_run_happens_inside_the_sandbox(tmp_path: Path):
    report = tmp_path / "run.json"
    result = run_cli("run", "--profile", "host", "--max-tokens", "4", "--quiet", "--json", str(report))
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["child"]["sandbox"].startswith("landlock ABI")


def test_confine_outside_linux_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")
    monkeypatch.setattr(sandbox.resource, "setrlimit", lambda *a: None)
    assert sandbox.confine() == "none: no Landlock on darwin"


@pytest.mark.model
def test_a_model_path_with_spaces_and_non_ascii_runs(tmp_path: Path, smollm2: Path):
    odd = tmp_path / "mödels dir ✓" / "my model ü.gguf"
    odd.parent.mkdir()
    shutil.copy(smollm2, odd)
    report = tmp_path / "run.json"
    result = run_cli("run", "--model", str(odd), "--profile", "host", "--max-tokens", "4", "--json", str(report))
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text(encoding="utf-8"))["model"]["path"] == str(odd)
