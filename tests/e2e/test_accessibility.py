"""axe-core finds no serious or critical violation on any page, in any language, on a phone and
on a 1920×1080 screen (issue #17); each view is photographed on the way.

axe-core runs in Chromium through axe-playwright-python (which bundles axe-core). Every view is
checked as the person who sees it: the index, login and an error page anonymously; the delegate
view as a delegate and as an observer; the chair console as the chair; the live view
and the wall projector; with a vote open, so that ballots, charts and receipts are on the page.

The screenshots (`{view}-{lang}-{width}x{height}.png`, the top of the page) go to the temporary
directory, or with KURULTAI_UPDATE_SCREENSHOTS=1 to docs/screenshots/gallery/ (docs/screenshots/README.md).
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import SCREENSHOTS, Server, login

expect.set_options(timeout=10_000)

LOCALES = {"kk": "kk-KZ", "ru": "ru-RU", "en": "en-US"}
SIZES = [(390, 844), (1920, 1080)]  # a phone, a laptop or projector
GALLERY = SCREENSHOTS / "gallery"


def serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}" for v in found if v["impact"] in ("serious", "critical")]


def test_no_serious_violation_on_any_page_in_any_language(browser: Any, server: Server) -> None:
    demo = server.demo
    aid, _ = server.open_demo_vote(0)
    pages = {  # who -> [(view name, path)]
        None: [
            ("index", "/"),
            ("login", "/login"),
            ("observer", f"/assemblies/{aid}?item=1"),
            ("live", f"/assemblies/{aid}/live"),
            ("wall", f"/assemblies/{aid}/live?wall=1"),
            ("not-found", "/assemblies/999999"),
        ],
        "moderator": [("chair", f"/assemblies/{aid}/chair?item=1"), ("setup", f"/assemblies/{aid}/setup")],  # the chair prepares too (issue #18)
        "delegate": [("delegate", f"/assemblies/{aid}?item=1"), ("forbidden", f"/assemblies/{aid}/chair")],  # the "not allowed" page
    }
    GALLERY.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    shots = 0
    for lang, locale in LOCALES.items():
        for who, views in pages.items():
            if who is None:
                context = browser.new_context(locale=locale)
                page = context.new_page()
            else:
                page = login(browser, server, demo["moderator"] if who == "moderator" else demo["delegates"][1], locale)
            for name, path in views:
                for width, height in SIZES:
                    page.set_viewport_size({"width": width, "height": height})
                    page.goto(server.url + path)
                    if "/assemblies/" in path and name not in ("not-found", "forbidden", "setup"):  # the set-up page is not live
                        expect(page.locator("body")).to_have_attribute("data-live", "online")
                    expect(page.locator("html")).to_have_attribute("lang", lang)
                    problems += [f"{lang} {who or 'anonymous'} {path} {width}x{height}: {p}" for p in serious(page)]
                    page.screenshot(path=str(GALLERY / f"{name}-{lang}-{width}x{height}.png"))
                    shots += 1
            page.context.close()
    assert problems == [], "\n".join(problems)
    assert not server.page_errors, server.page_errors
    assert shots == 3 * 10 * len(SIZES)
