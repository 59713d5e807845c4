"""The child process: loads one GGUF model with llama.cpp (profiler.run.llama_direct) and streams tokens.

Run as ``python -m profiler.run.worker ADDRESS`` with the connection key in the
environment variable ``POCKETPROF_AUTHKEY`` (hex). Its stdout and stderr are a
log for the user, never a data channel: every event goes over the connection.
"""

from __future__ import annotations

import codecs
import os
import platform
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Client, Connection
from typing import Any

from profiler.run import protocol, sandbox

STOP_POLL_S = 0.02  # how often the token loop looks for a stop: a look is a system call, 20 ms is unnoticed
WARMUP_S = 1.0  # a bench test's warm-up generates for at most this long (see warm_up)


class TemplateRefused(Exception):
    """The model's chat template could not be rendered safely."""


def _send(conn: Connection, kind: str, /, **fields: Any) -> None:
    conn.send_bytes(protocol.encode(kind, **fields))


def _stop_requested(conn: Connection) -> bool:
    while conn.poll():
        if protocol.decode(conn.recv_bytes())["type"] == "stop":
            return True
    return False


def _prompt_tokens(engine: Any, config: dict[str, Any]) -> tuple[list[int], bool]:
    """The prompt's tokens: llama-bench's random ids for a bench test, else the text through the
    model's own chat template unless ``raw``."""
    if config.get("prompt_tokens") is not None:
        return engine.random_prompt(int(config["prompt_tokens"]), int(config["seed"])), False
    prompt = config["prompt"]
    template = engine.meta("tokenizer.chat_template")
    if config["raw"] or not template:
        return engine.tokenize(prompt.encode("utf-8"), add_bos=True, special=False), False
    import jinja2
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # sandboxed Jinja

    eos, bos = engine.token_text(engine.eos()), engine.token_text(engine.bos())
    try:
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        result = formatter(messages=[{"role": "user", "content": prompt}])
    except jinja2.TemplateError as exc:  # SecurityError (the sandbox said no), syntax errors, ...
        kind = "refused by the sandbox" if isinstance(exc, jinja2.exceptions.SecurityError) else "broken"
        raise TemplateRefused(f"the model's chat template is {kind}: {exc}; --raw skips it") from None
    text = result.prompt.encode("utf-8")
    return engine.tokenize(text, add_bos=not result.added_special, special=True), True


def generate(conn: Connection, config: dict[str, Any]) -> None:
    from profiler.run import llama_direct

    _send(conn, "progress", stage="loading", fraction=0.0)
    started = time.monotonic()
    settings = llama_direct.Settings(
        n_ctx=config["n_ctx"],
        n_threads=config["n_threads"],
        n_batch=config.get("n_batch", 2048),
        n_ubatch=config.get("n_ubatch", 512),
        flash_attn=config.get("flash_attn", "auto"),
        gpu_layers=config.get("gpu_layers", 0),
        use_mmap=config["use_mmap"],
    )
    engine = llama_direct.Engine(config["model_path"], settings)
    try:
        _run(conn, engine, config, started)
    finally:
        engine.close()


def warm_up(engine: Any, prompt: list[int], tokens: int, *, for_s: float = WARMUP_S) -> int:
    """A bench test's warm-up: the prompt once, then up to ``tokens`` generated tokens for at most
    ``for_s`` seconds (at least one), then a cleared memory. llama-bench's warm-up generates one
    token; after it, the first tokens of its first timed repetition ran up to 1.6× slower than its
    second's, over the first 4 (SmolLM2) to 48 (Gemma 3) tokens. Its later repetitions follow a
    whole one, and each pocketprof repetition is a first one in a fresh child, so the child warms
    up for a whole test's decode or a second, whichever is shorter (benchmarks/RESULTS.md, "The
    first repetition"). Returns how many tokens it generated."""
    engine.decode(prompt)
    ends, generated = time.monotonic() + for_s, 0
    while generated < tokens:
        engine.decode([engine.sample()])
        generated += 1
        if time.monotonic() >= ends:
            break
    engine.synchronize()
    engine.clear()
    return generated


def _run(conn: Connection, engine: Any, config: dict[str, Any], started: float) -> None:
    from profiler.run import llama_direct

    tokens, templated = _prompt_tokens(engine, config)
    n_ctx = min(engine.n_ctx(), config["n_ctx"])  # llama.cpp may round its context up
    if len(tokens) >= n_ctx:
        message = f"prompt is {len(tokens)} tokens, the context holds {n_ctx}; raise --ctx or shorten it"
        _send(conn, "error", kind="bad_input", message=message)
        return
    engine.set_sampling(
        llama_direct.Sampling(
            temperature=config["temperature"],
            top_k=config.get("top_k", 40),
            top_p=config.get("top_p", 0.95),
            min_p=config.get("min_p", 0.05),
            repeat_penalty=config.get("repeat_penalty", 1.0),
            seed=config["seed"],
        )
    )
    loop = _attach_loop(engine, config)
    load_time = time.monotonic() - started
    warmed: dict[str, int] = {}
    if config.get("warmup"):  # as many decodes as the test, at most a second
        warmed["warmup_tokens"] = warm_up(engine, tokens, min(config["max_tokens"], n_ctx - len(tokens)) - 1)
    if config.get("logits_all"):
        engine.keep_logits()
    described = engine.describe()
    now = time.monotonic()
    _send(
        conn,
        "loaded",
        t=now,
        load_time_s=load_time,
        n_ctx=n_ctx,
        n_threads=config["n_threads"],
        prompt_tokens=len(tokens),
        chat_template=templated,
        model_train_ctx=described["n_ctx_train"],
        sandbox=config.get("sandbox", "none"),
        engine=described
        | llama_direct.build_info()
        | {"n_batch": engine.n_batch, "weight_repack": engine.weight_repack, "decode_loop": loop}
        | warmed,
    )
    _stream(conn, engine, config, tokens, n_ctx)


def _attach_loop(engine: Any, config: dict[str, Any]) -> str:
    """Load the C decode loop the parent built (``profiler.run.decode_loop``); which loop runs, and why."""
    path, why = config.get("decode_loop"), str(config.get("decode_loop_note") or "python")
    if not path:
        return why
    if config.get("logits_all"):
        return "python (every position's logits are kept: one copy a token)"
    try:
        engine.attach_loop(str(path))
    except (OSError, AttributeError) as exc:
        return f"python (the C loop did not load: {exc})"
    return "c"


class _Outbox:
    """Token messages, sent in bursts: the first at once (the phone's first-token gate waits on it),
    then whatever has piled up every ``interval_s`` (the run's ``stream_interval_s``: 50 ms for a
    run that is watched or whose speed is steered, a second for a bench test on the host). Each
    burst wakes the parent, and on a host whose cores all run llama.cpp's threads each wake-up
    stalls them at their next barrier. A token's text and message are made when its burst goes
    out, not when it is stamped: the piece, the UTF-8 decoder and the message took ~0.1 ms a token
    on caches llama.cpp's decode had just swept (1 % of a SmolLM2 token; benchmarks/RESULTS.md,
    "The child's work between tokens"), and a burst does them while the caches are warm."""

    def __init__(
        self,
        conn: Connection,
        interval_s: float,
        text: Callable[[int], str],
        near_budget: Callable[[float], float | None] = lambda _t: None,
        *,
        first_at_once: bool = True,
    ) -> None:
        self.conn, self.pending, self.sent = conn, [], 0
        self.interval_s, self.text, self.near_budget = interval_s, text, near_budget
        self.first_at_once = first_at_once  # else the first token waits for the first burst, as the rest do
        self.flushed_at = time.monotonic()  # the first burst is due an interval on (a first sent at once resets it)
        self.each_token = False  # the footprint is near the budget: every token goes out at once

    def at_once(self) -> bool:
        """Whether the next token goes out as soon as it is stamped."""
        return self.each_token or (self.sent == 0 and self.first_at_once)

    def token(self, stamp: float, index: int, token: int) -> None:
        self.pending.append((stamp, index, token))
        at_once = self.at_once()
        if at_once or stamp - self.flushed_at >= self.interval_s:
            if not at_once and (footprint := self.near_budget(stamp)) is not None:
                self.each_token = True
                _send(self.conn, "near_budget", t=stamp, i=index, footprint_mb=footprint)
            self.flush(stamp)

    def flush(self, now: float) -> None:
        for stamp, index, token in self.pending:  # in order: the UTF-8 decoder carries a split character
            self.conn.send_bytes(protocol.encode("token", t=stamp, i=index, id=token, text=self.text(token)))
        self.sent += len(self.pending)
        self.pending.clear()
        self.flushed_at = now


class NearBudget:
    """Whether this process's footprint could pass the memory budget before the next burst.

    The parent kills the child at once when its footprint passes the budget, as jetsam does, and
    tokens still waiting for their burst die with it (up to one ``interval_s``). So at each burst
    the child reads its own footprint (anonymous pages, /proc/self/statm: ~30 us, Linux only) and,
    once it is within ``NEAR_FRACTION`` of the budget or growing fast enough to reach it within two
    intervals, sends every token as it comes: then a kill loses none that was stamped.
    """

    NEAR_FRACTION = 0.05  # as the parent's close watch (profiler.run.sampler)

    def __init__(self, budget_mb: float, interval_s: float) -> None:
        self.budget_mb, self.interval_s = budget_mb, interval_s
        self.last: tuple[float, float] | None = None  # (time, footprint MB) at the previous burst

    def __call__(self, now: float) -> float | None:
        """The footprint in MB when it is near the budget, else None."""
        from profiler.run import linux

        try:
            footprint = linux.read_statm(os.getpid())["anon"] / 2**20
        except (OSError, ValueError, IndexError):
            return None
        growth = 0.0
        if self.last is not None and now > self.last[0]:
            growth = max(0.0, (footprint - self.last[1]) / (now - self.last[0]))
        self.last = (now, footprint)
        ahead = growth * 2 * self.interval_s
        return footprint if footprint + ahead >= self.budget_mb * (1 - self.NEAR_FRACTION) else None


def _stream(conn: Connection, engine: Any, config: dict[str, Any], tokens: list[int], n_ctx: int) -> None:
    """Prefill, then sample and decode one token at a time, stamping each as it comes out."""
    budget = min(config["max_tokens"], n_ctx - len(tokens))
    reason = "length" if budget == config["max_tokens"] else "context_full"
    ignore_eos = bool(config.get("ignore_eos"))
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    interval = float(config["stream_interval_s"])
    budget_mb = config.get("budget_mb")
    near = NearBudget(float(budget_mb), interval) if budget_mb and sys.platform.startswith("linux") else None

    def text(token: int) -> str:
        return decoder.decode(engine.piece(token))

    first_at_once = bool(config.get("first_at_once", True))
    outbox = _Outbox(conn, interval, text, near or (lambda _t: None), first_at_once=first_at_once)
    engine.decode(tokens)
    loop = "c" if engine.has_loop() and engine.logits is None else "python"
    stream = _stream_in_c if loop == "c" else _stream_in_python
    produced, reason = stream(conn, engine, outbox, budget, reason, ignore_eos)
    outbox.flush(time.monotonic())
    tail = decoder.decode(b"", final=True)
    if tail:
        _send(conn, "token", t=time.monotonic(), i=produced, id=-1, text=tail)
    done = {"reason": reason, "generated_tokens": produced, "prompt_tokens": len(tokens), "decode_loop": loop}
    _send(conn, "done", t=time.monotonic(), **done)


def _stream_in_c(
    conn: Connection, engine: Any, outbox: _Outbox, budget: int, reason: str, ignore_eos: bool
) -> tuple[int, str]:
    """The tokens from the C decode loop, a burst per call: it returns at the outbox's next burst or
    the next look for a stop, whichever comes first. While the outbox sends each token at once (the
    first, which the phone's first-token gate holds the child on; near the memory budget) a call
    makes one token, which is sent before it is decoded, as the Python loop does: a token decoded
    first would reach the parent a decode late, with the next one already stamped."""
    produced, polled_at = 0, time.monotonic()
    while produced < budget:
        left = budget - produced
        at_once = outbox.at_once()
        n = 1 if at_once else left
        deadline = min(outbox.flushed_at + outbox.interval_s, polled_at + STOP_POLL_S)
        ids, stamps, ended = engine.run(n, deadline, ignore_eos=ignore_eos, decode_last=n < left and not at_once)
        for token, stamp in zip(ids, stamps, strict=True):
            outbox.token(stamp, produced, token)
            produced += 1
        if ended:
            return produced, "eos"
        if at_once and ids and produced < budget:
            engine.decode(ids[-1:])
        now = time.monotonic()
        if produced < budget and now - polled_at >= STOP_POLL_S:
            polled_at = now
            if _stop_requested(conn):
                return produced, "stopped"
    return produced, reason


def _stream_in_python(
    conn: Connection, engine: Any, outbox: _Outbox, budget: int, reason: str, ignore_eos: bool
) -> tuple[int, str]:
    """The tokens one at a time from Python (where the C loop was not built, or logits are kept)."""
    produced, polled_at = 0, time.monotonic()
    while True:
        token = engine.sample()
        stamp = time.monotonic()
        if not ignore_eos and engine.is_end(token):
            reason = "eos"
            break
        outbox.token(stamp, produced, token)
        produced += 1
        if produced >= budget:
            break
        if stamp - polled_at >= STOP_POLL_S:
            polled_at = stamp
            if _stop_requested(conn):
                reason = "stopped"
                break
        engine.decode([token])
    return produced, reason


def _die_with_parent() -> None:
    """On Linux, ask the kernel to SIGKILL this child if the parent dies mid-load."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, 9)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m profiler.run.worker ADDRESS", file=sys.stderr)
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
        except ValueError as exc:  # llama_direct.LoadFailed: "Failed to load model from file"
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
