"""A plain (non-editable) install carries the profiles and the worker."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_contains_profiles_and_engine(tmp_path: Path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build", "__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    wheel = next((tmp_path / "dist").glob("pocketprof-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    builtin = {f"profiles/{p.name}" for p in (ROOT / "profiles").glob("*.toml")}
    assert {"profiles/iphone-16.toml", "profiles/host.toml"} <= builtin <= names
    assert {"profiler/run/worker.py", "profiler/cli/__init__.py", "profiler/data/declaration.txt"} <= names
    assert "profiler/data/decode_loop.c" in names  # the child's C decode loop is built from it on first use
    assert {"ui/main_window.py", "ui/pdf.py", "ui/ladder_view.py"} <= names
    assert not any(name.endswith(".gguf") for name in names)
