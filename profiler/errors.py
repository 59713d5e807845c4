"""The engine's small exception tree.

Every error a user can cause (a bad file, a bad option, a bad profile) is a
:class:`BadInput`; the CLI prints its message on one line and exits with 2.
"""

from __future__ import annotations


class ProfilerError(Exception):
    """Base of every error the engine raises on purpose."""


class BadInput(ProfilerError):
    """The user gave something unusable: a file, a field or an option."""


class ModelFileError(BadInput):
    """A model path that is missing, unreadable or not a valid GGUF file."""


class ProfileError(BadInput):
    """A phone profile that is missing, malformed or inconsistent."""


class ProtocolError(ProfilerError):
    """A message between parent and child that cannot be decoded."""
