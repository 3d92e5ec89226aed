"""The OpenAPI schema documents every response (issue #15, "typed wire shapes"), checked on a real
`kurultai serve` process: every operation names its 2xx body (a typed schema, never an empty or
free-form object) and the error body `{"error", "detail"}`; live answers of a whole vote validate
against what their operation documents, with no field the schema leaves out."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import httpx
import jsonschema_rs  # installed with schemathesis (the test extra)

from tests.api.conftest import run
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer, sign_object
from voting.core.signed import digest

METHODS = ("get", "post", "put", "patch", "delete")


def fetch_schema(url: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/schema/openapi.json", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        assert schema["$ref"].startswith("#/components/schemas/"), schema
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def typed(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema that says what is sent: an object with properties, an array of such, or a string
    (text bodies). `{}`, a bare `object` or a free-form map does not count."""
    schema = resolve(doc, schema)
    if schema.get("type") == "array":
        return typed(doc, schema.get("items", {}))
    if schema.get("type") == "string":
        return True
    return schema.get("type") == "object" and bool(schema.get("properties"))


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in doc["paths"].items() for method, op in item.items() if method in METHODS]


def test_every_operation_documents_its_body_and_the_error_shape(server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    doc = fetch_schema(url)
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"] and error["additionalProperties"] is False
    ops = operations(doc)
    assert len(ops) > 60
    untyped = []
    for method, path, op in ops:
        ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert ok, f"{method} {path} documents no 2xx answer"
        for code, response in ok.items():
            if code == "204":
                assert not response.get("content"), f"{method} {path}: a 204 has no body"
                continue
            content = response.get("content") or {}
            if not content or not all(typed(doc, media.get("schema", {})) for media in content.values()):
                untyped.append(f"{method} {path} {code}")
        assert op["responses"]["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, f"{method} {path}"
        assert op["responses"]["5XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, f"{method} {path}"
        if "400" in op["responses"]:
            assert op["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert not untyped, f"operations whose 2xx body is not documented: {untyped}"
    ballot = doc["paths"]["/api/elections/{eid}/ballots"]["post"]  # its body is read by hand, documented anyway
    assert ballot["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BallotEnvelope"}
    assert set(ballot["responses"]) >= {"200", "201"}


def strict(doc: dict[str, Any]) -> dict[str, Any]:
    """The components, with every object closed (`additionalProperties: false`): a field on the wire
    that the schema does not name fails validation."""
    components = copy.deepcopy(doc["components"])
    for schema in components["schemas"].values():
        if schema.get("properties") and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    return components


class Checker:
    """Sends requests to the server and validates each answer against its operation's schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.doc = fetch_schema(url)
        self.components = strict(self.doc)
        self.checked: set[tuple[str, str, int]] = set()

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for template, item in self.doc["paths"].items():
            parts, want = template.strip("/").split("/"), path.split("?")[0].strip("/").split("/")
            if len(parts) == len(want) and all(p == w or p.startswith("{") for p, w in zip(parts, want)) and method.lower() in item:
                return template, item[method.lower()]
        raise AssertionError(f"{method} {path} is not in the schema")

    def call(self, method: str, path: str, token: str | None = None, body: Any = None, status: int | None = None) -> Any:
        r = httpx.request(method, f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
        if status is not None:
            assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        template, op = self.operation(method, path)
        code = str(r.status_code)
        response = op["responses"].get(code) or op["responses"].get(f"{code[0]}XX")
        assert response is not None, f"{method} {path}: {code} is not documented"
        if r.status_code == 204:
            return None
        media = response["content"]["application/json"]
        validator = jsonschema_rs.validator_for({**media["schema"], "components": self.components})
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(r.json())]
        assert not errors, f"{method} {path} {code} does not match its schema: {errors[:5]}\n{r.text[:2000]}"
        self.checked.add((method, template, r.status_code))
        return r.json()


def test_live_answers_validate_against_their_schema(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    demo = json.loads(run(env, "demo", "--json", "--delegates", "2").stdout)
    aid, eid = demo["assembly"], demo["election"]
    c = Checker(url)
    mod = c.call("POST", "/api/auth/token", body=demo["moderator"], status=200)["token"]
    c.call("POST", "/api/auth/token", body={"username": demo["moderator"]["username"], "password": "wrong"}, status=401)
    for path in (
        "/api/health",
        "/api/server-key",
        "/api/assemblies",
        f"/api/assemblies/{aid}",
        f"/api/assemblies/{aid}/members",
        f"/api/assemblies/{aid}/document",
        f"/api/assemblies/{aid}/agenda",
        f"/api/assemblies/{aid}/amendments",
        f"/api/assemblies/{aid}/comments",
        f"/api/assemblies/{aid}/elections",
        f"/api/elections/{eid}",
    ):
        c.call("GET", path, status=200)
    c.call("GET", "/api/me", mod, status=200)
    c.call("GET", f"/api/assemblies/{aid}/audit", mod, status=200)
    c.call("GET", "/api/assemblies/999999", status=404)
    c.call("GET", f"/api/elections/{eid}/roll", status=409)
    c.call("POST", "/api/assemblies", mod, {"title": "x", "unknown": 1}, status=400)

    voters = []
    for cred in demo["delegates"]:
        token = c.call("POST", "/api/auth/token", body=cred, status=200)["token"]
        signer = Signer.generate()
        c.call("POST", "/api/me/keys", token, {"assembly": aid, "public_key": b64u_encode(signer.public_key_raw)}, status=201)
        c.call("GET", "/api/me/keys", token, status=200)
        voters.append(signer)
    for key in c.call("GET", f"/api/assemblies/{aid}/keys", mod, status=200):
        c.call("POST", f"/api/assemblies/{aid}/keys/{key['key_id']}/approve", mod, status=200)
    election = c.call("POST", f"/api/elections/{eid}/open", mod, status=200)["election"]
    options = [o["id"] for o in election["signed"]["options"]]
    for n, signer in enumerate(voters):
        signed = {
            "v": 1,
            "type": "ballot",
            "election": str(eid),
            "election_digest": digest(election["signed"]),
            "voter": signer.key_id,
            "revision": 1,
            "ranking": options[n:],
            "nonce": b64u_encode(os.urandom(16)),
        }
        ballot = sign_object(signer, signed)
        c.call("POST", f"/api/elections/{eid}/ballots", body=ballot, status=201)
        c.call("POST", f"/api/elections/{eid}/ballots", body=ballot, status=200)
    c.call("POST", f"/api/elections/{eid}/ballots", body={"signed": {}}, status=400)
    for path in (
        f"/api/elections/{eid}",
        f"/api/elections/{eid}/roll",
        f"/api/elections/{eid}/sth",
        f"/api/elections/{eid}/board",
        f"/api/elections/{eid}/proof/inclusion?seq=0&tree_size=2",
        f"/api/elections/{eid}/proof/consistency?first=1&second=2",
        f"/api/elections/{eid}/tally",
    ):
        c.call("GET", path, status=200)
    c.call("GET", f"/api/elections/{eid}/result", status=409)
    c.call("POST", f"/api/elections/{eid}/close", mod, status=200)
    c.call("GET", f"/api/elections/{eid}/result", status=200)
    c.call("GET", f"/api/elections/{eid}/tally", status=200)
    c.call("DELETE", "/api/auth/token", mod, status=204)
    assert len(c.checked) >= 30, sorted(c.checked)
