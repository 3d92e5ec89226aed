"""Login and invitation throttling in the app (kurultai/web/throttle.py), with small limits and
clients at several addresses (httpx's ASGI transport names the client's address). A real
server, a hall of 500 and a proxy: tests/api/test_hall_logins.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from deliberation import accounts
from deliberation.tables import User
from kurultai.settings import Settings
from kurultai.web.throttle import DEVICE_COOKIE

PASSWORD = "correct horse battery"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(login_failures=3, login_user_failures=5, login_address_failures=6)


Clients = Callable[[str], Any]


@pytest.fixture
async def at(client: httpx.AsyncClient, app: Any) -> AsyncIterator[Clients]:
    """`at("10.0.0.7")`: a client of the running app at that address (cookies of its own)."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://testserver")
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()


async def login(c: httpx.AsyncClient, username: str, password: str, **extra: Any) -> httpx.Response:
    return await c.post("/api/auth/token", json={"username": username, "password": password, **extra})


async def users(app: Any, *names: str) -> None:
    for name in names:
        await accounts.create_user(app.state.ctx, name, PASSWORD)


async def test_successful_logins_never_count(app: Any, at: Clients) -> None:
    await users(app, "chair")
    hall = at("10.0.0.1")
    for _ in range(12):  # four times every limit
        r = await login(hall, "chair", PASSWORD)
        assert r.status_code == 200, r.text
        assert r.json()["device_token"] and r.cookies.get(DEVICE_COOKIE)


async def test_guessing_one_password_from_one_address_stops_at_the_limit(app: Any, at: Clients) -> None:
    await users(app, "chair", "aliya")
    guesser = at("10.0.0.2")
    for _ in range(3):
        r = await login(guesser, "chair", "wrong password")
        assert r.status_code == 401 and r.json()["error"] == "bad_credentials"
    r = await login(guesser, "chair", PASSWORD)  # even the right password: the window is full
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 15 * 60 + 1 and "retry in" in r.json()["detail"]
    assert (await login(guesser, "aliya", PASSWORD)).status_code == 200  # other usernames from there
    assert (await login(at("10.0.0.3"), "chair", PASSWORD)).status_code == 200  # the chair elsewhere


async def test_failures_per_address_across_usernames(app: Any, at: Clients) -> None:
    await users(app, "aliya")
    hall = at("10.0.0.4")
    for n in range(6):
        assert (await login(hall, f"typo{n}", "wrong password")).status_code == 401
    r = await login(hall, "aliya", PASSWORD)
    assert r.status_code == 429 and int(r.headers["retry-after"]) <= 61
    assert (await login(at("10.0.0.5"), "aliya", PASSWORD)).status_code == 200


async def test_a_username_under_attack_from_many_addresses_lets_its_owner_in(app: Any, at: Clients) -> None:
    await users(app, "chair")
    owner = at("10.0.1.1")
    device = (await login(owner, "chair", PASSWORD)).json()["device_token"]
    for n in range(5):  # five failures from five addresses fill the username's window
        assert (await login(at(f"10.0.2.{n}"), "chair", "wrong password")).status_code == 401
    r = await login(at("10.0.3.1"), "chair", PASSWORD)  # a new device: slowed down
    assert r.status_code == 429
    assert (await login(owner, "chair", PASSWORD)).status_code == 200  # the owner's cookie
    fresh = at("10.0.2.0")  # the attacker's own address, but the owner's device token in the body
    assert (await login(fresh, "chair", PASSWORD, device_token=device)).status_code == 200


async def test_device_tokens_are_bound_to_their_username_and_cannot_be_forged(app: Any, at: Clients) -> None:
    await users(app, "chair", "mallory")
    attacker = at("10.0.4.1")
    own = (await login(attacker, "mallory", PASSWORD)).json()["device_token"]
    forged = own.rsplit(".", 1)[0] + ".AAAA"
    for n in range(5):
        await login(at(f"10.0.5.{n}"), "chair", "wrong password")
    for token in (own, forged, "garbage", "a.b.c.d"):
        r = await login(at("10.0.4.2"), "chair", PASSWORD, device_token=token)
        assert r.status_code == 429, token


async def test_a_device_token_has_its_own_window(app: Any, at: Clients) -> None:
    await users(app, "chair")
    owner = at("10.0.6.1")
    assert (await login(owner, "chair", PASSWORD)).status_code == 200
    for _ in range(3):
        assert (await login(owner, "chair", "wrong password")).status_code == 401
    assert (await login(owner, "chair", PASSWORD)).status_code == 429


async def test_the_login_page_is_throttled_the_same_way(app: Any, at: Clients) -> None:
    await users(app, "chair")
    browser = at("10.0.7.1")
    page = await browser.get("/login")
    csrf = page.cookies["kurultai_csrf"]
    for _ in range(3):
        r = await browser.post("/login", data={"username": "chair", "password": "nope-nope", "csrf_token": csrf})
        assert r.status_code == 401
    r = await browser.post("/login", data={"username": "chair", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 429 and "retry-after" in r.headers and "text/html" in r.headers["content-type"]
    other = at("10.0.7.2")
    csrf = (await other.get("/login")).cookies["kurultai_csrf"]
    r = await other.post("/login", data={"username": "chair", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 303 and r.cookies.get(DEVICE_COOKIE)


async def test_invitation_guessing_is_stopped_per_address_and_blocks_nobody_else(app: Any, at: Clients) -> None:
    user = await accounts.create_user(app.state.ctx, "invitee", None)
    token = await accounts.create_invite(app.state.ctx, user.id, "test")
    guesser = at("10.0.8.1")
    for n in range(6):
        r = await guesser.post("/api/auth/invite", json={"token": f"guess-{n}", "password": PASSWORD})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    r = await guesser.post("/api/auth/invite", json={"token": token, "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and "retry-after" in r.headers
    page = await guesser.get(f"/invite/{token}")  # the page route shares the address's window
    r = await guesser.post(f"/invite/{token}", data={"password": PASSWORD, "csrf_token": page.cookies["kurultai_csrf"]})
    assert r.status_code == 429
    r = await at("10.0.8.2").post("/api/auth/invite", json={"token": token, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["username"] == "invitee"
    assert (await login(at("10.0.8.3"), "invitee", PASSWORD)).status_code == 200


async def test_the_invitation_page_counts_bad_tokens(app: Any, at: Clients) -> None:
    browser = at("10.0.9.1")
    csrf = (await browser.get("/invite/nope")).cookies["kurultai_csrf"]
    for n in range(6):
        r = await browser.post(f"/invite/nope{n}", data={"password": PASSWORD, "csrf_token": csrf})
        assert r.status_code == 400, r.text
    r = await browser.post("/invite/nope", data={"password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 429


async def test_a_hash_with_old_parameters_is_replaced_at_login(app: Any, at: Clients) -> None:
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)  # argon2-cffi's default
    await accounts.create_user(app.state.ctx, "veteran", None)
    await User.update({User.password_hash: old}).where(User.username == "veteran")
    assert (await login(at("10.0.10.1"), "veteran", PASSWORD)).status_code == 200
    stored = (await User.select(User.password_hash).where(User.username == "veteran").first())["password_hash"]
    assert stored != old and "$m=19456,t=2,p=1$" in stored
    assert (await login(at("10.0.10.1"), "veteran", PASSWORD)).status_code == 200  # and it verifies
    assert (await login(at("10.0.10.1"), "veteran", "wrong password")).status_code == 401


@pytest.mark.parametrize("token", ["a.b.c.é", "é" * 10, "a.b.c.d" * 100, ".", "...", "x.y.z.\x7f"])
async def test_odd_device_tokens_are_no_tokens(app: Any, at: Clients, token: str) -> None:
    await users(app, "chair")
    c = at("10.0.11.1")
    r = await login(c, "chair", PASSWORD, device_token=token[:512])
    assert r.status_code == 200, r.text
    c.cookies.set(DEVICE_COOKIE, "a.b.c.%C3%A9")
    assert (await login(c, "chair", "wrong password")).status_code == 401
    csrf = (await c.get("/login")).cookies.get("kurultai_csrf") or c.cookies.get("kurultai_csrf")
    r = await c.post("/login", data={"username": "chair", "password": "wrong password", "csrf_token": csrf})
    assert r.status_code == 401


async def test_a_device_token_is_bound_to_the_exact_username(app: Any, at: Clients) -> None:
    await users(app, "Chair", "chair")  # usernames are case-sensitive: two accounts
    c = at("10.0.12.1")
    device = (await login(c, "Chair", PASSWORD)).json()["device_token"]
    c.cookies.clear()
    for _ in range(3):
        assert (await login(c, "chair", "wrong password", device_token=device)).status_code == 401
    assert (await login(c, "chair", "wrong password", device_token=device)).status_code == 429


async def test_one_address_cannot_fill_the_password_pool() -> None:
    from deliberation.passwords import PasswordsBusy
    from kurultai.web.throttle import MAX_IN_FLIGHT_PER_ADDRESS, LoginThrottle

    throttle = LoginThrottle(Settings(login_failures=10**6, login_user_failures=10**6, login_address_failures=10**6), b"k" * 32)
    attempts = [await throttle.begin_login("10.0.13.1", f"user{n}", None) for n in range(MAX_IN_FLIGHT_PER_ADDRESS)]
    with pytest.raises(PasswordsBusy):
        await throttle.begin_login("10.0.13.1", "one-more", None)
    await throttle.begin_login("10.0.13.2", "elsewhere", None)  # other addresses go on
    await throttle.failed(attempts[0])
    await throttle.succeeded(attempts[1])
    await throttle.begin_login("10.0.13.1", "again", None)  # two settled: room again
    await throttle.begin_login("10.0.13.1", "and-again", None)
    with pytest.raises(PasswordsBusy):
        await throttle.begin_login("10.0.13.1", "one-too-many", None)


def test_a_flood_of_keys_is_swept_amortised_not_on_every_attempt() -> None:
    from kurultai.web.throttle import LocalWindows, Window

    windows = LocalWindows()
    windows.MAX_KEYS = windows._prune_at = 100
    sweeps = 0
    for n in range(1000):  # every key live: a sweep frees nothing
        before = windows._prune_at
        assert windows.admit([Window(f"user:{n}", 10, 900.0, True)], "m", now=1000.0) == 0
        sweeps += windows._prune_at != before
    assert sweeps <= 4 and len(windows._keys) == 1000
    windows.admit([Window("user:late", 10, 900.0, True)], "m", now=1000.0 + 901)  # all but one expired
    assert windows._prune_at >= 100


def test_trusted_proxies_are_addresses_never_anyone() -> None:
    assert Settings.from_env({"KURULTAI_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1"}).trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert Settings.from_env({}).trusted_proxies == ()
    for bad in ("*", "nginx.local", "10.0.0.0/33"):
        with pytest.raises(SystemExit, match="KURULTAI_TRUSTED_PROXIES"):
            Settings.from_env({"KURULTAI_TRUSTED_PROXIES": bad})


async def test_passwords_are_hashed_on_threads_below_the_event_loop(app: Any) -> None:
    import os
    import threading

    from deliberation.passwords import HASHING_NICENESS

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    here = niceness()
    pool = app.state.ctx.passwords
    await pool.hash("a password of the right length")
    there = await __import__("asyncio").get_running_loop().run_in_executor(pool._executor(), niceness)
    assert there == min(19, here + HASHING_NICENESS) or there == HASHING_NICENESS
    assert niceness() == here  # the loop's own thread is untouched
