"""The draft document: consolidation at a version, numbering and export.

Each change to the draft creates a new *document version* (an increasing
integer). A provision's history is a set of ``ProvisionVersionRow`` rows, one
per document version in which it changed; ``text=None`` marks its deletion.

Export formats
--------------
Markdown (``to_markdown``)::

    # Law on Non-Governmental Organizations

    *Consolidated text, version 7.*

    ## Article 1. Scope

    Article body, if any.

    **1.** Paragraph text.

    **2. Paragraph title** Paragraph text.

Paragraph numbers are bold rather than ``1.`` list items, so a Markdown
renderer never renumbers them (``1, 3, 3a`` stays as is). Provision text is
user content: in every line, Markdown-significant characters are escaped with
a backslash (inline ``\\ ` * _ [ ] < > #`` anywhere; ``- + = | ~`` and
``1.``/``1)`` at the start of a line) and leading indentation is removed, so
text can never open a heading, list, quote, code block, table or raw HTML.
Blank lines inside a text are kept as paragraph breaks.

HTML (``to_html``): a complete HTML5 document; every article is an
``<h2>``, every paragraph a ``<p>`` with the number in
``<span class="number">``; everything is escaped with ``html.escape``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from deliberation.core.errors import InvalidInput

ARTICLE = "article"
PARAGRAPH = "paragraph"
KINDS = (ARTICLE, PARAGRAPH)

POSITION_STEP = 1024


@dataclass(frozen=True)
class ProvisionVersionRow:
    provision_id: int
    number: str
    kind: str  # "article" | "paragraph"
    position: int
    title: str
    text: str | None  # None: the provision is deleted from this version on
    document_version: int


@dataclass(frozen=True)
class ConsolidatedProvision:
    provision_id: int
    number: str
    kind: str
    title: str
    text: str
    version: int  # the document_version of the text shown


def consolidate(rows: Iterable[ProvisionVersionRow], at_version: int) -> list[ConsolidatedProvision]:
    """The document as it stood at ``at_version``.

    For each provision the row with the greatest ``document_version <=
    at_version`` wins; provisions deleted by that row, or with no row yet, are
    left out. The result is ordered by (position of the winning row,
    provision_id). Two rows of one provision with the same document version
    are an integrity error (InvalidInput).
    """
    chosen: dict[int, ProvisionVersionRow] = {}
    for row in rows:
        if row.document_version > at_version:
            continue
        best = chosen.get(row.provision_id)
        if best is not None and best.document_version == row.document_version:
            raise InvalidInput(f"provision {row.provision_id} has two rows for document version {row.document_version}, want at most one")
        if best is None or row.document_version > best.document_version:
            chosen[row.provision_id] = row
    live = sorted(
        (r for r in chosen.values() if r.text is not None),
        key=lambda r: (r.position, r.provision_id),
    )
    return [
        ConsolidatedProvision(
            provision_id=r.provision_id,
            number=r.number,
            kind=r.kind,
            title=r.title,
            text=r.text or "",
            version=r.document_version,
        )
        for r in live
    ]


# --- numbering and positions -------------------------------------------------


def _suffix(n: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', 27 -> 'ab', ... (bijective base 26)."""
    out = ""
    n += 1
    while n > 0:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("a") + rem) + out
    return out


def next_insert_number(after_number: str, existing_numbers: set[str]) -> str:
    """Number for a provision inserted after ``after_number``.

    Appends the first free suffix: ``3`` -> ``3a``, ``3b``, ... ``3z``,
    ``3aa``, ...; ``3.2`` -> ``3.2a``. Inserting after an inserted provision
    appends again: ``3a`` -> ``3aa``.
    """
    if not isinstance(after_number, str) or not after_number.strip():
        raise InvalidInput(f"provision number must be a non-empty string, got {after_number!r}")
    base = after_number.strip()
    n = 0
    while True:
        candidate = base + _suffix(n)
        if candidate not in existing_numbers:
            return candidate
        n += 1


def position_between(before: int, after: int | None) -> int | None:
    """An integer position strictly between ``before`` and ``after``.

    ``after=None`` (append at the end) gives ``before + POSITION_STEP``. Returns
    the midpoint, or None when no integer fits (the caller renumbers, e.g.
    with ``initial_positions``). ``after < before`` is a caller error.
    """
    if after is None:
        return before + POSITION_STEP
    if after < before:
        raise InvalidInput(f"position after ({after}) must not be less than position before ({before})")
    if after - before < 2:
        return None
    return before + (after - before) // 2


def initial_positions(count: int) -> list[int]:
    """Evenly spaced positions for ``count`` provisions: 1024, 2048, ..."""
    return [POSITION_STEP * (i + 1) for i in range(count)]


# --- Markdown ----------------------------------------------------------------

_MD_INLINE = re.compile(r"([\\`*_\[\]<>#])")
_MD_LINE_START = re.compile(r"^([-+=|~])")
_MD_ORDERED = re.compile(r"^(\d+)([.)])")


def _md_line(line: str) -> str:
    line = _MD_INLINE.sub(r"\\\1", line.strip())
    line = _MD_LINE_START.sub(r"\\\1", line)
    return _MD_ORDERED.sub(r"\1\\\2", line)


def _md_inline(text: str) -> str:
    """Escape a one-line value (title, number): newlines become spaces."""
    return _md_line(" ".join(text.split()))


def _md_block(text: str) -> str:
    lines = [_md_line(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:  # collapse runs of blank lines into one paragraph break
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _heading_text(p: ConsolidatedProvision) -> str:
    head = f"Article {p.number}"
    return f"{head}. {p.title.strip()}" if p.title.strip() else head


def to_markdown(title: str, provisions: Iterable[ConsolidatedProvision], version: int) -> str:
    """The consolidated document as Markdown (format in the module doc)."""
    parts = [f"# {_md_inline(title)}", f"*Consolidated text, version {int(version)}.*"]
    for p in provisions:
        body = _md_block(p.text)
        if p.kind == ARTICLE:
            parts.append(f"## {_md_inline(_heading_text(p))}")
            if body:
                parts.append(body)
        else:
            label = _md_inline(p.number) + "."
            if p.title.strip():
                label += " " + _md_inline(p.title)
            parts.append(f"**{label}** {body}".rstrip())
    return "\n\n".join(parts) + "\n"


# --- HTML --------------------------------------------------------------------


def _html_paragraphs(text: str) -> list[str]:
    """Split on blank lines; single newlines become <br>. Escaped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", text)]
    return ["<br>\n".join(html.escape(line) for line in b.split("\n")) for b in blocks if b.strip()]


def to_html(title: str, provisions: Iterable[ConsolidatedProvision], version: int, lang: str = "en") -> str:
    """The consolidated document as a complete HTML5 page (format in the module doc)."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{e(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)} (version {int(version)})</title>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="version">Consolidated text, version {int(version)}.</p>',
    ]
    for p in provisions:
        pid = int(p.provision_id)
        paras = _html_paragraphs(p.text)
        if p.kind == ARTICLE:
            out.append(f'<h2 id="provision-{pid}">{e(_heading_text(p))}</h2>')
            out.extend(f"<p>{para}</p>" for para in paras)
        else:
            label = f'<span class="number">{e(p.number)}.</span>'
            if p.title.strip():
                label += f" <strong>{e(p.title.strip())}</strong>"
            first, rest = (paras[0], paras[1:]) if paras else ("", [])
            out.append(f'<p class="paragraph" id="provision-{pid}">{label} {first}'.rstrip() + "</p>")
            out.extend(f"<p>{para}</p>" for para in rest)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
