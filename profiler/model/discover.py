"""Find GGUF models already on this machine: the Hugging Face cache, LM Studio, Ollama, or any folder.

Bounded and quiet: reads only a candidate's 4-byte magic (plus small Ollama manifests and HF refs), lists no
directory twice, stops at a depth, a file count and an entry budget, and skips whatever it cannot read.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

HF, LMSTUDIO, OLLAMA, FOLDER = "Hugging Face cache", "LM Studio", "Ollama", "folder"
_MAGIC = b"GGUF"
_MAX_ENTRIES = 200_000  # directory entries looked at in one find_models call
_MAX_SMALL = 64 * 1024  # largest Ollama manifest or Hugging Face ref we read
_OLLAMA_MODEL = "application/vnd.ollama.image.model"
_DIGEST = re.compile(r"([a-z0-9]+):([0-9a-f]+)")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class FoundModel:
    path: Path  # the GGUF file (for the Hugging Face cache, the snapshot path, not the blob)
    name: str
    source: str
    size_bytes: int


def search_roots(home: Path | None = None, env: Mapping[str, str] | None = None) -> list[tuple[str, Path]]:
    """The usual model folders as (source, folder), only those that exist, each folder once."""
    home = Path.home() if home is None else home
    env = os.environ if env is None else env

    def var(name: str) -> Path | None:
        return Path(env[name]).expanduser() if env.get(name) else None

    hf_home = var("HF_HOME") or (var("XDG_CACHE_HOME") or home / ".cache") / "huggingface"
    candidates = [
        (HF, var("HF_HUB_CACHE") or var("HUGGINGFACE_HUB_CACHE") or hf_home / "hub"),
        (LMSTUDIO, home / ".lmstudio" / "models"),
        (LMSTUDIO, home / ".cache" / "lm-studio" / "models"),
        (LMSTUDIO, var("LMSTUDIO_MODELS_DIR")),
        (OLLAMA, var("OLLAMA_MODELS") or home / ".ollama" / "models"),
    ]
    if sys.platform.startswith("linux"):
        candidates.append((OLLAMA, Path("/usr/share/ollama/.ollama/models")))
    roots: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for source, path in candidates:
        with suppress(OSError):  # is_dir() raises on a folder we may not look into
            if path is not None and path.is_dir() and (key := os.path.realpath(path)) not in seen:
                seen.add(key)
                roots.append((source, path))
    return roots


def find_models(
    roots: list[tuple[str, Path]] | None = None, *, max_files: int = 500, max_depth: int = 8
) -> list[FoundModel]:
    """GGUF models under ``roots`` (default: :func:`search_roots`), sorted by source then name."""
    if max_files <= 0:
        return []
    scan = _Scan(max_files, max_depth)
    try:
        for source, root in search_roots() if roots is None else roots:
            {HF: _scan_hf, OLLAMA: _scan_ollama}.get(source, _scan_tree)(scan, Path(root), source)
    except _Stop:
        pass
    return sorted(scan.found, key=lambda m: (m.source, m.name.casefold(), m.name, str(m.path)))


class _Stop(Exception):
    """Enough files found, or the entry budget spent."""


@dataclass
class _Scan:
    max_files: int
    max_depth: int
    budget: int = _MAX_ENTRIES
    found: list[FoundModel] = field(default_factory=list)
    files: set[object] = field(default_factory=set)
    dirs: set[tuple[int, int]] = field(default_factory=set)

    def entries(self, folder: Path) -> list[os.DirEntry[str]]:
        if self.budget <= 0:
            raise _Stop
        try:
            with os.scandir(folder) as it:
                listing = sorted(islice(it, self.budget), key=lambda e: e.name)
        except OSError:
            return []
        self.budget -= len(listing)
        return listing

    def subdirs(self, folder: Path) -> Iterator[Path]:
        for entry in self.entries(folder):
            if _is_dir(entry):
                yield Path(entry.path)

    def enter(self, folder: Path) -> bool:
        """True the first time a directory (by identity, so symlink loops end) is met."""
        try:
            info = os.stat(folder)
        except OSError:
            return False
        key = (info.st_dev, info.st_ino)
        seen = info.st_ino != 0 and key in self.dirs
        self.dirs.add(key)
        return not seen

    def add(self, path: Path, name: str, source: str) -> None:
        head = _head(path, len(_MAGIC))
        if head is None or head[1] != _MAGIC:
            return
        key = (head[0].st_dev, head[0].st_ino) if head[0].st_ino else os.path.realpath(path)
        if key not in self.files:  # one blob reached through several links is one model
            self.files.add(key)
            self.found.append(FoundModel(path, name, source, head[0].st_size))
            if len(self.found) >= self.max_files:
                raise _Stop


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _head(path: Path, n: int) -> tuple[os.stat_result, bytes] | None:
    """A regular file's stat and first ``n`` bytes; None for anything else (never blocks on a FIFO)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
        try:
            info = os.fstat(fd)
            return (info, os.read(fd, n)) if stat.S_ISREG(info.st_mode) else None
        finally:
            os.close(fd)
    except OSError:
        return None


def _ggufs(scan: _Scan, folder: Path, parts: tuple[str, ...] = (), depth: int = 0) -> Iterator[tuple[Path, str]]:
    """``*.gguf`` files under ``folder`` as (path, parent folders relative to ``folder``)."""
    if depth > scan.max_depth or not scan.enter(folder):
        return
    for entry in scan.entries(folder):
        if _is_dir(entry):
            yield from _ggufs(scan, Path(entry.path), (*parts, entry.name), depth + 1)
        elif entry.name.lower().endswith(".gguf"):
            yield Path(entry.path), "/".join(parts)


def _scan_tree(scan: _Scan, root: Path, source: str) -> None:
    for path, parent in _ggufs(scan, root):
        scan.add(path, f"{parent} · {path.name}" if parent else path.name, source)


def _scan_hf(scan: _Scan, root: Path, source: str) -> None:
    """The Hugging Face cache, as ``huggingface_hub.scan_cache_dir`` reads it (a damaged entry is skipped)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound, CorruptedCacheException

    try:
        info = scan_cache_dir(root)
    except (CacheNotFound, CorruptedCacheException, OSError):
        return
    for warning in info.warnings:  # it drops a whole repository for one broken link: keep the rest of it
        _scan_hf_repo(scan, root, str(warning), source)
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        # the revisions a ref points at go first, so theirs is the copy of a shared blob that is kept
        for revision in sorted(repo.revisions, key=lambda rev: (not rev.refs, rev.commit_hash)):
            snapshot = revision.snapshot_path
            for file in sorted(revision.files, key=lambda f: str(f.file_path)):
                if file.file_name.lower().endswith(".gguf"):
                    relative = file.file_path.relative_to(snapshot)
                    scan.add(file.file_path, f"{repo.repo_id} · {relative.as_posix()}", source)


def _scan_hf_repo(scan: _Scan, root: Path, warning: str, source: str) -> None:
    """The snapshots of a repository ``scan_cache_dir`` reported damaged, read file by file."""
    match = re.search(r"models--[^/\\]+", warning)
    if match is None:
        return
    repo = root / match.group(0)
    repo_id = match.group(0).removeprefix("models--").replace("--", "/")
    refs = [_head(Path(entry.path), 64) for entry in scan.entries(repo / "refs")]
    current = {head[1].decode("ascii", "replace").strip() for head in refs if head}
    for snapshot in sorted(scan.subdirs(repo / "snapshots"), key=lambda snap: snap.name not in current):
        for path, parent in _ggufs(scan, snapshot):
            scan.add(path, f"{repo_id} · {parent + '/' if parent else ''}{path.name}", source)


def _scan_ollama(scan: _Scan, root: Path, source: str) -> None:
    for host in scan.subdirs(root / "manifests"):
        for namespace in scan.subdirs(host):
            for model in scan.subdirs(namespace):
                for tag in scan.entries(model):
                    blob = _ollama_blob(Path(tag.path), root / "blobs")
                    if blob is not None:  # named as `ollama list` does
                        prefix = f"{host.name}/{namespace.name}/"
                        if host.name == "registry.ollama.ai":
                            prefix = "" if namespace.name == "library" else f"{namespace.name}/"
                        scan.add(blob, f"{prefix}{model.name}:{tag.name}", source)


def _ollama_blob(manifest: Path, blobs: Path) -> Path | None:
    """The model-weights blob a manifest names, or None for anything unexpected."""
    head = _head(manifest, _MAX_SMALL + 1)
    if head is None or len(head[1]) > _MAX_SMALL:
        return None
    try:
        data = json.loads(head[1])
    except (ValueError, RecursionError):
        return None
    layers = data.get("layers") if isinstance(data, dict) else None
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict) and layer.get("mediaType") == _OLLAMA_MODEL:
            match = _DIGEST.fullmatch(str(layer.get("digest", "")))
            return blobs / f"{match[1]}-{match[2]}" if match else None
    return None
