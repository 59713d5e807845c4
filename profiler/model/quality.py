"""How much a quantization changes the model's predictions, on a shipped public-domain text.

For the first N tokens of ``profiler/data/declaration.txt`` (the reference's tokenizer),
each model predicts every next token. Against the reference model:

- perplexity          = exp(−mean log p(token[i+1] | tokens ≤ i)), of each model on its own
- KL divergence       = mean over positions of Σ_v p_ref(v) (log p_ref(v) − log p_q(v))
- top-1 agreement     = share of positions where both models' most likely token is the same

The models run in a child process (``python -m profiler.model.quality OUT N REF MODEL…``) with
llama-cpp-python's logits for every position; results are cached by the files' content.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from profiler import paths
from profiler.errors import ProfilerError
from profiler.model import helper

CHUNK = 64  # positions per numpy step: bounds the working memory to CHUNK × vocab floats


def text_path() -> Path:
    return Path(str(resources.files("profiler") / "data" / "declaration.txt"))


def log_softmax(logits: Any) -> Any:
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _logits(model: str, tokens: list[int]) -> Any:
    import numpy as np
    from llama_cpp import Llama

    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    llm = Llama(model_path=model, n_ctx=len(tokens) + 8, logits_all=True, verbose=False, n_batch=512, n_threads=threads)
    try:
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32)
    finally:
        llm.close()


def measure(reference: str, models: list[str], n_tokens: int) -> dict[str, dict[str, float]]:
    """Perplexity, KL divergence and top-1 agreement of each model against the reference."""
    import numpy as np
    from llama_cpp import Llama

    probe = Llama(model_path=reference, n_ctx=64, vocab_only=True, verbose=False)
    try:
        tokens = probe.tokenize(text_path().read_bytes(), add_bos=True)[:n_tokens]
    finally:
        probe.close()
    targets = np.array(tokens[1:])
    ref = log_softmax(_logits(reference, tokens))[:-1]  # position i predicts token i+1
    results = {}
    for model in models:
        own = ref if model == reference else log_softmax(_logits(model, tokens))[:-1]
        kl, agree = 0.0, 0
        for start in range(0, len(ref), CHUNK):
            r, q = ref[start : start + CHUNK], own[start : start + CHUNK]
            kl += float((np.exp(r) * (r - q)).sum())
            agree += int((r.argmax(axis=-1) == q.argmax(axis=-1)).sum())
        nll = -own[np.arange(len(targets)), targets].mean()
        results[model] = {
            "perplexity": float(np.exp(nll)),
            "kl_divergence": max(0.0, kl / len(ref)),
            "top1_agreement": agree / len(ref),
            "tokens": len(tokens),
        }
    return results


def compare_to_reference(
    reference: Path,
    models: list[Path],
    n_tokens: int,
    *,
    hashes: dict[Path, str],
    should_stop: Callable[[], bool] | None = None,
) -> dict[Path, dict[str, float]]:
    """The quality of each model, from the cache or measured in a child process."""
    cache = paths.load_cache("quality.json")
    text = text_path().read_bytes()
    tag = f"{hashes[reference][:16]}|{hashlib.sha256(text).hexdigest()[:16]}|{n_tokens}"
    todo = [m for m in models if f"{tag}|{hashes[m][:16]}" not in cache]
    if todo:
        fd, name = tempfile.mkstemp(prefix="quality-", suffix=".json", dir=paths.cache_dir())
        os.close(fd)
        out = Path(name)
        args = [str(out), str(n_tokens), str(reference), *map(str, todo)]
        try:
            with tempfile.TemporaryFile() as log:
                helper.run(
                    "profiler.model.quality", args, log, should_stop=should_stop, stopped="quality scoring stopped"
                )
                log.seek(0)
                stderr = log.read().decode("utf-8", errors="replace")
            measured = json.loads(out.read_text() or "{}")
            if not all(str(m) in measured for m in todo):
                tail = (stderr.strip().splitlines() or ["no output"])[-1]
                raise ProfilerError(f"measuring quality against {reference.name} failed: {tail}")
        finally:
            out.unlink(missing_ok=True)
        for model in todo:
            cache[f"{tag}|{hashes[model][:16]}"] = measured[str(model)]
        paths.save_cache("quality.json", cache)
    return {m: cache[f"{tag}|{hashes[m][:16]}"] for m in models}


def _main(argv: list[str]) -> int:
    out, n_tokens, reference, models = Path(argv[0]), int(argv[1]), argv[2], argv[3:]
    out.write_text(json.dumps(measure(reference, models, n_tokens)))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
