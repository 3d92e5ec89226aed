"""Render once, send to all (issue #16): the views' regions, pushed over the websocket.

Each view's page opens its socket with `?view=live|delegate|chair&lang=kk[&item=N]`: the live
(projector) view, the delegate view and the chair console. A view's regions are the `region_*`
blocks of its template (live.html, assembly.html, chair.html); they depend on the item shown, the
language and the viewer's role, never on the person (their own controls are chosen by the page's
script from `data-if-me`/`data-unless-me`). So after the assembly's feed releases events
(`Hub.on_release`), this module waits `delay_s` for the burst to settle, renders each variant
that some open page shows once, and offers the frame

    {"type": "regions", "seq": S, "now": MS, "regions": {"live-item": "<section…>", …},
     "proofs": {"7": {"first": 10, "second": 14, "proof": ["ab…", …]}}}

to every page socket of that variant, after the events it covers (`seq`: the assembly's last
event when the render began; `now`: the server's clock, from which the page counts the speaking
timer down; `proofs`, live view only, when a tree head changed: the consistency proof from the
head pushed before, so that the projector's audit costs no request). The cost grows with the
variants shown, not with the audience. Pages apply the frame without fetching anything; a page
that (re)connects behind the feed gets a render too. A page that was offered the push before gets
only the regions whose HTML changed since (a delta; during a vote mostly the result and the tree
head); a page that joins, or whose previous frame was still queued, gets every region.

A person's own state (their voting keys: the `mine_*` blocks) is never in a shared frame: when a
key changes, its owner's delegate pages alone get `{"type": "mine", "regions": {"my-keys": …}}`.
A chair frame goes only to moderators' sockets (the role comes from the socket's session, never
from the query).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine

from kurultai.i18n import LANGUAGES, Lang
from kurultai.web.auth import effective_role
from realtime.core.protocol import Viewer
from kurultai.unit_of_work import EventRecord
from realtime.hub import DELIVER_BATCH, Connection, Hub

log = logging.getLogger("kurultai.pages")

#: The pushed views and their templates.
VIEWS = {"live": "live.html", "delegate": "assembly.html", "chair": "chair.html"}
#: The prefixes of the two kinds of pushed frame: a newer one replaces one still queued.
REGIONS_FRAME = '{"type":"regions"'
MINE_FRAME = '{"type":"mine"'
#: Events that change somebody's own keys (their `mine` frame).
KEY_EVENTS = frozenset({"key.registered", "key.updated"})
#: Events that change whether each delegate can vote (their `mine` frame, for every delegate).
ROLL_EVENTS = frozenset({"election.opened", "election.closed"})
#: How long a burst of events may settle before the render (the pages' refresh used 250 ms).
DELAY_S = 0.25

Variant = tuple[str, int | None, str, str | None]  # (view, item asked for or None, language, role)
Rendered = tuple[str, int | None, str, str | None]  # (view, item shown, language, role): one render


def page_variant(params: Any, viewer: Viewer) -> Variant | None:
    """The shared render a socket's page shows, from its query (`view`, `item`, `lang`) and the
    socket's viewer; None for protocol clients, for a query that names no known view or
    language, and for a chair view asked for by anybody but a moderator. An `item` that is not
    a plain number asks for the default item. The live view is the same for everybody; on the
    delegate view, observers and members without a voting role share one render."""
    view = params.get("view")
    if view not in VIEWS:
        return None
    lang = params.get("lang", "")
    if lang not in LANGUAGES:
        return None
    role = effective_role(viewer.role, viewer.is_admin)
    if view == "live" or role not in ("delegate", "moderator"):
        role = None
    if view == "chair" and role != "moderator":
        return None
    item = params.get("item") or ""
    return (view, int(item) if item.isascii() and item.isdigit() and len(item) <= 9 else None, lang, role)


def region_blocks(template: Any, prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """The template's blocks named `<prefix>_<id>` rendered alone, by region id (`_` → `-`)."""
    out = {}
    for name, block in template.blocks.items():
        if name.startswith(prefix + "_"):
            out[name[len(prefix) + 1 :].replace("_", "-")] = "".join(block(template.new_context(values)))
    return out


def regions_frame(seq: int, now_ms: int, regions: dict[str, str], proofs: dict[str, Any] | None) -> str:
    """A `regions` frame: all of a view's regions, or only those that changed since the push
    before (a page applies whatever regions a frame holds)."""
    frame: dict[str, Any] = {"type": "regions", "seq": seq, "now": now_ms, "regions": regions}
    if proofs:
        frame["proofs"] = proofs
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


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
        self.key_changes: dict[int, set[str]] = {}  # assembly -> keys changed since its last push
        self.roll_changes: set[int] = set()  # assemblies where a vote opened or closed since the last push
        # assembly -> (seq of the last push, its frames by what they show, the items then): a page
        # that joins gets its variant's frame alone instead of a render for everybody.
        self.latest: dict[int, tuple[int, dict[Rendered, str], frozenset[int]]] = {}
        # assembly -> (the number of its last push, that push's regions by what they show): the
        # next push sends a page that was offered it only the regions that changed.
        self.pushed: dict[int, tuple[int, dict[Rendered, dict[str, str]]]] = {}
        hub.on_release = self.changed

    def changed(self, assembly_id: int, events: list[EventRecord] | None = None) -> None:
        """The assembly changed: render its pages' regions once the burst settles (once more
        after the current render, if one is running). Key and roll events also mark whose own
        parts to send; an assembly without pages costs one scan of its sockets and no memory."""
        busy = assembly_id in self.scheduled or assembly_id in self.running
        if not busy:
            feed = self.hub.feeds.get(assembly_id)
            if feed is None or not any(c.page is not None for c in feed.conns):
                return
        for event in events or ():
            if event.type in KEY_EVENTS and isinstance(event.data.get("key_id"), str):
                self.key_changes.setdefault(assembly_id, set()).add(event.data["key_id"])
            elif event.type in ROLL_EVENTS:
                self.roll_changes.add(assembly_id)
        if assembly_id in self.running:
            self.dirty.add(assembly_id)
        if busy:
            return
        self.scheduled[assembly_id] = asyncio.get_running_loop().call_later(self.delay_s, self._start, assembly_id)

    def joined(self, assembly_id: int, conn: Connection, rendered: int | None, feed_last: int) -> None:
        """A page socket is live. `rendered`: the seq its regions were rendered at (the page's, or
        the last frame it applied; None when unknown). When the last push is current, the page
        gets that frame (unless it shows it already); otherwise everybody gets a new render. A
        delegate's page that was away gets its own keys again too."""
        conn.page_seq = rendered or 0
        if conn.page is not None and conn.page[3] == "delegate":  # type: ignore[index]  # always: a frame may have been lost
            self._spawn(self._send_mine(assembly_id, conn), f"kurultai-mine-{assembly_id}")
        latest = self.latest.get(assembly_id)
        if latest is not None and latest[0] >= feed_last and conn.page is not None:
            seq, frames, items = latest
            view, asked, lang, role = conn.page  # type: ignore[misc]
            key = (view, asked if asked in items else None, lang, role)
            frame = frames.get(key)
            if frame is not None:
                push = self.pushed.get(assembly_id, (0, {}))[0]
                if rendered is None or rendered < seq:
                    conn.offer_latest(frame, REGIONS_FRAME)
                    conn.shown = (key, push)
                elif rendered == seq:
                    conn.shown = (key, push)  # the page shows what that push rendered
                # else: the page is newer than the last push; the next push sends it every region
                return
        if rendered is None or rendered != feed_last:
            self.changed(assembly_id)

    def _start(self, assembly_id: int) -> None:
        self.scheduled.pop(assembly_id, None)
        self.running.add(assembly_id)
        self._spawn(self._push(assembly_id), f"kurultai-live-pages-{assembly_id}")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send_mine(self, assembly_id: int, conn: Connection) -> None:
        try:
            for target, frame in await self._mine_frames(assembly_id, None, set(), only=conn):
                target.offer_latest(frame, MINE_FRAME)
        except Exception:
            log.exception("rendering a delegate's own keys in assembly %s failed", assembly_id)

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
        from kurultai.web.pages import view_context

        feed = self.hub.feeds.get(assembly_id)
        if feed is None:
            return True
        changed_keys = self.key_changes.pop(assembly_id, set())
        rolls_changed = assembly_id in self.roll_changes
        self.roll_changes.discard(assembly_id)
        variants = {c.page for c in feed.conns if c.page is not None}
        if not variants:
            self.latest.pop(assembly_id, None)  # nobody shows them any more
            self.pushed.pop(assembly_id, None)
            return True
        now = self.app.state.ctx.now()
        contexts: dict[tuple[str, int | None], dict[str, Any]] = {}
        rendered: dict[Rendered, dict[str, str]] = {}
        heads = dict(self.heads)
        try:
            # An item the agenda does not hold shows the default item: asking for made-up items
            # costs no extra renders. Renders are at most (items asked for + 1) x languages x roles.
            items = frozenset(i["id"] for i in await agenda.list_items(assembly_id, now))
            shows: dict[Any, Rendered] = {}
            for variant in variants:
                view, asked, lang, role = variant  # type: ignore[misc]
                item = asked if asked in items else None
                if (view, item) not in contexts:
                    contexts[view, item] = await view_context(self.app, assembly_id, item, now, view)
                key = (view, item, lang, role)
                if key not in rendered:
                    if rendered:
                        await asyncio.sleep(0)  # one render at a time: logins and ballots go in between
                    rendered[key] = self.render(view, contexts[view, item], lang, role)
                shows[variant] = key
            live_elections = [e for (view, _), c in contexts.items() if view == "live" for e in c["elections"]]
            proofs = await self.proofs(live_elections, heads)
        except Exception:  # the assembly is gone, or a read failed
            log.exception("rendering the pages of assembly %s failed", assembly_id)
            self.key_changes.setdefault(assembly_id, set()).update(changed_keys)
            if rolls_changed:
                self.roll_changes.add(assembly_id)
            return False
        self.heads = heads
        seq = min(int(c["seq"] or 0) for c in contexts.values())

        def frame_of(key: Rendered, regions: dict[str, str]) -> str:
            # Once per render, not per page: the projector (live view) audits the heads with the proofs.
            context = contexts[key[0], key[1]]
            return regions_frame(context["seq"], context["now_ms"], regions, proofs if key[0] == "live" else None)

        full = {k: frame_of(k, r) for k, r in rendered.items()}
        last_push, before = self.pushed.get(assembly_id, (0, {}))
        push = last_push + 1
        delta = {k: frame_of(k, {i: h for i, h in r.items() if before[k].get(i) != h}) for k, r in rendered.items() if k in before}
        self.pushed[assembly_id] = (push, rendered)
        self.latest[assembly_id] = (seq, full, items)
        conns = [c for c in feed.conns if c.page in shows]
        for start in range(0, len(conns), DELIVER_BATCH):
            if start:
                await asyncio.sleep(0)
            for conn in conns[start : start + DELIVER_BATCH]:
                key = shows[conn.page]
                if contexts[key[0], key[1]]["seq"] < conn.page_seq:
                    continue  # the page, loaded meanwhile, is newer than this render: it would drop it
                if conn.shown == (key, last_push) and key in delta:  # it has (or will have) the push before
                    conn.offer_latest(delta[key], REGIONS_FRAME, full[key])
                else:
                    conn.offer_latest(full[key], REGIONS_FRAME)
                conn.shown = (key, push)
        if changed_keys or rolls_changed:  # after the shared frames: each person's own, for them alone
            try:
                for conn, frame in await self._mine_frames(assembly_id, feed, changed_keys, everyone=rolls_changed):
                    conn.offer_latest(frame, MINE_FRAME)
            except Exception:
                log.exception("rendering the delegates' own parts in assembly %s failed", assembly_id)
                self.key_changes.setdefault(assembly_id, set()).update(changed_keys)
                if rolls_changed:
                    self.roll_changes.add(assembly_id)
                return False
        return True

    async def _mine_frames(self, assembly_id: int, feed: Any, key_ids: set[str], only: Connection | None = None, everyone: bool = False) -> list[tuple[Connection, str]]:
        """The `mine` frames (each person's own keys and whether they can vote in each open
        election, rendered for them alone) for the delegate pages of the owners of these keys,
        of every delegate (`everyone`: a vote opened or closed), or of one page (`only`)."""
        from deliberation.accounts import get_user
        from voting import keys
        from voting.elections import voter_status

        if only is not None:
            conns = [only]
        else:
            users = None if everyone else await keys.owners(assembly_id, key_ids)
            conns = [c for c in feed.conns if c.page is not None and c.page[0] == "delegate" and (users is None or c.viewer.user_id in users)]  # type: ignore[index]
        out = []
        cache: dict[tuple[int, str], str] = {}
        template = self.engine.engine.get_template(VIEWS["delegate"])
        for conn in conns:
            uid, lang = conn.viewer.user_id, conn.page[2]  # type: ignore[index]
            if uid is None or conn.page[3] != "delegate":  # type: ignore[index]
                continue
            if (uid, lang) not in cache:
                user = await get_user(uid)
                if user is None:
                    continue
                values = {
                    **Lang(lang).context(),
                    "assembly": {"id": assembly_id},
                    "user": {"username": user.username},
                    "my_keys": await keys.list_keys(assembly_id, uid),
                    "my_roll": await voter_status(assembly_id, uid),
                }
                cache[uid, lang] = json.dumps({"type": "mine", "regions": region_blocks(template, "mine", values)}, ensure_ascii=False, separators=(",", ":"))
            out.append((conn, cache[uid, lang]))
        return out

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

    def render(self, view: str, context: dict[str, Any], lang: str, role: str | None) -> dict[str, str]:
        """The view's regions by id, for one language and role."""
        from kurultai.web.pages import viewer_values

        template = self.engine.engine.get_template(VIEWS[view])
        self.renders += 1
        return region_blocks(template, "region", {**context, **Lang(lang).context(), **viewer_values(role)})

    async def stop(self) -> None:
        self.hub.on_release = None
        for handle in self.scheduled.values():
            handle.cancel()
        self.scheduled.clear()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks))
