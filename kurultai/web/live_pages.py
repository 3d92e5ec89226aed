"""Render once, send to all (issue #16): the live view's regions, pushed over the websocket.

A live page (`/assemblies/{aid}/live`) opens its socket with `?view=live&lang=kk[&item=N]`. Its
regions (templates/_live_item.html, _floor.html, _live_votes.html) are the same for every viewer
of one item in one language: nothing in them depends on who watches. So after the assembly's feed
releases events (`Hub.on_release`), this module waits `delay_s` for the burst to settle, renders
each variant that some open page shows once, and offers the frame

    {"type": "regions", "seq": S, "now": MS, "regions": {"live-item": "<section…>", …},
     "proofs": {"7": {"first": 10, "second": 14, "proof": ["ab…", …]}}}

to every page socket of that variant, after the events it covers (`seq`: the assembly's last
event when the render began; `now`: the server's clock, from which the page counts the speaking
timer down; `proofs`, when a tree head changed: the consistency proof from the head pushed before,
so that the projector's audit costs no request). The cost grows with the variants shown, not
with the audience. Pages apply the frame
without fetching anything; a page that (re)connects behind the feed gets a render too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine

from kurultai.i18n import LANGUAGES, Lang
from realtime.hub import DELIVER_BATCH, Connection, Hub

log = logging.getLogger("kurultai.pages")

VIEW = "live"
REGIONS = {"live-item": "_live_item.html", "floor": "_floor.html", "live-votes": "_live_votes.html"}
#: How long a burst of events may settle before the render (the pages' refresh used 250 ms).
DELAY_S = 0.25

Variant = tuple[str, int | None, str]  # (view, item asked for or None, language)


def page_variant(params: Any) -> Variant | None:
    """The shared render a socket's page shows, from its query (`view`, `item`, `lang`); None
    for protocol clients and for a query that names no known view or language. An `item` that is
    not a plain number asks for the default item."""
    if params.get("view") != VIEW:
        return None
    lang = params.get("lang", "")
    if lang not in LANGUAGES:
        return None
    item = params.get("item") or ""
    return (VIEW, int(item) if item.isascii() and item.isdigit() and len(item) <= 9 else None, lang)


Rendered = tuple[int | None, str]  # (the item shown, language): one render


class LivePages:
    def __init__(self, app: Any, hub: Hub, engine: JinjaTemplateEngine, delay_s: float = DELAY_S) -> None:
        self.app = app
        self.hub = hub
        self.engine = engine
        self.delay_s = delay_s
        self.scheduled: dict[int, asyncio.TimerHandle] = {}
        self.running: set[int] = set()  # assemblies being rendered: at most one push each
        self.dirty: set[int] = set()  # changed again while being rendered: render once more
        self.tasks: set[asyncio.Task[None]] = set()
        self.renders = 0  # regions rendered since start (tests and /metrics)
        self.heads: dict[int, int] = {}  # election id -> the tree size of the head last pushed
        # assembly -> (seq of the last push, its frames by what they show, the items then): a page
        # that joins gets its variant's frame alone instead of a render for everybody.
        self.latest: dict[int, tuple[int, dict[Rendered, str], frozenset[int]]] = {}
        hub.on_release = self.changed

    def changed(self, assembly_id: int) -> None:
        """The assembly changed: render its pages' regions once the burst settles (once more
        after the current render, if one is running)."""
        if assembly_id in self.scheduled:
            return
        if assembly_id in self.running:
            self.dirty.add(assembly_id)
            return
        feed = self.hub.feeds.get(assembly_id)
        if feed is None or not any(c.page is not None for c in feed.conns):
            return
        self.scheduled[assembly_id] = asyncio.get_running_loop().call_later(self.delay_s, self._start, assembly_id)

    def joined(self, assembly_id: int, conn: Connection, rendered: int | None, feed_last: int) -> None:
        """A page socket is live. `rendered`: the seq its regions were rendered at (the page's, or
        the last frame it applied; None when unknown). When the last push is current, the page
        gets that frame (unless it shows it already); otherwise everybody gets a new render."""
        latest = self.latest.get(assembly_id)
        if latest is not None and latest[0] >= feed_last and conn.page is not None:
            seq, frames, items = latest
            _, asked, lang = conn.page  # type: ignore[misc]
            frame = frames.get((asked if asked in items else None, lang))
            if frame is not None:
                if rendered != seq:
                    conn.offer(0, frame)
                return
        if rendered is None or rendered != feed_last:
            self.changed(assembly_id)

    def _start(self, assembly_id: int) -> None:
        self.scheduled.pop(assembly_id, None)
        self.running.add(assembly_id)
        task = asyncio.create_task(self._push(assembly_id), name=f"kurultai-live-pages-{assembly_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _push(self, assembly_id: int) -> None:
        """Render and offer, again while changes arrived meanwhile (after the settling delay):
        one push of an assembly at a time, so frames leave in render order, the proofs chain
        from one pushed head to the next, and a slow render never piles renders up."""
        try:
            while True:
                self.dirty.discard(assembly_id)
                if not await self._render_and_offer(assembly_id):
                    self.dirty.add(assembly_id)  # a failed read: try again after a pause
                    await asyncio.sleep(1.0)
                if assembly_id not in self.dirty:
                    return
                await asyncio.sleep(self.delay_s)
        finally:
            self.running.discard(assembly_id)

    async def _render_and_offer(self, assembly_id: int) -> bool:
        from deliberation import agenda
        from kurultai.web.pages import live_context

        feed = self.hub.feeds.get(assembly_id)
        if feed is None:
            return True
        variants = {c.page for c in feed.conns if c.page is not None}
        if not variants:
            return True
        now = self.app.state.ctx.now()
        contexts: dict[int | None, dict[str, Any]] = {}
        rendered: dict[Rendered, str] = {}
        heads = dict(self.heads)
        try:
            # An item the agenda does not hold shows the default item: asking for made-up items
            # costs no extra renders. Renders are at most (items asked for + 1) x languages.
            items = frozenset(i["id"] for i in await agenda.list_items(assembly_id, now))
            shows: dict[Any, Rendered] = {}
            for variant in variants:
                _, asked, lang = variant  # type: ignore[misc]
                item = asked if asked in items else None
                if item not in contexts:
                    contexts[item] = await live_context(self.app, assembly_id, item, now)
                if (item, lang) not in rendered:
                    rendered[item, lang] = self.render(contexts[item], lang)
                shows[variant] = (item, lang)
            proofs = await self.proofs([e for c in contexts.values() for e in c["elections"]], heads)
        except Exception:  # the assembly is gone, or a read failed
            log.exception("rendering the live pages of assembly %s failed", assembly_id)
            return False
        if proofs:  # once per render, not per page
            tail = ',"proofs":' + json.dumps(proofs, separators=(",", ":")) + "}"
            rendered = {k: f[:-1] + tail for k, f in rendered.items()}
        self.heads = heads
        seq = min(int(c["seq"] or 0) for c in contexts.values())
        self.latest[assembly_id] = (seq, rendered, items)
        conns = [c for c in feed.conns if c.page in shows]
        for start in range(0, len(conns), DELIVER_BATCH):
            if start:
                await asyncio.sleep(0)
            for conn in conns[start : start + DELIVER_BATCH]:
                conn.offer(0, rendered[shows[conn.page]])
        return True

    async def proofs(self, shown: list[dict[str, Any]], heads: dict[int, int]) -> dict[str, dict[str, Any]]:
        """For each election whose tree head changed since the last push, the consistency proof
        from the head pushed before to the one pushed now, computed once for every page: a page
        that saw the previous frame audits the new head without asking the server. `heads` (the
        sizes pushed last) is updated in place."""
        out: dict[str, dict[str, Any]] = {}
        board = self.app.state.board
        for e in shown:
            if not e.get("sth") or e["status"] == "draft":
                continue
            eid, size = int(e["id"]), int(e["sth"]["signed"]["tree_size"])
            first = heads.get(eid)
            heads[eid] = size
            if first is None or not 0 < first < size or str(eid) in out:
                continue
            state = await board.state(eid)
            if state is not None and size <= state.size:
                out[str(eid)] = {"first": first, "second": size, "proof": board.consistency(state, first, size)}
        return out

    def render(self, context: dict[str, Any], lang: str) -> str:
        env = self.engine.engine
        values = {**context, **Lang(lang).context()}
        regions = {rid: env.get_template(name).render(values) for rid, name in REGIONS.items()}
        self.renders += 1
        return json.dumps({"type": "regions", "seq": context["seq"], "now": context["now_ms"], "regions": regions}, ensure_ascii=False, separators=(",", ":"))

    async def stop(self) -> None:
        self.hub.on_release = None
        for handle in self.scheduled.values():
            handle.cancel()
        self.scheduled.clear()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks))
