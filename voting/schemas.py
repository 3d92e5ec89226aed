"""Wire types of the voting API (the ballot itself is parsed strictly by voting.core)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

Id = Annotated[int, Meta(ge=1, le=2**31 - 1)]
OptionId = Annotated[str, Meta(min_length=1, max_length=64)]


class KeyRegistration(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    assembly: Id
    public_key: Annotated[str, Meta(min_length=1, max_length=100)]


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    majority: Annotated[str, Meta(max_length=16)]
    quorum_percent: Annotated[int, Meta(ge=0, le=100)]


class ElectionCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Annotated[str, Meta(max_length=16)] = "amendments"
    provision: Id | None = None
    title: Annotated[str, Meta(max_length=300, pattern=r"^[^\x00]*$")] | None = None
    method: Annotated[str, Meta(max_length=16)] | None = None
    visibility: Annotated[str, Meta(max_length=16)] = "live"
    rule: RuleSpec | None = None
    order: Annotated[list[OptionId], Meta(max_length=200)] | None = None
    weights: dict[Annotated[str, Meta(max_length=64)], Annotated[int, Meta(ge=1, le=1_000_000)]] | None = None

    def spec(self) -> dict:
        out = {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not None}
        if self.rule is not None:
            out["rule"] = {"majority": self.rule.majority, "quorum_percent": self.rule.quorum_percent}
        return out


class ElectionUpdate(ElectionCreate, kw_only=True):
    kind: Annotated[str, Meta(max_length=16)] | None = None  # type: ignore[assignment]
    visibility: Annotated[str, Meta(max_length=16)] | None = None  # type: ignore[assignment]
