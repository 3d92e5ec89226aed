"""A vote's chart where people read it: on a phone the narrow layout (each bar under its name),
in type a person can read and inside the picture; at 1920×1080 and on the projector the wide one.
Beside a closed vote the observer sees what it was between as a labelled list, not a numbered
one that reads like a ranking. Schulze (the matrix) and IRV (the rounds), in en, kk and ru.
"""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, SCREENSHOTS, Server
from tests.e2e.test_accessibility import serious
from tests.unit.synthetic_election import make_ballot
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer
from voting.core.signed import digest

expect.set_options(timeout=10_000)

# Every <text> of the shown chart: its font size as rendered in CSS pixels (the type a reader sees)
# and whether its box stays inside the picture (a label cut too late runs off the edge).
TEXTS = """(sel) => {
  const svg = document.querySelector(sel).querySelector('svg');
  const width = svg.viewBox.baseVal.width, scale = svg.getScreenCTM().a;
  return Array.from(svg.querySelectorAll('text')).map((t) => {
    const b = t.getBBox();
    return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale, right: b.x + b.width, width: width};
  });
}"""


def cast(server: Server, election: dict[str, Any], voter: Signer, ranking: list[str]) -> None:
    eid = election["signed"]["id"]
    r = httpx.post(f"{server.url}/api/elections/{eid}/ballots", json=make_ballot(voter, eid, digest(election["signed"]), 1, ranking))
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
                if wall:  # the projector shows the wide chart and still fits one screen (test_live_push checks the rest)
                    assert page.evaluate("document.documentElement.scrollHeight") <= h, (locale, "the projector scrolls")
                    continue
                page.locator(shown).scroll_into_view_if_needed()
                expect(page.locator(shown)).to_be_visible()
                texts = page.evaluate(TEXTS, shown)
                assert len(texts) > 10, texts
                small = [t for t in texts if t["px"] < 9.5]
                assert not small, (locale, w, eid, small)
                outside = [t for t in texts if t["right"] > t["width"] - 4]
                assert not outside, (locale, w, eid, outside)
                # the options: a labelled list in the ballot's order, not numbered like a ranking
                label = page.locator(f"#options-h-{eid}")
                expect(label).to_be_visible()
                assert page.locator(f"#election-{eid} ul.options[aria-labelledby='options-h-{eid}'] li").count() == 3
                assert page.locator(f"#election-{eid} ol.options").count() == 0
            if narrow:  # the narrow charts (focusable, for when they scroll sideways) pass axe-core
                assert serious(page) == [], (locale, serious(page))
            if not wall:
                for eid in eids:
                    page.locator(f"#election-{eid}").screenshot(path=str(SCREENSHOTS / f"chart-{eid}-{locale[:2]}-{w}.png"))
            context.close()
    assert not server.page_errors, server.page_errors


# Every <text> of every chart on the page: its font size as rendered (CSS pixels), its box, and the
# boxes of the picture's rectangles (bars, cells), in the picture's own units.
GEOMETRY = """() => Array.from(document.querySelectorAll('svg')).map((svg) => {
  const scale = svg.getScreenCTM().a;
  const box = (e) => { const b = e.getBBox(); return {x: b.x, y: b.y, r: b.x + b.width, b: b.y + b.height}; };
  return {
    shown: svg.getBoundingClientRect().width > 0,
    width: svg.viewBox.baseVal.width,
    texts: Array.from(svg.querySelectorAll('text')).map((t) => ({text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale, ...box(t)})),
    rects: Array.from(svg.querySelectorAll('rect')).slice(1).map(box),  // the first is the background
  };
})"""
LABELS = ["Қолданыстағы мәтінді сақтау", "Он бес күн / Пятнадцать дней", "Үнсіз келісім бойынша тіркеу / Регистрация по умолчанию", "Шағымдану мерзімін отыз күнге ұзарту / Продлить срок обжалования"]


def shapes() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Views and tallies of every kind of chart, from 2 to 10 options, with counts in the
    thousands (four digits, and a thousands separator in kk and ru)."""
    from voting.core.counting import WeightedBallot, compute_result

    out = []
    for method in ("schulze", "irv", "borda"):
        for n in (2, 3, 5, 7, 10):
            ids = ["status_quo", *(f"amendment-{k}" for k in range(1, n))]
            ballots = [WeightedBallot(tuple(ids[k:] + ids[:k]), weight=1000 + 37 * k, voters=1000 + 37 * k) for k in range(n)]  # distinct first choices: IRV runs n-1 rounds
            tally = compute_result(method, ids, ballots)
            view = {
                "title": "3-бап. Тіркеу / Статья 3. Регистрация: түзетулер / поправки",
                "method": method,
                "visibility": "live",
                "options": [{"id": o, "label": LABELS[k % len(LABELS)] + f" {k}"} for k, o in enumerate(ids)],
            }
            out.append((view, tally))
    return out


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    return max(0.0, min(a["r"], b["r"]) - max(a["x"], b["x"])) * max(0.0, min(a["b"], b["b"]) - max(a["y"], b["y"]))


def test_every_chart_shape_keeps_its_text_readable_and_apart(browser: Any) -> None:
    """No server: the pictures of `kurultai.web.charts` for 2 to 10 options and IRV up to nine
    rounds, each layout at the narrowest width a page shows it, with the page's stylesheet (the
    narrow one in a phone's 374-pixel column, scrolled sideways when it must be wider; the wide one
    just above 720 pixels, where the page switches), in en, kk and ru.
    Every text at least 9.5 pixels, inside the picture, clear of every other text, and either
    inside a rectangle (a matrix cell) or clear of it (a bar)."""
    from kurultai.i18n import Lang
    from kurultai.web import charts

    css = (ROOT / "static" / "kurultai.css").read_text()
    page = browser.new_page(viewport={"width": 1000, "height": 600})
    for code in ("en", "kk", "ru"):
        for layout, width, kind in ((charts.NARROW, 374, "chart-narrow"), (charts.WIDE, 722, "chart-wide")):
            figures = "".join(
                f"<figure class='chart' style='width:{width}px;margin:0'><div class='chart-svg {kind}'>{charts.election_svg(view, tally, Lang(code), layout)}</div></figure>"
                for view, tally in shapes()
            )
            page.set_content(f"<!doctype html><html><head><style>{css}</style></head><body>{figures}</body></html>")
            for k, svg in enumerate(page.evaluate(GEOMETRY)):
                where = (code, layout.width, k)
                assert svg["shown"], where  # the layout the stylesheet shows at this width
                for t in svg["texts"]:
                    assert t["px"] >= 9.5, (where, t)
                    assert t["x"] >= 0 and t["r"] <= svg["width"] - 2, (where, t)
                    for u in svg["texts"]:
                        assert u is t or overlap(t, u) < 1, (where, t, u)
                    for r in svg["rects"]:
                        inside = r["x"] <= t["x"] and t["r"] <= r["r"] and r["y"] <= t["y"] and t["b"] <= r["b"]
                        assert inside or overlap(t, r) < 1, (where, t, r)
    page.close()
