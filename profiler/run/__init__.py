"""A run: its config and limit plan, the capped child process, and everything that watches it.

The session spawns ``profiler.run.worker``, applies the limits (``limits``, ``mechanisms``),
samples memory (``sampler``), emulates the phone's speed (``emulate``, ``throttle``,
``calibrate``) and sends typed ``events``. It may import the phone, model and report layers;
none of them imports it (ARCHITECTURE.md).
"""
