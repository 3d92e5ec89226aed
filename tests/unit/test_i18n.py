"""The interface catalogs: every string of the templates and of kurultai/*.py (including the
strings the browser scripts show) is translated in kk, ru and en; language negotiation; formats."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from kurultai.i18n import JS_MESSAGES, LANGUAGES, LOCALE_DIR, Lang, negotiate, parse_accept_language, translations

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted() -> set[str]:
    method_map = [("kurultai/**.py", "python"), ("templates/**.html", "jinja2")]
    options_map = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(ROOT, method_map, options_map, keywords=keywords):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


@pytest.fixture(scope="module")
def msgids() -> set[str]:
    ids = extracted()
    assert len(ids) > 150, "extraction found too few strings; is babel.cfg's layout still right?"
    return ids


def catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_is_complete(lang: str, msgids: set[str]) -> None:
    cat = catalog(lang)
    missing = sorted(m for m in msgids if m not in cat or not cat[m].string)
    assert not missing, f"{lang} catalog lacks {len(missing)} strings: {missing[:10]}"
    fuzzy = sorted(m.id for m in cat if m.id and m.fuzzy)
    assert not fuzzy, f"{lang} has fuzzy entries: {fuzzy[:10]}"
    empty = sorted(m.id for m in cat if m.id and not m.string)
    assert not empty, f"{lang} has empty msgstr: {empty[:10]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_survive_translation(lang: str) -> None:
    for m in catalog(lang):
        if m.id:
            assert set(PLACEHOLDER.findall(m.id)) == set(PLACEHOLDER.findall(m.string)), (lang, m.id, m.string)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_catalog_is_really_translated(lang: str, msgids: set[str]) -> None:
    cat = catalog(lang)
    same = [m for m in msgids if cat[m].string == m]
    assert len(same) <= 3, f"{lang}: {same} look untranslated"
    cyrillic = sum(1 for m in msgids if re.search("[а-яёәғқңөұүһі]", cat[m].string, re.I))
    assert cyrillic >= len(msgids) - 3


def test_no_obsolete_entries(msgids: set[str]) -> None:
    for lang in LANGUAGES:
        extra = sorted(m.id for m in catalog(lang) if m.id and m.id not in msgids)
        assert not extra, f"{lang} has entries no code uses (run pybabel update): {extra[:10]}"


def test_js_messages_translate() -> None:
    assert Lang("ru").js_messages()["recorded"].startswith("Учтено")
    assert Lang("kk").js_messages()["online"] == "Тікелей"
    assert set(Lang("en").js_messages()) == set(JS_MESSAGES)


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'de'"):
        translations("de")


@pytest.mark.parametrize(
    ("cookie", "header", "want"),
    [
        (None, None, "en"),
        (None, "ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        (None, "de-DE, kk;q=0.5, ru;q=0.4", "kk"),
        (None, "en;q=0.1, ru;q=0.9", "ru"),
        (None, "ru;q=0, kk", "kk"),
        (None, "fr, de", "en"),
        (None, "garbage;;q=x,,", "en"),
        ("kk", "ru", "kk"),
        ("xx", "ru", "ru"),
    ],
)
def test_negotiate(cookie: str | None, header: str | None, want: str) -> None:
    assert negotiate(cookie, header) == want


def test_accept_language_order() -> None:
    assert parse_accept_language("en;q=0.5, kk-KZ, ru;q=0.8") == ["kk", "ru", "en"]


def test_localized_formats() -> None:
    assert Lang("ru").number(12345) == "12\xa0345"
    assert Lang("en").number(12345) == "12,345"
    assert Lang("en").datetime("2026-11-24T10:15:00.123Z") == "Nov 24, 2026, 3:15:00\u202fPM"
    assert "2026" in Lang("kk").datetime("2026-11-24T10:15:00.123Z")
    assert Lang("ru").time("2026-11-24T10:15:00.123Z") == "15:15"
    assert Lang("en").datetime(None) == "" and Lang("en").datetime("not a time") == "not a time"


def test_gettext_escapes_variables() -> None:
    out = Lang("ru").gettext("by %(name)s", name="<b>x</b>")
    assert str(out) == "автор: &lt;b&gt;x&lt;/b&gt;"
