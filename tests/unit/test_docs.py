"""The docs keep up with the code: every setting, CLI command and live event type is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click

from kurultai.cli import cli
from kurultai.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]


def read(*names: str) -> str:
    return "\n".join((ROOT / n).read_text(encoding="utf-8") for n in names)


def test_every_setting_is_documented() -> None:
    ops = read("docs/operations.md")
    missing = [name for name in ENVIRONMENT if f"`{name}`" not in ops]
    assert not missing, f"settings missing from docs/operations.md: {missing}"


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, command in group.commands.items():
        out.append(prefix + name)
        if isinstance(command, click.Group):
            out.extend(_commands(command, prefix + name + " "))
    return out


def test_every_cli_command_is_documented_and_has_help() -> None:
    readme = read("README.md")
    for name in _commands(cli):
        assert f"kurultai {name}" in readme, f"README.md does not show `kurultai {name}`"
    for name, command in cli.commands.items():
        assert command.help, f"`kurultai {name}` has no --help text"


def test_every_event_type_is_documented() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for pkg in ("deliberation", "voting", "realtime") for p in (ROOT / pkg).rglob("*.py"))
    emitted = set(re.findall(r'emit\([^,()]+, "([a-z_]+\.[a-z_]+)"', source))
    assert {"tally.updated", "sth.updated", "comment.hidden"} <= emitted
    docs = read("docs/protocol.md")
    missing = sorted(t for t in emitted if f"`{t}`" not in docs)
    assert not missing, f"event types missing from docs/protocol.md: {missing}"
