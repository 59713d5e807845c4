"""Models on the Hugging Face Hub: search, will-it-fit before downloading, and ``hf://`` models.

Everything that touches the Hub or its cache goes through ``huggingface_hub`` (its cache
layout, ``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HUB_OFFLINE``, resumable downloads), read from the
environment at each call. A file's GGUF header is read remotely with ranged requests through
the same bounded parser as local files (:func:`profiler.model.gguf_meta.read_header`): never a byte
of the weights, never more than 16 MB.
"""
