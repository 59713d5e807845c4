"""The run's child process: spawning the worker and meeting it on its own authenticated socket."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from subprocess import Popen
from typing import Any

from profiler import paths
from profiler.run import leftovers

CONNECT_TIMEOUT_S = 60.0


def exited(proc: Popen[bytes]) -> bool:
    """True once the child has exited, without reaping it (its pid stays ours)."""
    if hasattr(os, "waitid"):
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None
    return proc.poll() is not None


def _poke(address: Any) -> None:
    """Connect to a listener and hang up, so that a thread blocked in its accept() returns."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(address)
    except OSError:
        pass


def listen(key: bytes) -> tuple[Listener, Path | None]:
    """The socket the child connects to, in a folder named for this process (see profiler.run.leftovers)."""
    if sys.platform == "win32":
        return Listener(authkey=key), None  # a named pipe: nothing on disk
    folder = leftovers.socket_dir()
    return Listener(address=str(folder / "child.sock"), family="AF_UNIX", authkey=key), folder


def spawn(listener: Listener, key: bytes, log: Any, prefix: list[str]) -> Popen[bytes]:
    """``python -m profiler.run.worker`` in its own session, the key in its environment, its output to ``log``."""
    env = paths.child_env(POCKETPROF_AUTHKEY=key.hex())
    cmd = [*prefix, sys.executable, "-m", "profiler.run.worker", str(listener.address)]
    return Popen(cmd, stdin=None, stdout=log, stderr=log, env=env, start_new_session=True)


def accept(
    listener: Listener, proc: Popen[bytes], give_up: Callable[[], bool], timeout_s: float = CONNECT_TIMEOUT_S
) -> tuple[Connection | None, bool]:
    """(the child's connection, or None; whether it timed out). Gives up when the child exits or ``give_up()``."""
    box: list[Connection] = []

    def wait_for_it() -> None:
        try:
            box.append(listener.accept())
        except (OSError, EOFError, ValueError):
            pass

    thread = threading.Thread(target=wait_for_it, name="pocketprof-accept", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    timed_out = False
    while thread.is_alive():
        thread.join(0.05)
        if exited(proc) or give_up():
            break
        if time.monotonic() > deadline:
            timed_out = True
            break
    if box:
        return box[0], False
    if thread.is_alive():  # closing a listening socket does not always wake a blocked accept(): poke it
        _poke(listener.address)
    listener.close()
    thread.join(1.0)
    for conn in box:  # our own wake-up call, or a child that connected too late
        conn.close()
    return None, timed_out
