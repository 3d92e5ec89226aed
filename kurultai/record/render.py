"""Document plumbing shared by the record's documents (the adopted text, the minutes and the
comparative table): the Jinja environment of templates/record/ in a chosen language, the
embedded font, HTML -> PDF with WeasyPrint, and a new DOCX with the font and language set.

The PDF embeds DejaVu Serif (Debian's fonts-dejavu-core, and fonts-dejavu-extra for the
italic): it has every Cyrillic letter of Russian and Kazakh (ә ғ қ ң ө ұ ү һ і). WeasyPrint
subsets and embeds the font it used, so a reader needs no font of their own. WeasyPrint needs
Pango (Debian's libpango-1.0-0, libpangoft2-1.0-0).
"""

from __future__ import annotations

import datetime as dt
import io
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from kurultai.i18n import LANGUAGES, Lang

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"

#: Where Debian's packages put the faces (fonts-dejavu-core, its italic in fonts-dejavu-extra; then fonts-noto-core).
FONT_FACES: dict[str, tuple[Path, ...]] = {
    "regular": (Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"), Path("/usr/share/fonts/truetype/noto/NotoSerif-Regular.ttf")),
    "bold": (Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"), Path("/usr/share/fonts/truetype/noto/NotoSerif-Bold.ttf")),
    "italic": (Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf"), Path("/usr/share/fonts/truetype/noto/NotoSerif-Italic.ttf")),
}
FONT_FAMILY = "Kurultai Serif"
#: The font named in DOCX files (Word substitutes a font it lacks; DejaVu has every letter).
DOCX_FONT = "DejaVu Serif"
DOCX_LANGS = {"kk": "kk-KZ", "ru": "ru-RU", "en": "en-GB"}
FORMATS = ("pdf", "docx")
MEDIA_TYPES = {"pdf": "application/pdf", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


class RecordError(Exception):
    """A record cannot be made: bad input (an unknown language or format) or a missing font."""


def check_lang(lang: str) -> Lang:
    if lang not in LANGUAGES:
        raise RecordError(f"language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return Lang(lang)


def font_path(face: str) -> Path:
    for path in FONT_FACES[face]:
        if path.is_file():
            return path
    raise RecordError(f"no {face} font with the Kazakh letters: install Debian's fonts-dejavu-core and fonts-dejavu-extra (looked for {', '.join(map(str, FONT_FACES[face]))})")


def font_face_css() -> str:
    """@font-face rules of the embedded font (regular, bold, italic)."""
    rules = []
    for face, (weight, style) in {"regular": ("normal", "normal"), "bold": ("bold", "normal"), "italic": ("normal", "italic")}.items():
        rules.append(f'@font-face {{ font-family: "{FONT_FAMILY}"; src: url("{font_path(face).as_uri()}"); font-weight: {weight}; font-style: {style}; }}')
    return "\n".join(rules)


def css_string(text: str) -> str:
    """`text` as the body of a double-quoted CSS string."""
    return "".join(ch if ch.isalnum() or ch in " .,:;-–—()/" else f"\\{ord(ch):06x}" for ch in text)


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), undefined=StrictUndefined, extensions=["jinja2.ext.i18n"])
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]  # each render passes its language's callables
    env.filters["css_string"] = css_string
    return env


def render_html(template: str, lang: Lang, **variables: Any) -> str:
    return environment().get_template(template).render(**lang.context(), font_faces=Markup(font_face_css()), font_family=FONT_FAMILY, **variables)  # our own CSS (file paths)


def html_to_pdf(html: str) -> bytes:
    """The page as PDF (WeasyPrint); fonts only from the files the page names (no network)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    pdf = HTML(string=html, base_url=str(TEMPLATES), url_fetcher=URLFetcher(allowed_protocols={"file"}, fail_on_errors=True)).write_pdf()
    assert pdf is not None  # write_pdf without a target returns the bytes
    return bytes(pdf)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise RecordError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def new_docx(lang: Lang, *, title: str, subject: str, generated_at: str) -> Any:
    """A python-docx Document whose styles name the font with every Kazakh letter and the
    language, with its core properties filled in."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    for style_name in ("Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "Table Grid"):
        style = doc.styles[style_name]
        style.font.name = DOCX_FONT
        rpr = style.element.get_or_add_rPr()
        fonts = rpr.get_or_add_rFonts()
        for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            fonts.set(qn(attr), DOCX_FONT)
        lang_el = rpr.find(qn("w:lang"))
        if lang_el is None:
            lang_el = rpr.makeelement(qn("w:lang"), {})
            rpr.append(lang_el)
        lang_el.set(qn("w:val"), DOCX_LANGS[lang.code])
    doc.styles["Normal"].font.size = Pt(11)
    props = doc.core_properties
    props.title = title
    props.subject = subject
    props.language = DOCX_LANGS[lang.code]
    props.author = "Kurultai"
    try:
        props.created = dt.datetime.fromisoformat(generated_at.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        pass
    return doc


def docx_bytes(doc: Any) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
