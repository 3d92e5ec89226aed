"""Issue #19, the open-data archive and the adopted text, after a scripted sitting (speakers, a
comment and a hidden one, a ranked vote that adopts one amendment and rejects another, a yes/no
vote), on SQLite and PostgreSQL: every JSON file of the archive validates against its schema,
`kurultai verify --offline` passes on each election directory unchanged and fails on a tampered
board, the PDF and DOCX read back with their texts and Kazakh letters, and no secret is in any
byte of any public output. The CLI commands write the same, mode 0600, and exit 2 on bad input."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kurultai.settings import Settings
from tests.api.test_voting import cast
from tests.api.voting_helpers import Voter, register_and_approve
from tests.conftest import World
from voting.core.encoding import b64u_encode

KAZAKH = "әғқңөұүһі"
ADOPTED_TEXT = f"Қоғамдық бірлестік жарғысын өзгерте алады ({KAZAKH})."
REJECTED_TEXT = "A rejected wording that must not be in the adopted text."
HIDDEN_TEXT = "HIDDEN-COMMENT-d41d8cd98f00b204"
VISIBLE_TEXT = "A visible comment on the first provision."
KURULTAI = [sys.executable, "-m", "kurultai.cli"]


@pytest.fixture
def server_signer(settings: Settings) -> Any:
    """The server key of the data directory, so that the CLI (which reads it there) and the app
    sign and export with one key."""
    from voting.server_key import load_or_create

    return load_or_create(settings.data_dir)


def cli_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "KURULTAI_DATA_DIR": str(settings.data_dir), "KURULTAI_DATABASE_URL": settings.database_url or ""}
    env.pop("KURULTAI_REDIS_URL", None)
    return env


async def kurultai(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [*KURULTAI, *args], env=cli_env(settings), capture_output=True, text=True, timeout=120)


async def sitting(w: World, clock: Any) -> dict[str, Any]:
    """A sitting: debate with a speech, comments (one hidden), two amendments, a ranked vote and
    a yes/no vote. Returns what the checks need."""
    item = w.item
    await w.ok("POST", f"/api/agenda/{item}/phase", "moderator", {"phase": "debate"})
    await w.ok("POST", f"/api/agenda/{item}/speakers", "delegate", {"speech_type": "pro"}, status=201)
    await w.ok("POST", f"/api/agenda/{item}/speakers/next", "moderator", {})
    clock.advance(42_000)
    await w.ok("POST", f"/api/agenda/{item}/speakers/end", "moderator")
    await w.ok("POST", f"/api/assemblies/{w.assembly}/comments", "delegate", {"provision": w.provisions[0], "stance": "for", "text": VISIBLE_TEXT}, status=201)
    hidden = await w.ok("POST", f"/api/assemblies/{w.assembly}/comments", "delegate2", {"provision": w.provisions[0], "text": HIDDEN_TEXT}, status=201)
    await w.ok("POST", f"/api/comments/{hidden['id']}/hide", "moderator", {"reason": "off topic"})
    amendments = []
    for text in (ADOPTED_TEXT, REJECTED_TEXT):
        a = await w.ok(
            "POST",
            f"/api/assemblies/{w.assembly}/amendments",
            "delegate",
            {"provision": w.provisions[0], "kind": "replace", "text": text, "submit": True, "title": text[:20], "rationale": "Because."},
            status=201,
        )
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
    for voter, choice in zip(voters, ("yes", "no")):
        status, body = await cast(w, yes_no["id"], voter.ballot(election, [choice]))
        assert status == 201, body
    await w.ok("POST", f"/api/elections/{yes_no['id']}/close", "moderator")
    assert (await w.ok("GET", f"/api/amendments/{amendments[0]}"))["status"] == "adopted"
    assert (await w.ok("GET", f"/api/amendments/{amendments[1]}"))["status"] == "rejected"
    return {"elections": [ranked["id"], yes_no["id"]], "amendments": amendments, "voters": voters, "winner": win}


async def secrets_of(w: World, app: Any, voters: list[Voter]) -> list[bytes]:
    """Every secret the server holds about this assembly, in every form it could leak in."""
    from deliberation import accounts, assemblies
    from deliberation.tables import AuthToken, User

    ctx = app.state.ctx
    member = await accounts.create_user(ctx, "pwmember", "correct horse battery staple")
    invite = await accounts.create_invite(ctx, w.users["observer"], "seed")
    found: list[str] = [HIDDEN_TEXT, "correct horse battery staple", invite, *w.tokens.values()]
    await assemblies.set_member(ctx, w.assembly, "seed", member.username, "delegate")
    for u in await User.select(User.password_hash, User.invite_hash):
        found += [v for v in (u["password_hash"], u["invite_hash"]) if v]
    for t in await AuthToken.select(AuthToken.token_hash, AuthToken.csrf):
        found += [v for v in (t["token_hash"], t["csrf"]) if v]
    for signer in [app.state.signer, *(v.signer for v in voters)]:
        raw = signer.private_bytes()
        found += [b64u_encode(raw), raw.hex()]
    out = [s.encode() for s in found if len(s) >= 8]
    for signer in [app.state.signer, *(v.signer for v in voters)]:
        out.append(signer.private_bytes())
    return out


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def assert_no_secret(where: str, blobs: dict[str, bytes], secrets: list[bytes]) -> None:
    for name, blob in blobs.items():
        for secret in secrets:
            assert secret not in blob, f"{where}: a secret ({secret[:12]!r}…) is in {name}"


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True).stdout


def docx_text(data: bytes) -> str:
    from docx import Document

    doc = Document(io.BytesIO(data))
    return "\n".join(p.text for p in doc.paragraphs)


def check_archive(data: bytes, aid: int, elections: list[str], tmp_path: Path) -> Path:
    """Unpack, validate every JSON file against its schema and the manifest's digests; return
    the unpacked root."""
    files = zip_members(data)
    root = f"kurultai-assembly-{aid}/"
    assert all(name.startswith(root) for name in files)
    manifest = json.loads(files[root + "manifest.json"])
    schemas = {name.removeprefix(root): json.loads(blob) for name, blob in files.items() if name.startswith(root + "schemas/")}
    jsonschema.Draft202012Validator(schemas["schemas/manifest.schema.json"]).validate(manifest)
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) | {"manifest.json"} == {name.removeprefix(root) for name in files}
    json_files = [p for p in listed if p.endswith(".json") and not p.startswith("schemas/")]
    assert len(json_files) >= 11 + 6 * len(elections)
    for path in json_files:
        entry = listed[path]
        blob = files[root + path]
        assert entry["sha256"] == hashlib.sha256(blob).hexdigest() and entry["bytes"] == len(blob)
        assert entry["schema"], f"{path} has no schema"
        schema = schemas[entry["schema"]]
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(json.loads(blob))
    for path in (p for p in listed if p.endswith(".csv")):
        text = files[root + path].decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows and rows[0], path
    for eid in elections:
        assert f"elections/{eid}/board.json" in listed
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path / "unpacked")
    return tmp_path / "unpacked" / root


async def test_archive_and_adopted_text_after_a_sitting(world: World, app: Any, clock: Any, settings: Settings, tmp_path: Path) -> None:
    w = world
    done = await sitting(w, clock)
    aid, elections = w.assembly, done["elections"]
    secrets = await secrets_of(w, app, done["voters"])

    r = await w.client.get(f"/api/assemblies/{aid}/archive.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    assert r.headers["content-disposition"] == f'attachment; filename="kurultai-assembly-{aid}.zip"'
    archive = r.content
    unpacked = check_archive(archive, aid, elections, tmp_path)

    # the content: the record of the sitting, as observers see it
    comments = json.loads((unpacked / "comments.json").read_text())
    assert [c["text"] for c in comments] == [VISIBLE_TEXT]
    amendments = {a["id"]: a for a in json.loads((unpacked / "amendments.json").read_text())}
    assert [amendments[i]["status"] for i in done["amendments"]] == ["adopted", "rejected"]
    phases = json.loads((unpacked / "phase_changes.json").read_text())
    assert [(p["from"], p["to"]) for p in phases] == [("pending", "debate"), ("debate", "amendments"), ("amendments", "voting")]
    speakers = json.loads((unpacked / "speakers.json").read_text())
    assert [(s["username"], s["speech_type"], s["status"]) for s in speakers] == [("delegate", "pro", "done")]
    versions = json.loads((unpacked / "provision_versions.json").read_text())
    assert any(v["text"] == ADOPTED_TEXT and v["amendment"] == done["amendments"][0] for v in versions)
    listed = json.loads((unpacked / "elections.json").read_text())
    assert [(e["id"], e["status"], e["directory"]) for e in listed] == [(eid, "closed", f"elections/{eid}/") for eid in elections]
    assert [e["named"] for e in listed] == [False, False]
    assert not any((unpacked / "elections" / eid / "register.json").exists() for eid in elections)  # a secret vote has no register
    with (unpacked / "csv" / "elections.csv").open(encoding="utf-8-sig", newline="") as f:
        assert [row["winner"] for row in csv.DictReader(f)] == [done["winner"], _yes_no_winner(unpacked, elections[1])]
    with (unpacked / "csv" / "document.csv").open(encoding="utf-8-sig", newline="") as f:
        assert ADOPTED_TEXT in [row["text"] for row in csv.DictReader(f)]

    # each election directory, unchanged, passes `kurultai verify --offline`; a tampered board fails
    for eid in elections:
        proc = await kurultai(settings, "verify", "--offline", str(unpacked / "elections" / eid))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith(f"OK: election {eid}")
    board_file = unpacked / "elections" / elections[0] / "board.json"
    board = json.loads(board_file.read_text())
    board[0]["ballot"]["signed"]["ranking"] = list(reversed(board[0]["ballot"]["signed"]["ranking"]))
    board_file.write_text("[\n  " + ",\n  ".join(json.dumps(leaf, ensure_ascii=False, separators=(",", ":")) for leaf in board) + "\n]\n")
    proc = await kurultai(settings, "verify", "--offline", str(board_file.parent))
    assert proc.returncode == 1 and "FAILED" in proc.stdout, proc.stdout + proc.stderr

    # the adopted text, in each language
    outputs: dict[str, bytes] = {"archive.zip": archive}
    for lang, heading in (("kk", "1-бап"), ("ru", "Статья 1"), ("en", "Article 1")):
        r = await w.client.get(f"/api/assemblies/{aid}/document.pdf", params={"lang": lang})
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
        assert r.content.startswith(b"%PDF-")
        text = pdf_text(r.content, tmp_path)
        flat = " ".join(text.split())
        assert ADOPTED_TEXT in flat, flat[:2000]
        assert REJECTED_TEXT not in flat
        assert all(letter in text for letter in KAZAKH)
        assert heading in text
        joined = "".join(text.split())  # a long address may wrap
        assert f"/api/provisions/{w.provisions[0]}" in joined and f"/api/assemblies/{aid}/archive.zip" in joined
        outputs[f"adopted-{lang}.pdf"] = r.content
        r = await w.client.get(f"/api/assemblies/{aid}/document.docx", params={"lang": lang})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        text = docx_text(r.content)
        assert ADOPTED_TEXT in text and REJECTED_TEXT not in text and heading in text
        assert f"/api/provisions/{w.provisions[0]}" in text
        outputs[f"adopted-{lang}.docx"] = r.content
    ru = docx_text(outputs["adopted-ru.docx"])
    assert "Изменено в версии документа" in ru and f"поправкой {done['amendments'][0]}" in ru

    # no secret in any byte of any public output (the zips searched inside as well)
    blobs: dict[str, bytes] = dict(outputs)
    for name in ("archive.zip", "adopted-kk.docx", "adopted-ru.docx", "adopted-en.docx"):
        blobs.update({f"{name}/{k}": v for k, v in zip_members(outputs[name]).items()})
    for lang in ("kk", "ru", "en"):
        blobs[f"adopted-{lang}.pdf (text)"] = pdf_text(outputs[f"adopted-{lang}.pdf"], tmp_path).encode()
    assert_no_secret("public outputs", blobs, secrets)

    # the CLI writes the same archive, mode 0600, and the adopted text
    out = tmp_path / "cli" / "record.zip"
    proc = await kurultai(settings, "archive", str(aid), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out.stat().st_mode & 0o777) == 0o600 and (out.parent.stat().st_mode & 0o777) == 0o700
    cli_files = zip_members(out.read_bytes())
    web_files = zip_members(archive)
    for eid in elections:
        for name in ("election.json", "roll.json", "board.json", "sth.json", "result.json", "server-key.json"):
            key = f"kurultai-assembly-{aid}/elections/{eid}/{name}"
            assert cli_files[key] == web_files[key], key
    assert_no_secret("kurultai archive", cli_files, secrets)
    # exactly as `kurultai export` writes them
    exported = tmp_path / "export"
    proc = await kurultai(settings, "export", elections[0], str(exported))
    assert proc.returncode == 0, proc.stderr
    for file in exported.iterdir():
        assert cli_files[f"kurultai-assembly-{aid}/elections/{elections[0]}/{file.name}"] == file.read_bytes(), file.name
    pdf = tmp_path / "adopted.pdf"
    proc = await kurultai(settings, "adopted-text", str(aid), "--format", "pdf", "--lang", "kk", "--out", str(pdf), "--base-url", "https://kurultai.example.org/")
    assert proc.returncode == 0, proc.stderr
    assert (pdf.stat().st_mode & 0o777) == 0o600
    assert f"https://kurultai.example.org/api/provisions/{w.provisions[0]}" in "".join(pdf_text(pdf.read_bytes(), tmp_path).split())


def _yes_no_winner(unpacked: Path, eid: str) -> str:
    return str(json.loads((unpacked / "elections" / eid / "result.json").read_text())["signed"]["winner"])


async def test_bad_input_is_a_4xx_or_exit_2(world: World, settings: Settings, tmp_path: Path) -> None:
    w = world
    for path in ("/api/assemblies/9999/archive.zip", "/api/assemblies/9999/document.pdf", "/api/assemblies/9999/document.docx"):
        r = await w.client.get(path)
        assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "no assembly with id 9999"}, (path, r.text)
    r = await w.client.get(f"/api/assemblies/{w.assembly}/document.pdf", params={"lang": "de"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input" and "kk, ru, en" in r.json()["detail"]
    # an assembly with no vote yet: the archive has no election directory, and still validates;
    # downloads at once wait their turn (two builds at a time) and all succeed
    answers = await asyncio.gather(*(w.client.get(f"/api/assemblies/{w.assembly}/archive.zip") for _ in range(3)), w.client.get(f"/api/assemblies/{w.assembly}/document.docx"))
    assert [a.status_code for a in answers] == [200] * 4
    r = answers[0]
    unpacked = check_archive(r.content, w.assembly, [], tmp_path)
    assert not (unpacked / "elections").exists()

    cases = [
        (("archive", "9999", "--out", str(tmp_path / "a.zip")), "error: no assembly with id 9999"),
        (("archive", str(w.assembly), "--out", str(tmp_path / "a.txt")), "error: the output file must end in .zip"),
        (("archive", str(w.assembly), "--out", str(tmp_path)), "is a directory"),
        (("adopted-text", str(w.assembly), "--lang", "de", "--out", str(tmp_path / "a.pdf")), "error: language must be one of kk, ru, en, got 'de'"),
        (("adopted-text", str(w.assembly), "--format", "odt", "--out", str(tmp_path / "a.odt")), "error: format must be one of pdf, docx, got 'odt'"),
        (("adopted-text", "9999", "--out", str(tmp_path / "a.pdf")), "error: no assembly with id 9999"),
    ]
    for args, want in cases:
        proc = await kurultai(settings, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and want in lines[0], (args, proc.stderr)
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "a.pdf").exists()


def test_help_names_the_record_commands() -> None:
    from click.testing import CliRunner

    from kurultai.cli import cli

    out = CliRunner().invoke(cli, ["--help"]).output
    assert "archive" in out and "adopted-text" in out
    out = CliRunner().invoke(cli, ["archive", "--help"]).output
    assert "--out" in out and "open-data" in out
