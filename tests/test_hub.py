"""Hugging Face models against a local server that speaks the Hub's API: search, remote headers, hf:// runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from profiler.errors import BadInput
from profiler.model.gguf_meta import read_metadata
from profiler.model.hub import names
from profiler.model.hub.client import HEADER_LIMIT, Hub, HubError, choose
from profiler.model.models import resolve
from profiler.phone import advice
from profiler.phone.profiles import load_profile
from tests.conftest import run_cli
from tests.gguf_corpus import absurd_counts
from tests.hub_models import header_size, tiny_gguf
from tests.hub_server import FakeHub

REPO = "someone/Tiny-40M-GGUF"
QUANTS = ("Q2_K", "Q4_K_M", "Q8_0", "F16")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local Hub with a repository of four quantizations, one split model, a gated one; env pointed at it."""
    repos = tmp_path / "repos"
    tiny = repos / "tiny"
    tiny.mkdir(parents=True)
    for q in QUANTS:
        tiny_gguf(tiny / f"Tiny-40M-{q}.gguf", quant=q)
    split = repos / "split"
    split.mkdir()
    tiny_gguf(split / "Big-Q8_0.gguf", quant="Q8_0", shards=3)
    tiny_gguf(split / "mmproj-Big-F16.gguf", quant="F16", elements=1 << 16)  # a projector, not a model
    gated = repos / "gated"
    gated.mkdir()
    tiny_gguf(gated / "Secret-Q4_K_M.gguf")
    with FakeHub() as server:
        server.add(REPO, tiny, downloads=900, params=16 << 20)
        server.add("someone/Big-Split-GGUF", split, downloads=50)
        server.add("corp/Secret-GGUF", gated, downloads=10, gated=True)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return keep | {"HF_HUB_CACHE": str(tmp_path / "hf-cache")} | extra


# -- names --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "repo", "filename", "quant"),
    [
        ("hf://a/b/File-Q4_K_M.gguf", "a/b", "File-Q4_K_M.gguf", None),
        ("hf://a/b:q8_0", "a/b", None, "Q8_0"),
        ("hf://a/b", "a/b", None, None),
        ("hf://a/b/sub/x.gguf", "a/b", "sub/x.gguf", None),
    ],
)
def test_references(text: str, repo: str, filename: str | None, quant: str | None) -> None:
    ref = names.parse_ref(text)
    assert (ref.repo, ref.filename, ref.quant) == (repo, filename, quant)
    assert names.parse_ref(str(ref)) == ref


@pytest.mark.parametrize("text", ["hf://a", "hf://a/b/readme.md", "hf://a/b:", "hf://a/b/x.gguf:Q4_0", "hf://../b"])
def test_bad_references_are_one_line(text: str) -> None:
    with pytest.raises(BadInput, match="hf://"):
        names.parse_ref(text)


def test_file_names() -> None:
    assert names.quant_of("Qwen2.5-1.5B-Instruct-Q4_K_M.gguf") == "Q4_K_M"
    assert names.quant_of("model.IQ2_M.gguf") == "IQ2_M"
    assert names.quant_of("Llama-Q4_0-00002-of-00003.gguf") == "Q4_0"
    assert names.quant_of("weights.gguf") is None
    assert names.split_part("Big-Q8_0-00002-of-00003.gguf") == ("Big-Q8_0", 2, 3)
    assert names.is_projector("mmproj-model-f16.gguf")


# -- search and a repository's files, before any download ------------------------------------
def test_a_repository_lists_its_models_with_predictions_and_reads_headers_only(hub: FakeHub, tmp_path: Path) -> None:
    phone = load_profile("budget-4gb")
    got = advice.repo_advice(Hub(), REPO, phone)
    assert [f.file.quant for f in got.files] == ["Q2_K", "Q4_K_M", "Q8_0", "F16"]  # smallest first
    assert all(f.prediction is not None and f.verdict == "fits" for f in got.files)
    assert got.best is not None and got.best.file.quant == "F16"  # the most precise that fits
    for f in got.files:  # each header read remotely: every byte served is header, none of the weights
        served = hub.served[f"{REPO}/{f.file.name}"]
        assert served <= header_size(tmp_path / "repos" / "tiny" / f.file.name) < HEADER_LIMIT
        local = read_metadata(tmp_path / "repos" / "tiny" / f.file.name)
        assert f.info is not None and (f.info.parameters, f.info.tensor_bytes) == (local.parameters, local.tensor_bytes)


def test_a_tight_budget_marks_what_would_be_killed(hub: FakeHub, tmp_path: Path) -> None:
    phone = load_profile("budget-4gb")
    small = type(phone)(**{**phone.__dict__, "app_memory_budget_mb": 120})
    got = advice.repo_advice(Hub(), REPO, small)
    verdicts = {f.file.quant: f.verdict for f in got.files}
    assert verdicts["F16"] == "killed" and verdicts["Q2_K"] in ("fits", "tight")
    assert got.best is None or got.best.file.quant in ("Q2_K", "Q4_K_M")


def test_split_models_count_as_one_and_projectors_are_left_out(hub: FakeHub) -> None:
    files = Hub().files("someone/Big-Split-GGUF")
    assert len(files) == 1 and len(files[0].shards) == 3
    info = Hub().header("someone/Big-Split-GGUF", files[0])
    assert info.n_tensors == 3  # every shard's tensors, one model
    assert info.file_size_bytes == files[0].size


def test_search_ranks_by_downloads_and_shows_the_best_file(hub: FakeHub, tmp_path: Path) -> None:
    done = run_cli("hub", "search", "gguf", "--profile", "budget-4gb", env=cli_env(tmp_path, HF_ENDPOINT=hub.url))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines()[1:] if line.strip()]
    assert lines[0].startswith(REPO) and "F16" in lines[0] and "fits" in lines[0]
    assert lines[1].startswith("someone/Big-Split-GGUF")
    assert "gated" in lines[2]  # its header could not be read without a token: said, not a traceback
    as_json = json.loads(run_cli("hub", "search", "tiny", "--json", env=cli_env(tmp_path, HF_ENDPOINT=hub.url)).stdout)
    assert [r["repo"] for r in as_json] == [REPO]
    header_reads = [f for f in as_json[0]["files"] if f["header_read"]]
    assert len(header_reads) == 1  # one header per repository in a search


def test_the_cli_table_for_a_repository(hub: FakeHub, tmp_path: Path) -> None:
    done = run_cli("hub", REPO, "--profile", "budget-4gb", env=cli_env(tmp_path, HF_ENDPOINT=hub.url))
    assert done.returncode == 0, done.stderr
    assert "* best fit here: Tiny-40M-F16.gguf" in done.stdout
    assert f"--model hf://{REPO}/Tiny-40M-F16.gguf" in done.stdout
    assert "nothing downloaded" in done.stdout
    assert not (tmp_path / "hf-cache").exists() or not list((tmp_path / "hf-cache").rglob("*.gguf"))


# -- what the Hub says no to -------------------------------------------------------------------
def test_a_gated_repository_needs_a_token(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    phone = load_profile("budget-4gb")
    refused = advice.repo_advice(Hub(), "corp/Secret-GGUF", phone)
    assert refused.files[0].prediction is None and "HF_TOKEN" in refused.files[0].error
    monkeypatch.setenv("HF_TOKEN", FakeHub.token)
    allowed = advice.repo_advice(Hub(), "corp/Secret-GGUF", phone)
    assert allowed.files[0].verdict == "fits"
    auth = [h.get("authorization") for m, p, h in hub.requests if "Secret" in p and "resolve" in p]
    assert f"Bearer {FakeHub.token}" in auth


def test_missing_repositories_and_files_are_one_line(hub: FakeHub, tmp_path: Path) -> None:
    for args in (
        ("hub", "nobody/nothing"),
        ("predict", "--profile", "pixel-8", "--model", f"hf://{REPO}/none.gguf"),
        ("predict", "--profile", "pixel-8", "--model", f"hf://{REPO}:IQ1_S"),
    ):
        done = run_cli(*args, env=cli_env(tmp_path, HF_ENDPOINT=hub.url))
        assert done.returncode == 2, (args, done.stdout)
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:"), done.stderr
    assert "no such repository" in run_cli("hub", "nobody/nothing", env=cli_env(tmp_path, HF_ENDPOINT=hub.url)).stderr
    assert (
        "no IQ1_S file (it has: F16, Q2_K, Q4_K_M, Q8_0)"
        in run_cli(
            "predict",
            "--profile",
            "pixel-8",
            "--model",
            f"hf://{REPO}:IQ1_S",
            env=cli_env(tmp_path, HF_ENDPOINT=hub.url),
        ).stderr
    )


def test_hostile_files_are_refused_and_the_rest_still_listed(hub: FakeHub, tmp_path: Path) -> None:
    folder = tmp_path / "repos" / "tiny"
    absurd_counts(folder / "Broken-Q4_0.gguf", "metadata")
    tiny_gguf(folder / "Liar-Q6_K.gguf", quant="Q6_K")
    tiny_gguf(folder / "Endless-Q5_K_M.gguf", quant="Q4_K_M")
    hub.faults.listed_size["Liar-Q6_K.gguf"] = 123_456_789
    hub.faults.endless.add("Endless-Q5_K_M.gguf")
    got = {f.file.name: f for f in advice.repo_advice(Hub(), REPO, load_profile("budget-4gb")).files}
    assert "more than the file can hold" in got["Broken-Q4_0.gguf"].error
    assert "listed 123,456,789 bytes" in got["Liar-Q6_K.gguf"].error
    assert (
        "ignored the byte range" in got["Endless-Q5_K_M.gguf"].error or "not read" in got["Endless-Q5_K_M.gguf"].error
    )
    assert hub.served[f"{REPO}/Endless-Q5_K_M.gguf"] < HEADER_LIMIT  # an endless body is not read on
    assert got["Tiny-40M-Q4_K_M.gguf"].verdict == "fits"


def test_choosing_a_file_like_llama_cpps_hf_option(hub: FakeHub) -> None:
    files = Hub().files(REPO)
    assert choose(files, names.parse_ref(f"hf://{REPO}")).quant == "Q4_K_M"  # llama.cpp's default
    assert choose(files, names.parse_ref(f"hf://{REPO}:q8_0")).quant == "Q8_0"
    with pytest.raises(HubError, match="no IQ2_M file"):
        choose(files, names.parse_ref(f"hf://{REPO}:IQ2_M"))


# -- hf:// runs: download into the cache, resume, profile, offline --------------------------------
@pytest.mark.model
def test_run_downloads_into_the_cache_resumes_after_a_cut_and_profiles(hub: FakeHub, tmp_path: Path) -> None:
    from huggingface_hub import scan_cache_dir

    folder = tmp_path / "repos" / "smol"
    folder.mkdir()
    shutil.copy(resolve("smollm2-135m"), folder / "SmolLM2-135M-Instruct-Q4_1.gguf")
    hub.add("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", folder)
    hub.faults.cut_after["SmolLM2-135M-Instruct-Q4_1.gguf"] = 30_000_000
    model = "hf://HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q4_1"
    report = tmp_path / "run.json"
    env = cli_env(tmp_path, HF_ENDPOINT=hub.url)
    done = run_cli("run", "--model", model, "--max-tokens", "8", "--profile", "host", "--json", str(report), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(report.read_text())["status"] == "completed"
    resumed = [h.get("range") for m, p, h in hub.requests if m == "GET" and p.startswith("/cdn/") and "SmolLM2" in p]
    assert any(r and r.startswith("bytes=") and not r.startswith("bytes=0-") and r.endswith("-") for r in resumed)
    cached = [f for r in scan_cache_dir(tmp_path / "hf-cache").repos for rev in r.revisions for f in rev.files]
    assert [f.file_name for f in cached] == ["SmolLM2-135M-Instruct-Q4_1.gguf"]
    assert cached[0].size_on_disk == (folder / "SmolLM2-135M-Instruct-Q4_1.gguf").stat().st_size
    # offline, the cached copy is used; a model never downloaded is a one-line error
    offline = env | {"HF_HUB_OFFLINE": "1"}
    again = run_cli(
        "predict",
        "--profile",
        "pixel-8",
        "--model",
        model.replace(":Q4_1", "/SmolLM2-135M-Instruct-Q4_1.gguf"),
        env=offline,
    )
    assert again.returncode == 0, again.stderr
    missing = run_cli("predict", "--profile", "pixel-8", "--model", f"hf://{REPO}/Tiny-40M-F16.gguf", env=offline)
    assert missing.returncode == 2 and "offline" in missing.stderr and missing.stderr.count("\n") == 1
    # no network at all (the Hub's address closed): the cached copy, said in one line
    gone = env | {"HF_ENDPOINT": "http://127.0.0.1:9"}
    run_gone = run_cli(
        "run",
        "--model",
        model.replace(":Q4_1", "/SmolLM2-135M-Instruct-Q4_1.gguf"),
        "--max-tokens",
        "4",
        "--profile",
        "host",
        "--quiet",
        env=gone,
    )
    assert run_gone.returncode == 0, run_gone.stderr[-1500:]
    assert "using the cached copy" in run_gone.stderr


def test_search_keeps_the_size_range_people_look_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1–3 B models: the Hub's own parameter count filters before any header is read."""
    from tests.hub_models import sparse_gguf

    with FakeHub() as server:
        for size, downloads in ((0.5, 300), (1.5, 200), (7.0, 100)):
            folder = tmp_path / f"q{size}"
            folder.mkdir()
            for q in ("Q4_K_M", "Q8_0"):
                sparse_gguf(folder / f"Qwen-{size}B-{q}.gguf", params=size * 1e9, quant=q)
            server.add(f"qwen/Qwen-{size}B-GGUF", folder, downloads=downloads, params=int(size * 1e9))
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        phone = load_profile("iphone-16")
        found = advice.search_advice(Hub(), "qwen", phone, min_params_b=1, max_params_b=3)
        assert [a.repo for a in found] == ["qwen/Qwen-1.5B-GGUF"]
        assert found[0].best is not None and found[0].best.file.quant == "Q8_0"
        assert not any("7.0B" in key or "0.5B" in key for key in server.served)  # never read outside the range
        big = advice.repo_advice(Hub(), "qwen/Qwen-7.0B-GGUF", phone)
        assert {f.file.quant: f.verdict for f in big.files} == {"Q4_K_M": "killed", "Q8_0": "killed"}
        assert big.best is None
