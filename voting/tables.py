"""Piccolo tables of the voting domain (issue #4 fills this in)."""

from __future__ import annotations

from piccolo.table import Table

TABLES: list[type[Table]] = []
