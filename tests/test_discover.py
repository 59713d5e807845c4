"""Finding GGUF models in fake Hugging Face, LM Studio, Ollama and plain folder layouts."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from profiler.model import discover
from profiler.model.discover import FoundModel, find_models, search_roots


def gguf(path: Path, payload: bytes = b"\x03\x00\x00\x00 junk weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + payload)
    return path


def text(path: Path, content: str = "not a model\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def link(path: Path, target: Path | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def names(found: list[FoundModel]) -> list[str]:
    return [m.name for m in found]


# --- Hugging Face cache ---------------------------------------------------------------------------------------------


def hf_cache(root: Path) -> Path:
    repo = root / "models--bartowski--Llama-3.2-1B-Instruct-GGUF"
    shared = gguf(repo / "blobs" / ("a" * 64), b"shared blob")
    other = gguf(repo / "blobs" / ("b" * 64), b"other")
    text(repo / "blobs" / ("c" * 64))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("rev2")
    q4 = "Llama-3.2-1B-Instruct-Q4_K_M.gguf"
    link(repo / "snapshots" / "rev1" / q4, Path("../..") / "blobs" / shared.name)
    link(repo / "snapshots" / "rev2" / q4, Path("../..") / "blobs" / shared.name)
    link(repo / "snapshots" / "rev2" / "sub" / "Llama-Q8_0.gguf", Path("../../..") / "blobs" / other.name)
    link(repo / "snapshots" / "rev2" / "broken.gguf", Path("../..") / "blobs" / ("d" * 64))
    link(repo / "snapshots" / "rev2" / "notes.gguf", Path("../..") / "blobs" / ("c" * 64))
    gguf(root / "datasets--someone--data" / "snapshots" / "r" / "x.gguf")
    return repo


def test_hf_cache_reports_snapshot_paths_once_per_blob(tmp_path: Path) -> None:
    repo = hf_cache(tmp_path / "hub")
    found = find_models([("Hugging Face cache", tmp_path / "hub")])
    assert names(found) == [
        "bartowski/Llama-3.2-1B-Instruct-GGUF · Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        "bartowski/Llama-3.2-1B-Instruct-GGUF · sub/Llama-Q8_0.gguf",
    ]
    q4, q8 = found
    # The snapshot path is reported (not the blob), from the revision refs/main points at.
    assert q4.path == repo / "snapshots" / "rev2" / "Llama-3.2-1B-Instruct-Q4_K_M.gguf"
    assert q4.path.is_symlink()
    assert q4.size_bytes == len(b"GGUFshared blob")
    assert q8.size_bytes == len(b"GGUFother")
    assert {m.source for m in found} == {"Hugging Face cache"}


def test_hf_cache_without_refs_still_keeps_one_copy(tmp_path: Path) -> None:
    repo = hf_cache(tmp_path / "hub")
    (repo / "refs" / "main").unlink()
    found = find_models([("Hugging Face cache", tmp_path / "hub")])
    assert len([m for m in found if m.name.endswith("Q4_K_M.gguf")]) == 1


# --- LM Studio and plain folders ------------------------------------------------------------------------------------


def test_lm_studio_tree(tmp_path: Path) -> None:
    root = tmp_path / "lms"
    gguf(root / "lmstudio-community" / "Qwen2.5-0.5B-GGUF" / "Qwen2.5-0.5B-Q4_K_M.gguf")
    gguf(root / "bartowski" / "Phi-GGUF" / "Phi-Q8_0.GGUF", b"x" * 100)
    gguf(root / "top.gguf")
    text(root / "bartowski" / "Phi-GGUF" / "fake.gguf", "GGU")  # too short and wrong
    text(root / "bartowski" / "Phi-GGUF" / "empty.gguf", "")
    gguf(root / "bartowski" / "Phi-GGUF" / "README.md")  # right magic, wrong name
    (root / "dir.gguf").mkdir()
    found = find_models([("LM Studio", root)])
    assert names(found) == [
        "bartowski/Phi-GGUF · Phi-Q8_0.GGUF",
        "lmstudio-community/Qwen2.5-0.5B-GGUF · Qwen2.5-0.5B-Q4_K_M.gguf",
        "top.gguf",
    ]
    assert found[0].size_bytes == 104
    assert all(m.source == "LM Studio" for m in found)


def test_directory_symlink_loop_ends(tmp_path: Path) -> None:
    root = tmp_path / "models"
    model = gguf(root / "pub" / "repo" / "m.gguf")
    link(root / "pub" / "repo" / "loop", "..")
    link(root / "again", root)
    found = find_models([("folder", root)], max_depth=50)
    assert [m.path for m in found] == [model]


def test_max_depth(tmp_path: Path) -> None:
    deep = gguf(tmp_path / "a" / "b" / "c" / "deep.gguf")
    assert find_models([("folder", tmp_path)], max_depth=2) == []
    assert [m.path for m in find_models([("folder", tmp_path)], max_depth=3)] == [deep]


def test_max_files_bounds_the_result(tmp_path: Path) -> None:
    for i in range(10):
        gguf(tmp_path / f"m{i:02}.gguf")
    assert len(find_models([("folder", tmp_path)])) == 10
    assert len(find_models([("folder", tmp_path)], max_files=3)) == 3
    assert find_models([("folder", tmp_path)], max_files=0) == []


def test_reads_only_the_magic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf(tmp_path / "big.gguf", b"\0" * 100_000)
    text(tmp_path / "x.gguf", "hello" * 1000)
    sizes: list[int] = []
    real_read = os.read

    def spy(fd: int, n: int) -> bytes:
        sizes.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", spy)
    found = find_models([("folder", tmp_path)])
    assert names(found) == ["big.gguf"]
    assert sizes and max(sizes) == 4


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.timeout(20)
def test_fifo_named_gguf_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.gguf")
    gguf(tmp_path / "real.gguf")
    assert names(find_models([("folder", tmp_path)])) == ["real.gguf"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads a chmod 000 directory anyway")
def test_unreadable_directory_by_permissions(tmp_path: Path) -> None:
    gguf(tmp_path / "ok.gguf")
    locked = tmp_path / "locked"
    gguf(locked / "hidden.gguf")
    locked.chmod(0)
    try:
        assert names(find_models([("folder", tmp_path)])) == ["ok.gguf"]
    finally:
        locked.chmod(0o755)


def test_unlistable_directory_and_unreadable_file_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same as the chmod test, but by failing the system calls, so it also runs as root."""
    gguf(tmp_path / "ok.gguf")
    locked = tmp_path / "locked"
    gguf(locked / "hidden.gguf")
    secret = gguf(tmp_path / "secret.gguf")
    real_scandir, real_open = os.scandir, os.open

    def scandir(path: object) -> object:
        if Path(str(path)) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    def open_(path: object, flags: int, *args: int) -> int:
        if Path(str(path)) == secret:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", open_)
    assert names(find_models([("folder", tmp_path)])) == ["ok.gguf"]


def test_missing_root_is_empty(tmp_path: Path) -> None:
    assert find_models([("folder", tmp_path / "nope"), ("Ollama", tmp_path / "nope")]) == []


# --- Ollama ---------------------------------------------------------------------------------------------------------


def ollama_manifest(root: Path, parts: str, digests: dict[str, str]) -> Path:
    layers = [{"mediaType": media, "digest": digest, "size": 1} for media, digest in digests.items()]
    path = root / "manifests" / parts
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schemaVersion": 2, "layers": layers}))
    return path


def ollama_blob(root: Path, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()
    path = root / "blobs" / f"sha256-{digest}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return f"sha256:{digest}"


MODEL = "application/vnd.ollama.image.model"


def test_ollama_manifests(tmp_path: Path) -> None:
    root = tmp_path / "ollama"
    llama = ollama_blob(root, b"GGUF llama weights")
    custom = ollama_blob(root, b"GGUF custom weights!")
    hf = ollama_blob(root, b"GGUF hf")
    license_ = ollama_blob(root, b"GGUF-looking license text")
    not_gguf = ollama_blob(root, b"safetensors")
    reg = "registry.ollama.ai"
    ollama_manifest(
        root, f"{reg}/library/llama3.2/1b", {"application/vnd.ollama.image.license": license_, MODEL: llama}
    )
    ollama_manifest(root, f"{reg}/someone/custom/v1", {MODEL: custom})
    ollama_manifest(root, "hf.co/bartowski/Qwen-GGUF/Q4_K_M", {MODEL: hf})
    ollama_manifest(root, f"{reg}/library/missing/latest", {MODEL: "sha256:" + "0" * 64})
    ollama_manifest(root, f"{reg}/library/other/latest", {MODEL: not_gguf})
    ollama_manifest(root, f"{reg}/library/sneaky/latest", {MODEL: "sha256:../../../etc/passwd"})
    ollama_manifest(root, f"{reg}/library/nomodel/latest", {"application/vnd.ollama.image.license": license_})
    text(root / "manifests" / reg / "library" / "corrupt" / "latest", "{not json")
    text(root / "manifests" / reg / "library" / "layers" / "latest", '{"layers": 5}')
    text(root / "manifests" / reg / "library" / "list" / "latest", "[1, 2]")
    text(root / "manifests" / reg / "library" / "deep" / "latest", "[" * 20_000)
    padded = json.dumps({"layers": [{"mediaType": MODEL, "digest": custom}]}) + " " * 100_000  # over the read cap
    text(root / "manifests" / reg / "library" / "huge" / "latest", padded)
    found = find_models([("Ollama", root)])
    assert names(found) == ["hf.co/bartowski/Qwen-GGUF:Q4_K_M", "llama3.2:1b", "someone/custom:v1"]
    by_name = {m.name: m for m in found}
    assert by_name["llama3.2:1b"].path == root / "blobs" / f"sha256-{llama.split(':')[1]}"
    assert by_name["llama3.2:1b"].size_bytes == len(b"GGUF llama weights")
    assert all(m.source == "Ollama" for m in found)


def test_same_file_from_two_roots_is_reported_once(tmp_path: Path) -> None:
    gguf(tmp_path / "a" / "m.gguf")
    found = find_models([("folder", tmp_path / "a"), ("folder", tmp_path / "a")])
    assert len(found) == 1


def test_results_sorted_by_source_then_name(tmp_path: Path) -> None:
    gguf(tmp_path / "lms" / "pub" / "repo" / "b.gguf")
    gguf(tmp_path / "lms" / "pub" / "repo" / "A.gguf")
    gguf(tmp_path / "dir" / "z.gguf")
    hf_cache(tmp_path / "hub")
    found = find_models(
        [("folder", tmp_path / "dir"), ("LM Studio", tmp_path / "lms"), ("Hugging Face cache", tmp_path / "hub")]
    )
    assert [m.source for m in found] == ["Hugging Face cache"] * 2 + ["LM Studio"] * 2 + ["folder"]
    assert names(found)[2:] == ["pub/repo · A.gguf", "pub/repo · b.gguf", "z.gguf"]


# --- search_roots ---------------------------------------------------------------------------------------------------


def mine(roots: list[tuple[str, Path]], tmp_path: Path) -> list[tuple[str, Path]]:
    """Only roots inside the test's folder (a real /usr/share/ollama may exist on the host)."""
    return [(source, path) for source, path in roots if path.is_relative_to(tmp_path)]


def test_search_roots_defaults_only_existing(tmp_path: Path) -> None:
    assert mine(search_roots(home=tmp_path, env={}), tmp_path) == []
    for folder in (".cache/huggingface/hub", ".lmstudio/models", ".cache/lm-studio/models", ".ollama/models"):
        (tmp_path / folder).mkdir(parents=True)
    assert mine(search_roots(home=tmp_path, env={}), tmp_path) == [
        ("Hugging Face cache", tmp_path / ".cache/huggingface/hub"),
        ("LM Studio", tmp_path / ".lmstudio/models"),
        ("LM Studio", tmp_path / ".cache/lm-studio/models"),
        ("Ollama", tmp_path / ".ollama/models"),
    ]


def test_search_roots_env_overrides(tmp_path: Path) -> None:
    for folder in (".cache/huggingface/hub", ".ollama/models", "hf", "hfhome/hub", "oll", "lms"):
        (tmp_path / folder).mkdir(parents=True)
    env = {
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "HF_HOME": str(tmp_path / "hfhome"),
        "OLLAMA_MODELS": str(tmp_path / "oll"),
        "LMSTUDIO_MODELS_DIR": str(tmp_path / "lms"),
    }
    assert mine(search_roots(home=tmp_path, env=env), tmp_path) == [
        ("Hugging Face cache", tmp_path / "hf"),
        ("LM Studio", tmp_path / "lms"),
        ("Ollama", tmp_path / "oll"),
    ]
    del env["HF_HUB_CACHE"]
    assert mine(search_roots(home=tmp_path, env=env), tmp_path)[0] == ("Hugging Face cache", tmp_path / "hfhome/hub")
    # An override pointing nowhere does not fall back to the default.
    env["OLLAMA_MODELS"] = str(tmp_path / "missing")
    assert "Ollama" not in [source for source, _ in mine(search_roots(home=tmp_path, env=env), tmp_path)]


def test_search_roots_lists_a_folder_once(tmp_path: Path) -> None:
    (tmp_path / ".lmstudio/models").mkdir(parents=True)
    link(tmp_path / "alias", tmp_path / ".lmstudio/models")
    roots = mine(search_roots(home=tmp_path, env={"LMSTUDIO_MODELS_DIR": str(tmp_path / "alias")}), tmp_path)
    assert roots == [("LM Studio", tmp_path / ".lmstudio/models")]


def test_find_models_defaults_to_search_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "OLLAMA_MODELS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("LMSTUDIO_MODELS_DIR", raising=False)
    monkeypatch.setattr(discover.Path, "home", classmethod(lambda cls: tmp_path))
    model = gguf(tmp_path / ".lmstudio" / "models" / "pub" / "repo" / "m.gguf")
    found = [m for m in find_models() if m.path.is_relative_to(tmp_path)]
    assert found == [FoundModel(model, "pub/repo · m.gguf", "LM Studio", model.stat().st_size)]
