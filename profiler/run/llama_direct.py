"""llama.cpp driven through llama-cpp-python's C bindings, as llama-bench drives it.

The child used ``Llama.generate``: a Python loop per token that copies the logits, builds the
sampler in Python and keeps every token in numpy. That cost 10-17 % of decode speed against
llama-bench on a 2-core host (benchmarks/RESULTS.md, "Speed against llama-bench"). Here the
prompt goes in as one batch per ``n_batch`` tokens (``llama_batch_get_one``), sampling is
llama.cpp's own sampler chain (``llama_sampler_sample``) and nothing is copied per token
unless ``keep_logits`` asks for it. Tokens come from ``run``: the C decode loop
(``profiler/data/decode_loop.c``, built by ``profiler.run.decode_loop``) samples, stamps and
decodes a burst of them in one call. Without it the child calls ``sample`` and ``decode`` per
token from Python, and a plain greedy pick (temperature 0, no repeat penalty) there takes the
first maximum of llama.cpp's logits with numpy (0.1 ms against the chain's 0.55 ms for a Gemma 3
token, whose n_vocab-long candidate array the chain builds each token), the token llama.cpp's
greedy sampler picks, handed to the chain as chosen (benchmarks/RESULTS.md, "The greedy pick").
Context settings follow llama-bench's defaults: ``n_batch`` 2048, ``n_ubatch`` 512, flash
attention "auto".

Only the child imports this module (it loads llama.cpp).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import random
from dataclasses import dataclass
from typing import Any

import llama_cpp as L
import numpy as np

FLASH_ATTN = {
    "auto": L.LLAMA_FLASH_ATTN_TYPE_AUTO,
    "on": L.LLAMA_FLASH_ATTN_TYPE_ENABLED,
    "off": L.LLAMA_FLASH_ATTN_TYPE_DISABLED,
}


class LoadFailed(ValueError):
    """llama.cpp refused the model file or could not build a context for it (its log says why)."""


class ModelRefused(LoadFailed):
    """llama.cpp refused the model file itself (its log says why)."""


@dataclass(frozen=True)
class Settings:
    """What the context is built with; the defaults are llama-bench's."""

    n_ctx: int
    n_threads: int
    n_batch: int = 2048
    n_ubatch: int = 512
    flash_attn: str = "auto"
    gpu_layers: int = 0
    use_mmap: bool = True


@dataclass(frozen=True)
class Sampling:
    """A sampler chain as llama-cpp-python orders it; temperature 0 is greedy."""

    temperature: float = 0.0
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int = 42


def _ggml_library(stem: str) -> ctypes.CDLL | None:
    """One of the ggml libraries beside llama-cpp-python's libllama (``ggml-base``, ``ggml-cpu``)."""
    folder = os.path.dirname(L.llama_cpp._lib._name)
    for name in (f"lib{stem}.so", f"lib{stem}.dylib", f"{stem}.dll"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return ctypes.CDLL(path)
    return None


def has_amx() -> bool:
    """Whether this llama.cpp build has its AMX kernels compiled in (x86 built with -march=native
    on a CPU with AMX); they crash on some CPUs (``profiler.run.llama_build``)."""
    if b"AMX_INT8 = 1" in (L.llama_print_system_info() or b""):  # every CPU backend loaded, variants too
        return True
    try:
        return bool(_ggml_function("ggml_cpu_has_amx_int8", ctypes.c_int)())
    except (AttributeError, OSError):
        return False


AMX_OFF = (
    "off: this build has llama.cpp's AMX kernels, which crash on some CPUs (llama.cpp #20824);"
    " `make setup` rebuilds without them"
)


def _ggml_function(name: str, restype: Any, *argtypes: Any) -> Any:
    """A ggml function, looked up through libllama's handle first: the dynamic linker finds it in
    libllama or the ggml libraries loaded with it (``ggml``: the backend registry; ``ggml-base``:
    devices, version; ``ggml-cpu``), without loading a second copy of any. A library beside
    libllama is opened by its path only for a symbol not found that way."""
    beside = (_ggml_library(stem) for stem in ("ggml", "ggml-base", "ggml-cpu"))  # opened only when reached
    for handle in itertools.chain([L.llama_cpp._lib], beside):
        try:
            function = handle[name] if handle is not None else None
        except AttributeError:
            continue
        if function is not None:
            function.restype, function.argtypes = restype, list(argtypes)
            return function
    raise AttributeError(f"no llama.cpp library exports {name}")


def build_info() -> dict[str, str]:
    """llama.cpp's build, as llama-bench's build_commit, cpu_info, gpu_info and backends read it
    (after ``llama_backend_init``, which registers the backends)."""
    info = {"build_commit": "unknown", "ggml_version": "unknown", "cpu_info": "", "gpu_info": "", "backends": "CPU"}
    text, pointer, size = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
    try:
        info["build_commit"] = _ggml_function("ggml_commit", text)().decode()
        info["ggml_version"] = _ggml_function("ggml_version", text)().decode()
        dev_count, dev_get = (
            _ggml_function("ggml_backend_dev_count", size),
            _ggml_function("ggml_backend_dev_get", pointer, size),
        )
        dev_type = _ggml_function("ggml_backend_dev_type", ctypes.c_int, pointer)
        dev_description = _ggml_function("ggml_backend_dev_description", text, pointer)
        cpus, gpus = [], []
        for i in range(dev_count()):  # enum: 0 CPU, 1 GPU, 2 IGPU, 3 ACCEL
            device = dev_get(i)
            (cpus if dev_type(device) in (0, 3) else gpus).append(dev_description(device).decode())
        info["cpu_info"], info["gpu_info"] = ", ".join(cpus), ", ".join(gpus)
        reg_count, reg_get = (
            _ggml_function("ggml_backend_reg_count", size),
            _ggml_function("ggml_backend_reg_get", pointer, size),
        )
        reg_name = _ggml_function("ggml_backend_reg_name", text, pointer)
        names = [reg_name(reg_get(i)).decode() for i in range(reg_count())]
        info["backends"] = ",".join(n for n in names if n != "CPU") or "CPU"
    except (AttributeError, OSError):  # an older or differently built llama.cpp: say what is known
        pass
    return info


class Engine:
    """One model and one context; ``close`` frees both."""

    def __init__(self, path: str, settings: Settings) -> None:
        L.llama_backend_init()
        params = L.llama_model_default_params()
        params.n_gpu_layers = settings.gpu_layers
        params.load_mode = L.LLAMA_LOAD_MODE_MMAP if settings.use_mmap else L.LLAMA_LOAD_MODE_NONE
        # The AMX kernels live in an "extra" weight buffer type; without extra types no weight is
        # repacked (AMX or not): slower, but the AMX kernels are never reached.
        self.weight_repack = AMX_OFF if has_amx() else "on"
        params.use_extra_bufts = self.weight_repack == "on"
        self.model = L.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            raise ModelRefused(f"Failed to load model from file: {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self._row = ctypes.c_float * self.n_vocab  # one position's logits, for the greedy pick
        ctx = L.llama_context_default_params()
        ctx.n_ctx = settings.n_ctx
        ctx.n_batch = min(settings.n_batch, settings.n_ctx)
        ctx.n_ubatch = min(settings.n_ubatch, ctx.n_batch)
        ctx.n_threads = ctx.n_threads_batch = settings.n_threads
        ctx.flash_attn_type = FLASH_ATTN[settings.flash_attn]
        ctx.no_perf = True
        self.ctx = L.llama_init_from_model(self.model, ctx)
        if not self.ctx:
            L.llama_model_free(self.model)
            raise LoadFailed(f"llama.cpp could not create a context of {settings.n_ctx} tokens for {path}")
        self.n_batch = int(ctx.n_batch)
        self.settings = settings
        self.sampler: Any = None
        self.greedy = False  # a plain greedy chain: ``sample`` picks the first maximum itself
        self.logits: Any = None  # every position's logits, when asked to keep them
        self.positions = 0
        self._loop: Any = None  # the C decode loop (``attach_loop``), when the parent built one

    # -- the model --------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            n = L.llama_model_meta_val_str(self.model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    def describe(self) -> dict[str, Any]:
        buf = ctypes.create_string_buffer(128)
        L.llama_model_desc(self.model, buf, 128)
        return {
            "model_type": buf.value.decode("utf-8", errors="replace"),
            "model_size": int(L.llama_model_size(self.model)),
            "model_n_params": int(L.llama_model_n_params(self.model)),
            "n_ctx_train": int(L.llama_model_n_ctx_train(self.model)),
        }

    def n_ctx(self) -> int:
        return int(L.llama_n_ctx(self.ctx))

    def bos(self) -> int:
        return int(L.llama_vocab_bos(self.vocab))

    def eos(self) -> int:
        return int(L.llama_vocab_eos(self.vocab))

    def adds_bos(self) -> bool:
        return bool(L.llama_vocab_get_add_bos(self.vocab))

    def token_text(self, token: int) -> str:
        return "" if token < 0 else L.llama_vocab_get_text(self.vocab, token).decode("utf-8", errors="replace")

    def is_end(self, token: int) -> bool:
        return bool(L.llama_vocab_is_eog(self.vocab, token))

    def tokenize(self, text: bytes, *, add_bos: bool, special: bool) -> list[int]:
        size = len(text) + 8
        buf = (L.llama_token * size)()
        n = L.llama_tokenize(self.vocab, text, len(text), buf, size, add_bos, special)
        if n < 0:
            size = -n
            buf = (L.llama_token * size)()
            n = L.llama_tokenize(self.vocab, text, len(text), buf, size, add_bos, special)
        return list(buf[:n])

    def random_prompt(self, n: int, seed: int) -> list[int]:
        """llama-bench's prompt: random token ids, BOS first where the model adds one (never empty)."""
        rng = random.Random(seed)
        tokens = [rng.randrange(self.n_vocab) for _ in range(max(n, 1))]
        if self.adds_bos() and self.bos() >= 0:
            tokens[0] = self.bos()
        return tokens

    def piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = L.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = L.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    # -- decoding ---------------------------------------------------------------------
    def set_sampling(self, sampling: Sampling) -> None:
        params = L.llama_sampler_chain_default_params()
        params.no_perf = True
        chain = L.llama_sampler_chain_init(params)
        add = L.llama_sampler_chain_add
        if sampling.repeat_penalty != 1.0:
            add(chain, L.llama_sampler_init_penalties(self.n_vocab, 64, sampling.repeat_penalty, 0.0, 0.0))
        if sampling.temperature <= 0:
            add(chain, L.llama_sampler_init_greedy())
        else:
            add(chain, L.llama_sampler_init_top_k(sampling.top_k))
            add(chain, L.llama_sampler_init_top_p(sampling.top_p, 1))
            add(chain, L.llama_sampler_init_min_p(sampling.min_p, 1))
            add(chain, L.llama_sampler_init_temp(sampling.temperature))
            add(chain, L.llama_sampler_init_dist(sampling.seed & 0xFFFFFFFF))
        if self.sampler is not None:
            L.llama_sampler_free(self.sampler)
        self.sampler = chain
        self.greedy = sampling.temperature <= 0 and sampling.repeat_penalty == 1.0

    def keep_logits(self) -> None:
        """Keep every position's logits, as ``Llama(logits_all=True)`` does: n_vocab × 4 bytes a token."""
        self.logits = np.empty((self.n_ctx(), self.n_vocab), dtype=np.float32)  # pages are touched as rows fill

    def decode(self, tokens: list[int]) -> None:
        """Feed tokens at the next positions, ``n_batch`` at a time; logits come out for the last one."""
        if self.logits is not None:
            self._decode_keeping(tokens)
            return
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            array = (L.llama_token * len(chunk))(*chunk)
            self._check(L.llama_decode(self.ctx, L.llama_batch_get_one(array, len(chunk))))
        self.positions += len(tokens)

    def _decode_keeping(self, tokens: list[int]) -> None:
        row_bytes = self.n_vocab * 4
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            batch = L.llama_batch_init(len(chunk), 0, 1)
            try:
                for i, token in enumerate(chunk):
                    batch.token[i], batch.pos[i] = token, self.positions + i
                    batch.n_seq_id[i], batch.seq_id[i][0], batch.logits[i] = 1, 0, 1
                batch.n_tokens = len(chunk)
                self._check(L.llama_decode(self.ctx, batch))
                for i in range(len(chunk)):
                    row = self.logits[self.positions + i]
                    ctypes.memmove(row.ctypes.data, L.llama_get_logits_ith(self.ctx, i), row_bytes)
            finally:
                L.llama_batch_free(batch)
            self.positions += len(chunk)

    def sample(self) -> int:
        """The next token from the last position's logits (the chain accepts it)."""
        if not self.greedy:
            return int(L.llama_sampler_sample(self.sampler, self.ctx, -1))
        pointer = ctypes.cast(L.llama_get_logits_ith(self.ctx, -1), ctypes.c_void_p).value
        if not pointer:
            raise RuntimeError(f"llama.cpp has no logits at position {self.positions}")
        row = np.frombuffer(self._row.from_address(pointer), dtype=np.float32)
        token = int(row.argmax())  # the first maximum, as llama.cpp's greedy sampler
        if np.isnan(row[token]):  # numpy's maximum is the first NaN; llama.cpp's comparisons pass over them
            return int(L.llama_sampler_sample(self.sampler, self.ctx, -1))
        L.llama_sampler_accept(self.sampler, token)
        return token

    # -- the C decode loop ------------------------------------------------------------
    def attach_loop(self, path: str) -> None:
        """Load the C decode loop (``profiler/run/decode_loop.py`` builds it; OSError if it will not load)."""
        function = ctypes.CDLL(path).pp_decode_run
        pointer = ctypes.c_void_p
        function.restype = ctypes.c_int
        function.argtypes = [pointer, pointer, pointer, ctypes.c_int, ctypes.c_double, ctypes.c_int, ctypes.c_int]
        function.argtypes += [pointer] * 4
        size = self.n_ctx()
        self._loop = function
        self._ids, self._stamps = (ctypes.c_int32 * size)(), (ctypes.c_double * size)()
        self._ended, self._code = ctypes.c_int(), ctypes.c_int()

    def has_loop(self) -> bool:
        return self._loop is not None

    def run(
        self, n: int, deadline: float, *, ignore_eos: bool, decode_last: bool
    ) -> tuple[list[int], list[float], bool]:
        """Up to ``n`` tokens from llama.cpp's sampler chain, each stamped (``time.monotonic``) and
        decoded, in one call to the C loop: it stops after the first token stamped at ``deadline``
        or later, and before an end-of-generation token (unless ``ignore_eos``), returning (ids,
        stamps, whether the end came). The n-th token is decoded only if ``decode_last``."""
        n = max(0, min(n, len(self._ids)))
        got = self._loop(
            self.ctx, self.sampler, self.vocab, n, deadline, int(ignore_eos), int(decode_last),
            ctypes.addressof(self._ids), ctypes.addressof(self._stamps),
            ctypes.byref(self._ended), ctypes.byref(self._code),
        )  # fmt: skip
        ended = bool(self._ended.value)
        decoded = got - 1 if (got == n and not decode_last and not ended) or self._code.value else got
        self.positions += max(0, decoded)
        self._check(self._code.value)
        return list(self._ids[:got]), list(self._stamps[:got]), ended

    def synchronize(self) -> None:
        L.llama_synchronize(self.ctx)

    def clear(self) -> None:
        """Forget every position (llama-bench clears the memory between repetitions)."""
        L.llama_memory_clear(L.llama_get_memory(self.ctx), False)
        self.positions = 0
        if self.sampler is not None:
            L.llama_sampler_reset(self.sampler)

    def _check(self, code: int) -> None:
        if code != 0:
            raise RuntimeError(f"llama_decode failed with code {code} at position {self.positions}")

    def close(self) -> None:
        if self.sampler is not None:
            L.llama_sampler_free(self.sampler)
            self.sampler = None
        if self.ctx:
            L.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            L.llama_model_free(self.model)
            self.model = None
