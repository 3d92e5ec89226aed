"""Issue #19, the minutes of a sitting and the comparative table, after a scripted sitting
(presence check-ins, speeches of two speech types, an amendment with a co-sponsor that a ranked
vote adopts and one it rejects, a yes/no vote), on SQLite and PostgreSQL: the PDFs read back
with pdftotext (every vote's winner and final tree-head root, the Kazakh letters), the QR code of
each vote, read from the rendered PDF page (pdftoppm, then zbarimg), opens the vote on the public
assembly page, the DOCX read back with python-docx (the table: one row per amended provision with
its texts and the redline as struck and underlined runs), no secret in any byte; the CLI commands
write the same, mode 0600, and exit 2 on bad input; the public page and the chair console link
every download."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kurultai.settings import Settings
from tests.api.test_record import KAZAKH, assert_no_secret, kurultai, pdf_text, secrets_of, zip_members
from tests.api.test_voting import cast
from tests.api.voting_helpers import Voter, register_and_approve
from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]
ADOPTED_TEXT = f"Қоғамдық бірлестік жарғысын өзгерте алады ({KAZAKH})."
REJECTED_TEXT = "A rejected wording that is only in the proposals."
BEFORE_TEXT = "The first provision text."
RATIONALE = "Жарғы туралы норманы нақтылау."
PLACE = f"Астана, Үкімет үйі ({KAZAKH})"


async def sitting(w: World, clock: Any) -> dict[str, Any]:
    """Presence, two speeches, two amendments (one co-sponsored), a ranked vote that adopts one
    and rejects the other, a yes/no vote. Returns what the checks need."""
    item, aid = w.item, w.assembly
    await w.ok("POST", f"/api/assemblies/{aid}/presence", "delegate", {"present": True})
    await w.ok("POST", f"/api/assemblies/{aid}/presence/delegate2", "moderator", {"present": True})
    await w.ok("POST", f"/api/agenda/{item}/phase", "moderator", {"phase": "debate"})
    for who, speech_type, ms in (("delegate", "pro", 42_000), ("delegate2", "contra", 75_000)):
        await w.ok("POST", f"/api/agenda/{item}/speakers", who, {"speech_type": speech_type}, status=201)
        await w.ok("POST", f"/api/agenda/{item}/speakers/next", "moderator", {})
        clock.advance(ms)
        await w.ok("POST", f"/api/agenda/{item}/speakers/end", "moderator")
    amendments = []
    for text in (ADOPTED_TEXT, REJECTED_TEXT):
        a = await w.ok(
            "POST",
            f"/api/assemblies/{aid}/amendments",
            "delegate",
            {"provision": w.provisions[0], "kind": "replace", "text": text, "submit": True, "title": text[:20], "rationale": RATIONALE},
            status=201,
        )
        if text == ADOPTED_TEXT:
            await w.ok("POST", f"/api/amendments/{a['id']}/cosponsors", "delegate2")
        await w.ok("POST", f"/api/amendments/{a['id']}/admit", "moderator", {})
        amendments.append(a["id"])
    voters: list[Voter] = [await register_and_approve(w, who) for who in ("delegate", "delegate2")]
    for phase in ("amendments", "voting"):
        await w.ok("POST", f"/api/agenda/{item}/phase", "moderator", {"phase": phase})
    ranked = await w.ok("POST", f"/api/agenda/{item}/elections", "moderator", {"provision": w.provisions[0], "method": "schulze"}, status=201)
    election = (await w.ok("POST", f"/api/elections/{ranked['id']}/open", "moderator"))["election"]
    win, lose = f"amendment-{amendments[0]}", f"amendment-{amendments[1]}"
    for voter, ranking in zip(voters, ([win, lose], [win, "status_quo"])):
        status, body = await cast(w, ranked["id"], voter.ballot(election, ranking))
        assert status == 201, body
    await w.ok("POST", f"/api/elections/{ranked['id']}/close", "moderator")
    yes_no = await w.ok("POST", f"/api/agenda/{item}/elections", "moderator", {"kind": "yes_no", "rule": {"majority": "simple", "quorum_percent": 50}}, status=201)
    election = (await w.ok("POST", f"/api/elections/{yes_no['id']}/open", "moderator"))["election"]
    for voter, choice in zip(voters, ("yes", "yes")):
        status, body = await cast(w, yes_no["id"], voter.ballot(election, [choice]))
        assert status == 201, body
    await w.ok("POST", f"/api/elections/{yes_no['id']}/close", "moderator")
    assert (await w.ok("GET", f"/api/amendments/{amendments[0]}"))["status"] == "adopted"
    assert (await w.ok("GET", f"/api/amendments/{amendments[1]}"))["status"] == "rejected"
    return {"elections": [ranked["id"], yes_no["id"]], "amendments": amendments, "voters": voters, "winners": {ranked["id"]: win, yes_no["id"]: "yes"}}


async def final_roots(w: World, elections: list[str]) -> dict[str, str]:
    roots = {}
    for eid in elections:
        sth = await w.ok("GET", f"/api/elections/{eid}/sth")
        roots[eid] = sth["signed"]["root_hash"]
    return roots


def flat(text: str) -> str:
    return "".join(text.split())


def qr_codes(pdf: bytes, tmp_path: Path) -> list[str]:
    """Every QR code on every page of `pdf`: the pages rendered by pdftoppm, read by zbarimg."""
    if not shutil.which("zbarimg"):
        if os.environ.get("CI"):
            pytest.fail("zbarimg is missing: .ci/run installs zbar-tools")
        pytest.skip("zbarimg (Debian's zbar-tools) is not installed")
    folder = tmp_path / "qr"
    folder.mkdir(exist_ok=True)
    (folder / "doc.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", str(folder / "doc.pdf"), str(folder / "page")], check=True)
    found = []
    for page in sorted(folder.glob("page*.png")):
        proc = subprocess.run(["zbarimg", "--quiet", "--raw", str(page)], capture_output=True, text=True)
        assert proc.returncode in (0, 4), proc.stderr  # 4: no code on this page
        found += [line for line in proc.stdout.splitlines() if line]
    return found


def pdf_raw_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "raw.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True).stdout


def docx_document(data: bytes) -> Any:
    from docx import Document

    return Document(io.BytesIO(data))


def docx_all_text(data: bytes) -> str:
    doc = docx_document(data)
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return "\n".join(parts)


def first_page_png(pdf: bytes, out: Path, tmp_path: Path) -> None:
    (tmp_path / "shot.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(tmp_path / "shot.pdf"), str(out.with_suffix(""))], check=True)


async def test_minutes_and_table_after_a_sitting(world: World, app: Any, clock: Any, settings: Settings, tmp_path: Path) -> None:
    w = world
    done = await sitting(w, clock)
    aid, elections = w.assembly, done["elections"]
    roots = await final_roots(w, elections)
    secrets = await secrets_of(w, app, done["voters"])
    outputs: dict[str, bytes] = {}

    # the minutes, PDF, in each language: every vote's winner and final root; Kazakh letters
    for lang, title in (("kk", "Отырыс хаттамасы"), ("ru", "Протокол заседания"), ("en", "Minutes of the sitting")):
        r = await w.client.get(f"/api/assemblies/{aid}/minutes.pdf", params={"lang": lang, "place": PLACE})
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
        assert r.headers["content-disposition"] == f'attachment; filename="minutes-{aid}-{lang}.pdf"'
        text = pdf_text(r.content, tmp_path)
        joined = flat(text)
        assert title in text and flat(PLACE) in joined
        assert all(letter in text for letter in KAZAKH)
        for eid in elections:
            assert f"({done['winners'][eid]})" in text, (eid, text[:3000])
            assert roots[eid] in joined, eid
        outputs[f"minutes-{lang}.pdf"] = r.content
    en = " ".join(pdf_text(outputs["minutes-en.pdf"], tmp_path).split())
    assert "2 of 3 delegates present" in en  # secrets_of made a third delegate, never checked in
    assert "delegate pro" in en and "0:42" in en and "delegate2 contra" in en and "1:15" in en
    assert "from “pending” to “debate” (moderator)" in en
    assert f"Amendment {done['amendments'][0]} to Article 1" in en and "Co-sponsors: delegate2" in en
    assert "Outcome: adopted" in en and f"not adopted: vote {elections[0]} chose “amendment {done['amendments'][0]}”" in en
    assert "Schulze method" in en and "2 of 2 on the roll voted" in en and "Adopted. Yes 2, no 0, abstain 0" in en
    assert "Pairwise preferences" in en and "Election digest" in en and "Signature of the result" in en
    assert "named vote" not in en and "Did not vote" not in en  # secret votes: no register in the minutes
    # each vote's QR code opens the vote on the public assembly page
    want = {f"http://testserver/assemblies/{aid}?item={w.item}#election-{eid}" for eid in elections}
    assert set(qr_codes(outputs["minutes-kk.pdf"], tmp_path)) == want
    page = await w.client.get(f"/assemblies/{aid}", params={"item": w.item})
    assert all(f'id="election-{eid}"' in page.text for eid in elections)

    # the minutes, DOCX: the same facts, and a QR code per vote
    r = await w.client.get(f"/api/assemblies/{aid}/minutes.docx", params={"lang": "ru"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    outputs["minutes-ru.docx"] = r.content
    text = docx_all_text(r.content)
    assert "Протокол заседания" in text and "за" in text and "против" in text and "Место: не указано" in text
    assert all(roots[eid] in text for eid in elections) and all(f"({done['winners'][eid]})" in text for eid in elections)
    assert len(docx_document(r.content).inline_shapes) == len(elections)

    # the comparative table, DOCX: one row per amended provision, with its texts and the redline
    r = await w.client.get(f"/api/assemblies/{aid}/table.docx", params={"lang": "ru"})
    assert r.status_code == 200, r.text
    outputs["table-ru.docx"] = r.content
    doc = docx_document(r.content)
    section = doc.sections[0]
    assert section.page_width > section.page_height  # landscape
    (table,) = doc.tables
    assert [c.text for c in table.rows[0].cells] == ["Номер", "Положение", "Редакция до заседания", "Принятая редакция с отмеченными изменениями", "Предложенные поправки"]
    assert len(table.rows) == 2  # the header and the one amended provision
    row = table.rows[1].cells
    assert row[1].text == "Статья 1. Title 1" and row[2].text == BEFORE_TEXT
    runs = [run for p in row[3].paragraphs for run in p.runs]
    assert any(run.font.strike for run in runs) and any(run.font.underline for run in runs)
    assert "".join(run.text for run in runs if not run.font.underline) == BEFORE_TEXT  # struck and unchanged
    assert "".join(run.text for run in runs if not run.font.strike) == ADOPTED_TEXT  # underlined and unchanged
    proposals = row[4].text
    for needle in (ADOPTED_TEXT, REJECTED_TEXT, RATIONALE, "Соавторы: delegate2", "принята", f"голосование {elections[0]}"):
        assert needle in proposals, (needle, proposals)

    # the comparative table, PDF, landscape
    for lang in ("kk", "ru", "en"):
        r = await w.client.get(f"/api/assemblies/{aid}/table.pdf", params={"lang": lang})
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
        text = pdf_text(r.content, tmp_path)
        joined = flat(pdf_raw_text(r.content, tmp_path))  # cell by cell, not the columns side by side
        assert flat(ADOPTED_TEXT) in joined and flat(BEFORE_TEXT) in joined and flat(REJECTED_TEXT) in joined
        assert all(letter in text for letter in KAZAKH)
        outputs[f"table-{lang}.pdf"] = r.content
    info = subprocess.run(["pdfinfo", "-"], input=outputs["table-ru.pdf"], capture_output=True, check=True).stdout.decode()
    width, height = (float(v) for v in re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())  # type: ignore[union-attr]
    assert width > height, info  # landscape
    assert "Сравнительная таблица" in pdf_text(outputs["table-ru.pdf"], tmp_path)
    r = await w.client.get(f"/api/assemblies/{aid}/table.docx", params={"lang": "kk"})
    outputs["table-kk.docx"] = r.content
    r = await w.client.get(f"/api/assemblies/{aid}/minutes.docx", params={"lang": "en"})
    outputs["minutes-en.docx"] = r.content

    # no secret in any byte of any output (the DOCX searched inside, the PDF as text too)
    blobs: dict[str, bytes] = dict(outputs)
    for name, data in outputs.items():
        if name.endswith(".docx"):
            blobs.update({f"{name}/{k}": v for k, v in zip_members(data).items()})
        else:
            blobs[f"{name} (text)"] = pdf_text(data, tmp_path).encode()
    assert_no_secret("minutes and table", blobs, secrets)

    # the first pages, for docs/screenshots (KURULTAI_UPDATE_SCREENSHOTS=1 writes them there)
    shots = ROOT / "docs" / "screenshots" if os.environ.get("KURULTAI_UPDATE_SCREENSHOTS") == "1" and not settings.uses_postgres else tmp_path
    first_page_png(outputs["minutes-kk.pdf"], shots / "minutes-kk.png", tmp_path)
    first_page_png(outputs["table-ru.pdf"], shots / "table-ru.png", tmp_path)
    assert (shots / "minutes-kk.png").stat().st_size > 10_000

    # the CLI writes the same, mode 0600
    pdf = tmp_path / "cli" / "minutes.pdf"
    proc = await kurultai(settings, "minutes", str(aid), "--format", "pdf", "--lang", "kk", "--out", str(pdf), "--place", PLACE, "--base-url", "https://kurultai.example.org/")
    assert proc.returncode == 0, proc.stderr
    assert (pdf.stat().st_mode & 0o777) == 0o600
    assert set(qr_codes(pdf.read_bytes(), tmp_path / "cli")) == {f"https://kurultai.example.org/assemblies/{aid}?item={w.item}#election-{eid}" for eid in elections}
    assert all(roots[eid] in flat(pdf_text(pdf.read_bytes(), tmp_path)) for eid in elections)
    out = tmp_path / "cli" / "table.docx"
    proc = await kurultai(settings, "table", str(aid), "--format", "docx", "--lang", "ru", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out.stat().st_mode & 0o777) == 0o600
    assert [c.text for c in docx_document(out.read_bytes()).tables[0].rows[1].cells][2] == BEFORE_TEXT


async def test_bad_input_is_a_4xx_or_exit_2(world: World, settings: Settings, tmp_path: Path) -> None:
    w = world
    for path in ("minutes.pdf", "minutes.docx", "table.pdf", "table.docx"):
        r = await w.client.get(f"/api/assemblies/9999/{path}")
        assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "no assembly with id 9999"}, (path, r.text)
        r = await w.client.get(f"/api/assemblies/{w.assembly}/{path}", params={"lang": "de"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input" and "kk, ru, en" in r.json()["detail"], (path, r.text)
    r = await w.client.get(f"/api/assemblies/{w.assembly}/minutes.pdf", params={"place": "x" * 301})
    assert r.status_code == 400 and r.json()["detail"] == "place must be at most 300 characters, got 301"
    r = await w.client.get(f"/api/assemblies/{w.assembly}/minutes.pdf", params={"place": "a\nb"})
    assert r.status_code == 400 and "one line" in r.json()["detail"]
    # an assembly with nothing done yet: the minutes and an empty table still render
    r = await w.client.get(f"/api/assemblies/{w.assembly}/minutes.docx", params={"lang": "en"})
    assert r.status_code == 200 and "No vote was held on this item." in docx_all_text(r.content)
    r = await w.client.get(f"/api/assemblies/{w.assembly}/table.docx", params={"lang": "en"})
    assert r.status_code == 200 and "No amendment was proposed to any provision." in docx_all_text(r.content)

    cases = [
        (("minutes", "9999", "--out", str(tmp_path / "m.pdf")), "error: no assembly with id 9999"),
        (("minutes", str(w.assembly), "--lang", "de", "--out", str(tmp_path / "m.pdf")), "error: language must be one of kk, ru, en, got 'de'"),
        (("minutes", str(w.assembly), "--format", "odt", "--out", str(tmp_path / "m.odt")), "error: format must be one of pdf, docx, got 'odt'"),
        (("minutes", str(w.assembly), "--format", "docx", "--out", str(tmp_path / "m.pdf")), "error: the output file must end in .docx"),
        (("minutes", str(w.assembly), "--place", "a\nb", "--out", str(tmp_path / "m.pdf")), "error: --place must be one line"),
        (("table", "9999", "--out", str(tmp_path / "t.pdf")), "error: no assembly with id 9999"),
        (("table", str(w.assembly), "--lang", "fr", "--out", str(tmp_path / "t.pdf")), "error: language must be one of kk, ru, en, got 'fr'"),
        (("table", str(w.assembly), "--out", str(tmp_path)), "is a directory"),
    ]
    for args, want in cases:
        proc = await kurultai(settings, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], (args, proc.stderr)
    assert not (tmp_path / "m.pdf").exists() and not (tmp_path / "t.pdf").exists()


async def test_pages_link_every_download(world: World, app: Any) -> None:
    from deliberation import accounts
    from kurultai.web.auth import SESSION_COOKIE

    w = world
    aid = w.assembly
    token, _ = await accounts.issue_token(app.state.ctx, w.users["moderator"], "session", 3_600_000)
    for lang in ("kk", "ru", "en"):
        page = await w.client.get(f"/assemblies/{aid}", headers={"accept": "text/html", "accept-language": lang})
        chair = await w.client.get(f"/assemblies/{aid}/chair", headers={"accept": "text/html", "accept-language": lang, "cookie": f"{SESSION_COOKIE}={token}"})
        for r in (page, chair):
            assert r.status_code == 200, r.text[:500]
            for path in ("minutes", "table", "document"):
                for fmt in ("pdf", "docx"):
                    assert f'href="/api/assemblies/{aid}/{path}.{fmt}?lang={lang}"' in r.text, (r.url, path, fmt, lang)
            assert f'href="/api/assemblies/{aid}/archive.zip"' in r.text
        if lang == "ru":
            assert "Протокол заседания" in page.text and "Сравнительная таблица" in page.text and "Протокол заседания" in chair.text


def test_help_names_the_commands() -> None:
    from click.testing import CliRunner

    from kurultai.cli import cli

    out = CliRunner().invoke(cli, ["--help"]).output
    assert "minutes" in out and "table" in out
    for command, option in (("minutes", "--place"), ("table", "--lang")):
        out = CliRunner().invoke(cli, [command, "--help"]).output
        assert "--format" in out and "--out" in out and option in out
