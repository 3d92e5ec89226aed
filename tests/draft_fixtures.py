"""Real-looking draft laws in Kazakh, Russian and English, and writers of .docx and .odt files
for them (python-docx, odfpy), for the tests of the draft import (issue #18)."""

from __future__ import annotations

import io
import zipfile

RU = """ЗАКОН РЕСПУБЛИКИ КАЗАХСТАН
О некоммерческих организациях

Настоящий Закон регулирует общественные отношения, возникающие в связи с созданием некоммерческих организаций.

Глава 1. ОБЩИЕ ПОЛОЖЕНИЯ

Статья 1. Основные понятия
В настоящем Законе используются следующие понятия:
1) некоммерческая организация – юридическое лицо,  не имеющее   извлечение дохода в качестве основной цели;
2) учредитель – лицо, создавшее организацию.

Статья 2. Сфера действия настоящего Закона
1. Настоящий Закон распространяется на все некоммерческие организации.
2. Особенности отдельных видов организаций устанавливаются законами.

Глава 2
ПРАВА И ОБЯЗАННОСТИ

Статья 3. Права некоммерческой организации
Некоммерческая организация вправе:
1) владеть и пользоваться имуществом;
2) осуществлять деятельность в соответствии со статьей 5 настоящего Закона.
Статья 5 настоящего Закона применяется с учетом особенностей.

Статья 3-1. Обязанности
Организация обязана представлять отчетность.

Статья 5. Исключена

Статья 6. Размеры взносов
Взносы устанавливаются по таблице:
"""

RU_TABLE = [["Вид организации", "Взнос"], ["Фонд", "10 МРП"], ["Ассоциация", "5 МРП"]]
RU_AFTER_TABLE = "Взносы уплачиваются ежегодно."

KK = """ҚАЗАҚСТАН РЕСПУБЛИКАСЫНЫҢ ЗАҢЫ
Коммерциялық емес ұйымдар туралы

1-тарау. ЖАЛПЫ ЕРЕЖЕЛЕР

1-бап. Негізгі ұғымдар
Осы Заңда мынадай негізгі ұғымдар пайдаланылады:
1) коммерциялық емес ұйым – заңды тұлға;
2) құрылтайшы – ұйымды құрған тұлға.

2-бап. Осы Заңның қолданылу саласы
Осы Заң барлық коммерциялық емес ұйымдарға қолданылады.

2-тарау. ҚҰҚЫҚТАР

3-бап. Ұйымның құқықтары
1. Ұйым мүлікті иеленуге құқылы.
2. Ұйым өз қызметін жүзеге асырады.

3-1-бап. Міндеттер
Ұйым есеп беруге міндетті.

4-бап.

6-бап. Жарналар
Жарналар жыл сайын төленеді.
"""

EN = """# Law on Non-Governmental Organizations

This Law governs the creation of non-governmental organizations.[^1]

## Chapter 1: General provisions

### Article 1. Definitions
In this Law:
1. "organization" means a legal person not seeking profit;
2. "founder" means the person who created it.

**Article 2.** Scope
This Law applies to all organizations.
Article 2 applies to foundations as well.

## Chapter II

### Article 3: Rights
An organization may:
1) own property;
2) act in court.

Article 7. Final provisions
This Law enters into force ten days after its publication.

[^1]: As amended in 2026.
"""


def docx_bytes(text: str, table: list[list[str]] | None = None, after: str | None = None, *, footnote: str | None = None) -> bytes:
    """A .docx with one paragraph per line of `text`, then a table, then `after`."""
    import docx

    d = docx.Document()
    for line in text.splitlines():
        d.add_paragraph(line)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    if after:
        d.add_paragraph(after)
    buf = io.BytesIO()
    d.save(buf)
    data = buf.getvalue()
    return add_docx_footnote(data, footnote) if footnote else data


def add_docx_footnote(data: bytes, note: str) -> bytes:
    """The .docx with a footnotes part holding `note` (python-docx writes none)."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    part = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:footnotes xmlns:w="{w}">'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        f'<w:footnote w:id="1"><w:p><w:r><w:t>{note}</w:t></w:r></w:p></w:footnote></w:footnotes>'
    )
    return rezip(data, {"word/footnotes.xml": part.encode()})


def rezip(data: bytes, replace: dict[str, bytes], *, drop: tuple[str, ...] = ()) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in drop or info.filename in replace:
                continue
            dst.writestr(info, src.read(info.filename))
        for name, content in replace.items():
            dst.writestr(name, content)
    return out.getvalue()


def odt_bytes(text: str, table: list[list[str]] | None = None, after: str | None = None, *, footnote_on: str | None = None, footnote: str = "") -> bytes:
    """An .odt with one paragraph per line of `text` (a footnote attached to the line that
    starts with `footnote_on`), then a table, then `after`."""
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import Note, NoteBody, NoteCitation, P

    doc = OpenDocumentText()
    for line in text.splitlines():
        p = P(text=line)
        if footnote_on and line.startswith(footnote_on):
            note = Note(id="ftn1", noteclass="footnote")
            note.addElement(NoteCitation(text="1"))
            body = NoteBody()
            body.addElement(P(text=footnote))
            note.addElement(body)
            p.addElement(note)
        doc.text.addElement(p)
    if table:
        t = Table(name="T1")
        t.addElement(TableColumn(numbercolumnsrepeated=len(table[0])))
        for row in table:
            tr = TableRow()
            for value in row:
                cell = TableCell()
                cell.addElement(P(text=value))
                tr.addElement(cell)
            t.addElement(tr)
        doc.text.addElement(t)
    if after:
        doc.text.addElement(P(text=after))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def russian_law(articles: int = 30) -> str:
    """A Russian draft with `articles` articles in chapters of five."""
    lines = ["ЗАКОН РЕСПУБЛИКИ КАЗАХСТАН", "Об общественных советах", ""]
    for n in range(1, articles + 1):
        if n % 5 == 1:
            lines += [f"Глава {n // 5 + 1}. РАЗДЕЛ НОМЕР {n // 5 + 1}", ""]
        lines += [f"Статья {n}. Заголовок статьи {n}", f"1. Первый пункт статьи {n}.", f"2. Второй пункт статьи {n}.", ""]
    return "\n".join(lines)
