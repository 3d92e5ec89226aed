"""No pure core imports the shell or an I/O framework (STYLE.md: pure core, thin shell)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("deliberation", "voting", "realtime")
FORBIDDEN_TOP = {
    "litestar", "piccolo", "asyncio", "msgspec", "uvicorn", "websockets", "redis", "asyncpg", "aiosqlite", "kurultai",
}
SHELL_MODULES = {"tables", "service", "controllers", "schemas"}


def core_files():
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).glob("**/core/**/*.py"))


def imported_modules(source: str) -> list[str]:
    """Dotted names a module imports; relative imports are prefixed with dots."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.append(base)
            # `from pkg import service` imports the submodule `pkg.service`
            names.extend(f"{base}.{alias.name}" if node.module else base + alias.name for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


def violations(source: str) -> list[str]:
    bad = []
    for name in imported_modules(source):
        parts = [p for p in name.split(".") if p]
        if not parts:
            continue
        if (not name.startswith(".") and parts[0] in FORBIDDEN_TOP) or SHELL_MODULES & set(parts):
            bad.append(name)
    return bad


def test_there_are_core_modules():
    files = core_files()
    assert ROOT / "deliberation" / "core" / "phases.py" in files
    assert ROOT / "deliberation" / "core" / "audit.py" in files


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_is_pure(path):
    assert violations(path.read_text(encoding="utf-8")) == [], f"{path.relative_to(ROOT)} imports the shell"


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import litestar.app",
        "from piccolo.table import Table",
        "from msgspec import Struct",
        "import redis.asyncio as r",
        "from kurultai.settings import Settings",
        "from deliberation import service",
        "from deliberation.tables import Amendment",
        "from ..schemas import AmendmentCreate",
        "from .. import controllers",
        "def f():\n    import uvicorn",
        "import importlib\nimportlib.import_module('websockets')",
        "__import__('aiosqlite')",
        "import asyncpg",
    ],
)
def test_checker_catches_forbidden_imports(source):
    assert violations(source)


@pytest.mark.parametrize(
    "source",
    [
        "import hashlib\nimport difflib\nfrom dataclasses import dataclass",
        "from deliberation.core.errors import InvalidInput",
        "from .errors import InvalidInput",
        "import rfc8785",
        "from enum import StrEnum",
    ],
)
def test_checker_allows_pure_imports(source):
    assert violations(source) == []


VERIFIER_FILES = sorted((ROOT / "voting" / "verifier").glob("*.py"))
#: What the independent verifier may use: the pure core, its own modules, the standard library
#: and these third-party packages (issue #4: "never on the database or the server code").
VERIFIER_THIRD_PARTY = {"msgspec", "cryptography"}


@pytest.mark.parametrize("path", VERIFIER_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_verifier_depends_only_on_the_pure_core(path):
    import sys

    bad = []
    for name in imported_modules(path.read_text(encoding="utf-8")):
        if name.startswith("."):
            continue  # its own modules
        top = name.split(".")[0]
        if name.startswith("voting.core") or top in sys.stdlib_module_names or top in VERIFIER_THIRD_PARTY:
            continue
        bad.append(name)
    assert len(VERIFIER_FILES) >= 5
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"
