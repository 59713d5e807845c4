"""Which of a repository's files fits the chosen phone, and how fast it would run there.

``repo_advice`` reads every candidate file's header remotely and predicts each on the phone;
``search_advice`` reads one header per repository (its architecture is the same in every
file) and sizes the other files from their listed bytes, so a search stays cheap. The best
file is the most precise one (the biggest) whose predicted footprint fits the budget.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from profiler.errors import BadInput
from profiler.model.gguf_meta import ModelInfo
from profiler.model.hub import names
from profiler.model.hub.client import Hub, HubFile, RepoHit
from profiler.phone import predict
from profiler.phone.profiles import Profile


@dataclass(frozen=True)
class FileAdvice:
    file: HubFile
    info: ModelInfo | None
    prediction: predict.Prediction | None
    error: str = ""  # why this file has no prediction (an unreadable header, a type we do not know)
    from_listing: bool = False  # sized from the listing, its header not read

    @property
    def verdict(self) -> str:
        return self.prediction.memory.verdict if self.prediction else "unknown"


@dataclass(frozen=True)
class RepoAdvice:
    repo: str
    files: tuple[FileAdvice, ...]
    best: FileAdvice | None
    hit: RepoHit | None = None
    error: str = ""


def _predict(profile: Profile, info: ModelInfo, ctx: int) -> predict.Prediction:
    return predict.predict(profile, model=info, ctx=ctx)


def best_of(files: list[FileAdvice]) -> FileAdvice | None:
    fitting = [f for f in files if f.verdict == "fits"]
    return max(fitting, key=lambda f: f.file.size) if fitting else None


def repo_advice(hub: Hub, repo: str, profile: Profile, *, ctx: int = 2048) -> RepoAdvice:
    """Every GGUF model of ``repo``: its header read remotely, predicted on ``profile``."""
    out = []
    for file in hub.files(repo):
        try:
            info = hub.header(repo, file)
            out.append(FileAdvice(file, info, _predict(profile, info, ctx)))
        except BadInput as exc:
            out.append(FileAdvice(file, None, None, error=str(exc)))
    return RepoAdvice(repo, tuple(out), best_of(out))


def _sized_like(info: ModelInfo, file: HubFile) -> ModelInfo:
    """``info``'s architecture with ``file``'s size and type (the header of another file of the repository)."""
    header = info.file_size_bytes - info.tensor_bytes
    tensor_bytes = max(file.size - header, 1)
    return dataclasses.replace(
        info,
        path=file.name,
        file_name=file.name.rsplit("/", 1)[-1],
        file_size_bytes=file.size,
        tensor_bytes=tensor_bytes,
        quantization=file.quant or "unknown",
        bits_per_weight=round(tensor_bytes * 8 / info.parameters, 3) if info.parameters else 0.0,
    )


def search_advice(
    hub: Hub,
    query: str,
    profile: Profile,
    *,
    limit: int = 10,
    sort: str = "downloads",
    min_params_b: float | None = None,
    max_params_b: float | None = None,
    ctx: int = 2048,
    on_repo: Callable[[RepoAdvice], None] | None = None,
) -> list[RepoAdvice]:
    """The top ``limit`` GGUF repositories for ``query`` in the size range, each with its best file here."""
    hits = hub.search(query, limit=max(limit * 3, limit), sort=sort)
    out: list[RepoAdvice] = []
    for hit in hits:
        if len(out) >= limit:
            break
        if hit.params is not None and not _in_range(hit.params, min_params_b, max_params_b):
            continue
        advice = _one_repo(hub, hit, profile, ctx)
        if advice.files and advice.files[0].info is not None:
            params = advice.files[0].info.parameters
            if hit.params is None and not _in_range(params, min_params_b, max_params_b):
                continue
        out.append(advice)
        if on_repo is not None:
            on_repo(advice)
    return out


def _in_range(params: int, low: float | None, high: float | None) -> bool:
    b = params / 1e9
    return (low is None or b >= low) and (high is None or b <= high)


def _one_repo(hub: Hub, hit: RepoHit, profile: Profile, ctx: int) -> RepoAdvice:
    try:
        files = hub.files(hit.repo)
    except BadInput as exc:
        return RepoAdvice(hit.repo, (), None, hit, str(exc))
    if not files:
        return RepoAdvice(hit.repo, (), None, hit, "no GGUF model in the repository")
    reference = next((f for f in files if f.quant == names.DEFAULT_QUANT), files[0])
    try:
        info = hub.header(hit.repo, reference)
    except BadInput as exc:
        return RepoAdvice(hit.repo, (), None, hit, str(exc))
    advice = []
    for file in files:
        sized = info if file is reference else _sized_like(info, file)
        try:
            advice.append(FileAdvice(file, sized, _predict(profile, sized, ctx), from_listing=file is not reference))
        except BadInput as exc:
            advice.append(FileAdvice(file, sized, None, error=str(exc), from_listing=file is not reference))
    return RepoAdvice(hit.repo, tuple(advice), best_of(advice), hit)
