"""An invitation card in the hall (issue #18): the QR code of a printed card, opened on a phone
(390 × 844), sets the password, logs the delegate in and lands on the assembly; the delegate
checks in and makes a key, the chair approves the keys of the delegates present from the list
in the console's confirmation, and the delegate votes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, login

PASSWORD = "a phone's new password"


def card_links(pdf: bytes, folder: Path) -> list[str]:
    if not shutil.which("zbarimg"):
        pytest.skip("zbarimg (Debian's zbar-tools) is not installed")
    (folder / "cards.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(folder / "cards.pdf"), str(folder / "page")], check=True)
    [page] = folder.glob("page*.png")
    proc = subprocess.run(["zbarimg", "--quiet", "--raw", str(page)], capture_output=True, text=True)
    return [line for line in proc.stdout.splitlines() if line]


def test_a_delegate_scans_a_card_sets_a_password_and_votes(browser: Any, server: Server, tmp_path: Path) -> None:
    demo = server.demo
    aid = demo["assembly"]
    subprocess.run(server.kurultai("invite", "newcomer", "--assembly", str(aid)), env=server.env(), check=True, capture_output=True)
    chair = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    r = httpx.post(f"{server.url}/api/assemblies/{aid}/invitations.pdf?lang=kk", headers={"authorization": f"Bearer {chair}"}, timeout=60)
    assert r.status_code == 200 and r.headers["x-cards"] == "1", r.text[:300]  # the demo's delegates have passwords
    [link] = card_links(r.content, tmp_path)
    assert link.startswith(f"{server.url}/invite/")

    phone = browser.new_context(locale="kk-KZ", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.on("pageerror", lambda exc: server.page_errors.append(f"newcomer: {exc}"))
    page.goto(link)
    page.fill("#password", PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{server.url}/assemblies/{aid}")
    expect(page.locator("nav.account .who")).to_have_text("newcomer")  # logged in
    page.goto(f"{server.url}/assemblies/{aid}?item=1")
    expect(page.locator("body")).to_have_attribute("data-live", "online")
    page.locator("#check-in").click()
    expect(page.locator("#check-out")).to_be_visible()
    page.locator("#create-key").click()
    expect(page.locator("[data-keys]")).to_have_attribute("data-state", "pending")

    console = login(browser, server, demo["moderator"])
    console.goto(f"{server.url}/assemblies/{aid}/chair?item=1")
    button = console.locator("#approve-present")
    expect(button).to_be_visible()
    button.click()
    expect(console.locator("#confirm-text")).to_contain_text("newcomer")  # the list, before anything is approved
    console.locator("#confirm-ok").click()
    expect(page.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    keys = {k["username"]: k for k in httpx.get(f"{server.url}/api/assemblies/{aid}/keys", headers={"authorization": f"Bearer {chair}"}).json()}
    assert keys["newcomer"]["status"] == "approved" and keys["newcomer"]["decided_by"] == demo["moderator"]["username"]

    made = server.call("POST", "/api/agenda/1/elections", chair, {"kind": "yes_no", "title": "A card holder votes", "rule": {"majority": "simple", "quorum_percent": 0}})
    eid = made["id"]
    server.call("POST", f"/api/elections/{eid}/open", chair, {"quorum_basis": "present"})
    page.locator(f"#choices-{eid} [data-choice=yes]").click()
    page.locator(f"#cast-{eid}").click()
    expect(page.locator("#receipt-panel")).to_have_attribute("data-state", "recorded", timeout=15000)
    console.context.close()
    phone.close()
    assert not server.page_errors, server.page_errors
