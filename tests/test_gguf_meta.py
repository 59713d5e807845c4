from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from profiler.errors import ModelFileError
from profiler.model import gguf_meta, models
from tests import gguf_corpus


def test_default_models_metadata(smollm2: Path, gemma3: Path):
    smol = gguf_meta.read_metadata(smollm2)
    assert smol.architecture == "llama"
    assert smol.quantization == "Q4_1"
    assert 130e6 < smol.parameters < 140e6  # SmolLM2-135M
    assert smol.n_layers == 30 and smol.n_heads == 9 and smol.n_kv_heads == 3
    assert smol.vocab_size == 49152 and smol.context_length == 8192
    assert smol.has_chat_template
    assert smol.file_size_bytes == smollm2.stat().st_size
    assert 4.5 < smol.bits_per_weight < 6.5  # Q4_1 is 5 bits plus a few F32 tensors
    gem = gguf_meta.read_metadata(gemma3)
    assert gem.architecture == "gemma3" and gem.quantization == "Q4_K_M"
    assert 260e6 < gem.parameters < 275e6 and gem.n_layers == 18


def test_parameter_count_matches_the_gguf_package(smollm2: Path):
    import gguf

    reader = gguf.GGUFReader(smollm2)
    expected = sum(int(t.n_elements) for t in reader.tensors)
    assert gguf_meta.read_metadata(smollm2).parameters == expected


def test_path_with_spaces_and_non_ascii(tmp_path: Path, smollm2: Path):
    odd = tmp_path / "mödels dir ✓" / "my model ü.gguf"
    odd.parent.mkdir()
    os.symlink(smollm2, odd)
    assert gguf_meta.read_metadata(odd).parameters > 0


@pytest.mark.parametrize(("make", "message"), gguf_corpus.BROKEN.values(), ids=gguf_corpus.BROKEN.keys())
def test_bad_files_get_one_line_errors(tmp_path: Path, smollm2: Path, make, message: str):
    path = make(tmp_path, smollm2)
    with pytest.raises(ModelFileError) as info:
        gguf_meta.read_metadata(path)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; permissions cannot be tested")
def test_unreadable_file(tmp_path: Path, smollm2: Path):
    locked = Path(shutil.copy(smollm2, tmp_path / "locked.gguf"))
    locked.chmod(0)
    with pytest.raises(ModelFileError, match="permission denied"):
        gguf_meta.read_metadata(locked)


def test_builtin_names_resolve_and_unknown_names_fail():
    assert models.resolve("smollm2-135m").name.endswith(".gguf")
    with pytest.raises(ModelFileError, match="not a built-in name"):
        models.resolve("smollm3")


def test_an_unchanged_file_is_parsed_once_and_a_rewritten_one_again(tmp_path: Path, smollm2: Path):
    """A bench builds a session per repetition: the same file is not walked again, a changed one is."""
    copy = tmp_path / "model.gguf"
    shutil.copyfile(smollm2, copy)
    first = gguf_meta.read_metadata(copy)
    assert gguf_meta.read_metadata(copy) is first  # not parsed again
    data = bytearray(copy.read_bytes())
    at = data.index(b"Smollm2 135M")
    data[at : at + 7] = b"Renamed"  # same size, one string changed in place
    with open(copy, "r+b") as handle:
        handle.write(data[: at + 7])
    again = gguf_meta.read_metadata(copy)
    assert again.name.startswith("Renamed") and first.name.startswith("Smollm2")
    moved = tmp_path / "other name.gguf"
    shutil.copyfile(copy, moved)
    assert gguf_meta.read_metadata(moved).path == str(moved)  # another path is its own entry
