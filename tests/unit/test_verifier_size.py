"""The verifier stays small enough for an auditor to read in an afternoon (issue #15: under 600
lines of code outside the protocol package; docs/verifying.md, "What an auditor reads").

Lines of code: lines holding a token other than a comment, a docstring or a line break, as
Python's tokenizer reads them (the count the docs give).
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

VERIFIER = Path(__file__).resolve().parents[2] / "voting" / "verifier"
BUDGET = 600
_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def lines_of_code(source: str) -> int:
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _LAYOUT:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(lines)


def test_lines_of_code_counts_code_only():
    source = '"""Doc\n\nstring."""\n\n# a comment\nx = 1  # trailing\n\n\ndef f():\n    """Its doc."""\n    return (\n        x\n    )\n'
    assert lines_of_code(source) == 5  # x = 1, def, return (, x, )


def test_the_verifier_is_under_its_budget():
    counts = {path.name: lines_of_code(path.read_text()) for path in sorted(VERIFIER.glob("*.py"))}
    assert set(counts) == {"__init__.py", "checks.py", "model.py", "monitor.py", "parallel.py"}, counts
    assert sum(counts.values()) < BUDGET, counts
