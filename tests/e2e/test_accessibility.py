"""axe-core finds no serious or critical violation on any page, in any language (issue #17).

axe-core runs in Chromium through axe-playwright-python (which bundles axe-core). Every view is
checked as the person who sees it: the index, login and an error page anonymously; the delegate
view as a delegate and as an observer; the chair console as the chair; the live view
and the wall projector; with a vote open, so that ballots, charts and receipts are on the page.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import Server, login

expect.set_options(timeout=10_000)

LOCALES = {"kk": "kk-KZ", "ru": "ru-RU", "en": "en-US"}


def serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}" for v in found if v["impact"] in ("serious", "critical")]


def test_no_serious_violation_on_any_page_in_any_language(browser: Any, server: Server) -> None:
    demo = server.demo
    aid, _ = server.open_demo_vote(0)
    pages = {
        None: ["/", "/login", f"/assemblies/{aid}?item=1", f"/assemblies/{aid}/live", f"/assemblies/{aid}/live?wall=1", "/assemblies/999999"],
        "moderator": [f"/assemblies/{aid}/chair?item=1"],
        "delegate": [f"/assemblies/{aid}?item=1", f"/assemblies/{aid}/chair"],  # the second: the "not allowed" page
    }
    problems: list[str] = []
    for lang, locale in LOCALES.items():
        for who, paths in pages.items():
            if who is None:
                context = browser.new_context(locale=locale)
                page = context.new_page()
            else:
                page = login(browser, server, demo["moderator"] if who == "moderator" else demo["delegates"][1], locale)
            for path in paths:
                page.goto(server.url + path)
                if "/assemblies/" in path and "999999" not in path and not (who == "delegate" and path.endswith("/chair")):
                    expect(page.locator("body")).to_have_attribute("data-live", "online")
                expect(page.locator("html")).to_have_attribute("lang", lang)
                problems += [f"{lang} {who or 'anonymous'} {path}: {p}" for p in serious(page)]
            page.context.close()
    assert problems == [], "\n".join(problems)
    assert not server.page_errors, server.page_errors
