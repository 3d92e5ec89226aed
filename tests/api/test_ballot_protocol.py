"""`voting.ingress.BallotProtocol`: ballots answered by uvicorn's protocol below the ASGI level.

A real uvicorn server with the protocol `kurultai serve` uses, on the test's loop, and raw
sockets, so that the exact bytes of each answer can be compared with the ASGI path's. A request
takes the ASGI path when its path is percent-encoded (uvicorn decodes it into the scope, and
`BallotIngress` answers it), which lets one test send the same ballot both ways.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from tests.api.voting_helpers import open_amendment_election
from tests.conftest import World
from tests.ws.conftest import free_port
from voting import ingress
from voting.ingress import BallotProtocol


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the protocol is the same on both databases; the API suite covers PostgreSQL


@pytest.fixture
async def port(world: World, app: Any) -> AsyncIterator[int]:
    """uvicorn serving the already started app (the `world` fixture ran its lifespan)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, http=BallotProtocol)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    yield port
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
def fast_answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The eids of the ballots the protocol answered itself (the real `run` still runs)."""
    seen: list[int] = []
    run = ingress._BallotCycle.run

    async def spy(self: Any) -> None:
        seen.append(self.eid)
        await run(self)

    monkeypatch.setattr(ingress._BallotCycle, "run", spy)
    return seen


class Answer:
    def __init__(self, head: bytes, body: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        self.body = body

    def headers_but(self, *names: str) -> list[tuple[str, ...]]:
        return [h for h in self.headers if h[0] not in names]

    def json(self) -> Any:
        return json.loads(self.body)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = (await reader.readuntil(b"\r\n\r\n"))[:-4]
    answer = Answer(head, b"")
    length = int(dict(answer.headers)["content-length"])
    answer.body = await reader.readexactly(length)
    return answer


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", "content-type: application/json", f"content-length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def exchange(port: int, *requests: bytes, together: bool = False) -> list[Answer]:
    """Send requests on one keep-alive connection, one after the other's answer (or all in one
    write with `together`, pipelined), and read their answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answers = []
        if together:
            writer.write(b"".join(requests))
            for _ in requests:
                answers.append(await asyncio.wait_for(read_answer(reader), 10))
        else:
            for request in requests:
                writer.write(request)
                answers.append(await asyncio.wait_for(read_answer(reader), 10))
        return answers
    finally:
        writer.close()


def path(eid: str, *, asgi: bool = False) -> str:
    return f"/api/elections/{'%%%02X' % ord(eid[0]) + eid[1:] if asgi else eid}/ballots"


def body(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


async def test_both_paths_give_the_same_answers_byte_for_byte(world: World, port: int, fast_answers: list[int]) -> None:
    eid, election, (v1, v2), _ = await open_amendment_election(world)
    a, b = body(v1.ballot(election, ["status_quo"])), body(v2.ballot(election, ["status_quo"]))
    [fast, slow] = await exchange(port, post(path(eid), a), post(path(eid, asgi=True), b))
    assert fast_answers == [int(eid)]
    assert fast.status == slow.status == 201 and fast.status_line == slow.status_line == "HTTP/1.1 201 Created"
    assert fast.headers_but("date", "content-length") == slow.headers_but("date", "content-length")
    assert [name for name, _v in fast.headers] == [name for name, _v in slow.headers]
    assert (fast.json()["seq"], slow.json()["seq"]) == (0, 1)
    # Each repeat, sent the other way, gets the original receipt, byte for byte.
    [again_a, again_b] = await exchange(port, post(path(eid, asgi=True), a), post(path(eid), b))
    assert (again_a.status, again_b.status) == (200, 200)
    assert (again_a.body, again_b.body) == (fast.body, slow.body)
    assert fast_answers == [int(eid)] * 2


@pytest.mark.parametrize(
    "case",
    ["malformed", "bad_signature", "unknown_election", "not_on_roll_forged"],
)
async def test_errors_are_the_same_both_ways(world: World, port: int, fast_answers: list[int], case: str) -> None:
    eid, election, (v1, _v2), _ = await open_amendment_election(world)
    target = eid
    if case == "malformed":
        data = b'{"signed":'
    elif case == "bad_signature":
        envelope = v1.ballot(election, ["status_quo"])
        envelope["signed"]["revision"] = 2  # changed after signing
        data = body(envelope)
    elif case == "unknown_election":
        data, target = body(v1.ballot(election, ["status_quo"])), "99999"
    else:
        envelope = v1.ballot(election, ["status_quo"])
        envelope["signed"]["voter"] = envelope["signer"] = "ab" * 32
        data = body(envelope)
    [fast, slow] = await exchange(port, post(path(target), data), post(path(target, asgi=True), data))
    assert fast_answers == [int(target)]
    assert fast.status == slow.status and fast.status >= 400
    assert fast.body == slow.body and set(fast.json()) == {"error", "detail"}
    assert fast.headers_but("date") == slow.headers_but("date")


async def test_requests_the_protocol_leaves_to_asgi(world: World, port: int, fast_answers: list[int]) -> None:
    eid, election, (v1, v2), _ = await open_amendment_election(world)
    # Over the ballot limit by its Content-Length: 413 before the body is read.
    [big] = await exchange(port, post(path(eid), b"x" * (ingress.BALLOT_MAX_BYTES + 1)))
    assert big.status == 413 and big.json()["error"] == "payload_too_large"
    # A chunked body and a proxied request.
    data = body(v1.ballot(election, ["status_quo"]))
    chunked = (f"POST {path(eid)} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{len(data):x}\r\n").encode() + data + b"\r\n0\r\n\r\n"
    proxied = post(path(eid), body(v2.ballot(election, ["status_quo"])), "x-forwarded-for: 10.0.0.7")
    [one, two] = await exchange(port, chunked, proxied)
    assert (one.status, two.status) == (201, 201)
    # Another method on the path, and another path.
    [get, other] = await exchange(port, f"GET {path(eid)} HTTP/1.1\r\nhost: x\r\n\r\n".encode(), post(f"/api/elections/{eid}/ballot", data))
    assert (get.status, other.status) == (405, 404)
    assert fast_answers == []


async def test_pipelined_ballots_are_answered_in_order(world: World, port: int, fast_answers: list[int]) -> None:
    eid, election, (v1, v2), _ = await open_amendment_election(world)
    ballots = [body(v1.ballot(election, ["status_quo"])), body(v2.ballot(election, ["status_quo"])), body(v1.ballot(election, ["status_quo"], revision=2))]
    answers = await exchange(port, *(post(path(eid), b) for b in ballots), together=True)
    assert [a.status for a in answers] == [201, 201, 201]
    assert [a.json()["seq"] for a in answers] == [0, 1, 2]
    assert fast_answers[:1] == [int(eid)]  # the first is answered here; the pipelined ones may take the ASGI path


async def test_keep_alive_and_a_client_that_leaves(world: World, port: int, fast_answers: list[int]) -> None:
    eid, election, (v1, v2), _ = await open_amendment_election(world)
    revisions = [body(v1.ballot(election, ["status_quo"], revision=r)) for r in (1, 2, 3)]
    answers = await exchange(port, *(post(path(eid), b) for b in revisions))
    assert [(a.status, a.json()["seq"]) for a in answers] == [(201, 0), (201, 1), (201, 2)]
    # A client that sends its ballot and hangs up: the ballot still counts, and the server goes on.
    data = body(v2.ballot(election, ["status_quo"]))
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post(path(eid), data))
    await writer.drain()
    writer.close()
    [again] = await exchange(port, post(path(eid), data))
    assert again.status in (200, 201)  # 201 if it overtook the first one in the batch
    assert again.json()["seq"] == 3
    assert len(fast_answers) == 5


async def test_access_log_names_the_ballot(world: World, port: int, caplog: pytest.LogCaptureFixture) -> None:
    """With a handler on `uvicorn.access` (here pytest's), the answer is logged as uvicorn would."""
    eid, election, (v1, _v2), _ = await open_amendment_election(world)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        [answer] = await exchange(port, post(path(eid), body(v1.ballot(election, ["status_quo"]))))
    assert answer.status == 201
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any(f'"POST /api/elections/{eid}/ballots HTTP/1.1" 201' in line for line in lines), lines
