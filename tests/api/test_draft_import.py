"""The draft from a document and the agenda from the provisions (issue #18), over the API, on
SQLite and PostgreSQL: every import error is a 4xx `{"error", "detail"}` and writes nothing."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest

from tests.conftest import World
from tests.draft_fixtures import EN, KK, RU, RU_AFTER_TABLE, RU_TABLE, docx_bytes, odt_bytes, rezip, russian_law

LIMIT = 512 * 1024


@pytest.fixture
def settings(settings: Any) -> Any:
    """A small upload limit, so that "too large" is cheap to send."""
    return settings.with_(max_upload_bytes=LIMIT)


@pytest.fixture
async def sec(world: World, app: Any) -> str:
    """A secretary of the other (empty) assembly, with a bearer token."""
    from deliberation import accounts, assemblies

    ctx = app.state.ctx
    user = await accounts.create_user(ctx, "sec", None)
    await assemblies.set_member(ctx, world.other_assembly, "seed", "sec", "secretary")
    world.tokens["sec"], _ = await accounts.issue_token(ctx, user.id, "bearer", 3_600_000)
    return "sec"


async def upload(w: World, who: str | None, what: str, data: bytes, aid: int | None = None, filename: str = "draft.docx") -> Any:
    return await w.client.post(f"/api/assemblies/{aid or w.other_assembly}/draft/{what}", params={"filename": filename}, content=data, headers=w.headers(who))


async def state(w: World, aid: int) -> tuple[int, int, int]:
    """(document version, provisions, audit entries): what must not change on a refusal."""
    doc = await w.ok("GET", f"/api/assemblies/{aid}/document")
    audit = await w.ok("GET", f"/api/assemblies/{aid}/audit", "admin")
    return doc["current_version"], len(doc["provisions"]), len(audit["entries"])


async def test_preview_writes_nothing_then_import_writes_everything(world: World, sec: str) -> None:
    w = world
    data = docx_bytes(RU, RU_TABLE, RU_AFTER_TABLE)
    before = await state(w, w.other_assembly)
    r = await upload(w, sec, "preview", data)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["format"] == "docx" and preview["language"] == "ru" and preview["conflicts"] == []
    assert [a["number"] for a in preview["articles"]] == ["1", "2", "3", "3-1", "5", "6"]
    assert [s["reason"] for s in preview["skipped"]] == ["before_first_article"] * 3
    assert {(x["code"], x["article"]) for x in preview["warnings"]} == {("empty_article", "5"), ("number_gap", "5")}
    assert await state(w, w.other_assembly) == before

    r = await upload(w, sec, "import", data)
    assert r.status_code == 201, r.text
    done = r.json()
    assert len(done["provisions"]) == 6 and done["document_version"] == before[0] + 1
    doc = await w.ok("GET", f"/api/assemblies/{w.other_assembly}/document")
    got = [(p["number"], p["title"], p["text"]) for p in doc["provisions"]]
    want = [(a["number"], a["heading"], a["text"]) for a in preview["articles"]]
    assert got == want
    assert got[0] == (
        "1",
        "Основные понятия",
        "В настоящем Законе используются следующие понятия:\n"
        "1) некоммерческая организация – юридическое лицо, не имеющее извлечение дохода в качестве основной цели;\n"
        "2) учредитель – лицо, создавшее организацию.",
    )
    assert got[4] == ("5", "Исключена", "")
    assert got[5][2] == "Взносы устанавливаются по таблице:\nВид организации | Взнос\nФонд | 10 МРП\nАссоциация | 5 МРП\nВзносы уплачиваются ежегодно."
    audit = await w.ok("GET", f"/api/assemblies/{w.other_assembly}/audit", sec)
    assert audit["entries"][-1]["action"] == "draft.imported" and audit["entries"][-1]["payload"]["provisions"] == 6

    # The same numbers again: refused whole.
    r = await upload(w, sec, "import", data)
    assert r.status_code == 409 and r.json()["error"] == "duplicate_number", r.text
    preview = (await upload(w, sec, "preview", data)).json()
    assert preview["conflicts"] == ["1", "2", "3", "3-1", "5", "6"]


@pytest.mark.parametrize("name, make", [("kk.odt", lambda: odt_bytes(KK, footnote_on="1-бап", footnote="Ескерту.")), ("en.md", lambda: EN.encode())])
async def test_odt_and_markdown(world: World, sec: str, name: str, make: Any) -> None:
    r = await upload(world, sec, "import", make(), filename=name)
    assert r.status_code == 201, r.text
    doc = await world.ok("GET", f"/api/assemblies/{world.other_assembly}/document")
    if name == "kk.odt":
        assert [(p["number"], p["title"]) for p in doc["provisions"]][:2] == [("1", "Негізгі ұғымдар"), ("2", "Осы Заңның қолданылу саласы")]
        assert "Ескерту" not in doc["provisions"][0]["title"] + doc["provisions"][0]["text"]
    else:
        assert [p["number"] for p in doc["provisions"]] == ["1", "2", "3", "7"]
        assert doc["provisions"][1]["text"] == "This Law applies to all organizations.\nArticle 2 applies to foundations as well."


def _zip(parts: dict[str, bytes], *, encrypt: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in parts.items():
            z.writestr(name, content)
    data = bytearray(buf.getvalue())
    if encrypt:  # zipfile cannot write encrypted entries: set the "encrypted" flag bit by hand
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(signature)
            while at != -1:
                data[at + offset] |= 0x1
                at = data.find(signature, at + 4)
    return bytes(data)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&lol3;</w:t></w:r></w:p></w:body></w:document>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"""


def bad_inputs() -> list[Any]:
    good = docx_bytes(RU)
    odt = odt_bytes(KK)
    manifest = (
        zipfile.ZipFile(io.BytesIO(odt))
        .read("META-INF/manifest.xml")
        .replace(
            b"</manifest:manifest>",
            b'<manifest:file-entry manifest:full-path="x.xml" manifest:media-type="text/xml"><manifest:encryption-data manifest:checksum-type="SHA1" manifest:checksum="AAAA"/></manifest:file-entry></manifest:manifest>',
        )
    )
    return [
        pytest.param(b"", "draft.docx", 400, "empty_document", id="empty"),
        pytest.param(b"  \n\n ", "draft.txt", 400, "empty_document", id="blank-text"),
        pytest.param(b"%PDF-1.7\n...", "draft.pdf", 415, "unsupported_document", id="pdf"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00", "draft.png", 415, "unsupported_document", id="binary"),
        pytest.param("Статья 1. Тест\nТекст".encode("cp1251"), "draft.txt", 415, "unsupported_document", id="not-utf8"),
        pytest.param(b"just text pretending", "draft.docx", 400, "malformed_document", id="named-docx-not-zip"),
        pytest.param(good[: len(good) // 2], "draft.docx", 400, "malformed_document", id="truncated-zip"),
        pytest.param(rezip(good, {"word/document.xml": b"<w:document><w:body>"}), "draft.docx", 400, "malformed_document", id="broken-xml"),
        pytest.param(rezip(good, {}, drop=("[Content_Types].xml",)), "draft.docx", 400, "malformed_document", id="docx-without-content-types"),
        pytest.param(_zip({"a.txt": b"hello"}), "draft.zip", 415, "unsupported_document", id="other-zip"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "draft.docx", 400, "encrypted_document", id="password-protected-office"),
        pytest.param(_zip({"word/document.xml": b"<x/>"}, encrypt=True), "draft.docx", 400, "encrypted_document", id="zip-encrypted"),
        pytest.param(rezip(odt, {"META-INF/manifest.xml": manifest}), "draft.odt", 400, "encrypted_document", id="odt-encrypted"),
        pytest.param(_zip({"word/document.xml": b"<x/>", "word/media/bomb.bin": b"\x00" * (8 * 1024 * 1024)}), "draft.docx", 400, "hostile_document", id="zip-bomb"),
        pytest.param(rezip(good, {"word/document.xml": BILLION_LAUGHS}), "draft.docx", 400, "hostile_document", id="entity-expansion"),
        pytest.param(rezip(good, {"word/document.xml": XXE}), "draft.docx", 400, "hostile_document", id="external-entity"),
        pytest.param(b"A letter.\nWith no articles at all.\n", "draft.txt", 422, "nothing_recognised", id="no-articles"),
        pytest.param(b"x" * (LIMIT + 1), "draft.txt", 413, "document_too_large", id="too-large"),
    ]


@pytest.mark.parametrize("data, filename, status, code", bad_inputs())
async def test_bad_input_is_refused_and_writes_nothing(world: World, sec: str, data: bytes, filename: str, status: int, code: str) -> None:
    w = world
    before = await state(w, w.other_assembly)
    for what in ("preview", "import"):
        r = await upload(w, sec, what, data, filename=filename)
        assert r.status_code == status, (what, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error", "detail"} and body["error"] == code and body["detail"], body
    assert await state(w, w.other_assembly) == before


async def test_too_large_without_content_length(world: World, sec: str) -> None:
    async def chunks() -> Any:
        for _ in range(LIMIT // 65536 + 2):
            yield b"x" * 65536

    r = await world.client.post(f"/api/assemblies/{world.other_assembly}/draft/import", content=chunks(), headers=world.headers(sec))
    assert r.status_code == 413 and r.json()["error"] == "document_too_large", r.text


async def test_numbers_repeated_in_the_file_are_refused_on_import(world: World, sec: str) -> None:
    data = "Статья 1. Первая\nТекст.\nСтатья 2. Вторая\nТекст.\nСтатья 2. Снова вторая\nТекст.".encode()
    before = await state(world, world.other_assembly)
    preview = (await upload(world, sec, "preview", data, filename="d.txt")).json()
    assert ("duplicate_number", "2") in {(x["code"], x["article"]) for x in preview["warnings"]}
    r = await upload(world, sec, "import", data, filename="d.txt")
    assert r.status_code == 409 and r.json()["error"] == "duplicate_number"
    assert await state(world, world.other_assembly) == before


async def test_only_the_secretary_chair_or_admin_may_import(world: World, sec: str) -> None:
    data = "Статья 1. Первая\nТекст.".encode()
    assert (await upload(world, None, "preview", data, filename="d.txt")).status_code == 401
    for who in ("delegate", "observer", "moderator", "outsider"):  # the moderator chairs the first assembly, not this one
        r = await upload(world, who, "preview", data, filename="d.txt")
        assert r.status_code == 403 and r.json()["error"] == "forbidden", (who, r.text)
    r = await upload(world, "sec", "preview", data, aid=world.assembly, filename="d.txt")  # a secretary of the other assembly only
    assert r.status_code == 403
    assert (await upload(world, "admin", "preview", data, filename="d.txt")).status_code == 200
    assert (await upload(world, "moderator", "preview", "Статья 9. X\nY".encode(), aid=world.assembly, filename="d.txt")).status_code == 200


async def test_agenda_from_provisions_per_article_and_per_chapter(world: World, sec: str) -> None:
    w = world
    r = await upload(w, sec, "import", russian_law(12).encode(), filename="law.txt")
    assert r.status_code == 201, r.text
    ids = r.json()["provisions"]
    items = await w.ok("POST", f"/api/assemblies/{w.other_assembly}/agenda/from-provisions", sec, {"per": "chapter"}, status=201)
    assert [i["title"] for i in items] == ["Глава 1. РАЗДЕЛ НОМЕР 1", "Глава 2. РАЗДЕЛ НОМЕР 2", "Глава 3. РАЗДЕЛ НОМЕР 3"]
    assert [i["provisions"] for i in items] == [ids[0:5], ids[5:10], ids[10:12]]
    r = await w.call("POST", f"/api/assemblies/{w.other_assembly}/agenda/from-provisions", sec, {"per": "article"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"  # every provision is on the agenda already
    r = await w.call("POST", f"/api/assemblies/{w.other_assembly}/agenda/from-provisions", sec, {"per": "section"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"

    # A new provision, then per article: only it gets an item.
    new = await w.ok("POST", f"/api/assemblies/{w.other_assembly}/provisions", sec, {"number": "13", "title": "Вступление в силу", "text": "Закон вступает в силу."}, status=201)
    items = await w.ok("POST", f"/api/assemblies/{w.other_assembly}/agenda/from-provisions", sec, {"per": "article"}, status=201)
    assert [(i["title"], i["provisions"]) for i in items] == [("Статья 13. Вступление в силу", [new["id"]])]
    assert (await w.call("POST", f"/api/assemblies/{w.other_assembly}/agenda/from-provisions", "delegate", {"per": "article"})).status_code == 403


async def test_agenda_titles_follow_the_language_of_the_text(world: World, sec: str) -> None:
    assert (await upload(world, sec, "import", odt_bytes(KK), filename="kk.odt")).status_code == 201
    items = await world.ok("POST", f"/api/assemblies/{world.other_assembly}/agenda/from-provisions", sec, {"per": "article"}, status=201)
    assert [i["title"] for i in items][:2] == ["1-бап. Негізгі ұғымдар", "2-бап. Осы Заңның қолданылу саласы"]
    assert items[4]["title"] == "4-бап"  # the empty article


async def test_appointing_a_chair_or_secretary_needs_an_admin(world: World, sec: str) -> None:
    w = world
    a = w.other_assembly
    for role in ("secretary", "moderator"):
        r = await w.call("POST", f"/api/assemblies/{a}/members", sec, {"username": "delegate2", "role": role})
        assert r.status_code == 403 and "administrator" in r.json()["detail"], r.text
    m = await w.ok("POST", f"/api/assemblies/{a}/members", sec, {"username": "delegate2", "role": "delegate"})
    assert m["role"] == "delegate"
    assert (await w.call("DELETE", f"/api/assemblies/{a}/members/sec", sec)).status_code == 403  # not even themself
    m = await w.ok("POST", f"/api/assemblies/{a}/members", "admin", {"username": "delegate2", "role": "secretary"})
    assert m["role"] == "secretary"
    r = await w.call("POST", f"/api/assemblies/{a}/members", sec, {"username": "delegate2", "role": "observer"})
    assert r.status_code == 403  # demoting a secretary is the admin's too
    assert (await w.call("DELETE", f"/api/assemblies/{a}/members/delegate2", "admin")).status_code == 204
    # The secretary edits the assembly and its descriptions, in any of the three languages.
    v = await w.ok("PATCH", f"/api/assemblies/{a}", sec, {"titles": {"kk": "Кеңес", "ru": "Совет"}, "descriptions": {"ru": "Описание"}})
    assert v["titles"] == {"kk": "Кеңес", "ru": "Совет"} and v["descriptions"] == {"ru": "Описание"}
    r = await w.call("PATCH", f"/api/assemblies/{a}", sec, {"descriptions": {"de": "Beschreibung"}})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cli_import_draft(settings: Any, tmp_path: Any) -> None:
    import json
    import os

    from tests.api.conftest import run

    env = {**os.environ, "KURULTAI_DATA_DIR": str(settings.data_dir), "KURULTAI_MAX_UPLOAD_BYTES": str(LIMIT)}
    env.pop("KURULTAI_DATABASE_URL", None)
    aid = json.loads(run(env, "demo", "--delegates", "0", "--json").stdout)["assembly"]
    law = tmp_path / "закон.docx"
    law.write_bytes(docx_bytes("Статья 101. Новая статья\nТекст новой статьи.\nСтатья 102. Ещё одна\n1) первый пункт;\n2) второй пункт."))
    before = run(env, "import-draft", str(aid), str(law), "--dry-run")
    found = json.loads(before.stdout)
    assert [(a["number"], a["heading"], a["text"]) for a in found["articles"]] == [("101", "Новая статья", "Текст новой статьи."), ("102", "Ещё одна", "1) первый пункт;\n2) второй пункт.")]
    assert found["format"] == "docx" and found["conflicts"] == []

    bad = tmp_path / "bad.docx"
    for content, reason in ((b"", "the file is empty"), (b"plain", "is not a docx document"), (b"x" * (LIMIT + 1), "the limit is")):
        bad.write_bytes(content)
        proc = run(env, "import-draft", str(aid), str(bad), check=False)
        assert proc.returncode == 2 and reason in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (proc.returncode, proc.stderr)
    proc = run(env, "import-draft", str(aid), str(tmp_path / "missing.docx"), check=False)
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    proc = run(env, "import-draft", "9999", str(law), check=False)
    assert proc.returncode == 2 and "no assembly" in proc.stderr

    done = run(env, "import-draft", str(aid), str(law))
    assert done.stdout.startswith("imported 2 provisions")
    again = run(env, "import-draft", str(aid), str(law), check=False)
    assert again.returncode == 2 and "already has provisions numbered 101, 102" in again.stderr
    assert "import-draft" in run(env, "--help").stdout
