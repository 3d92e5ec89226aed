"""A vote's chart where people read it: on a phone the narrow layout (each bar under its name),
in type a person can read and inside the picture; at 1920×1080 and on the projector the wide one.
Beside a closed vote the observer sees what it was between as a labelled list, not a numbered
one that reads like a ranking. Schulze (the matrix) and IRV (the rounds), in en, kk and ru.
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, Server
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer, sign_object
from voting.core.signed import digest

expect.set_options(timeout=10_000)

# Every <text> of the shown chart: its rendered height in CSS pixels (the type a reader sees) and
# whether its box stays inside the picture (a label cut too late runs into the bars or off the edge).
TEXTS = """(sel) => {
  const host = document.querySelector(sel);
  const svg = host.querySelector('svg');
  const width = svg.viewBox.baseVal.width;
  return Array.from(svg.querySelectorAll('text')).map((t) => {
    const b = t.getBBox();
    return {text: t.textContent, px: t.getBoundingClientRect().height, right: b.x + b.width, width: width};
  });
}"""


def cast(server: Server, election: dict[str, Any], voter: Signer, ranking: list[str]) -> None:
    signed = {
        "v": 1,
        "type": "ballot",
        "election": election["signed"]["id"],
        "election_digest": digest(election["signed"]),
        "voter": voter.key_id,
        "revision": 1,
        "ranking": ranking,
        "nonce": b64u_encode(b"\x01" * 16),
    }
    r = httpx.post(f"{server.url}/api/elections/{election['signed']['id']}/ballots", json=sign_object(voter, signed))
    assert r.status_code == 201, r.text


def test_charts_fit_phones_and_the_projector(browser: Any, server: Server) -> None:
    demo = server.demo
    aid = demo["assembly"]
    chair = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    voters = []
    for who in demo["delegates"][:5]:
        voter = Signer.generate()
        server.call("POST", "/api/me/keys", server.token(who["username"], who["password"]), {"assembly": aid, "public_key": b64u_encode(voter.public_key_raw)})
        voters.append(voter)
    server.call("POST", f"/api/assemblies/{aid}/keys/approve-pending", chair)
    provision = server.call("GET", "/api/agenda/1", chair)["provisions"][0]
    eids = [str(server.call("POST", "/api/agenda/1/elections", chair, {"provision": provision, "method": method, "title": f"Article 3 by {method}"})["id"]) for method in ("schulze", "irv")]
    for eid in eids:
        opened = server.call("POST", f"/api/elections/{eid}/open", chair)
        options = [o["id"] for o in opened["election"]["signed"]["options"]]
        assert len(options) == 3, options
        for n, voter in enumerate(voters):  # rankings that take IRV to a second round
            cast(server, opened["election"], voter, options[n % 3 :] + options[: n % 3])
    for eid in eids:
        server.call("POST", f"/api/elections/{eid}/close", chair)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for locale in ("en-US", "kk-KZ", "ru-RU"):
        for (w, h), wall in (((390, 844), ""), ((1920, 1080), ""), ((1280, 720), "&wall=1")):
            context = browser.new_context(locale=locale, viewport={"width": w, "height": h})
            page = context.new_page()
            page.on("pageerror", lambda exc: server.page_errors.append(f"observer: {exc}"))
            page.goto(f"{server.url}/assemblies/{aid}/live?item=1{wall}")
            expect(page.locator("body")).to_have_attribute("data-live", "online")
            narrow = w < 600
            for eid in eids:
                shown, hidden = (f"#chart-narrow-{eid}", f"#chart-{eid}") if narrow else (f"#chart-{eid}", f"#chart-narrow-{eid}")
                expect(page.locator(hidden)).to_be_hidden()
                if wall:
                    continue  # the projector's fit is test_live_push's; here only which layout it shows
                page.locator(shown).scroll_into_view_if_needed()
                expect(page.locator(shown)).to_be_visible()
                texts = page.evaluate(TEXTS, shown)
                assert len(texts) > 10, texts
                small = [t for t in texts if t["px"] < 11]
                assert not small, (locale, w, eid, small)
                outside = [t for t in texts if t["right"] > t["width"] - 4]
                assert not outside, (locale, w, eid, outside)
                # the options: a labelled list in the ballot's order, not numbered like a ranking
                label = page.locator(f"#options-h-{eid}")
                expect(label).to_be_visible()
                assert page.locator(f"#election-{eid} ul.options[aria-labelledby='options-h-{eid}'] li").count() == 3
                assert page.locator(f"#election-{eid} ol.options").count() == 0
            if not wall:
                for eid in eids:
                    page.locator(f"#election-{eid}").screenshot(path=str(SCREENSHOTS / f"chart-{eid}-{locale[:2]}-{w}.png"))
            context.close()
    assert not server.page_errors, server.page_errors
