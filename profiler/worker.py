"""The child process: loads one GGUF model with llama-cpp-python and streams tokens.

Run as ``python -m profiler.worker ADDRESS`` with the connection key in the
environment variable ``POCKETPROF_AUTHKEY`` (hex). Its stdout and stderr are a
log for the user, never a data channel: every event goes over the connection.
"""

from __future__ import annotations

import codecs
import os
import platform
import sys
import time
from multiprocessing.connection import Client, Connection
from typing import Any

from profiler import protocol, sandbox


class TemplateRefused(Exception):
    """The model's chat template could not be rendered safely."""


def _send(conn: Connection, kind: str, /, **fields: Any) -> None:
    conn.send_bytes(protocol.encode(kind, **fields))


def _stop_requested(conn: Connection) -> bool:
    while conn.poll():
        if protocol.decode(conn.recv_bytes())["type"] == "stop":
            return True
    return False


def _prompt_tokens(llm: Any, prompt: str, raw: bool) -> tuple[list[int], bool]:
    """Tokenize the prompt, through the model's own chat template unless ``raw``."""
    template = llm.metadata.get("tokenizer.chat_template")
    if raw or not template:
        return llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False), False
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # sandboxed Jinja

    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
    import jinja2

    try:
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        result = formatter(messages=[{"role": "user", "content": prompt}])
    except jinja2.TemplateError as exc:  # SecurityError (the sandbox said no), syntax errors, ...
        kind = "refused by the sandbox" if isinstance(exc, jinja2.exceptions.SecurityError) else "broken"
        raise TemplateRefused(f"the model's chat template is {kind}: {exc}; --raw skips it") from None
    text = result.prompt.encode("utf-8")
    return llm.tokenize(text, add_bos=not result.added_special, special=True), True


def _is_end(llm: Any, token: int) -> bool:
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    return bool(llama_cpp.llama_vocab_is_eog(vocab, token))


def generate(conn: Connection, config: dict[str, Any]) -> None:
    from llama_cpp import Llama

    _send(conn, "progress", stage="loading", fraction=0.0)
    started = time.monotonic()
    llm = Llama(
        model_path=config["model_path"],
        n_ctx=config["n_ctx"],
        n_threads=config["n_threads"],
        n_threads_batch=config["n_threads"],
        n_gpu_layers=config.get("gpu_layers", 0),
        use_mmap=config["use_mmap"],
        logits_all=config.get("logits_all", False),
        seed=config["seed"],
        verbose=True,
    )
    try:
        _run(conn, llm, config, started)
    finally:
        llm.close()


def _run(conn: Connection, llm: Any, config: dict[str, Any], started: float) -> None:
    tokens, templated = _prompt_tokens(llm, config["prompt"], config["raw"])
    n_ctx = min(llm.n_ctx(), config["n_ctx"])  # llama.cpp may round its context up
    if len(tokens) >= n_ctx:
        _send(
            conn,
            "error",
            kind="bad_input",
            message=f"prompt is {len(tokens)} tokens, the context holds {n_ctx}; raise --ctx or shorten it",
        )
        return
    now = time.monotonic()
    _send(
        conn,
        "loaded",
        t=now,
        load_time_s=now - started,
        n_ctx=n_ctx,
        n_threads=config["n_threads"],
        prompt_tokens=len(tokens),
        chat_template=templated,
        model_train_ctx=int(llm._model.n_ctx_train()),
        sandbox=config.get("sandbox", "none"),
    )
    budget = min(config["max_tokens"], n_ctx - len(tokens))
    reason = "length" if budget == config["max_tokens"] else "context_full"
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    produced = 0
    stream = llm.generate(
        tokens,
        temp=config["temperature"],
        top_k=config.get("top_k", 40),
        top_p=config.get("top_p", 0.95),
        min_p=config.get("min_p", 0.05),
        repeat_penalty=config.get("repeat_penalty", 1.0),
    )
    for token in stream:
        stamp = time.monotonic()
        if not config.get("ignore_eos") and _is_end(llm, token):
            reason = "eos"
            break
        text = decoder.decode(llm.detokenize([token], special=False))
        _send(conn, "token", i=produced, t=stamp, id=int(token), text=text)
        produced += 1
        if produced >= budget:
            break
        if _stop_requested(conn):
            reason = "stopped"
            break
    tail = decoder.decode(b"", final=True)
    if tail:
        _send(conn, "token", i=produced, t=time.monotonic(), id=-1, text=tail)
    _send(conn, "done", t=time.monotonic(), reason=reason, generated_tokens=produced, prompt_tokens=len(tokens))


def _die_with_parent() -> None:
    """On Linux, ask the kernel to SIGKILL this child if the parent dies mid-load."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, 9)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m profiler.worker ADDRESS", file=sys.stderr)
        return 2
    _die_with_parent()
    key = bytes.fromhex(os.environ.pop("POCKETPROF_AUTHKEY", ""))
    conn = Client(argv[0], authkey=key)
    try:
        import llama_cpp

        version = getattr(llama_cpp, "__version__", "unknown")
        _send(conn, "hello", pid=os.getpid(), python=platform.python_version(), llama_cpp=version)
        message = protocol.decode(conn.recv_bytes())
        if message["type"] != "start":
            return 0
        config = message["config"]
        config["sandbox"] = sandbox.confine(allow_devices=config.get("gpu_layers", 0) > 0)
        try:
            generate(conn, config)
        except TemplateRefused as exc:
            _send(conn, "error", kind="model_template", message=str(exc))
            return 1
        except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
            _send(conn, "error", kind="model_load", message=str(exc))
            return 1
        except Exception as exc:  # reported to the parent, which keeps the record
            _send(conn, "error", kind="internal", message=f"{type(exc).__name__}: {exc}")
            return 1
        return 0
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 1  # the parent went away; nothing left to report to
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
