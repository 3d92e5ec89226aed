"""The structure of a draft law: chapters, articles and numbered paragraphs, recognised in
Kazakh, Russian and English (issue #18).

`recognise(blocks)` takes the paragraphs and table rows of a document in reading order (the
readers in `deliberation/draft_import.py` make them from .docx, .odt and text files) and returns
one `Article` per article with its number, heading and text, the chapters they belong to, the
parts it could not place (`Skipped`) and what looks wrong (`Warning`). Pure: no I/O.

Recognised markers (at the start of a line, after Markdown's `#` and `**`):

- chapters: "Глава 2", "Раздел II", "2-тарау", "1-бөлім", "Chapter 2", "Part II";
- articles: "Статья 5.", "Статья 5-1.", "5-бап.", "5-1-бап.", "Article 5.", "Article 5:";
  the heading is the rest of the line;
- numbered paragraphs inside an article: "1)", "1.", "1-1)"; they stay in the article's text.
  A document without any article marker is read as numbered paragraphs instead: one provision
  (kind `paragraph`) per top-level "1." or "1)".

Whitespace is normalised (runs of spaces, tabs and no-break spaces become one space, lines are
stripped, empty lines dropped); nothing else of the text is changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

BLOCK_KINDS = ("paragraph", "table", "footnote")
MAX_HEADING = 300  # provision_version.title
MAX_NUMBER = 32  # provision.number

_NUM = r"(\d{1,6}(?:[-.]\d{1,6}){0,3})"
_ROMAN = r"[IVXLCDM]{1,8}"
_TAIL = r"(?=$|[\s.:–—-])\s*[.:–—-]?\s*(.*)$"

_ARTICLE = (
    ("ru", re.compile(rf"^(?:Статья|СТАТЬЯ|статья)\s+{_NUM}{_TAIL}")),
    ("kk", re.compile(rf"^{_NUM}-(?:бап|БАП|Бап)(?=$|[\s.:])\s*[.:]?\s*(.*)$")),
    ("en", re.compile(rf"^(?:Article|ARTICLE)\s+{_NUM}{_TAIL}")),
)
_CHAPTER = (
    ("ru", re.compile(rf"^(?:Глава|ГЛАВА|Раздел|РАЗДЕЛ)\s+(\d{{1,4}}|{_ROMAN}){_TAIL}")),
    ("kk", re.compile(rf"^(\d{{1,4}}|{_ROMAN})-(?:тарау|ТАРАУ|Тарау|бөлім|БӨЛІМ|Бөлім)(?=$|[\s.:])\s*[.:]?\s*(.*)$")),
    ("en", re.compile(rf"^(?:Chapter|CHAPTER|Part|PART)\s+(\d{{1,4}}|{_ROMAN}){_TAIL}")),
)
_PARAGRAPH = re.compile(r"^(\d{1,4}(?:-\d{1,4})?)[.)]\s+(\S.*)$")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_MD_EMPHASIS = re.compile(r"^(\*\*|__)(.+?)\1")
_MD_FOOTNOTE = re.compile(r"^\[\^[^\]]{1,20}\]:\s*")
_KAZAKH_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


@dataclass(frozen=True)
class Block:
    """A paragraph, a table row (cells joined by " | ") or a footnote of the source."""

    text: str
    kind: str = "paragraph"


@dataclass
class Article:
    number: str
    heading: str
    text: str
    chapter: str  # the chapter's line(s) as in the source, "" before any chapter
    kind: str = "article"  # article | paragraph (a document of numbered paragraphs only)
    paragraphs: int = 0  # numbered paragraphs recognised in the text
    line: int = 0  # 1-based line of the marker


@dataclass
class Chapter:
    number: str
    heading: str
    label: str
    line: int


@dataclass
class Skipped:
    line: int
    text: str
    reason: str  # before_first_article | footnote | chapter_text


@dataclass
class Warning:
    code: str  # empty_article | number_gap | duplicate_number | out_of_order | long_heading | long_number
    article: str
    detail: str


@dataclass
class Recognised:
    language: str | None
    chapters: list[Chapter] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    lines: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "language": self.language,
            "lines": self.lines,
            "chapters": [{"number": c.number, "heading": c.heading, "label": c.label, "line": c.line} for c in self.chapters],
            "articles": [{"number": a.number, "kind": a.kind, "heading": a.heading, "text": a.text, "chapter": a.chapter, "paragraphs": a.paragraphs, "line": a.line} for a in self.articles],
            "skipped": [{"line": s.line, "text": s.text, "reason": s.reason} for s in self.skipped],
            "warnings": [{"code": w.code, "article": w.article, "detail": w.detail} for w in self.warnings],
        }


def normalise(text: str) -> str:
    """One line: runs of whitespace (tabs, no-break spaces) become one space; stripped."""
    return " ".join(text.split())


def _plain(line: str) -> str:
    """A line without Markdown's heading marks and a leading bold span, for matching markers."""
    line = _MD_HEADING.sub("", line)
    return _MD_EMPHASIS.sub(r"\2", line, count=1).strip()


def match_article(line: str) -> tuple[str, str, str] | None:
    """(language, number, heading) when `line` starts an article."""
    plain = _plain(line)
    for lang, pattern in _ARTICLE:
        m = pattern.match(plain)
        if m is None:
            continue
        heading = m.group(2).strip()
        sep = plain[m.end(1) : m.end(1) + 1]
        if lang != "kk" and sep.isspace() and heading and not (heading[0].isupper() or heading[0].isdigit()):
            return None  # "Статья 5 настоящего Закона применяется…": a reference in a sentence
        return lang, m.group(1), heading
    return None


def match_chapter(line: str) -> tuple[str, str, str] | None:
    """(language, number, heading) when `line` starts a chapter."""
    plain = _plain(line)
    for lang, pattern in _CHAPTER:
        m = pattern.match(plain)
        if m is None:
            continue
        heading = m.group(2).strip()
        sep = plain[m.end(1) : m.end(1) + 1]
        if lang != "kk" and sep.isspace() and heading and not heading[0].isupper():
            return None
        return lang, m.group(1), heading
    return None


def guess_language(text: str) -> str:
    """kk when the text has letters only Kazakh uses, ru for other Cyrillic, else en."""
    if any(ch in _KAZAKH_LETTERS for ch in text):
        return "kk"
    if any("\u0400" <= ch <= "\u04ff" for ch in text):
        return "ru"
    return "en"


def article_label(number: str, lang: str) -> str:
    """The label of an article: "Статья 5", "5-бап", "Article 5"."""
    return {"ru": f"Статья {number}", "kk": f"{number}-бап"}.get(lang, f"Article {number}")


def articles_label(first: str, last: str, lang: str) -> str:
    if first == last:
        return article_label(first, lang)
    return {"ru": f"Статьи {first}–{last}", "kk": f"{first}–{last}-баптар"}.get(lang, f"Articles {first}–{last}")


def _lines(blocks: Iterable[Block]) -> list[tuple[int, str, str]]:
    """(1-based line, kind, text) of every non-empty line, normalised."""
    out = []
    n = 0
    for block in blocks:
        for raw in block.text.splitlines() or [""]:
            n += 1
            text = normalise(raw)
            if not text:
                continue
            kind = block.kind
            if kind == "paragraph" and _MD_FOOTNOTE.match(text):
                kind = "footnote"
            out.append((n, kind, text))
    return out


def _number_key(number: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.split(r"[-.]", number))


def recognise(blocks: Iterable[Block]) -> Recognised:
    """The chapters, articles, skipped parts and warnings of a document's blocks."""
    lines = _lines(blocks)
    result = Recognised(language=None, lines=lines[-1][0] if lines else 0)
    if not any(kind != "footnote" and match_article(text) for _, kind, text in lines):
        _numbered_paragraphs(lines, result)
    else:
        _articles(lines, result)
    _check(result)
    return result


def _articles(lines: list[tuple[int, str, str]], result: Recognised) -> None:
    languages: dict[str, int] = {}
    chapter = ""
    current: Article | None = None
    body: list[str] = []
    pending_chapter: Chapter | None = None  # a chapter line whose heading may be on the next line

    def close() -> None:
        nonlocal current
        if current is not None:
            current.text = "\n".join(body)
            current.paragraphs = sum(1 for line in body if _PARAGRAPH.match(line))
            result.articles.append(current)
        current = None
        body.clear()

    for n, kind, text in lines:
        if kind == "footnote":
            result.skipped.append(Skipped(n, text, "footnote"))
            continue
        art = match_article(text) if kind == "paragraph" else None
        chap = match_chapter(text) if kind == "paragraph" and art is None else None
        if pending_chapter is not None and art is None and chap is None and len(text) <= MAX_HEADING and not _PARAGRAPH.match(text):
            pending_chapter.heading = text
            joiner = " " if pending_chapter.label.endswith((".", ":")) else ". "
            pending_chapter.label = pending_chapter.label + joiner + text
            chapter = pending_chapter.label
            pending_chapter = None
            continue
        pending_chapter = None
        if chap is not None:
            close()
            lang, number, heading = chap
            languages[lang] = languages.get(lang, 0) + 1
            found = Chapter(number=number, heading=heading, label=_plain(text), line=n)
            result.chapters.append(found)
            chapter = found.label
            if not heading:
                pending_chapter = found
            continue
        if art is not None:
            close()
            lang, number, heading = art
            languages[lang] = languages.get(lang, 0) + 1
            current = Article(number=number, heading=heading, text="", chapter=chapter, line=n)
            continue
        if current is None:
            result.skipped.append(Skipped(n, text, "chapter_text" if result.chapters else "before_first_article"))
            continue
        body.append(text)
    close()
    result.language = max(languages, key=lambda k: languages[k]) if languages else None


def _numbered_paragraphs(lines: list[tuple[int, str, str]], result: Recognised) -> None:
    """A document without articles: each top-level "N." or "N)" in order starts a provision."""
    current: Article | None = None
    body: list[str] = []
    expected = 1

    def close() -> None:
        if current is not None:
            current.text = "\n".join(body)
            result.articles.append(current)
        body.clear()

    for n, kind, text in lines:
        if kind == "footnote":
            result.skipped.append(Skipped(n, text, "footnote"))
            continue
        m = _PARAGRAPH.match(text) if kind == "paragraph" else None
        if m is not None and "-" not in m.group(1) and int(m.group(1)) in (expected, expected + 1):
            close()
            expected = int(m.group(1)) + 1
            current = Article(number=m.group(1), heading="", text="", chapter="", kind="paragraph", line=n)
            body.append(m.group(2))
            continue
        if current is None:
            result.skipped.append(Skipped(n, text, "before_first_article"))
            continue
        body.append(text)
    close()
    if result.articles:
        result.language = guess_language(" ".join(a.text[:200] for a in result.articles[:5]))


def _check(result: Recognised) -> None:
    seen: set[str] = set()
    previous: Article | None = None
    for a in result.articles:
        if len(a.number) > MAX_NUMBER:
            result.warnings.append(Warning("long_number", a.number[:MAX_NUMBER], f"number {a.number!r} is longer than {MAX_NUMBER} characters"))
            a.number = a.number[:MAX_NUMBER]
        if len(a.heading) > MAX_HEADING:
            result.warnings.append(Warning("long_heading", a.number, f"the heading of {a.number} is {len(a.heading)} characters long (at most {MAX_HEADING}); it is kept as the text's first line"))
            a.text = a.heading + ("\n" + a.text if a.text else "")
            a.heading = ""
        if a.number in seen:
            result.warnings.append(Warning("duplicate_number", a.number, f"number {a.number} appears more than once (line {a.line})"))
        seen.add(a.number)
        if not a.text:
            result.warnings.append(Warning("empty_article", a.number, f"{a.number} has no text (line {a.line})"))
        if previous is not None:
            before, now = _number_key(previous.number), _number_key(a.number)
            if now <= before:
                result.warnings.append(Warning("out_of_order", a.number, f"{a.number} follows {previous.number}"))
            elif len(now) == 1 and len(before) >= 1 and now[0] > before[0] + 1:
                missing = f"{before[0] + 1}" if now[0] == before[0] + 2 else f"{before[0] + 1}–{now[0] - 1}"
                result.warnings.append(Warning("number_gap", a.number, f"{missing} missing between {previous.number} and {a.number}"))
        previous = a
