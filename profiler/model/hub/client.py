"""Talking to the Hugging Face Hub through ``huggingface_hub``, with one-line errors.

Settings are read from the environment at each call, as ``huggingface_hub`` documents them:
``HF_ENDPOINT`` (the Hub's address), ``HF_TOKEN`` (for gated and private repositories),
``HF_HUB_CACHE`` / ``HF_HOME`` (the cache), ``HF_HUB_OFFLINE`` (no network: cached copies only).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from profiler.errors import BadInput, ModelFileError
from profiler.model.gguf_meta import ModelInfo, read_header
from profiler.model.hub import names

HEADER_LIMIT = 16 << 20  # never read more of a remote file than this to know its header
RETRIES = 3
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class HubError(BadInput):
    """Something the Hub said no to (missing, gated, offline), as one line."""


@dataclass(frozen=True)
class RepoHit:
    repo: str
    downloads: int
    likes: int
    last_modified: datetime | None
    params: int | None  # the Hub's own count from the GGUF, where it gives one
    gated: bool


@dataclass(frozen=True)
class HubFile:
    """One model in a repository: a GGUF file, or the shards of a split one counted as one."""

    name: str  # the file to ask for (the first shard of a split model)
    size: int  # all shards together
    quant: str | None
    shards: tuple[str, ...]
    shard_sizes: tuple[int, ...] = ()

    @property
    def size_mb(self) -> float:
        return self.size / (1024 * 1024)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class Hub:
    def __init__(self) -> None:
        env = os.environ
        self.endpoint = (env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
        self.token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
        home = Path(env.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
        self.cache_dir = Path(env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or home / "hub")
        self.offline = _truthy(env.get("HF_HUB_OFFLINE"))

    # -- errors ------------------------------------------------------------------------
    def _explain(self, exc: Exception, what: str) -> HubError:
        from huggingface_hub import errors

        if isinstance(exc, errors.GatedRepoError):
            how = (
                "set HF_TOKEN to a token of an account that accepted its terms"
                if not self.token
                else ("the token in HF_TOKEN has no access yet: accept the model's terms on the Hub")
            )
            return HubError(f"{what}: the repository is gated; {how}")
        if isinstance(exc, errors.RepositoryNotFoundError):
            return HubError(f"{what}: no such repository on {self.endpoint} (or it is private: set HF_TOKEN)")
        if isinstance(exc, errors.RevisionNotFoundError):
            return HubError(f"{what}: no such revision")
        if isinstance(exc, (errors.EntryNotFoundError, errors.RemoteEntryNotFoundError)):
            return HubError(f"{what}: no such file in the repository")
        if isinstance(exc, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
            return HubError(f"{what}: offline (HF_HUB_OFFLINE) or no network, and no cached copy")
        if isinstance(exc, errors.HfHubHTTPError):
            status = getattr(getattr(exc, "response", None), "status_code", "?")
            return HubError(f"{what}: the Hub answered HTTP {status}: {str(exc).splitlines()[0]}")
        return HubError(f"{what}: cannot reach {self.endpoint} ({type(exc).__name__}: {str(exc).splitlines()[0]})")

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        if self.offline:
            raise HubError(f"offline (HF_HUB_OFFLINE is set): the Hub at {self.endpoint} cannot be asked")
        return HfApi(endpoint=self.endpoint, token=self.token)

    # -- search and listing ----------------------------------------------------------------
    def search(self, query: str, *, limit: int = 20, sort: str = "downloads") -> list[RepoHit]:
        """GGUF repositories matching ``query``, most downloaded (or most recent) first."""
        api = self._api()
        order = {"downloads": "downloads", "recent": "lastModified", "trending": "trendingScore"}[sort]
        try:
            found = api.list_models(
                search=query,
                filter="gguf",
                sort=order,
                limit=limit,
                expand=["downloads", "likes", "lastModified", "gguf", "gated"],
            )
            rows = list(found)
        except Exception as exc:
            raise self._explain(exc, f"search {query!r}") from None
        out = []
        for m in rows:
            gguf = getattr(m, "gguf", None) or {}
            total = gguf.get("total") if isinstance(gguf, dict) else None
            out.append(
                RepoHit(
                    repo=m.id,
                    downloads=int(getattr(m, "downloads", 0) or 0),
                    likes=int(getattr(m, "likes", 0) or 0),
                    last_modified=getattr(m, "last_modified", None),
                    params=int(total) if isinstance(total, (int, float)) and total > 0 else None,
                    gated=bool(getattr(m, "gated", False)),
                )
            )
        return out

    def files(self, repo: str) -> list[HubFile]:
        """The repository's GGUF models (shards of one model as one), projectors left out."""
        api = self._api()
        try:
            entries = [e for e in api.list_repo_tree(repo, recursive=True) if hasattr(e, "size")]
        except Exception as exc:
            raise self._explain(exc, f"hf://{repo}") from None
        whole: list[HubFile] = []
        groups: dict[str, list[tuple[int, str, int]]] = {}
        for e in entries:
            path, size = e.path, int(getattr(getattr(e, "lfs", None), "size", None) or e.size or 0)
            if not path.lower().endswith(".gguf") or names.is_projector(path):
                continue
            part = names.split_part(path)
            if part is None:
                whole.append(HubFile(path, size, names.quant_of(path), (path,), (size,)))
            else:
                groups.setdefault(part[0], []).append((part[1], path, size))
        for shards in groups.values():
            shards.sort()
            whole.append(
                HubFile(
                    shards[0][1],
                    sum(s for _, _, s in shards),
                    names.quant_of(shards[0][1]),
                    tuple(p for _, p, _ in shards),
                    tuple(s for _, _, s in shards),
                )
            )
        return sorted(whole, key=lambda f: (f.size, f.name))

    # -- reading a header without downloading --------------------------------------------
    def header(self, repo: str, file: HubFile) -> ModelInfo:
        """The file's GGUF metadata from ranged reads of its first bytes (≤ 16 MB, no weights)."""
        from huggingface_hub import get_session, hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        if self.offline:
            cached = self.cached(repo, file.name)
            if cached is None:
                raise HubError(f"hf://{repo}/{file.name}: offline, and no cached copy to read")
            from profiler.model.gguf_meta import read_metadata

            return read_metadata(cached)
        headers = build_hf_headers(token=self.token)
        session = get_session()
        infos = []
        sizes = file.shard_sizes or (file.size,)
        for shard, size in zip(file.shards, sizes, strict=True):  # a split model: each shard holds its tensors
            url = hf_hub_url(repo, shard, endpoint=self.endpoint)
            label = f"hf://{repo}/{shard}"

            def fetch(start: int, end: int, url: str = url, size: int = size, label: str = label) -> bytes:
                return _ranged(session, url, headers, start, end, size, label, self)

            infos.append(read_header(label, size, fetch, limit=HEADER_LIMIT))
        return _combined(infos, file)

    # -- downloading -------------------------------------------------------------------------
    def cached(self, repo: str, filename: str) -> Path | None:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, filename, cache_dir=self.cache_dir)
        return Path(found) if isinstance(found, str) and Path(found).is_file() else None

    def download(self, repo: str, file: HubFile, progress: Progress | None = None) -> Path:
        """Every shard into the Hugging Face cache (resuming a cut download); the first shard's path."""
        paths = [self._download_one(repo, shard, progress) for shard in file.shards]
        return paths[0]

    def _download_one(self, repo: str, filename: str, progress: Progress | None) -> Path:
        from huggingface_hub import hf_hub_download

        label = f"hf://{repo}/{filename}"
        if self.offline:
            cached = self.cached(repo, filename)
            if cached is None:
                raise HubError(f"{label}: offline (HF_HUB_OFFLINE is set), and no cached copy")
            return cached
        last: Exception | None = None
        for _ in range(RETRIES):
            try:
                path = hf_hub_download(
                    repo,
                    filename,
                    cache_dir=self.cache_dir,
                    endpoint=self.endpoint,
                    token=self.token,
                    tqdm_class=_bar(progress),
                )
                return Path(path)
            except Exception as exc:
                last = exc
                if not _transient(exc):
                    break
        cached = self.cached(repo, filename)
        if cached is not None and last is not None and _transient(last):
            print(f"no network ({type(last).__name__}): using the cached copy of {label}", file=sys.stderr)
            return cached
        assert last is not None
        raise self._explain(last, label) from None

    def resolve(self, ref: names.HubRef, progress: Progress | None = None) -> Path:
        """The local path of ``hf://…``: its file, or the one of the asked (or default) type, downloaded."""
        filename = ref.filename
        if filename is None:
            if self.offline:
                raise HubError(f"{ref}: offline, so the file for a type cannot be looked up: name the file")
            filename = choose(self.files(ref.repo), ref).name
        file = next((f for f in self._files_or_single(ref.repo, filename)), None)
        assert file is not None
        return self.download(ref.repo, file, progress)

    def _files_or_single(self, repo: str, filename: str) -> list[HubFile]:
        if self.offline:
            return [HubFile(filename, 0, names.quant_of(filename), (filename,), (0,))]
        try:
            for f in self.files(repo):
                if filename in f.shards:
                    return [f]
        except HubError as exc:
            if self.cached(repo, filename) is None:
                raise
            print(f"{exc}: using the cached copy", file=sys.stderr)
        return [HubFile(filename, 0, names.quant_of(filename), (filename,), (0,))]


def _combined(infos: list[ModelInfo], file: HubFile) -> ModelInfo:
    """One model from its shards' headers: the first's metadata, every shard's tensors."""
    import dataclasses

    first = infos[0]
    if len(infos) == 1:
        return first
    params = sum(i.parameters for i in infos)
    tensor_bytes = sum(i.tensor_bytes for i in infos)
    return dataclasses.replace(
        first,
        file_size_bytes=file.size,
        parameters=params,
        tensor_bytes=tensor_bytes,
        n_tensors=sum(i.n_tensors for i in infos),
        bits_per_weight=round(tensor_bytes * 8 / params, 3) if params else 0.0,
        lookup_params=sum(i.lookup_params for i in infos),
    )


def choose(files: list[HubFile], ref: names.HubRef) -> HubFile:
    """The file of the asked type (or llama.cpp's default, Q4_K_M, else the smallest)."""
    if not files:
        raise HubError(f"{ref}: the repository has no GGUF model")
    wanted = ref.quant or names.DEFAULT_QUANT
    matching = [f for f in files if (f.quant or "").upper() == wanted]
    if matching:
        return matching[0]
    if ref.quant:
        have = ", ".join(sorted({f.quant or f.name for f in files}))
        raise HubError(f"{ref}: no {ref.quant} file (it has: {have})")
    return files[0]


def _transient(exc: Exception) -> bool:
    """A cut connection or an unreachable Hub, worth a retry or the cached copy."""
    from huggingface_hub import errors

    if isinstance(exc, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
        return True
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", 0) or 0
        return status >= 500
    return isinstance(exc, (OSError, TimeoutError)) or (
        "Error" in type(exc).__name__
        and any(word in type(exc).__name__ for word in ("Connect", "Read", "Remote", "Timeout", "Protocol", "Network"))
    )


def _ranged(
    session: Any, url: str, headers: dict[str, str], start: int, end: int, expected: int | None, label: str, hub: Hub
) -> bytes:
    """Bytes [start, end) of a remote file: a Range request, read no further than asked."""
    want = end - start
    request_headers = dict(headers) | {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
    try:
        with session.stream("GET", url, headers=request_headers, follow_redirects=True, timeout=30) as response:
            if response.status_code >= 400:
                response.read()
                from huggingface_hub.utils import hf_raise_for_status

                hf_raise_for_status(response)
            if response.status_code == 206:
                total = response.headers.get("Content-Range", "").rpartition("/")[2]
                if expected is not None and total.isdigit() and int(total) != expected:
                    raise ModelFileError(
                        f"{label}: the Hub listed {expected:,} bytes but serves {int(total):,}; not read"
                    )
            else:  # the whole file instead of the range: it must say how long, and be what was listed
                length = response.headers.get("Content-Length", "")
                if start != 0 or not length.isdigit() or (expected is not None and int(length) != expected):
                    raise ModelFileError(
                        f"{label}: the server ignored the byte range (and sent {length or 'no'} length); not read"
                    )
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= want:
                    break  # a server that sends more (or forever) is not read further
            return bytes(data[:want])
    except (ModelFileError, HubError):
        raise
    except Exception as exc:
        raise hub._explain(exc, label) from None


def _bar(progress: Progress | None) -> Any:
    """A tqdm class for huggingface_hub's downloads: to a callback, or to a terminal only."""
    from tqdm.auto import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["disable"] = progress is None and not sys.stderr.isatty()
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            if progress is not None:
                progress(int(self.n), int(self.total or 0))
            return shown

    return Bar


def remote_metadata(text: str) -> ModelInfo:
    """The GGUF metadata of ``hf://…`` without downloading the weights (a cached copy, if offline)."""
    hub = Hub()
    ref = names.parse_ref(text)
    if hub.offline:
        from profiler.model.gguf_meta import read_metadata

        return read_metadata(hub.resolve(ref))
    files = hub.files(ref.repo)
    if ref.filename is not None:
        found = [f for f in files if ref.filename in f.shards]
        if not found:
            raise HubError(f"{ref}: no such file in the repository")
        return hub.header(ref.repo, found[0])
    return hub.header(ref.repo, choose(files, ref))
