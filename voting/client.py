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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from voting.core.encoding import b64u_decode, b64u_encode, parse_json_strict
from voting.core.errors import MalformedError, VotingError
from voting.core.keys import check_public_key, key_id
from voting.verifier import BoardFile, Bundle, Failure, parse_board

__all__ = [
    "BUNDLE_FILES",
    "ClientError",
    "HttpError",
    "KurultaiClient",
    "fetch_bundle",
    "parse_server_key",
    "read_bundle",
    "server_key_json",
    "write_bundle",
]

BUNDLE_FILES = {"election": "election.json", "roll": "roll.json", "board": "board.json", "sth": "sth.json",
                "result": "result.json", "server_key": "server-key.json"}
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

    def __init__(self, base_url: str, *, token: str | None = None, transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout = TIMEOUT) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
                                 transport=transport, follow_redirects=False)

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
                raise ClientError(f"GET {path}: want {{\"entries\": [...]}}, got {type(page).__name__}")
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


def fetch_bundle(base_url: str, election_id: str, *, server_public_key: bytes | None = None,
                 transport: httpx.BaseTransport | None = None) -> Bundle:
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
    return Bundle(objects["election"], objects["roll"], objects["board"], objects["sth"], objects["result"],
                  server_key, tuple(problems))


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
