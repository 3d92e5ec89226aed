"""The structure recogniser of a draft law (issue #18) on real-looking drafts in Kazakh, Russian
and English, read from .docx, .odt and Markdown files the tests write (python-docx, odfpy):
irregular numbering, a table, footnotes, an empty article, references inside sentences."""

from __future__ import annotations

import pytest

from deliberation.core.structure import Block, article_label, articles_label, guess_language, match_article, match_chapter, normalise, recognise
from deliberation.draft_import import read_document, recognise_document
from tests.draft_fixtures import EN, KK, RU, RU_AFTER_TABLE, RU_TABLE, docx_bytes, odt_bytes, russian_law


def codes(found) -> set[tuple[str, str]]:
    return {(w.code, w.article) for w in found.warnings}


def test_russian_docx_with_chapters_a_table_a_footnote_and_an_empty_article() -> None:
    fmt, found = recognise_document(docx_bytes(RU, RU_TABLE, RU_AFTER_TABLE, footnote="Сноска: в редакции 2026 года."), "закон.docx")
    assert fmt == "docx" and found.language == "ru"
    assert [(a.number, a.heading) for a in found.articles] == [
        ("1", "Основные понятия"),
        ("2", "Сфера действия настоящего Закона"),
        ("3", "Права некоммерческой организации"),
        ("3-1", "Обязанности"),
        ("5", "Исключена"),
        ("6", "Размеры взносов"),
    ]
    assert [(c.number, c.heading, c.label) for c in found.chapters] == [("1", "ОБЩИЕ ПОЛОЖЕНИЯ", "Глава 1. ОБЩИЕ ПОЛОЖЕНИЯ"), ("2", "ПРАВА И ОБЯЗАННОСТИ", "Глава 2. ПРАВА И ОБЯЗАННОСТИ")]
    assert [a.chapter for a in found.articles] == ["Глава 1. ОБЩИЕ ПОЛОЖЕНИЯ"] * 2 + ["Глава 2. ПРАВА И ОБЯЗАННОСТИ"] * 4
    first = found.articles[0]
    assert first.paragraphs == 2
    assert first.text.splitlines()[1] == "1) некоммерческая организация – юридическое лицо, не имеющее извлечение дохода в качестве основной цели;"  # runs of spaces: one
    # A reference to an article inside a sentence is text of the article it is in.
    assert found.articles[2].text.endswith("Статья 5 настоящего Закона применяется с учетом особенностей.")
    assert found.articles[4].text == ""  # "Статья 5. Исключена": an empty article
    assert found.articles[5].text.splitlines() == ["Взносы устанавливаются по таблице:", "Вид организации | Взнос", "Фонд | 10 МРП", "Ассоциация | 5 МРП", "Взносы уплачиваются ежегодно."]
    assert [(s.reason, s.text) for s in found.skipped] == [
        ("before_first_article", "ЗАКОН РЕСПУБЛИКИ КАЗАХСТАН"),
        ("before_first_article", "О некоммерческих организациях"),
        ("before_first_article", "Настоящий Закон регулирует общественные отношения, возникающие в связи с созданием некоммерческих организаций."),
        ("footnote", "Сноска: в редакции 2026 года."),
    ]
    assert codes(found) == {("empty_article", "5"), ("number_gap", "5")}  # article 4 is missing


def test_kazakh_odt_with_a_footnote_a_table_and_an_empty_article() -> None:
    fmt, found = recognise_document(odt_bytes(KK, RU_TABLE, "Кесте соңы.", footnote_on="3-бап", footnote="Ескертпе: 2026 жылғы редакция."), "заң.odt")
    assert fmt == "odt" and found.language == "kk"
    assert [(a.number, a.heading) for a in found.articles] == [
        ("1", "Негізгі ұғымдар"),
        ("2", "Осы Заңның қолданылу саласы"),
        ("3", "Ұйымның құқықтары"),  # the footnote's citation and text are not in the heading
        ("3-1", "Міндеттер"),
        ("4", ""),
        ("6", "Жарналар"),
    ]
    assert [c.label for c in found.chapters] == ["1-тарау. ЖАЛПЫ ЕРЕЖЕЛЕР", "2-тарау. ҚҰҚЫҚТАР"]
    assert found.articles[2].text == "1. Ұйым мүлікті иеленуге құқылы.\n2. Ұйым өз қызметін жүзеге асырады." and found.articles[2].paragraphs == 2
    assert found.articles[4].text == ""
    assert found.articles[5].text.splitlines()[-1] == "Кесте соңы."
    assert ("footnote", "Ескертпе: 2026 жылғы редакция.") in [(s.reason, s.text) for s in found.skipped]
    assert codes(found) == {("empty_article", "4"), ("number_gap", "6")}


def test_english_markdown_with_headings_bold_markers_and_a_footnote() -> None:
    fmt, found = recognise_document(EN.encode(), "law.md")
    assert fmt == "text" and found.language == "en"
    assert [(a.number, a.heading, a.chapter) for a in found.articles] == [
        ("1", "Definitions", "Chapter 1: General provisions"),
        ("2", "Scope", "Chapter 1: General provisions"),
        ("3", "Rights", "Chapter II"),
        ("7", "Final provisions", "Chapter II"),
    ]
    assert found.articles[1].text == "This Law applies to all organizations.\nArticle 2 applies to foundations as well."
    assert found.articles[2].paragraphs == 2
    assert [s.reason for s in found.skipped] == ["before_first_article", "before_first_article", "footnote"]
    assert codes(found) == {("number_gap", "7")}


def test_english_docx_reads_the_same_as_the_text() -> None:
    plain = "\n".join(line for line in EN.splitlines())
    _, from_docx = recognise_document(docx_bytes(plain), "law.docx")
    _, from_text = recognise_document(plain.encode(), "law.md")
    assert [(a.number, a.heading, a.text) for a in from_docx.articles] == [(a.number, a.heading, a.text) for a in from_text.articles]


def test_irregular_numbering_is_reported() -> None:
    text = "Статья 1. А\nx\nСтатья 2. Б\nx\nСтатья 2. В\nx\nСтатья 1-1. Г\nx\nСтатья 9. Д\nx\nСтатья 9.1. Е\nx"
    found = recognise([Block(text)])
    assert [a.number for a in found.articles] == ["1", "2", "2", "1-1", "9", "9.1"]
    assert codes(found) == {("duplicate_number", "2"), ("out_of_order", "2"), ("out_of_order", "1-1"), ("number_gap", "9")}
    gap = next(w for w in found.warnings if w.code == "number_gap")
    assert gap.detail == "2–8 missing between 1-1 and 9"


def test_numbered_paragraphs_without_articles() -> None:
    text = "ПОСТАНОВЛЕНИЕ\nОб общественном совете\n1. Создать общественный совет.\n2) Утвердить положение:\nпо составу совета;\n3. Контроль возложить на секретаря.\n7. Это не пункт по порядку."
    found = recognise([Block(text)])
    assert [(a.number, a.kind, a.text) for a in found.articles] == [
        ("1", "paragraph", "Создать общественный совет."),
        ("2", "paragraph", "Утвердить положение:\nпо составу совета;"),
        ("3", "paragraph", "Контроль возложить на секретаря.\n7. Это не пункт по порядку."),
    ]
    assert found.language == "ru" and len(found.skipped) == 2


def test_a_long_heading_becomes_text() -> None:
    found = recognise([Block("Article 1. " + "Very long " * 40 + "\nBody.")])
    assert found.articles[0].heading == "" and found.articles[0].text.startswith("Very long") and found.articles[0].text.endswith("\nBody.")
    assert ("long_heading", "1") in codes(found)


@pytest.mark.parametrize(
    "line, want",
    [
        ("Статья 5. Право на объединение", ("ru", "5", "Право на объединение")),
        ("СТАТЬЯ 12", ("ru", "12", "")),
        ("Статья 5-1. Вставная", ("ru", "5-1", "Вставная")),
        ("### Статья 7 — Заключительные положения", ("ru", "7", "Заключительные положения")),
        ("5-бап. Бірлесу құқығы", ("kk", "5", "Бірлесу құқығы")),
        ("5-1-бап. Қосымша", ("kk", "5-1", "Қосымша")),
        ("**12-бап.** Қорытынды", ("kk", "12", "Қорытынды")),
        ("Article 5. Freedom of association", ("en", "5", "Freedom of association")),
        ("Article 5: Scope", ("en", "5", "Scope")),
        ("Article 5 Scope", ("en", "5", "Scope")),
        ("ARTICLE 3.1", ("en", "3.1", "")),
        ("Статья 5 настоящего Закона применяется", None),
        ("Article 5 applies to everyone", None),
        ("Статьями 5 и 6", None),
        ("в статье 5. сказано", None),
        ("5-бапта көрсетілген", None),
        ("Articles 5 and 6", None),
    ],
)
def test_article_markers(line: str, want: tuple[str, str, str] | None) -> None:
    assert match_article(line) == want


@pytest.mark.parametrize(
    "line, want",
    [
        ("Глава 2. Права", ("ru", "2", "Права")),
        ("ГЛАВА IV", ("ru", "IV", "")),
        ("Раздел 1 ОБЩАЯ ЧАСТЬ", ("ru", "1", "ОБЩАЯ ЧАСТЬ")),
        ("2-тарау. Құқықтар", ("kk", "2", "Құқықтар")),
        ("1-бөлім", ("kk", "1", "")),
        ("Chapter 2 - Rights", ("en", "2", "Rights")),
        ("## Part II: Procedure", ("en", "II", "Procedure")),
        ("Глава 2 настоящего Закона", None),
        ("Chapter and verse", None),
    ],
)
def test_chapter_markers(line: str, want: tuple[str, str, str] | None) -> None:
    assert match_chapter(line) == want


def test_whitespace_is_normalised_and_nothing_else() -> None:
    assert normalise("  a\u00a0\u00a0b\t c  ") == "a b c"
    found = recognise([Block("Article 1.   Title  \n\n   Text   with  “quotes” — and *stars*.  \n")])
    assert (found.articles[0].heading, found.articles[0].text) == ("Title", "Text with “quotes” — and *stars*.")


def test_labels_and_language() -> None:
    assert guess_language("Жалпы ережелер мен құқықтар") == "kk" and guess_language("Общие положения") == "ru" and guess_language("General") == "en"
    assert [article_label("5", lang) for lang in ("kk", "ru", "en")] == ["5-бап", "Статья 5", "Article 5"]
    assert articles_label("1", "3", "ru") == "Статьи 1–3" and articles_label("2", "2", "kk") == "2-бап"


def test_thirty_articles() -> None:
    _, found = recognise_document(docx_bytes(russian_law(30)), "law.docx")
    assert [a.number for a in found.articles] == [str(n) for n in range(1, 31)]
    assert len(found.chapters) == 6 and not found.warnings


def test_text_with_a_bom_and_crlf() -> None:
    fmt, blocks = read_document("\ufeffСтатья 1. А\r\nТекст.\r\n".encode())
    assert fmt == "text" and recognise(blocks).articles[0].text == "Текст."
