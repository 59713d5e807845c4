"""What a run tells its listener as it goes: one frozen dataclass per kind of event.

Listeners may match on the class (``isinstance(event, TokenStreamed)``) or, as the CLI and
the app's thread bridge do, on ``event.kind`` with ``event.data`` (the event's one field).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from profiler.record import Limit, RunRecord, Sample, Token


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""

    @property
    def data(self) -> Any:
        """The event's payload: its one field."""
        return getattr(self, fields(self)[0].name)


@dataclass(frozen=True)
class StatusChanged(Event):
    """A stage of the run: 'starting', 'loading', a stage the child reports, or a calibration."""

    text: str
    kind: ClassVar[str] = "status"


@dataclass(frozen=True)
class Warned(Event):
    """A one-line warning the report also keeps."""

    text: str
    kind: ClassVar[str] = "warning"


@dataclass(frozen=True)
class LimitsApplied(Event):
    """The limits in force on the child and the mechanism behind each."""

    limits: dict[str, Limit]
    kind: ClassVar[str] = "limits"


@dataclass(frozen=True)
class ModelLoaded(Event):
    """The child's message once the model is loaded (load time, engine, context)."""

    info: dict[str, Any]
    kind: ClassVar[str] = "loaded"


@dataclass(frozen=True)
class TokenStreamed(Event):
    token: Token
    kind: ClassVar[str] = "token"


@dataclass(frozen=True)
class Sampled(Event):
    """One memory (and GPU) reading of the child."""

    sample: Sample
    kind: ClassVar[str] = "sample"


@dataclass(frozen=True)
class Finished(Event):
    """The run's record, complete: always the last event."""

    record: RunRecord
    kind: ClassVar[str] = "finished"
