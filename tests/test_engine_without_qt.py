"""The engine imports and runs its CLI with Qt made unimportable (as on a headless server)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

BLOCK_QT = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'ui'):
            raise ImportError('Qt is blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
import profiler
for mod in pkgutil.walk_packages(profiler.__path__, 'profiler.'):
    if mod.name != 'profiler.cli.__main__':
        importlib.import_module(mod.name)
from profiler.cli import main
sys.exit(main(['profiles']))
"""


def test_every_engine_module_imports_without_qt():
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_QT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "iphone-16" in result.stdout
