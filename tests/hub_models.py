"""Real GGUF files for the hub tests: a Llama-shaped header with a real tokenizer array, and zeroed weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FILE_TYPES = {"F16": 1, "Q8_0": 7, "Q4_K_M": 15, "Q2_K": 10, "Q6_K": 18}


def _ggml_type(quant: str) -> tuple[object, int, int]:
    """The GGML tensor type a test file of ``quant`` is written with, and its block and type sizes."""
    import gguf

    ggml_type = {
        "F16": gguf.GGMLQuantizationType.F16,
        "Q8_0": gguf.GGMLQuantizationType.Q8_0,
        "Q4_K_M": gguf.GGMLQuantizationType.Q4_K,
        "Q2_K": gguf.GGMLQuantizationType.Q2_K,
        "Q6_K": gguf.GGMLQuantizationType.Q6_K,
    }[quant]
    block, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
    return ggml_type, block, type_size


def tiny_gguf(
    dest: Path,
    *,
    quant: str = "Q4_K_M",
    elements: int = 16 << 20,
    n_vocab: int = 32_000,
    name: str = "Tiny",
    shards: int = 1,
) -> Path:
    """A GGUF whose header (metadata, a ``n_vocab``-entry tokenizer) is small and whose weights are not.

    With ``shards`` > 1, gguf's writer splits it (one tensor per shard) into ``NAME-0000k-of-0000n.gguf``
    beside ``dest`` (llama.cpp's split naming); the first shard's path is returned.
    """
    import gguf

    ggml_type, block, type_size = _ggml_type(quant)
    writer = gguf.GGUFWriter(str(dest), "llama", split_max_tensors=1 if shards > 1 else 0)
    writer.add_name(name)
    writer.add_file_type(FILE_TYPES[quant])
    writer.add_context_length(4096)
    writer.add_embedding_length(2048)
    writer.add_block_count(16)
    writer.add_feed_forward_length(8192)
    writer.add_head_count(32)
    writer.add_head_count_kv(8)
    writer.add_tokenizer_model("llama")
    writer.add_token_list([f"tok{i:06d}" for i in range(n_vocab)])
    cols = 4096
    rows = max(1, elements // cols)
    rows = max(1, rows // shards)
    data = np.zeros((rows, cols // block * type_size), dtype=np.uint8)  # the byte shape of a quantized tensor
    for i in range(shards):
        writer.add_tensor(f"blk.{i}.ffn_up.weight", data, raw_dtype=ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if shards > 1:
        return dest.with_name(f"{dest.stem}-00001-of-{shards:05d}.gguf")
    return dest


def header_size(path: Path) -> int:
    """Bytes before the tensor data (what a remote header read may fetch at most, padding aside)."""
    from profiler.model.gguf_meta import read_metadata

    info = read_metadata(path)
    return info.file_size_bytes - info.tensor_bytes


def sparse_gguf(
    dest: Path,
    *,
    params: float,
    quant: str = "Q4_K_M",
    n_vocab: int = 151_936,
    name: str = "Model",
    layers: int = 28,
    width: int = 1536,
) -> Path:
    """A GGUF of a real model's size whose weights are a sparse hole: a true header, no disk spent.

    Enough for everything that reads only headers (the Hub listing, remote predictions); a model
    that must run uses a real file.
    """
    import os

    import gguf

    ggml_type, block, type_size = _ggml_type(quant)
    writer = gguf.GGUFWriter(str(dest), "qwen2")
    writer.add_name(name)
    writer.add_file_type(FILE_TYPES[quant])
    writer.add_context_length(32768)
    writer.add_embedding_length(width)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(width * 6)
    writer.add_head_count(width // 128)
    writer.add_head_count_kv(2)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(n_vocab)])
    cols = 4096
    rows = int(params) // cols
    nbytes = rows * cols // block * type_size
    byte_shape = (rows, cols // block * type_size)  # the writer takes a quantized tensor's byte shape
    writer.add_tensor_info("blk.0.ffn_up.weight", byte_shape, np.dtype(np.uint8), nbytes, raw_dtype=ggml_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    size = dest.stat().st_size
    align = 32
    data_start = (size + align - 1) // align * align
    os.truncate(dest, data_start + nbytes)  # the hole reads as zeros and takes no disk
    return dest
