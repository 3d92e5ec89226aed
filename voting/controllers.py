"""HTTP handlers of the voting API (PROTOCOL §5). Filled in by issue #4."""

from __future__ import annotations

HANDLERS: list = []
