"""Benchmark mode: llama-bench's tests (pp, tg, pp+tg) with repetitions, run in the capped child.

``plan`` expands the options into tests, ``runner`` runs each repetition as a normal profiled
run (so it lands in the history), ``result`` holds a test's repetitions and their statistics,
``output`` prints them as llama-bench does, ``threads`` reads a thread sweep (best count and
cliff, and the phone's predicted curve), ``check`` gates a result against a baseline.
"""
