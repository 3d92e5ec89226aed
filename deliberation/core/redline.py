"""Word-level redline between two texts.

Tokenisation: a text is cut into tokens of three kinds, which together cover
every character exactly once:

* words: maximal runs of Unicode word characters (letters of any script,
  digits, ``_``) together with any combining marks that follow them, so
  Cyrillic and Kazakh words (``әділет``, ``құқық``) are single tokens;
* whitespace: maximal runs of whitespace, newlines included;
* punctuation: every other character is a token of its own, so ``law,`` ->
  ``law.`` marks only the comma as changed.

The token sequences are compared with ``difflib.SequenceMatcher`` (autojunk
off). A replacement is emitted as a delete followed by an insert. To keep
redlines readable, a whitespace-only unchanged run that sits between two
changes is folded into them (``the quick fox`` -> ``a slow dog`` becomes one
delete and one insert, not three pairs); adjacent segments of the same op are
merged, and no segment has empty text.

Invariants: joining the texts of the ``equal`` and ``delete`` segments gives
``old``; joining ``equal`` and ``insert`` gives ``new``.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable, Mapping

from deliberation.core.errors import InvalidInput

EQUAL = "equal"
INSERT = "insert"
DELETE = "delete"
OPS = (EQUAL, INSERT, DELETE)

_COMBINING = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_TOKEN = re.compile(rf"\s+|\w[\w{_COMBINING}]*|.", re.DOTALL)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into word, whitespace and punctuation tokens (see module doc)."""
    return _TOKEN.findall(text)


def _merge(segments: Iterable[tuple[str, str]]) -> list[dict]:
    out: list[dict] = []
    for op, text in segments:
        if not text:
            continue
        if out and out[-1]["op"] == op:
            out[-1]["text"] += text
        else:
            out.append({"op": op, "text": text})
    return out


def compute_redline(old: str, new: str) -> list[dict]:
    """Return the redline from ``old`` to ``new`` as ``{"op", "text"}`` segments."""
    if not isinstance(old, str) or not isinstance(new, str):
        raise InvalidInput(f"redline needs two strings, got {type(old).__name__} and {type(new).__name__}")
    a, b = tokenize(old), tokenize(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    raw: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            raw.append((EQUAL, "".join(a[i1:i2])))
        else:  # replace, delete, insert: delete first, then insert
            raw.append((DELETE, "".join(a[i1:i2])))
            raw.append((INSERT, "".join(b[j1:j2])))
    raw = [(op, text) for op, text in raw if text]

    # Group into alternating runs: an unchanged run, or a change run (deletes
    # and inserts in order). A whitespace-only unchanged run between two change
    # runs joins them, counted as deleted and inserted.
    out: list[tuple[str, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        out.append((DELETE, "".join(deleted)))
        out.append((INSERT, "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for k, (op, text) in enumerate(raw):
        if op == DELETE:
            deleted.append(text)
        elif op == INSERT:
            inserted.append(text)
        else:
            between_changes = (deleted or inserted) and text.isspace() and k + 1 < len(raw) and raw[k + 1][0] != EQUAL
            if between_changes:
                deleted.append(text)
                inserted.append(text)
            else:
                if deleted or inserted:
                    flush()
                out.append((EQUAL, text))
    if deleted or inserted:
        flush()
    return _merge(out)


def _check_segment(segment: object, index: int) -> tuple[str, str]:
    if not isinstance(segment, Mapping):
        raise InvalidInput(f"redline segment {index} must be an object, got {type(segment).__name__}")
    op, text = segment.get("op"), segment.get("text")
    if op not in OPS:
        raise InvalidInput(f"redline segment {index} has op {op!r}, want one of 'equal', 'insert', 'delete'")
    if not isinstance(text, str):
        raise InvalidInput(f"redline segment {index} text must be a string, got {type(text).__name__}")
    return op, text


def apply_redline(segments: Iterable[Mapping]) -> tuple[str, str]:
    """Return ``(old, new)`` reconstructed from redline segments."""
    old: list[str] = []
    new: list[str] = []
    for index, segment in enumerate(segments):
        op, text = _check_segment(segment, index)
        if op != INSERT:
            old.append(text)
        if op != DELETE:
            new.append(text)
    return "".join(old), "".join(new)


def redline_html(segments: Iterable[Mapping]) -> str:
    """Render segments as HTML: ``<del>`` for deletions, ``<ins>`` for insertions.

    All text is escaped with ``html.escape``; newlines are kept as they are, so
    the container should use ``white-space: pre-wrap``.
    """
    parts: list[str] = []
    for index, segment in enumerate(segments):
        op, text = _check_segment(segment, index)
        escaped = html.escape(text)
        if op == DELETE:
            parts.append(f"<del>{escaped}</del>")
        elif op == INSERT:
            parts.append(f"<ins>{escaped}</ins>")
        else:
            parts.append(escaped)
    return "".join(parts)
