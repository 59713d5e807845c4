"""What the formulas need to know about a model: its size and its shape.

From a GGUF file (:class:`profiler.model.gguf_meta.ModelInfo`), from the dataset's
``models.csv`` (:class:`profiler.phone.specs.ModelSpec`), or, with a size alone,
estimated: the shape then follows the Llama 3 family (8B: 32 layers, d_model 4096,
8 KV heads, head dim 128, vocab 128,256; 1B: 16 layers, d_model 2048, head dim 64),
depth and width growing as the cube root of the parameter count,
n_layers = round(32 × (P / 8e9)^(1/3)), d_model = 4096 × (P / 8e9)^(1/3), 8 KV heads,
head dim 128 (64 below 2B).
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler.model import kernels
from profiler.model.gguf_meta import ModelInfo
from profiler.phone.specs import ModelSpec

LLAMA3_VOCAB = 128_256


@dataclass(frozen=True)
class Shape:
    params: float
    weight_bytes: float
    n_layers: int
    n_kv_heads: int
    head_dim_k: int
    head_dim_v: int
    vocab_size: int
    embedding_length: int
    estimated: bool  # True when any field came from the scaling rule
    n_heads: int = 0
    lookup_params: float = 0.0  # weights only looked up, never multiplied (untied input embeddings)
    kv_layers: int = 0  # layers that keep a KV cache (hybrid models have fewer); 0 = every layer
    ffn_dim: int = 0  # the feed-forward width (0: unknown, then estimated from the parameters)

    @property
    def params_matmul(self) -> float:
        """Weights multiplied for every token."""
        return max(self.params - self.lookup_params, 0.1 * self.params)

    @property
    def bytes_multiplied(self) -> float:
        """Weight bytes streamed for every token (lookup tables are read a row at a time)."""
        return self.weight_bytes * self.params_matmul / self.params

    @property
    def attention_width(self) -> int:
        return (self.n_heads or self.n_kv_heads) * self.head_dim_k

    def misfit_share(self, block: int = kernels.BLOCK_256) -> float:
        """The share of the multiplied weights in matrices whose rows are not a multiple of ``block``
        long (llama.cpp stores those in another type: :data:`profiler.model.kernels.FALLBACK`).

        Per layer: Q, K, V, gate and up read rows of the model's width, the attention output rows
        of the attention width, down rows of the feed-forward width. The output matrix is left
        at the file's class: the quantizer gives it a type of its own (Q6_K in the K-quant mixes,
        then Q8_0 where its rows misfit), which the model has always counted at the main class;
        counting it as a fallback too measured worse across SoCs (docs/FIDELITY.md). A width
        that is not known counts as a multiple (no fallback): an estimated shape's widths are
        guesses (a size-only prediction has no file to misfit), and an unknown feed-forward
        width only sizes the down matrix."""
        d, a = self.embedding_length, self.attention_width
        if self.estimated or not d or not self.n_layers:
            return 0.0
        kv = self.n_kv_heads * self.head_dim_k
        output = float(self.vocab_size * d)
        per_layer = max((self.params_matmul - output) / self.n_layers, 0.0)
        f = self.ffn_dim or max((per_layer - 2 * d * a - 2 * d * kv) / (3 * d), 0.0)
        parts = ((d, d * (a + 2 * kv) + 2 * d * f), (a, a * d), (self.ffn_dim, f * d))
        layer_total = sum(size for _, size in parts)
        if layer_total <= 0:
            return 0.0
        scale = per_layer / layer_total if per_layer else 1.0  # the parts, sized to the parameter count
        misfit = sum(size for row, size in parts if row and int(row) % block) * scale * self.n_layers
        return min(1.0, misfit / self.params_matmul)


def estimated_shape(params: float, bits_per_weight: float, quant: str | None = None) -> Shape:
    """A Llama-3-like shape for ``params`` parameters (see the module docstring).

    With a GGUF type (``quant``), the weights follow llama.cpp's quantizer: the output matrix
    (vocabulary × width) at its own type, the rest at the type's bits.
    """
    scale = (params / 8e9) ** (1 / 3)
    head_dim = 128 if params >= 2e9 else 64
    d_model = max(head_dim, round(4096 * scale))
    output = min(float(LLAMA3_VOCAB * d_model), params / 2)
    weights = kernels.file_bytes(params, quant, output) if quant else params * bits_per_weight / 8
    return Shape(
        params=params,
        weight_bytes=weights,
        n_layers=max(1, round(32 * scale)),
        n_kv_heads=8,
        head_dim_k=head_dim,
        head_dim_v=head_dim,
        vocab_size=LLAMA3_VOCAB,
        embedding_length=d_model,
        estimated=True,
        n_heads=max(1, d_model // head_dim),
        lookup_params=0.0,  # Llama 3.2 1B/3B tie their embeddings; 8B does not (then ~7 % more work here)
    )


def model_shape(model: ModelInfo, bits_per_weight: float | None = None) -> Shape:
    """The shape from GGUF metadata; missing fields are filled from the scaling rule."""
    guess = estimated_shape(float(model.parameters), bits_per_weight or model.bits_per_weight or 16.0)
    weight_bytes = model.parameters * bits_per_weight / 8 if bits_per_weight else float(model.tensor_bytes)
    fields = (model.n_layers, model.n_kv_heads, model.head_dim_k, model.vocab_size, model.embedding_length)
    return Shape(
        params=float(model.parameters),
        weight_bytes=weight_bytes,
        n_layers=model.n_layers or guess.n_layers,
        n_kv_heads=model.n_kv_heads or guess.n_kv_heads,
        head_dim_k=model.head_dim_k or guess.head_dim_k,
        head_dim_v=model.head_dim_v or model.head_dim_k or guess.head_dim_v,
        vocab_size=model.vocab_size or guess.vocab_size,
        embedding_length=model.embedding_length or guess.embedding_length,
        estimated=any(f is None for f in fields),
        n_heads=model.n_heads or guess.n_heads,
        lookup_params=float(model.lookup_params),
        kv_layers=model.kv_layers or 0,
        ffn_dim=model.ffn_dim or 0,
    )


def spec_shape(spec: ModelSpec, weight_bytes: float | None, bits_per_weight: float, quant: str | None = None) -> Shape:
    """The shape of a dataset model (models.csv), its weights from the run's load log or its type."""
    params = (spec.params_b or 0.0) * 1e9
    guess = estimated_shape(params, bits_per_weight)
    d_model = spec.d_model or guess.embedding_length
    vocab = spec.vocab or guess.vocab_size
    lookup = spec.lookup_params_b * 1e9 if spec.lookup_params_b else 0.0
    if not lookup and spec.tied_embeddings is False:
        lookup = float(vocab * d_model)
    head_dim = spec.head_dim or (d_model // spec.n_heads if spec.n_heads else guess.head_dim_k)
    if not weight_bytes:
        known = quant and kernels.normalize(quant) in kernels.NOMINAL_BPW
        weight_bytes = kernels.file_bytes(params, quant, vocab * d_model) if known else params * bits_per_weight / 8
    return Shape(
        params=params,
        weight_bytes=weight_bytes,
        n_layers=spec.n_layers or guess.n_layers,
        n_kv_heads=spec.n_kv_heads or spec.n_heads or guess.n_kv_heads,
        head_dim_k=head_dim,
        head_dim_v=head_dim,
        vocab_size=vocab,
        embedding_length=d_model,
        estimated=not (spec.n_layers and spec.d_model and spec.vocab),
        n_heads=spec.n_heads or guess.n_heads,
        lookup_params=lookup,
        kv_layers=spec.kv_layers or 0,
        ffn_dim=spec.ffn_dim or 0,
    )


def kv_bytes_per_position(shape: Shape, kv_bytes_per_elem: float = 2.0) -> float:
    layers = shape.kv_layers or shape.n_layers
    return layers * shape.n_kv_heads * (shape.head_dim_k + shape.head_dim_v) * kv_bytes_per_elem
