"""``python -m profiler.cli`` is the ``pocketprof`` command."""

from profiler.cli import entry

entry()
