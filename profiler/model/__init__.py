"""The model files: GGUF metadata, built-in and discovered models, the hub, quantizing and quality.

Imports only ``profiler.errors``, ``profiler.paths`` and ``profiler.record`` (ARCHITECTURE.md).
"""
