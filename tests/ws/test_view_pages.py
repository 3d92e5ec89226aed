"""Render once, send to all, for the delegate view and the chair console (issue #16): one render
per item, language and role; a person's own keys go to that person alone. Every frame that
every socket receives is inspected."""

from __future__ import annotations

import asyncio
import base64
import json
from contextlib import AsyncExitStack
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.ws.conftest import ServerFactory


def _public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _collect(ws: Any, into: list[dict[str, Any]]) -> None:
    """Every frame of a socket, in order, until it closes or the task is cancelled."""
    try:
        async for message in ws:
            into.append(json.loads(message))
    except Exception:
        pass


async def _wait_for(frames: list[dict[str, Any]], pred: Any, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            for f in frames:
                if pred(f):
                    return f
            await asyncio.sleep(0.02)


async def test_delegates_chair_and_observers_get_one_render_per_role_and_their_own_keys_alone(live_server: ServerFactory) -> None:
    from deliberation import accounts, agenda, assemblies, speakers
    from realtime.hub import read_last_seq
    from voting import keys

    live = await live_server()
    item = await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    await agenda.set_phase(live.ctx, item["id"], "seed", "debate")
    users: dict[str, tuple[str, int]] = {}
    for name, role in (("chair-aigerim", "moderator"), ("delegate-arman", "delegate"), ("delegate-dana", "delegate"), ("delegate-kk", "delegate")):
        user = await accounts.create_user(live.ctx, name, None)
        await assemblies.set_member(live.ctx, live.assembly, "seed", name, role)
        users[name] = ((await accounts.issue_token(live.ctx, user.id, "session", 3_600_000))[0], user.id)
    last = int(await read_last_seq(live.assembly) or 0)
    who = {  # socket name -> (user, view, language)
        "chair": ("chair-aigerim", "chair", "en"),
        "arman": ("delegate-arman", "delegate", "en"),
        "dana": ("delegate-dana", "delegate", "en"),
        "kk": ("delegate-kk", "delegate", "kk"),
        "observer": (None, "delegate", "en"),
        "sneaky": ("delegate-dana", "chair", "en"),  # a delegate asking for the chair console
    }
    frames: dict[str, list[dict[str, Any]]] = {name: [] for name in who}
    pages = live.app.state.live_pages
    async with AsyncExitStack() as stack:
        tasks = []
        for name, (user, view, lang) in who.items():
            headers = {"Cookie": f"kurultai_session={users[user][0]}"} if user else {}
            ws = await stack.enter_async_context(live.connect_raw(f"?view={view}&lang={lang}&since={last}&rendered={last}", additional_headers=headers))
            tasks.append(asyncio.create_task(_collect(ws, frames[name])))
        await asyncio.sleep(0.4)
        before = pages.renders
        await speakers.request_floor(live.ctx, item["id"], users["delegate-dana"][1], "speech")
        regions = {name: await _wait_for(frames[name], lambda f: f["type"] == "regions") for name in ("chair", "arman", "dana", "kk", "observer")}
        assert pages.renders - before == 4, "chair en, delegate en, delegate kk, observer en: one render each"
        assert regions["arman"] == regions["dana"], "two delegates of one language share one render"
        assert set(regions["arman"]["regions"]) == {"item", "floor", "provisions", "vote", "presence", "agenda", "document"}
        assert set(regions["chair"]["regions"]) >= {"chair-item", "chair-floor", "chair-keys", "chair-comments"}
        assert "request-floor" in regions["arman"]["regions"]["floor"] and "request-floor" not in regions["observer"]["regions"]["floor"]
        assert 'data-if-me="[&#34;delegate-dana&#34;]"' in regions["arman"]["regions"]["floor"], "the withdraw control is chosen by the page, hidden in the render"
        assert regions["kk"]["regions"]["floor"] != regions["arman"]["regions"]["floor"]

        # Arman registers a key: his own pages get it, in a frame for him alone.
        public_key = _public_key()
        made = await keys.register(live.ctx, live.assembly, users["delegate-arman"][1], "delegate-arman", public_key)
        kid = made["key_id"]
        mine = await _wait_for(frames["arman"], lambda f: f["type"] == "mine" and kid[:16] in f["regions"]["my-keys"])
        assert 'data-key-status="pending"' in mine["regions"]["my-keys"] and 'data-user="delegate-arman"' in mine["regions"]["my-keys"]
        chair_keys = await _wait_for(frames["chair"], lambda f: f["type"] == "regions" and kid in f["regions"].get("chair-keys", ""))
        assert "Approve" in chair_keys["regions"]["chair-keys"]
        await keys.decide(live.ctx, live.assembly, kid, "chair-aigerim", "approve")
        await _wait_for(frames["arman"], lambda f: f["type"] == "mine" and 'data-key-status="approved"' in f["regions"]["my-keys"])
        await asyncio.sleep(0.6)
        for t in tasks:
            t.cancel()
    for name in ("dana", "kk", "observer", "sneaky"):
        text = json.dumps(frames[name])
        assert kid[:16] not in text and public_key not in text and "delegate-arman" not in text, f"{name} saw Arman's key"
    for name in ("dana", "kk"):  # each delegate's own parts (sent when the page joined), nobody else's
        mine_frames = [f for f in frames[name] if f["type"] == "mine"]
        assert mine_frames and all(f'data-user="{who[name][0]}"' in f["regions"]["my-keys"] for f in mine_frames), name
    for name in ("observer", "sneaky", "chair"):
        assert all(f["type"] != "mine" for f in frames[name]), name
    for name in ("arman", "dana", "kk", "observer", "chair"):
        for token, _ in users.values():
            assert token not in json.dumps(frames[name])
    assert all(f["type"] != "regions" for f in frames["sneaky"]), "a delegate never gets the chair's render"
    # Pages get no event frames (the regions stand for them); the refused chair socket is a protocol socket.
    for name in ("chair", "arman", "dana", "kk", "observer"):
        assert {f["type"] for f in frames[name]} <= {"regions", "mine", "heartbeat"}, (name, {f["type"] for f in frames[name]})
    assert any(f["type"] == "speaker.queued" or f["type"].startswith("speaker") for f in frames["sneaky"]), [f["type"] for f in frames["sneaky"]]


async def test_a_delegate_page_that_comes_back_gets_its_own_keys_again(live_server: ServerFactory) -> None:
    """A key approved while the delegate's page was away reaches the page when it reconnects
    (it asks with the seq it shows, which is behind)."""
    from deliberation import accounts, assemblies
    from realtime.hub import read_last_seq
    from voting import keys

    live = await live_server()
    user = await accounts.create_user(live.ctx, "delegate-arman", None)
    await assemblies.set_member(live.ctx, live.assembly, "seed", "delegate-arman", "delegate")
    token = (await accounts.issue_token(live.ctx, user.id, "session", 3_600_000))[0]
    made = await keys.register(live.ctx, live.assembly, user.id, "delegate-arman", _public_key())
    shown = int(await read_last_seq(live.assembly) or 0)
    await keys.decide(live.ctx, live.assembly, made["key_id"], "seed", "approve")
    frames: list[dict[str, Any]] = []
    async with live.connect_raw(f"?view=delegate&lang=ru&since={shown}&rendered={shown}", additional_headers={"Cookie": f"kurultai_session={token}"}) as ws:
        task = asyncio.create_task(_collect(ws, frames))
        mine = await _wait_for(frames, lambda f: f["type"] == "mine")
        assert 'data-key-status="approved"' in mine["regions"]["my-keys"]
        await _wait_for(frames, lambda f: f["type"] == "regions")
        task.cancel()


async def test_pushed_regions_show_the_speech_type_in_the_page_language(live_server: ServerFactory) -> None:
    """Issue #17: a typed speech (pro, point of order, ...) is shown on the delegate view, the chair
    console and the live view as a label in each page's language; a contribution has none."""
    from deliberation import accounts, agenda, assemblies, speakers
    from realtime.hub import read_last_seq

    live = await live_server()
    item = await agenda.create_item(live.ctx, live.assembly, "seed", title="Item one")
    await agenda.set_phase(live.ctx, item["id"], "seed", "debate")
    users: dict[str, tuple[str, int]] = {}
    for name, role in (("chair-aigerim", "moderator"), ("delegate-arman", "delegate"), ("delegate-dana", "delegate")):
        user = await accounts.create_user(live.ctx, name, None)
        await assemblies.set_member(live.ctx, live.assembly, "seed", name, role)
        users[name] = ((await accounts.issue_token(live.ctx, user.id, "session", 3_600_000))[0], user.id)
    last = int(await read_last_seq(live.assembly) or 0)
    who = {  # socket name -> (user, view, language)
        "chair-ru": ("chair-aigerim", "chair", "ru"),
        "delegate-kk": ("delegate-arman", "delegate", "kk"),
        "live-en": (None, "live", "en"),
    }
    frames: dict[str, list[dict[str, Any]]] = {name: [] for name in who}
    async with AsyncExitStack() as stack:
        tasks = []
        for name, (user, view, lang) in who.items():
            headers = {"Cookie": f"kurultai_session={users[user][0]}"} if user else {}
            ws = await stack.enter_async_context(live.connect_raw(f"?view={view}&lang={lang}&since={last}&rendered={last}", additional_headers=headers))
            tasks.append(asyncio.create_task(_collect(ws, frames[name])))
        await asyncio.sleep(0.4)
        await speakers.request_floor(live.ctx, item["id"], users["delegate-dana"][1], speech_type="pro")
        await speakers.request_floor(live.ctx, item["id"], users["delegate-arman"][1], speech_type="point_of_order", added_by="chair-aigerim")
        await speakers.request_floor(live.ctx, item["id"], users["chair-aigerim"][1])
        region = {"chair-ru": "chair-floor", "delegate-kk": "floor", "live-en": "floor"}
        got = {name: (await _wait_for(frames[name], lambda f, r=region[name]: f["type"] == "regions" and f["regions"].get(r, "").count('data-entry="') == 3))["regions"][region[name]] for name in who}
        for t in tasks:
            t.cancel()
    labels = {"chair-ru": ("за", "к порядку ведения"), "delegate-kk": ("жақтап", "регламент бойынша"), "live-en": ("pro", "point of order")}
    for name, (pro, poo) in labels.items():
        html = got[name]
        assert f'data-speech-type="pro">{pro}</span>' in html, name
        assert f'data-speech-type="point_of_order">{poo}</span>' in html, name
        assert 'data-speech-type="contribution"' not in html, name
        assert html.index('data-speech-type="point_of_order"') < html.index('data-speech-type="pro"'), "points of order come first"
    assert 'name="speech_type"' in got["delegate-kk"] and "Сөз түрі" in got["delegate-kk"]  # the delegate chooses the type
    assert 'name="speech_type"' in got["chair-ru"] and "Вид выступления" in got["chair-ru"]  # so does the chair, adding somebody
    assert 'name="speech_type"' not in got["live-en"]
