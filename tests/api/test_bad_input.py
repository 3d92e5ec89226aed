"""Bad input never produces a 500: every answer is a 4xx JSON `{"error", "detail"}`, and the data
is unchanged afterwards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kurultai.settings import Settings
from tests.conftest import World

HUGE = 2**70


async def _snapshot(world: World) -> Any:
    """Everything the bad requests could have touched."""
    a = world.assembly
    paths = [
        f"/api/assemblies/{a}",
        f"/api/assemblies/{a}/document",
        f"/api/assemblies/{a}/agenda",
        f"/api/assemblies/{a}/amendments",
        f"/api/assemblies/{a}/comments",
        f"/api/assemblies/{a}/members",
        f"/api/agenda/{world.item}/speakers",
        "/api/assemblies",
    ]
    out = [(await world.call("GET", p)).json() for p in paths]
    audit = await world.ok("GET", f"/api/assemblies/{a}/audit", "admin")
    glob = await world.ok("GET", "/api/audit", "admin")
    return out, len(audit["entries"]), len(glob["entries"])


def _assert_4xx(r: httpx.Response, what: object) -> dict:
    assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), (what, r.headers["content-type"])
    body = r.json()
    assert set(body) == {"error", "detail"}, (what, body)
    assert isinstance(body["error"], str) and isinstance(body["detail"], str)
    return body


def _endpoints(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, a valid body) for a representative set of writing endpoints."""
    a, p, i = world.assembly, world.provisions[0], world.item
    return [
        ("POST", "/api/assemblies", {"title": "New"}),
        ("PATCH", f"/api/assemblies/{a}", {"description": "d"}),
        ("POST", f"/api/assemblies/{a}/members", {"username": "outsider", "role": "observer"}),
        ("POST", f"/api/assemblies/{a}/provisions", {"number": "9", "text": "t"}),
        ("PATCH", f"/api/provisions/{p}", {"text": "t"}),
        ("POST", f"/api/assemblies/{a}/agenda", {"title": "t", "provisions": [p]}),
        ("PATCH", f"/api/agenda/{i}", {"title": "t", "position": 1}),
        ("POST", f"/api/agenda/{i}/phase", {"phase": "debate"}),
        ("POST", f"/api/assemblies/{a}/amendments", {"provision": p, "kind": "replace", "text": "t"}),
        ("POST", f"/api/assemblies/{a}/comments", {"provision": p, "text": "t"}),
        ("POST", f"/api/agenda/{i}/speakers", {"kind": "speech"}),
        ("POST", f"/api/agenda/{i}/speakers/order", {"order": []}),
        ("POST", f"/api/agenda/{i}/timer", {"action": "start"}),
        ("POST", "/api/users", {"username": "newuser"}),
        ("POST", "/api/auth/token", {"username": "u", "password": "p"}),
        ("POST", "/api/auth/invite", {"token": "t", "password": "p" * 8}),
    ]


def _mutations(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """Broken variants of a valid body: wrong types, unknown fields, NUL, huge integers."""
    out: list[tuple[str, Any]] = [
        ("unknown field", {**body, "surprise": 1}),
        ("array body", [body]),
        ("string body", "text"),
        ("null body", None),
    ]
    for key, value in body.items():
        out.append((f"{key}: object", {**body, key: {"x": 1}}))
        if isinstance(value, str):
            out.append((f"{key}: int", {**body, key: 5}))
            out.append((f"{key}: NUL", {**body, key: "a\x00b"}))
        elif isinstance(value, int):
            out.append((f"{key}: huge", {**body, key: HUGE}))
            out.append((f"{key}: -huge", {**body, key: -HUGE}))
            # not "1": Litestar converts bodies in lax mode, so numeric strings are accepted as numbers
            out.append((f"{key}: string", {**body, key: "one"}))
            out.append((f"{key}: float", {**body, key: 1.5}))
            out.append((f"{key}: bool-ish", {**body, key: [1]}))
        elif isinstance(value, list):
            out.append((f"{key}: [huge]", {**body, key: [HUGE]}))
            out.append((f"{key}: [str]", {**body, key: ["a"]}))
    return out


async def test_broken_bodies(world: World) -> None:
    before = await _snapshot(world)
    for method, path, body in _endpoints(world):
        who = "admin"
        for what, bad in _mutations(body):
            r = await world.call(method, path, who, bad)
            _assert_4xx(r, (method, path, what))
            assert r.status_code not in (401, 403, 404), (method, path, what, r.text)
    assert await _snapshot(world) == before


async def test_malformed_json_and_content_types(world: World) -> None:
    before = await _snapshot(world)
    headers = world.headers("admin")
    for method, path, _body in _endpoints(world):
        for raw, ctype in (
            (b"{", "application/json"),
            (b'{"title": "x",}', "application/json"),
            (b"\xff\xfe\x00", "application/json"),
            (b"", "application/json"),
            (b"NaN", "application/json"),
            (b"title=x", "application/x-www-form-urlencoded"),
            (b"<xml/>", "text/xml"),
        ):
            r = await world.client.request(method, path, content=raw, headers={**headers, "content-type": ctype})
            _assert_4xx(r, (method, path, raw, ctype))
    assert await _snapshot(world) == before


async def test_huge_and_unknown_path_ids(world: World) -> None:
    before = await _snapshot(world)
    for ident in (str(HUGE), "9999", "0", "-1", "2147483648"):
        for method, path, body in (
            ("GET", f"/api/assemblies/{ident}", None),
            ("GET", f"/api/assemblies/{ident}/document.md", None),
            ("PATCH", f"/api/assemblies/{ident}", {"description": "x"}),
            ("POST", f"/api/assemblies/{ident}/amendments", {"provision": world.provisions[0], "kind": "delete"}),
            ("POST", f"/api/assemblies/{ident}/comments", {"provision": world.provisions[0], "text": "x"}),
            ("GET", f"/api/provisions/{ident}", None),
            ("PATCH", f"/api/provisions/{ident}", {"text": "x"}),
            ("GET", f"/api/agenda/{ident}", None),
            ("POST", f"/api/agenda/{ident}/phase", {"phase": "debate"}),
            ("GET", f"/api/agenda/{ident}/speakers", None),
            ("POST", f"/api/speakers/{ident}/withdraw", None),
            ("GET", f"/api/amendments/{ident}", None),
            ("POST", f"/api/amendments/{ident}/submit", None),
            ("POST", f"/api/amendments/{ident}/admit", {}),
            ("POST", f"/api/amendments/{ident}/cosponsors", None),
            ("POST", f"/api/comments/{ident}/hide", {"reason": "r"}),
            ("GET", f"/api/users/{ident}", None),
            ("POST", f"/api/users/{ident}/invite", {}),
            ("GET", f"/assemblies/{ident}", None),
        ):
            r = await world.call(method, path, "admin", body)
            body_ = _assert_4xx(r, (method, path))
            assert r.status_code in (400, 404), (method, path, r.status_code)
            if r.status_code == 404:
                assert body_["error"] == "not_found"
    assert await _snapshot(world) == before


async def test_huge_and_unknown_ids_in_query_and_body(world: World) -> None:
    before = await _snapshot(world)
    a = world.assembly
    for path in (
        f"/api/assemblies/{a}/amendments?provision={HUGE}",
        f"/api/assemblies/{a}/amendments?provision=-{HUGE}",
        f"/api/assemblies/{a}/comments?provision={HUGE}",
        f"/api/assemblies/{a}/comments?amendment={HUGE}",
        f"/api/assemblies/{a}/document?version={HUGE}",
        f"/api/assemblies/{a}/amendments?provision=abc",
        f"/api/assemblies/{a}/amendments?status=a%00b",
    ):
        r = await world.call("GET", path)
        if r.status_code == 200:
            assert r.json() == [], path
        else:
            _assert_4xx(r, path)
    for method, path, body in (
        ("POST", f"/api/assemblies/{a}/amendments", {"provision": 9999, "kind": "delete"}),
        ("POST", f"/api/assemblies/{a}/comments", {"amendment": 9999, "text": "x"}),
        ("POST", f"/api/agenda/{world.item}/speakers/next", {"entry": 9999}),
        ("POST", f"/api/assemblies/{a}/provisions", {"text": "x", "after": 9999}),
    ):
        r = await world.call(method, path, "admin", body)
        assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
    for method, path in (
        ("DELETE", f"/api/assemblies/{a}/members/dele%00gate"),
        ("GET", "/invite/to%00ken"),
        ("GET", "/login?next=/a%00b"),
    ):
        r = await world.call(method, path, "admin")
        assert r.status_code < 500, (path, r.text)
    assert await _snapshot(world) == before


async def test_oversize_body(world: World, settings: Settings) -> None:
    before = await _snapshot(world)
    big = "x" * (settings.max_body_bytes + 1)
    for method, path, _ in _endpoints(world):
        r = await world.client.request(method, path, content=('{"text": "' + big + '"}').encode(), headers={**world.headers("admin"), "content-type": "application/json"})
        body = _assert_4xx(r, path)
        assert r.status_code == 413 and body["error"] == "payload_too_large", (path, r.status_code)
    assert await _snapshot(world) == before


async def test_long_strings_within_the_body_limit(world: World) -> None:
    before = await _snapshot(world)
    a = world.assembly
    for method, path, body in (
        ("POST", "/api/assemblies", {"title": "t" * 301}),
        ("POST", f"/api/assemblies/{a}/provisions", {"number": "n" * 33, "text": "x"}),
        ("POST", f"/api/assemblies/{a}/agenda", {"title": "t" * 301}),
        ("POST", f"/api/assemblies/{a}/comments", {"provision": world.provisions[0], "text": "c" * 10_001}),
        ("POST", "/api/auth/token", {"username": "u" * 65, "password": "p"}),
        ("POST", f"/api/agenda/{world.item}/phase", {"phase": "p" * 17}),
    ):
        r = await world.call(method, path, "admin", body)
        assert r.status_code == 400 and r.json()["error"] == "invalid_input", (path, r.text)
    assert await _snapshot(world) == before


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_wrong_method(world: World, method: str) -> None:
    r = await world.call(method, f"/api/assemblies/{world.assembly}/document", "admin")
    body = _assert_4xx(r, method)
    assert r.status_code == 405 and body["error"] == "method_not_allowed"


async def test_unknown_route(world: World) -> None:
    r = await world.call("GET", "/api/nothing-here")
    assert r.status_code == 404 and _assert_4xx(r, "route")["error"] == "not_found"
