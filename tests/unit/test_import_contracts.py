"""The import contracts (`.importlinter`, run by `lint-imports` in CI) name what they must: the
protocol core's contract forbids every module of `voting` but the core itself, so a new module
of `voting` is covered the day it is added (or this test says to add it)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("contract", "source", "allowed"), [("protocol-core", "voting.core", {"core"}), ("verifier", "voting.verifier", {"core", "verifier"})])
def test_the_protocol_core_and_the_verifier_may_import_no_other_module_of_voting(contract: str, source: str, allowed: set[str]) -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    section = config[f"importlinter:contract:{contract}"]
    assert section["source_modules"].split() == [source]
    forbidden = set(section["forbidden_modules"].split())
    assert {"kurultai", "deliberation", "realtime"} <= forbidden
    voting = ROOT / "voting"
    modules = {f"voting.{p.stem}" for p in voting.glob("*.py") if p.stem != "__init__"}
    modules |= {f"voting.{p.name}" for p in voting.iterdir() if (p / "__init__.py").exists() and p.name not in allowed}
    assert modules, "no module of voting found"
    assert modules - forbidden == set(), f"add to the {contract} contract in .importlinter: {sorted(modules - forbidden)}"


def test_every_module_of_the_platform_and_the_root_has_a_layer():
    """A module of `kurultai` outside every layer of the layers contract could import anything:
    each top-level one is named (kurultai.web and kurultai.record as packages)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    named = {m.strip() for layer in config["importlinter:contract:layers"]["layers"].split("\n") for m in layer.replace("|", ":").split(":") if m.strip()}
    kurultai = ROOT / "kurultai"
    modules = {f"kurultai.{p.stem}" for p in kurultai.glob("*.py") if p.stem != "__init__"}
    modules |= {f"kurultai.{p.name}" for p in kurultai.iterdir() if (p / "__init__.py").exists()}
    assert {"deliberation", "voting", "realtime", "kurultai.web", "kurultai.unit_of_work"} <= named
    assert modules - named == set(), f"add to a layer of the layers contract in .importlinter: {sorted(modules - named)}"
