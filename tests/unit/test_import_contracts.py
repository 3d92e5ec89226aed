"""The import contracts (`.importlinter`, run by `lint-imports` in CI) name what they must: the
protocol core's contract forbids every module of `voting` but the core itself, so a new module
of `voting` is covered the day it is added (or this test says to add it)."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_protocol_core_may_import_no_other_module_of_voting():
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    contract = config["importlinter:contract:protocol-core"]
    assert contract["source_modules"].split() == ["voting.core"]
    forbidden = set(contract["forbidden_modules"].split())
    assert {"kurultai", "deliberation", "realtime"} <= forbidden
    voting = ROOT / "voting"
    modules = {f"voting.{p.stem}" for p in voting.glob("*.py") if p.stem != "__init__"}
    modules |= {f"voting.{p.name}" for p in voting.iterdir() if (p / "__init__.py").exists() and p.name != "core"}
    assert modules, "no module of voting found"
    assert modules - forbidden == set(), f"add to the protocol-core contract in .importlinter: {sorted(modules - forbidden)}"
