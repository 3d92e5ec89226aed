"""No English in a Kazakh or Russian session (issue #17, point 8).

A whole session is run in the browser in kk and in ru, as the chair, delegates, an invited
observer and the anonymous public: the index, login (with a failed attempt), the invitation
page (with a refused password), the delegate page through every phase, the chair console, the
live view and the wall projector, votes (ranked and yes/no) opened, cast, verified, refused
and closed, charts, the 404 and 403 pages, a bad form answered by an error toast, and the
catalogue of the pages' scripts.

The detector: every Latin-script word a person can see is a defect, except proper names
(`ALLOWED`: brand, product and file-format names; the Schulze and Borda counting methods are not
among them, they are written in Cyrillic),
the people's login names, and what is code rather than language: `<code>`, `<kbd>`, `<samp>`
and the hashes, key ids and fingerprints (`span.mono`, `.hash`, `.fingerprint`), URLs and paths, and tokens with digits or
underscores (ids, hashes, usernames like delegate01). Text marked with another language
(`lang="en"`: the language switch, an assembly's other titles) is English on purpose. What is
read: the body's visible text with every `<details>` opened, the text of hidden parts (notes
and warnings shown later), the title, `title`/`aria-label`/`placeholder`/`alt` attributes,
the confirmation texts (`data-confirm`), the options of every select, error toasts, and the
charts' SVG text.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, login

expect.set_options(timeout=10_000)

LOCALES = {"kk": "kk-KZ", "ru": "ru-RU"}

#: Names, not words: brands and products a person may need to recognise.
ALLOWED = {"Kurultai", "kurultai", "WebCrypto", "Chromium", "Chrome", "Edge", "Firefox", "Safari", "HTTPS", "Markdown", "HTML", "PDF", "DOCX", "ZIP"}  # names of file formats, as HTML

CODE = re.compile(r"%\(\w+\)[sd]|https?://\S+|(?<!\w)/[\w./?=&%-]+|\S*[\d_]\S*")
WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")

COLLECT = """() => {
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  const lang = document.documentElement.lang;
  const skipped = (el) => el.matches('code, kbd, samp, span.mono, .fingerprint, .hash') || (el.matches('[lang]:not(html)') && el.lang !== lang);
  const skip = Array.from(document.body.querySelectorAll('*')).filter(skipped);
  const display = skip.map((el) => el.style.display);
  skip.forEach((el) => { el.style.display = 'none'; });  // innerText leaves them out
  const texts = [document.title, document.body.innerText];
  skip.forEach((el, i) => { el.style.display = display[i]; });
  for (const el of document.querySelectorAll('[hidden]:not(script):not(template)')) {
    const copy = el.cloneNode(true);
    copy.querySelectorAll('*').forEach((c) => { if (skipped(c)) c.remove(); });
    texts.push(copy.textContent || '');
  }
  for (const el of document.querySelectorAll('[title], [aria-label], [placeholder], [alt], [data-confirm]')) {
    if (skip.some((s) => s.contains(el))) continue;
    for (const a of ['title', 'aria-label', 'placeholder', 'alt', 'data-confirm']) if (el.hasAttribute(a)) texts.push(el.getAttribute(a));
  }
  for (const o of document.querySelectorAll('option')) texts.push(o.text);
  return texts;
}"""


class Detector:
    def __init__(self, lang: str, usernames: set[str]) -> None:
        self.lang = lang
        self.allowed = ALLOWED | usernames
        self.hits: list[str] = []
        self.seen = 0

    def words(self, text: str) -> list[str]:
        return [w for w in WORD.findall(CODE.sub(" ", text)) if w not in self.allowed]

    def text(self, where: str, text: str) -> None:
        self.seen += 1
        for line in text.splitlines():
            found = self.words(line)
            if found:
                self.hits.append(f"{self.lang} {where}: {' '.join(found)!r} in {line.strip()[:160]!r}")

    def page(self, page: Any, where: str) -> None:
        expect(page.locator("html")).to_have_attribute("lang", self.lang)
        self.text(where, "\n".join(t for t in page.evaluate(COLLECT) if t))

    def toast(self, page: Any, where: str, action: Any) -> None:
        """Do `action` (a click) and read the error toast it brings (not one left from before)."""
        page.evaluate("document.getElementById('toast')?.remove()")
        action()
        toast = page.locator("#toast.error")
        expect(toast).to_be_visible()
        self.text(f"{where} (toast)", toast.inner_text())

    def catalogue(self, page: Any, where: str) -> None:
        import json

        for key, value in json.loads(page.locator("#i18n").text_content() or "{}").items():
            self.text(f"{where} (script message {key})", value)


def goto(page: Any, url: str, live: bool = True) -> None:
    page.goto(url)
    if live:
        expect(page.locator("body")).to_have_attribute("data-live", "online")


def invite(server: Server, name: str, aid: int) -> str:
    out = subprocess.run(server.kurultai("invite", name, "--assembly", str(aid), "--role", "observer", "--base-url", server.url), env=server.env(), capture_output=True, check=True, text=True)
    return out.stdout.strip()


def unfold(details: Any) -> None:
    """Open a <details> (a click on its summary would close one the detector opened)."""
    details.evaluate("(d) => { d.open = true; }")


def confirm(page: Any, det: Detector, where: str) -> None:
    expect(page.locator("#confirm-dialog")).to_be_visible()
    det.text(f"{where} (confirmation)", page.locator("#confirm-dialog").inner_text())
    page.locator("#confirm-ok").click()


TEXTS = {
    "kk": {
        "item": "6-бап. Мемлекеттік қолдау",
        "title": "Тәуелсіз комиссия",
        "text": "Мемлекеттік органдар ұйымдарға гранттарды тәуелсіз комиссия бағалайтын ашық конкурстар арқылы ғана береді.",
        "why": "Әділ конкурс үшін тәуелсіз бағалау қажет.",
    },
    "ru": {
        "item": "Статья 7. Ликвидация организации",
        "title": "Шесть месяцев",
        "text": "Суд вправе ликвидировать организацию только после письменного предупреждения и предоставления не менее шести месяцев для устранения нарушения.",
        "why": "Трёх месяцев мало для небольших организаций.",
    },
}


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_no_english_in_a_whole_session(browser: Any, server: Server, lang: str) -> None:
    demo = server.demo
    aid = demo["assembly"]
    locale = LOCALES[lang]
    words = TEXTS[lang]
    # Each language has its own delegates (kk 10-12, ru 7-9) and article: the runs share one server.
    first = 9 if lang == "kk" else 6
    a, b, late = demo["delegates"][first : first + 3]
    observer_name = f"observer-{lang}"
    det = Detector(lang, {demo["moderator"]["username"], observer_name, *(d["username"] for d in demo["delegates"])})
    chair_token = server.token(demo["moderator"]["username"], demo["moderator"]["password"])
    article = 6 if lang == "kk" else 7
    pid = server.call("GET", f"/api/assemblies/{aid}/document", chair_token)["provisions"][article - 1]["id"]
    iid = server.call("POST", f"/api/assemblies/{aid}/agenda", chair_token, {"title": words["item"], "planned_minutes": 20, "provisions": [pid]})["id"]

    # The public: the index, the login page (and a failed login), the live view, the projector,
    # error pages, an invitation with a refused password, then the observer it makes.
    public = browser.new_context(locale=locale).new_page()
    for path, live in (
        ("/", False),
        ("/login", False),
        (f"/assemblies/{aid}", True),
        *((f"/assemblies/{aid}?item={i}", True) for i in (1, 2, 3)),
        (f"/assemblies/{aid}/live", True),
        (f"/assemblies/{aid}/live?wall=1", True),
    ):
        goto(public, server.url + path, live)
        det.page(public, f"public {path}")
    det.catalogue(public, "public")
    public.goto(f"{server.url}/login")
    public.fill("#username", a["username"])
    public.fill("#password", "not the password")
    public.click("form.stack button[type=submit]")
    det.page(public, "failed login")
    for path in ("/no-such-page", "/assemblies/999999", f"/assemblies/{aid}/elections/999999/chart.svg"):
        response = public.goto(server.url + path)
        assert response is not None and response.status == 404 and "text/html" in response.headers["content-type"], path
        det.page(public, f"404 {path}")
    link = invite(server, observer_name, aid)
    public.goto(link)
    det.page(public, "invite")
    public.fill("#password", "short")
    public.evaluate("document.getElementById('password').removeAttribute('minlength')")
    public.click("form.stack button[type=submit]")
    det.page(public, "invite, refused password")
    public.fill("#password", "observer password")
    public.click("form.stack button[type=submit]")
    det.page(public, "invite, accepted")
    public.goto(f"{server.url}/invite/no-such-invitation")
    public.fill("#password", "observer password")
    public.click("form.stack button[type=submit]")
    det.page(public, "invite, unknown link")
    public.context.close()
    observer = login(browser, server, {"username": observer_name, "password": "observer password"}, locale)
    wall = browser.new_context(locale=locale, viewport={"width": 1920, "height": 1080}).new_page()
    goto(wall, f"{server.url}/assemblies/{aid}/live?wall=1")

    # The chair puts the new item on the floor and opens the debate.
    chair = login(browser, server, demo["moderator"], locale)
    goto(chair, f"{server.url}/assemblies/{aid}/chair?item={iid}")
    det.page(chair, "chair, pending item")
    for demo_item in (1, 2):
        goto(chair, f"{server.url}/assemblies/{aid}/chair?item={demo_item}")
        det.page(chair, f"chair, demo item {demo_item}")
    goto(chair, f"{server.url}/assemblies/{aid}/chair?item={iid}")
    det.catalogue(chair, "chair")
    chair.locator("#put-this-on-floor").click()
    expect(chair.locator(f"#chair-agenda-{iid} .on-floor")).to_be_visible()
    chair.locator("#advance-phase").click()
    confirm(chair, det, "chair, to debate")
    expect(chair.locator("#chair-item .phase")).to_have_attribute("class", re.compile("phase-debate"))

    # A delegate asks for the floor and speaks; a delegate page refused the chair console (403).
    pa = login(browser, server, a, locale)
    goto(pa, f"{server.url}/assemblies/{aid}")
    det.page(pa, "delegate, debate")
    det.catalogue(pa, "delegate")
    response = pa.goto(f"{server.url}/assemblies/{aid}/chair")
    assert response is not None and response.status == 403
    det.page(pa, "403 chair console for a delegate")
    goto(pa, f"{server.url}/assemblies/{aid}")
    pa.locator("#request-floor").click()
    expect(chair.locator(f"#chair-queue li[data-username='{a['username']}']")).to_be_visible()
    det.page(chair, "chair, a speaker waiting")
    chair.locator("#give-floor").click()
    expect(wall.locator("#current-speaker")).to_have_attribute("data-username", a["username"])
    for page, where in ((chair, "chair, speech"), (pa, "delegate, speaking"), (wall, "wall, speech")):
        det.page(page, where)
    goto(observer, f"{server.url}/assemblies/{aid}")
    det.page(observer, "observer, assembly page")
    chair.locator("#end-speech").click()
    expect(wall.locator("#current-speaker-none")).to_be_visible()

    # Amendments: a bad form (a replacement without text) is answered by a toast, a good one is
    # submitted and admitted.
    chair.locator("#advance-phase").click()
    confirm(chair, det, "chair, to amendments")
    expect(pa.locator(f"#amend-box-{pid}")).to_be_attached()
    unfold(pa.locator(f"#amend-box-{pid}"))
    pa.fill(f"#am-title-{pid}", words["title"])
    pa.fill(f"#am-text-{pid}", "")
    det.toast(pa, "delegate, amendment without text", pa.locator(f"#propose-{pid}").click)
    pa.fill(f"#am-text-{pid}", words["text"])
    pa.fill(f"#am-why-{pid}", words["why"])
    pa.locator(f"#propose-{pid}").click()
    expect(pa.locator("#toast")).not_to_have_class(re.compile("error"))
    expect(pa.locator("#provisions")).to_contain_text(words["title"])
    det.page(pa, "delegate, amendment submitted")
    amendment = chair.locator("#chair-amendments li", has_text=words["title"])
    det.page(chair, "chair, amendment submitted")
    amendment.locator("button[id^=admit-]").click()
    expect(chair.locator("#chair-amendments li", has_text=words["title"]).locator(".status")).not_to_have_text(re.compile("^$"))

    # Voting: the chair creates a ranked vote and a yes/no vote, leaving the titles to the server.
    chair.locator("#advance-phase").click()
    confirm(chair, det, "chair, to voting")
    for kind in ("amendments", "yes_no"):
        unfold(chair.locator("details.create-election"))
        chair.select_option("#el-kind", kind)
        chair.locator("#create-election").click()
        expect(chair.locator("#chair-elections article.election")).to_have_count(1 if kind == "amendments" else 2)
    ranked, yes_no = (int(x) for x in chair.locator("#chair-elections article.election").evaluate_all("els => els.map((e) => e.dataset.election)"))
    pb = login(browser, server, b, locale)
    goto(pb, f"{server.url}/assemblies/{aid}")
    for page in (pa, pb):
        page.locator("#create-key").click()
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    det.page(pa, "delegate, key pending")
    expect(chair.locator("#approve-pending")).to_be_visible()
    det.page(chair, "chair, keys pending")
    chair.locator("#approve-pending").click()
    for page in (pa, pb):
        expect(page.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    for eid in (ranked, yes_no):
        chair.locator(f"#open-{eid}").click()
        confirm(chair, det, f"chair, open vote {eid}")
        expect(chair.locator(f"#election-{eid}")).to_have_attribute("data-status", "open")
    det.page(chair, "chair, votes open")

    # A late delegate (key approved after the votes opened) is told before casting.
    pl = login(browser, server, late, locale)
    goto(pl, f"{server.url}/assemblies/{aid}")
    pl.locator("#create-key").click()
    expect(pl.locator("[data-keys]")).to_have_attribute("data-state", "pending")
    chair.locator("#approve-pending").click()
    expect(pl.locator("[data-keys]")).to_have_attribute("data-state", "approved")
    expect(pl.locator(f"[data-ballot='{ranked}']")).to_have_attribute("data-roll", "no")
    det.page(pl, "late delegate")

    # Casting: a ranked ballot and a yes/no ballot, each verified; a yes/no cast without a choice.
    det.page(pa, "delegate, ballots open")
    pa.locator(f"#ranking-{ranked} li[data-option]").nth(1).locator("[data-move=up]").click()
    pa.locator(f"#cast-{ranked}").click()
    expect(pa.locator("#receipt-panel")).to_have_attribute("data-state", "recorded", timeout=15_000)
    det.page(pa, "delegate, ranked ballot recorded")
    det.toast(pa, "delegate, yes/no without a choice", pa.locator(f"#cast-{yes_no}").click)
    pa.locator(f"#choices-{yes_no} [data-choice=yes]").click()
    pa.locator(f"#cast-{yes_no}").click()
    expect(pa.locator(f"[data-ballot='{yes_no}'] [data-voted]")).to_be_visible(timeout=15_000)
    det.page(pa, "delegate, yes/no ballot recorded")
    pa.reload()
    expect(pa.locator(f"[data-ballot='{ranked}'] [data-voted]")).to_be_visible(timeout=15_000)
    det.page(pa, "delegate, reloaded after voting")

    # A refused cast: the second delegate arranges a ballot, the vote closes meanwhile.
    pb.locator(f"#ranking-{ranked} li[data-option]").nth(1).locator("[data-move=up]").click()
    server.call("POST", f"/api/elections/{ranked}/close", chair_token)
    expect(wall.locator(f"#election-{ranked}")).to_have_attribute("data-status", "closed")
    pb.locator(f"#cast-{ranked}").click()
    expect(pb.locator("#receipt-panel")).to_have_attribute("data-state", "failed", timeout=15_000)
    det.page(pb, "delegate, cast refused after the close")

    # The results, on every view, and the charts.
    chair.locator(f"#close-{yes_no}").click()
    confirm(chair, det, "chair, close the yes/no vote")
    expect(wall.locator(f"#result-{yes_no}")).to_be_visible()
    for page, where in ((chair, "chair, results"), (pa, "delegate, results"), (wall, "wall, results"), (observer, "observer, results")):
        det.page(page, where)
    goto(observer, f"{server.url}/assemblies/{aid}/live")
    det.page(observer, "observer, live view, results")
    for eid in (ranked, yes_no):
        svg = httpx.get(f"{server.url}/assemblies/{aid}/elections/{eid}/chart.svg", params={"lang": lang}, headers={"accept-language": lang}).text
        det.text(f"chart {eid}", "\n".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)))

    # The chair reopens nothing without a reason: an empty reason is refused in the page's language.
    unfold(chair.locator("details.reopen"))
    chair.evaluate("document.getElementById('reopen-why').removeAttribute('required')")
    det.toast(chair, "chair, reopen without a reason", lambda: (chair.locator("#reopen-phase").click(), confirm(chair, det, "chair, reopen")))

    for page in (pa, pb, pl, chair, observer, wall):
        page.context.close()
    assert det.seen > 40
    assert det.hits == [], "\n".join(det.hits)
    assert not server.page_errors, server.page_errors


def test_the_detector() -> None:
    """What the detector flags and what it lets through (no browser needed)."""
    det = Detector("kk", {"moderator"})
    assert det.words("Дауыс беру ашылды.") == []
    assert det.words("Бірдеңе дұрыс болмады: provision 4 is on an agenda item") == ["provision", "is", "on", "an", "agenda", "item"]
    assert det.words("Final vote: 3-бап") == ["Final", "vote"]
    assert det.words("«%(title)s» жабылды, автор: moderator, delegate01 · Kurultai") == []
    assert det.words("kurultai verify https://example.org/x /api/elections/2/board leaf_hash 2383a9f") == ["verify"]
