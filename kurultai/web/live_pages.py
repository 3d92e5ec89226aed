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
from realtime.hub import DELIVER_BATCH, Hub

log = logging.getLogger("kurultai.pages")

VIEW = "live"
REGIONS = {"live-item": "_live_item.html", "floor": "_floor.html", "live-votes": "_live_votes.html"}
#: How long a burst of events may settle before the render (the pages' refresh used 250 ms).
DELAY_S = 0.25

Variant = tuple[str, int | None, str]  # (view, item asked for or None, language)


def page_variant(params: Any) -> Variant | None:
    """The shared render a socket's page shows, from its query (`view`, `item`, `lang`); None
    for protocol clients and for a query that names no known view or language."""
    if params.get("view") != VIEW:
        return None
    lang = params.get("lang", "")
    item = params.get("item") or ""
    if lang not in LANGUAGES or (item and (not item.isdigit() or len(item) > 9)):
        return None
    return (VIEW, int(item) if item else None, lang)


class LivePages:
    def __init__(self, app: Any, hub: Hub, engine: JinjaTemplateEngine, delay_s: float = DELAY_S) -> None:
        self.app = app
        self.hub = hub
        self.engine = engine
        self.delay_s = delay_s
        self.scheduled: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.renders = 0  # regions rendered since start (tests and /metrics)
        self.heads: dict[int, int] = {}  # election id -> the tree size of the head last pushed
        self.locks: dict[int, asyncio.Lock] = {}
        hub.on_release = self.changed

    def changed(self, assembly_id: int) -> None:
        """The assembly changed: render its pages' regions once the burst settles."""
        feed = self.hub.feeds.get(assembly_id)
        if assembly_id in self.scheduled or feed is None or not any(c.page is not None for c in feed.conns):
            return
        self.scheduled.add(assembly_id)
        asyncio.get_running_loop().call_later(self.delay_s, self._start, assembly_id)

    def joined(self, assembly_id: int, page_seq: int | None, feed_last: int) -> None:
        """A page socket is live: when its page is older than the feed, it needs a render."""
        if page_seq is None or page_seq < feed_last:
            self.changed(assembly_id)

    def _start(self, assembly_id: int) -> None:
        self.scheduled.discard(assembly_id)
        task = asyncio.create_task(self._push(assembly_id), name=f"kurultai-live-pages-{assembly_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _push(self, assembly_id: int) -> None:
        # One push of an assembly at a time: frames leave in the order of their renders, and the
        # proofs chain from one pushed head to the next.
        async with self.locks.setdefault(assembly_id, asyncio.Lock()):  # one small lock per assembly ever watched
            await self._render_and_offer(assembly_id)

    async def _render_and_offer(self, assembly_id: int) -> None:
        from deliberation import agenda
        from kurultai.web.pages import live_context

        feed = self.hub.feeds.get(assembly_id)
        if feed is None:
            return
        variants = {c.page for c in feed.conns if c.page is not None}
        frames: dict[Any, str] = {}
        now = self.app.state.ctx.now()
        contexts: dict[int | None, dict[str, Any]] = {}
        rendered: dict[tuple[int | None, str], str] = {}
        try:
            # An item the agenda does not hold shows the default item: asking for made-up items
            # costs no extra renders. Renders are at most (items asked for + 1) x languages.
            items = {i["id"] for i in await agenda.list_items(assembly_id, now)}
            for variant in variants:
                _, asked, lang = variant  # type: ignore[misc]
                item = asked if asked in items else None
                if item not in contexts:
                    contexts[item] = await live_context(self.app, assembly_id, item, now)
                if (item, lang) not in rendered:
                    rendered[item, lang] = self.render(contexts[item], lang)
                frames[variant] = rendered[item, lang]
            proofs = await self.proofs([e for c in contexts.values() for e in c["elections"]])
        except Exception:  # the assembly is gone, or a read failed: the next event tries again
            log.exception("rendering the live pages of assembly %s failed", assembly_id)
            return
        if proofs:
            frames = {v: f[:-1] + ',"proofs":' + json.dumps(proofs, separators=(",", ":")) + "}" for v, f in frames.items()}
        conns = [c for c in feed.conns if c.page in frames]
        for start in range(0, len(conns), DELIVER_BATCH):
            if start:
                await asyncio.sleep(0)
            for conn in conns[start : start + DELIVER_BATCH]:
                conn.offer(0, frames[conn.page])

    async def proofs(self, shown: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """For each election whose tree head changed since the last push, the consistency proof
        from the head pushed before to the one pushed now, computed once for every page: a page
        that saw the previous frame audits the new head without asking the server."""
        out: dict[str, dict[str, Any]] = {}
        board = self.app.state.board
        for e in shown:
            if not e.get("sth") or e["status"] == "draft":
                continue
            eid, size = int(e["id"]), int(e["sth"]["signed"]["tree_size"])
            first = self.heads.get(eid)
            self.heads[eid] = size
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
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks))
