"""The speakers' list and the speaking timer (pure).

Queue order: points of order go first (by position), then speeches (by
position); entry id breaks ties.

Speech types (OpenSlides' speech states): a speech is a contribution, for (pro) or
against (contra) the motion, an interposed question or an intervention; a point of
order is its own type. The type decides the kind: ``point_of_order`` is the kind
point of order, every other type is a speech (and takes its place in order).

Timer: a frozen value; every operation returns a new Timer. It is *running*
iff ``started_at_ms`` is not None; while running, the time elapsed is
``elapsed_ms + (now_ms - started_at_ms)`` (a clock that goes backwards counts
as no time). ``elapsed_ms`` is the time accumulated before the current run.
States and moves::

    stopped/paused --start--> running   (elapsed reset to 0)
    stopped/paused --resume-> running   (elapsed kept)
    running        --pause--> paused    (elapsed accumulated)
    any            --stop---> stopped   (elapsed accumulated and kept)

A paused and a stopped timer are the same value. ``remaining`` is
``limit_ms - elapsed`` and goes negative in overtime; ``overtime`` gives the
positive excess. Store the three fields (``to_storage``/``from_dict``);
``to_dict(now_ms)`` is the view for clients at one instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from deliberation.core.errors import IllegalTransition, InvalidInput


class SpeakerKind(StrEnum):
    SPEECH = "speech"
    POINT_OF_ORDER = "point_of_order"


class SpeakerStatus(StrEnum):
    WAITING = "waiting"
    SPEAKING = "speaking"
    DONE = "done"
    WITHDRAWN = "withdrawn"


class SpeechType(StrEnum):
    CONTRIBUTION = "contribution"
    PRO = "pro"
    CONTRA = "contra"
    POINT_OF_ORDER = "point_of_order"
    QUESTION = "question"
    INTERVENTION = "intervention"


def parse_speech_type(value: str) -> SpeechType:
    try:
        return SpeechType(value)
    except ValueError:
        raise InvalidInput(f"unknown speech type {value!r}; expected one of {[t.value for t in SpeechType]}") from None


def kind_of(speech_type: SpeechType) -> SpeakerKind:
    return SpeakerKind.POINT_OF_ORDER if speech_type is SpeechType.POINT_OF_ORDER else SpeakerKind.SPEECH


def resolve_speech_type(kind: str | None, speech_type: str | None) -> SpeechType:
    """The type of a request that may name a `speech_type`, the older `kind`, both or neither:
    `kind` alone means a contribution (speech) or a point of order; both must agree."""
    k = parse_speaker_kind(kind) if kind is not None else None
    if speech_type is None:
        return SpeechType.POINT_OF_ORDER if k is SpeakerKind.POINT_OF_ORDER else SpeechType.CONTRIBUTION
    t = parse_speech_type(speech_type)
    if k is not None and kind_of(t) is not k:
        raise InvalidInput(f"speech type {t.value!r} is of kind {kind_of(t).value!r}, but the request says kind {k.value!r}")
    return t


def parse_speaker_kind(value: str) -> SpeakerKind:
    try:
        return SpeakerKind(value)
    except ValueError:
        raise InvalidInput(f"unknown speaker kind {value!r}; expected 'speech' or 'point_of_order'") from None


def queue_order(entries: Sequence[tuple[int, str, int]]) -> list[int]:
    """Entry ids in speaking order: points of order first, then speeches, each by position."""
    keyed = []
    for entry_id, kind, position in entries:
        rank = 0 if parse_speaker_kind(kind) is SpeakerKind.POINT_OF_ORDER else 1
        keyed.append(((rank, position, entry_id), entry_id))
    return [entry_id for _, entry_id in sorted(keyed)]


def _check_int(name: str, value: object, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"timer {name} must be an integer, got {value!r}")


@dataclass(frozen=True)
class Timer:
    limit_ms: int
    elapsed_ms: int = 0
    started_at_ms: int | None = None

    def __post_init__(self) -> None:
        _check_int("limit_ms", self.limit_ms)
        _check_int("elapsed_ms", self.elapsed_ms)
        _check_int("started_at_ms", self.started_at_ms, nullable=True)
        if self.limit_ms < 0:
            raise InvalidInput(f"timer limit_ms must be >= 0, got {self.limit_ms}")
        if self.elapsed_ms < 0:
            raise InvalidInput(f"timer elapsed_ms must be >= 0, got {self.elapsed_ms}")

    @property
    def running(self) -> bool:
        return self.started_at_ms is not None

    def elapsed(self, now_ms: int) -> int:
        if self.started_at_ms is None:
            return self.elapsed_ms
        return self.elapsed_ms + max(0, now_ms - self.started_at_ms)

    def remaining(self, now_ms: int) -> int:
        """Milliseconds left; negative in overtime."""
        return self.limit_ms - self.elapsed(now_ms)

    def overtime(self, now_ms: int) -> int:
        return max(0, -self.remaining(now_ms))

    def start(self, now_ms: int) -> Timer:
        if self.running:
            raise IllegalTransition("cannot start the timer: it is already running; pause or stop it first")
        return Timer(self.limit_ms, 0, now_ms)

    def pause(self, now_ms: int) -> Timer:
        if not self.running:
            raise IllegalTransition("cannot pause the timer: it is not running")
        return Timer(self.limit_ms, self.elapsed(now_ms), None)

    def resume(self, now_ms: int) -> Timer:
        if self.running:
            raise IllegalTransition("cannot resume the timer: it is already running")
        return Timer(self.limit_ms, self.elapsed_ms, now_ms)

    def stop(self, now_ms: int) -> Timer:
        return Timer(self.limit_ms, self.elapsed(now_ms), None)

    def with_limit(self, limit_ms: int) -> Timer:
        return Timer(limit_ms, self.elapsed_ms, self.started_at_ms)

    def to_dict(self, now_ms: int) -> dict:
        """Client view at ``now_ms``: elapsed_ms/remaining_ms are computed at that instant;
        started_at_ms is when the current run began (None when not running)."""
        return {
            "running": self.running,
            "started_at_ms": self.started_at_ms,
            "elapsed_ms": self.elapsed(now_ms),
            "remaining_ms": self.remaining(now_ms),
            "limit_ms": self.limit_ms,
        }

    def to_storage(self) -> dict:
        """The three stored fields; ``Timer.from_dict`` reads them back."""
        return {"limit_ms": self.limit_ms, "elapsed_ms": self.elapsed_ms, "started_at_ms": self.started_at_ms}

    @classmethod
    def from_dict(cls, d: Mapping) -> Timer:
        """Rebuild a Timer from its storage form (``to_storage``), not from a ``to_dict`` view."""
        if not isinstance(d, Mapping):
            raise InvalidInput(f"timer must be an object, got {type(d).__name__}")
        if "remaining_ms" in d:
            raise InvalidInput("timer from_dict takes the storage form (limit_ms, elapsed_ms, started_at_ms), got a to_dict() view with remaining_ms")
        if "limit_ms" not in d:
            raise InvalidInput("timer is missing limit_ms")
        return cls(
            limit_ms=d["limit_ms"],
            elapsed_ms=d.get("elapsed_ms", 0),
            started_at_ms=d.get("started_at_ms"),
        )
