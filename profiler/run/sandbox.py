"""Confine the child: it reads the model and writes only to the descriptors it already holds.

On Linux with Landlock (5.13+), ``confine()`` forbids, for the rest of the process's
life: creating, writing, truncating, renaming or removing any file; TCP bind and
connect (ABI 4+); and signalling or reaching abstract sockets outside the sandbox
(ABI 6+). Reading stays allowed (the model, Python's modules, /proc). Already open
descriptors keep working: the connection to the parent and the log on stdout/stderr.
It also sets ``no_new_privs`` (required by Landlock; no setuid escalation) and drops
core dumps. Elsewhere it changes nothing and says why.

The kernel interface: linux/landlock.h and Documentation/userspace-api/landlock.rst.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

FS_WRITE_FILE = 1 << 1
FS_WRITES = (  # every way of changing the file system, ABI 1
    FS_WRITE_FILE
    | (1 << 4)  # REMOVE_DIR
    | (1 << 5)  # REMOVE_FILE
    | (1 << 6)  # MAKE_CHAR
    | (1 << 7)  # MAKE_DIR
    | (1 << 8)  # MAKE_REG
    | (1 << 9)  # MAKE_SOCK
    | (1 << 10)  # MAKE_FIFO
    | (1 << 11)  # MAKE_BLOCK
    | (1 << 12)  # MAKE_SYM
)
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_TCP = (1 << 0) | (1 << 1)  # BIND_TCP | CONNECT_TCP, ABI 4
SCOPES = (1 << 0) | (1 << 1)  # ABSTRACT_UNIX_SOCKET | SIGNAL, ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def _abi(libc: ctypes.CDLL) -> int:
    return int(libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION)))


def confine(*, allow_devices: bool = False) -> str:
    """Apply the sandbox to this process; return what is in force, in words.

    ``allow_devices`` keeps writes (and ioctls) beneath /dev, which GPU drivers need.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not sys.platform.startswith("linux"):
        return f"none: no Landlock on {sys.platform}"
    libc = ctypes.CDLL(None, use_errno=True)
    abi = _abi(libc)
    if abi < 1:
        return f"none: Landlock unavailable ({os.strerror(ctypes.get_errno())})"
    fs = FS_WRITES | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    fs |= FS_IOCTL_DEV if abi >= 5 else 0
    attr = _RulesetAttr(fs, NET_TCP if abi >= 4 else 0, SCOPES if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    fd = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        return f"none: Landlock refused the ruleset ({os.strerror(ctypes.get_errno())})"
    try:
        if allow_devices:
            dev = os.open("/dev", os.O_PATH | os.O_DIRECTORY)
            try:
                rule = _PathBeneath(fs & (FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV), dev)
                libc.syscall(SYS_ADD_RULE, fd, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0))
            finally:
                os.close(dev)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"none: no_new_privs refused ({os.strerror(ctypes.get_errno())})"
        if libc.syscall(SYS_RESTRICT_SELF, fd, ctypes.c_uint32(0)) != 0:
            return f"none: Landlock restrict_self failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(fd)
    parts = ["no file writes" + (" outside /dev" if allow_devices else "")]
    if abi >= 4:
        parts.append("no TCP")
    if abi >= 6:
        parts.append("no signals outside")
    return f"landlock ABI {abi}: " + ", ".join(parts)
