"""The client side of PROTOCOL §5: fetch an election's five objects over HTTP, or read/write them as files.

Everything is parsed with `parse_json_strict` (duplicate keys, floats, lone surrogates refused;
the board and the roll with the verifier's `parse_board`, the same rules, faster).
A response or file that does not parse is a verification failure carried in
`Bundle.problems`, not an exception; only an unreachable server, an HTTP error on a required
object or a missing file raise :class:`ClientError` (the CLI exits 2 on it).

Offline format (a directory, as `kurultai export` writes it):

    election.json    the election envelope
    roll.json        the roll envelope
    board.json       a JSON array of leaf objects in seq order (one leaf per line)
    sth.json         the signed tree head envelope
    result.json      the result envelope
    server-key.json  {"algorithm": "ed25519", "public_key": b64u, "key_id": hex}

All UTF-8; every file but the board is indented by two spaces.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from voting.core.encoding import b64u_decode, b64u_encode, parse_json_strict
from voting.core.errors import MalformedError, ProofError, VotingError
from voting.core.keys import check_public_key, key_id
from voting.core.leaves import parse_board
from voting.verifier import BoardFile, Bundle, Failure, Monitor, Report

__all__ = [
    "BUNDLE_FILES",
    "ClientError",
    "FollowState",
    "HttpError",
    "KurultaiClient",
    "fetch_bundle",
    "follow_election",
    "parse_server_key",
    "read_bundle",
    "server_key_json",
    "write_bundle",
]

BUNDLE_FILES = {"election": "election.json", "roll": "roll.json", "board": "board.json", "sth": "sth.json", "result": "result.json", "server_key": "server-key.json"}
#: The largest board page a client asks for; the server may answer fewer (never below 1,000).
PAGE_SIZE = 10_000
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ClientError(Exception):
    """The server or a file could not be reached or read (not a verification failure)."""


class HttpError(ClientError):
    """A 4xx or 5xx answer; ``code`` and ``detail`` come from the PROTOCOL §5 error body when present."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"HTTP {status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


def parse_server_key(obj: Any) -> bytes:
    """The raw key of a `{"algorithm", "public_key", "key_id"}` object. Raises :class:`MalformedError`."""
    if not isinstance(obj, dict) or set(obj) != {"algorithm", "public_key", "key_id"}:
        raise MalformedError('server key: want exactly the fields "algorithm", "public_key", "key_id"')
    if obj["algorithm"] != "ed25519":
        raise MalformedError(f"server key: want algorithm 'ed25519', got {obj['algorithm']!r}")
    raw = b64u_decode(obj["public_key"])
    check_public_key(raw)
    if obj["key_id"] != key_id(raw):
        raise MalformedError(f"server key: key_id {obj['key_id']!r} is not the hash of public_key, want {key_id(raw)}")
    return raw


def server_key_json(raw: bytes) -> dict[str, str]:
    return {"algorithm": "ed25519", "public_key": b64u_encode(raw), "key_id": key_id(raw)}


# --- HTTP ----------------------------------------------------------------------------------


class KurultaiClient:
    """A thin synchronous client over the PROTOCOL §5 paths; every body is parsed strictly."""

    def __init__(self, base_url: str, *, token: str | None = None, transport: httpx.BaseTransport | None = None, timeout: httpx.Timeout = TIMEOUT) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> KurultaiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """(status, parsed body). Raises :class:`HttpError` on >= 400, :class:`ClientError` otherwise."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from None
        try:
            body = parse_json_strict(response.content) if response.content else None
        except MalformedError as exc:
            if response.status_code >= 400:
                raise HttpError(response.status_code, "http_error", response.text[:200]) from None
            raise ClientError(f"{method} {path}: the response is not valid JSON: {exc}") from None
        if response.status_code >= 400:
            code, detail = "http_error", response.reason_phrase
            if isinstance(body, dict):
                code, detail = str(body.get("error", code)), str(body.get("detail", detail))
            raise HttpError(response.status_code, code, detail)
        return response.status_code, body

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)[1]

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.request("POST", path, content=content, headers={"Content-Type": "application/json"})

    def server_key(self) -> bytes:
        try:
            return parse_server_key(self.get("/api/server-key"))
        except VotingError as exc:
            raise ClientError(f"GET /api/server-key: {exc}") from None

    def board_entries(self, election_id: str, start: int, end: int) -> Iterator[dict[str, Any]]:
        """Board entries for seq in [start, end), following pages that stop early."""
        path = f"/api/elections/{election_id}/board"
        while start < end:
            page = self.get(path, start=start, end=min(end, start + PAGE_SIZE))
            entries = page.get("entries") if isinstance(page, dict) else None
            if not isinstance(entries, list):
                raise ClientError(f'GET {path}: want {{"entries": [...]}}, got {type(page).__name__}')
            if not entries:
                raise ClientError(f"GET {path}?start={start}: the server returned no entries before {end}")
            for entry in entries:
                if not isinstance(entry, dict) or entry.get("seq") != start:
                    got = entry.get("seq") if isinstance(entry, dict) else entry
                    raise ClientError(f"GET {path}: want the entry of seq {start}, got seq {got!r}")
                yield entry
                start += 1
                if start >= end:
                    return


def fetch_bundle(base_url: str, election_id: str, *, server_public_key: bytes | None = None, transport: httpx.BaseTransport | None = None) -> Bundle:
    """Fetch the server key, election, roll, sth, the board up to the sth's size, and the result.

    A pinned ``server_public_key`` is used instead of the one the server serves (which must
    then equal it). An open election gives an open bundle (`Bundle.open`): no result, and the
    live tally when the server shows one for the same tree as the sth. A draft's missing
    result is a problem in the bundle.
    """
    problems: list[Failure] = []
    base = f"/api/elections/{election_id}"
    with KurultaiClient(base_url, transport=transport) as client:
        key = _pinned_key(client, server_public_key, problems)
        info = client.get(base)
        election = info.get("election") if isinstance(info, dict) else None
        status = info.get("status") if isinstance(info, dict) else None
        if election is None:
            problems.append(Failure("election", f"the election has no signed election object (status {status!r})"))
        roll = _optional(client, f"{base}/roll", "roll", problems)
        sth = _optional(client, f"{base}/sth", "sth", problems)
        tally = None
        if status == "open" and isinstance(info, dict) and info.get("visibility") == "live":
            sth, tally = _sth_and_tally(client, base, sth)
        size = _tree_size(sth)
        board = [entry.get("leaf") for entry in client.board_entries(election_id, 0, size)]
        result = None
        if status == "closed":
            result = _optional(client, f"{base}/result", "result", problems)
        elif status != "open":
            problems.append(Failure("result", f"the election is not closed (status {status!r}): no signed result"))
    return Bundle(election, roll, board, sth, result, key, tuple(problems), open=status == "open", tally=tally)


def _pinned_key(client: KurultaiClient, pinned: bytes | None, problems: list[Failure]) -> bytes:
    """The pinned key when given (a problem when the server serves another), else the served one."""
    served = client.server_key()
    if pinned is None:
        return served
    if served != pinned:
        problems.append(Failure("server_key", f"the server serves key {key_id(served)}, not the pinned key {key_id(pinned)}"))
    return pinned


#: Tries at reading a live tally over the same tree as the latest tree head (ballots may land between).
TALLY_TRIES = 3


def _sth_and_tally(client: KurultaiClient, base: str, sth: Any) -> tuple[Any, Any]:
    """(sth, the live tally over its tree, or None when none was read for the same tree size)."""
    for _ in range(TALLY_TRIES):
        try:
            tally = client.get(f"{base}/tally")
        except HttpError as exc:
            if exc.status >= 500:
                raise
            return sth, None
        size = tally.get("tree_size") if isinstance(tally, dict) else None
        if type(size) is not int or size == _tree_size(sth):
            return sth, tally  # a malformed tally is the verifier's to report
        sth = client.get(f"{base}/sth")
    return sth, None


def _optional(client: KurultaiClient, path: str, name: str, problems: list[Failure]) -> Any:
    try:
        return client.get(path)
    except HttpError as exc:
        if exc.status >= 500:
            raise
        problems.append(Failure(name, f"GET {path}: {exc}"))
        return None


def _tree_size(sth: Any) -> int:
    try:
        size = sth["signed"]["tree_size"]
    except (TypeError, KeyError):
        return 0
    return size if type(size) is int and size >= 0 else 0


# --- following an open election -------------------------------------------------------------
#
# A monitor in the manner of Certificate Transparency monitors: `voting.verifier.Monitor`
# checks every new signed tree head (consistency with the last, the new leaves, the root, the
# tally so far); this part only fetches. Cues come from the assembly's websocket (PROTOCOL §6:
# `sth.updated` carries the head, `tally.updated` the live tally, `election.closed` and
# `result.published` end it) or, when no websocket can be had, from reading the head every
# few seconds. Each (re)connection and each heartbeat also reads the head and the status over
# HTTP, so a lost event only delays a check.

#: Seconds between two reads of the tree head when there is no websocket.
POLL_S = 2.0
#: How long a websocket read waits before the caller's status line is refreshed.
WAIT_S = 1.0
#: Network failures are retried for this long (a server restarting) before giving up.
RETRY_S = 60.0
#: Websocket connections that end before any frame, in a row, before falling back to polling.
WS_ATTEMPTS = 3
#: The largest websocket frame read (a snapshot holds the whole assembly).
WS_MAX_FRAME = 64 * 2**20


@dataclass
class FollowState:
    """What the follower has verified so far, for a live status line."""

    election: str
    source: str = "connecting"  # "websocket" or "polling"
    tree_size: int = 0  # of the last verified tree head
    ballots: int = 0  # leaves verified (up to the tree head being checked)
    heads: int = 0  # tree heads verified
    tallies: int = 0  # live tallies compared with the recount
    head_time: str | None = None  # the last verified head's timestamp


def follow_election(
    base_url: str,
    election_id: str,
    *,
    server_public_key: bytes | None = None,
    websocket: bool = True,
    poll_s: float = POLL_S,
    transport: httpx.BaseTransport | None = None,
    on_state: Callable[[FollowState], None] | None = None,
) -> Report | None:
    """Follow an open election until its result is published, checking every signed tree head.

    Returns the report at the first head (or result) that fails a check, or once the result is
    verified; None when the election is not open (verify it once with `fetch_bundle`). Raises
    :class:`ClientError` when the server cannot be reached for longer than RETRY_S.
    ``on_state`` is called after each step, and about every WAIT_S seconds while waiting.
    """
    with KurultaiClient(base_url, transport=transport) as client:
        return _Follower(client, base_url, election_id, server_public_key, websocket, poll_s, on_state).run()


class _Follower:
    def __init__(self, client: KurultaiClient, base_url: str, election_id: str, pinned: bytes | None, websocket: bool, poll_s: float, on_state: Callable[[FollowState], None] | None) -> None:
        self.client, self.base_url, self.election_id = client, base_url, election_id
        self.pinned, self.websocket, self.poll_s = pinned, websocket, poll_s
        self.on_state = on_state
        self.base = f"/api/elections/{election_id}"
        self.state = FollowState(election_id)
        self.mode = "connecting"  # where the cues come from: "websocket" or "polling"

    def show(self) -> None:
        if self.on_state is not None:
            self.on_state(self.state)

    def run(self) -> Report | None:
        problems: list[Failure] = []
        key = _pinned_key(self.client, self.pinned, problems)
        info = self.client.get(self.base)
        if not isinstance(info, dict) or info.get("status") != "open":
            return None
        roll = _optional(self.client, f"{self.base}/roll", "roll", problems)
        monitor = Monitor(info.get("election"), roll, key, problems)
        if not monitor.ok or monitor.election is None:
            return monitor.report()
        cues = self.cues(monitor.election.assembly)
        try:
            for kind, data in cues:
                report = self.step_retrying(monitor, kind, data)
                if report is not None:
                    return report
                if not monitor.ok:
                    return monitor.report()
        finally:
            cues.close()
        raise AssertionError("unreachable: the polling cues never end")  # pragma: no cover

    def step_retrying(self, monitor: Monitor, kind: str, data: Any) -> Report | None:
        """`step`, retried as a fresh read of the head and status while the server cannot be
        reached or answers 5xx; raises the error once that has lasted RETRY_S."""
        failing_since: float | None = None
        while True:
            try:
                report = self.step(monitor, kind, data)
            except ClientError as exc:
                if isinstance(exc, HttpError) and exc.status < 500:
                    raise
                now = time.monotonic()
                failing_since = failing_since if failing_since is not None else now
                if now - failing_since > RETRY_S:
                    raise
                self.state.source = f"retrying: {exc}"[:120]
                self.show()
                time.sleep(min(self.poll_s, 2.0))
                kind, data = "poll", None  # the cue may be stale by now
                continue
            self.state.source = self.mode
            return report

    def step(self, monitor: Monitor, kind: str, data: Any) -> Report | None:
        """Act on one cue; the report when the result is verified."""
        if kind == "sth":
            self.head(monitor, data)
        elif kind == "tally":
            monitor.check_tally(data)
            self.state.tallies = monitor.tallies
        elif kind == "poll" or kind == "closed":
            info = self.client.get(self.base)
            if isinstance(info, dict) and info.get("status") == "closed":
                self.head(monitor, self.client.get(f"{self.base}/sth"))  # the final tree head
                if not monitor.ok:
                    return monitor.report()
                return monitor.finish(self.client.get(f"{self.base}/result"))
            self.head(monitor, self.client.get(f"{self.base}/sth"))
        if kind in ("tally", "tick"):
            self.show()
        return None

    def head(self, monitor: Monitor, sth: Any) -> None:
        def proof(first: int, second: int) -> Any:
            try:
                return self.client.get(f"{self.base}/proof/consistency", first=first, second=second)
            except HttpError as exc:
                if exc.status >= 500:
                    raise
                raise ProofError(f"the server gives no consistency proof from {first} to {second}: {exc}") from None

        def leaves(start: int, end: int) -> list[Any]:
            return [entry.get("leaf") for entry in self.client.board_entries(self.election_id, start, end)]

        def progress(n: int) -> None:
            self.state.ballots = monitor.size
            self.show()

        monitor.update(sth, proof, leaves, progress)
        self.state.ballots = monitor.size
        if monitor.head is not None:
            self.state.tree_size, self.state.head_time = monitor.head.tree_size, monitor.head.timestamp
            self.state.heads, self.state.tallies = monitor.heads, monitor.tallies
        self.show()

    def cues(self, assembly: str) -> Generator[tuple[str, Any], None, None]:
        """("sth", envelope), ("tally", data), ("closed", None), ("poll", None) or ("tick", None):
        from the websocket while it lasts, then from polling."""
        if self.websocket:
            yield from self.websocket_cues(assembly)
        self.mode = self.state.source = "polling"
        while True:
            yield "poll", None
            time.sleep(self.poll_s)

    def websocket_cues(self, assembly: str) -> Generator[tuple[str, Any], None, None]:
        from websockets.exceptions import ConnectionClosed, WebSocketException
        from websockets.sync.client import connect

        url = _websocket_url(self.base_url, assembly)
        since: int | None = None
        attempts = 0
        while attempts < WS_ATTEMPTS:
            attempts += 1
            try:
                ws = connect(url if since is None else f"{url}?since={since}", open_timeout=10, max_size=WS_MAX_FRAME, close_timeout=2)
            except (OSError, TimeoutError, WebSocketException):
                return
            self.mode = self.state.source = "websocket"
            with ws:
                yield "poll", None  # what happened before this connection
                try:
                    while True:
                        try:
                            text = ws.recv(timeout=WAIT_S)
                        except TimeoutError:
                            yield "tick", None
                            continue
                        attempts = 0
                        cue, seq = self.frame_cue(text)
                        if seq is not None:
                            since = seq
                        if cue is not None:
                            yield cue
                except ConnectionClosed:
                    continue

    def frame_cue(self, text: str | bytes) -> tuple[tuple[str, Any] | None, int | None]:
        """(the cue in a server frame or None, the frame's event seq or None)."""
        try:
            frame = parse_json_strict(text.encode() if isinstance(text, str) else text)
        except MalformedError:
            return None, None
        if not isinstance(frame, dict):
            return None, None
        kind, data, seq = frame.get("type"), frame.get("data"), frame.get("seq")
        seq = seq if type(seq) is int and kind not in ("heartbeat", "pong") else None
        if kind == "heartbeat":  # every KURULTAI_WS_HEARTBEAT_S: read the head over HTTP too
            return ("poll", None), seq
        if not isinstance(data, dict) or data.get("election") != self.election_id:
            return None, seq
        if kind == "sth.updated":
            return ("sth", data.get("sth")), seq
        if kind == "tally.updated":
            return ("tally", data), seq
        if kind in ("election.closed", "result.published"):
            return ("closed", None), seq
        return None, seq


def _websocket_url(base_url: str, assembly: str) -> str:
    base = base_url.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            base = ws + base[len(http) :]
            break
    return f"{base}/ws/assemblies/{assembly}"


# --- files ---------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ClientError(f"{path}: no such file") from None
    except OSError as exc:
        raise ClientError(f"{path}: {exc.strerror or exc}") from None


def _read_json(path: Path, name: str, problems: list[Failure], parse: Callable[[bytes], Any] = parse_json_strict) -> Any:
    data = _read_bytes(path)
    try:
        return parse(data)
    except MalformedError as exc:
        problems.append(Failure(name, f"{path.name}: {exc}"))
        return None


def read_bundle(directory: str | os.PathLike[str], *, board_file: bool = False) -> Bundle:
    """Read an export directory (see the module docstring). Raises :class:`ClientError` when unreadable.

    With ``board_file`` the board is left as the bytes of board.json, a :class:`BoardFile` that
    `verify_election` parses itself (a large one on its worker processes, while the signatures
    are checked): the same report, without parsing the whole board here first. A board.json
    that does not parse is then the verifier's problem, in the place this reader would give it.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ClientError(f"{root}: not a directory")
    problems: list[Failure] = []
    objects: dict[str, Any] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a large board is hundreds of thousands of acyclic containers
    try:
        for name, file in BUNDLE_FILES.items():  # in this order: the problems keep it
            if name == "board" and board_file:
                objects[name] = BoardFile(_read_bytes(root / file), file, len(problems))
            else:
                # The board and the roll grow with the electorate: both take the fast strict parser.
                parse = parse_board if name in ("board", "roll") else parse_json_strict
                objects[name] = _read_json(root / file, name, problems, parse)
    finally:
        if gc_was_enabled:
            gc.enable()
    server_key = b""
    if objects["server_key"] is not None:
        try:
            server_key = parse_server_key(objects["server_key"])
        except VotingError as exc:
            problems.append(Failure("server_key", f"{BUNDLE_FILES['server_key']}: {exc}"))
    elif not any(p.check == "server_key" for p in problems):  # pragma: no cover - read raises first
        problems.append(Failure("server_key", "missing"))
    return Bundle(objects["election"], objects["roll"], objects["board"], objects["sth"], objects["result"], server_key, tuple(problems))


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def _write(path: Path, text_or_chunks: str | Callable[[], Iterator[str]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        if isinstance(text_or_chunks, str):
            f.write(text_or_chunks)
        else:
            f.writelines(text_or_chunks())
    os.replace(tmp, path)


def write_bundle(bundle: Bundle, directory: str | os.PathLike[str]) -> None:
    """Write the offline format (created if missing; existing files replaced)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    board = list(bundle.board or [])

    def board_lines() -> Iterator[str]:
        yield "["
        for i, leaf in enumerate(board):
            yield ("\n  " if i == 0 else ",\n  ") + json.dumps(leaf, ensure_ascii=False, separators=(",", ":"))
        yield "\n]\n"

    for name in ("election", "roll", "sth", "result"):
        _write(root / BUNDLE_FILES[name], _dump(getattr(bundle, name)))
    _write(root / BUNDLE_FILES["board"], board_lines)
    _write(root / BUNDLE_FILES["server_key"], _dump(server_key_json(bundle.server_public_key)))
