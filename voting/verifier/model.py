"""What the verifier reads and returns: the bundle of published objects and the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Failure:
    """One failed check: ``check`` names it (``"ballot.signature"``), ``seq`` is the leaf or None."""

    check: str
    message: str
    seq: int | None = None

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        return f"{where}{self.check}: {self.message}"


@dataclass(frozen=True)
class BoardFile:
    """A board as the bytes of its file (a JSON array of leaves), not yet parsed.

    As a :class:`Bundle`'s board, the verifier parses it with :func:`parse_board`'s rules; a
    large one laid out one leaf per line (as `voting.client.write_bundle` writes it) is parsed
    by the worker processes, each its own chunks of lines, while the checks run. A file that
    does not parse is the failure ``("board", f"{name}: {why}")``, inserted in the bundle's
    ``problems`` at ``problem_index`` (at the end when None), the board then None: exactly as
    if the reader had parsed it.
    """

    data: bytes
    name: str = "board.json"
    problem_index: int | None = None


@dataclass(frozen=True)
class Bundle:
    """The five published objects, as parsed JSON, and the server's raw public key.

    ``board`` is the list of leaf objects in seq order (the ``leaf`` of each board entry), or
    a :class:`BoardFile`. An object that could not be read is None; ``problems`` then says why
    (reading a malformed file is a verification failure, not a crash).

    ``open``: the election is still open, so it has no result yet (``result`` None is then no
    failure) and the recount is the tally so far. ``tally``: the server's live tally over the
    same tree as ``sth`` (PROTOCOL §5 `GET /tally`), compared with the recount when given.
    """

    election: Any
    roll: Any
    board: Any
    sth: Any
    result: Any
    server_public_key: bytes
    problems: tuple[Failure, ...] = ()
    open: bool = False
    tally: Any = None


@dataclass(frozen=True)
class Summary:
    """What the verifier saw and recounted; None where it could not tell."""

    election: str | None
    method: str | None
    ballots: int  # leaves on the board
    voters: int  # keys on the roll
    counted: int | None  # voters whose ballot the recount counted
    winner: str | None  # the recount's winner
    ranking: tuple[str, ...] | None
    tree_size: int | None
    root_hash: str | None
    open: bool = False  # no result yet: counted, winner and ranking are the tally so far


@dataclass(frozen=True)
class Report:
    failures: tuple[Failure, ...]
    summary: Summary

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return not self.failures
