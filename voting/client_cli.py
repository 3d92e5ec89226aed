"""The delegate's and observer's commands: `keygen`, `register-key`, `vote`, `verify`.

kurultai/cli.py registers `COMMANDS`. They speak PROTOCOL §5 over HTTP (voting.client) and
check everything with the pure core; none of them touches the database or the server code.

Exit codes: 0 success; 1 a refused request (4xx) or a failed check; 2 a network or file
problem, or bad usage, with one line on stderr and no traceback.

The private key file (`keygen --out`) holds the raw 32-byte Ed25519 seed (RFC 8032 secret
key) as b64u text on one line, mode 0600. A PEM "PRIVATE KEY" (PKCS #8) Ed25519 key is read too.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from voting.client import (
    POLL_S,
    ClientError,
    FollowState,
    HttpError,
    KurultaiClient,
    fetch_bundle,
    follow_election,
    read_bundle,
)
from voting.core.ballot import check_ballot, check_ranking, revision_supersedes
from voting.core.encoding import b64u_decode, b64u_encode, jcs
from voting.core.errors import BallotRejected, VotingError
from voting.core.keys import Signer, check_public_key, sign_object, verify_signature
from voting.core.signed import (
    Roll,
    RollVoter,
    compute_leaf_hash,
    digest,
    parse_election,
    parse_envelope,
    parse_receipt,
    parse_roll,
    verify_envelope,
    verify_receipt,
)
from voting.verifier import BoardFile, Bundle, Failure, Report, verify_election

__all__ = ["COMMANDS", "keygen", "load_signer", "register_key", "verify", "vote"]

EXIT_FAILED = 1
EXIT_ERROR = 2
NONCE_SIZE = 16


def _die(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


# --- keys ----------------------------------------------------------------------------------


def load_signer(path: str | os.PathLike[str]) -> Signer:
    """Read a private key file (b64u seed or PEM). Raises :class:`ClientError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ClientError(f"{path}: {exc.strerror or exc}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ClientError(f"{path}: not an Ed25519 private key")
            return Signer(key)
        return Signer.from_private_bytes(b64u_decode(data.decode("ascii").strip()))
    except (VotingError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ClientError(f"{path}: not a private key file ({exc})") from None


@click.command(help="Create a new Ed25519 private key for voting (mode 0600) and print its key id.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the private key.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def keygen(out: str, force: bool) -> None:
    signer = Signer.generate()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(out, flags, 0o600)
    except FileExistsError:
        _die(f"{out} exists; use --force to replace it")
    except OSError as exc:
        _die(f"{out}: {exc.strerror or exc}")
    with os.fdopen(fd, "w", encoding="ascii") as f:
        os.fchmod(f.fileno(), stat.S_IRUSR | stat.S_IWUSR)  # also when --force replaced a looser file
        f.write(b64u_encode(signer.private_bytes()) + "\n")
    click.echo(f"key_id      {signer.key_id}")
    click.echo(f"public_key  {signer.public_key_b64u}")
    click.echo(f"written to  {out} (mode 0600; keep it secret, back it up)")


# --- register-key --------------------------------------------------------------------------


@click.command(name="register-key", help="Register your public key for an assembly (a registrar then approves it).")
@click.argument("base_url")
@click.option("--assembly", "assembly", required=True, type=int, help="The assembly id.")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False), help="Your private key file.")
@click.option("--username", required=True, help="Your login; the password comes from KURULTAI_PASSWORD or a prompt.")
def register_key(base_url: str, assembly: int, key_file: str, username: str) -> None:
    try:
        signer = load_signer(key_file)
    except ClientError as exc:
        _die(str(exc))
    password = os.environ.get("KURULTAI_PASSWORD")
    if password is None:
        password = click.prompt("Password", hide_input=True, err=True)
    try:
        with KurultaiClient(base_url) as anonymous:
            _, body = anonymous.post("/api/auth/token", {"username": username, "password": password})
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            _die("POST /api/auth/token: no token in the answer")
        with KurultaiClient(base_url, token=token) as client:
            _, answer = client.post("/api/me/keys", {"assembly": assembly, "public_key": signer.public_key_b64u})
    except HttpError as exc:
        _die(f"{exc.code}: {exc.detail}", EXIT_FAILED if exc.status < 500 else EXIT_ERROR)
    except ClientError as exc:
        _die(str(exc))
    if not isinstance(answer, dict) or answer.get("key_id") != signer.key_id:
        _die(f"the server answered key_id {answer.get('key_id') if isinstance(answer, dict) else answer!r}, want {signer.key_id}", EXIT_FAILED)
    click.echo(f"key_id  {signer.key_id}")
    click.echo(f"status  {answer.get('status')}")


# --- vote ----------------------------------------------------------------------------------


def _server_key(client: KurultaiClient, pinned: str | None) -> bytes:
    if pinned is None:
        return client.server_key()
    try:
        raw = b64u_decode(pinned)
        check_public_key(raw)
    except VotingError as exc:
        raise click.BadParameter(str(exc), param_hint="--server-key") from None
    return raw


@dataclass(frozen=True)
class _ElectionAsSigned:
    """The election as its signed objects show it, for `check_ballot` (voting.core.ballot's
    `BallotElection`): what the server checks a ballot against."""

    election_id: str
    digest: str
    roll: Roll
    known_options: tuple[str, ...]
    method: str
    status: str = "open"


@dataclass(frozen=True)
class _BoardAsSeen:
    """The board as this client read it (`BallotBoard`), asked only of its own key: a fresh nonce
    is never a repeat."""

    highest: int

    def repeat_of(self, signed_digest: bytes) -> int | None:
        return None

    def highest_revision(self, voter: str) -> int | None:
        return self.highest


def check_own_ballot(body: bytes, election: _ElectionAsSigned, board: _BoardAsSeen) -> None:
    """PROTOCOL §5 on the ballot about to be sent, by the same function the server runs
    (`check_ballot`): what the server would refuse is refused here, before it is sent."""

    async def the_election() -> _ElectionAsSigned:
        return election

    async def verify(voter: RollVoter, message: bytes, signature: bytes) -> bool:
        try:
            verify_signature(voter.public_key, message, signature)
        except VotingError:
            return False
        return True

    async def the_board(_election: object) -> _BoardAsSeen:
        return board

    asyncio.run(check_ballot(body, the_election, verify, the_board))


def next_revision(client: KurultaiClient, election_id: str, voter: str) -> int:
    """One above this voter's highest revision on the board (1 when none)."""
    sth = client.get(f"/api/elections/{election_id}/sth")
    try:
        size = sth["signed"]["tree_size"]
    except (TypeError, KeyError):
        raise ClientError("GET sth: not a signed tree head") from None
    highest = 0
    for entry in client.board_entries(election_id, 0, size if type(size) is int else 0):
        try:
            signed = entry["leaf"]["ballot"]["signed"]
            if signed["voter"] == voter and type(signed["revision"]) is int and revision_supersedes(signed["revision"], highest):
                highest = signed["revision"]
        except (TypeError, KeyError):
            continue
    return highest + 1


@click.command(help="Cast (or recast) a signed ballot and check its receipt. --rank '' abstains.")
@click.argument("base_url")
@click.argument("election_id")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False), help="Your private key file.")
@click.option("--rank", required=True, help="Option ids, most preferred first, comma-separated ('' = abstain).")
@click.option("--server-key", "server_key", default=None, help="Pin the server's public key (b64u).")
@click.option("--receipt", "receipt_file", default=None, type=click.Path(dir_okay=False), help="Save the receipt here.")
def vote(base_url: str, election_id: str, key_file: str, rank: str, server_key: str | None, receipt_file: str | None) -> None:
    ranking = [item.strip() for item in rank.split(",")] if rank.strip() else []
    try:
        signer = load_signer(key_file)
        with KurultaiClient(base_url) as client:
            key = _server_key(client, server_key)
            info = client.get(f"/api/elections/{election_id}")
            if not isinstance(info, dict) or info.get("status") != "open":
                status = info.get("status") if isinstance(info, dict) else None
                _die(f"election {election_id} is not open (status {status!r})", EXIT_FAILED)
            env = parse_envelope(info.get("election"), "election")
            verify_envelope(env, key)
            election = parse_election(env.signed)
            if election.id != election_id:
                _die(f"the server sent election {election.id!r}, want {election_id!r}", EXIT_FAILED)
            try:  # checks 8 and 9 at once, before the roll and the board are read (check_ballot runs them again)
                check_ranking(ranking, election.option_ids, election.method, election_id)
            except BallotRejected as exc:
                _die(f"--rank: want distinct option ids among {', '.join(election.option_ids)}; got {rank!r} ({exc.detail})", EXIT_FAILED)
            roll_env = parse_envelope(client.get(f"/api/elections/{election_id}/roll"), "roll")
            verify_envelope(roll_env, key)
            if digest(roll_env.signed) != election.roll_digest:
                _die(f"the server's roll is not the one election {election_id} names (roll_digest)", EXIT_FAILED)
            # Each key's encoding is checked; decoding every point (~0.3 ms a key, seconds for a
            # large roll) is not needed here: check 6 proves our own key with our signature.
            roll = parse_roll(roll_env.signed, decode_points=False)
            revision = next_revision(client, election_id, signer.key_id)
            signed = {
                "v": 1,
                "type": "ballot",
                "election": election_id,
                "election_digest": digest(env.signed),
                "voter": signer.key_id,
                "revision": revision,
                "ranking": ranking,
                "nonce": b64u_encode(os.urandom(NONCE_SIZE)),
            }
            ballot = sign_object(signer, signed)
            sent = jcs(ballot)
            try:  # PROTOCOL §5, as the server will run it
                check_own_ballot(sent, _ElectionAsSigned(election_id, digest(env.signed), roll, election.option_ids, election.method), _BoardAsSeen(revision - 1))
            except VotingError as exc:  # BallotRejected, or MalformedError / WrongElectionError (never for a ballot built here)
                if exc.code == "not_on_roll":
                    _die(f"your key {signer.key_id} is not on the roll of election {election_id}: the server would refuse the ballot (not_on_roll)", EXIT_FAILED)
                _die(f"the server would refuse this ballot: {exc.code}: {exc.detail}", EXIT_FAILED)
            status, body = client.request("POST", f"/api/elections/{election_id}/ballots", content=sent, headers={"Content-Type": "application/json"})
            receipt = parse_receipt(body)
            # The receipt names a leaf hash; the board entry at its seq shows it is our ballot.
            entries = list(client.board_entries(election_id, receipt.seq, receipt.seq + 1))
            leaf = entries[0].get("leaf")
            if not isinstance(leaf, dict) or leaf.get("ballot") != ballot or leaf.get("seq") != receipt.seq:
                _die(f"the board's leaf {receipt.seq} does not hold this ballot", EXIT_FAILED)
            sth = verify_receipt(receipt, compute_leaf_hash(leaf), key, election_id)
    except HttpError as exc:
        _die(f"{exc.code}: {exc.detail}", EXIT_FAILED if exc.status < 500 else EXIT_ERROR)
    except ClientError as exc:
        _die(str(exc))
    except VotingError as exc:
        _die(f"the server's answer does not check out: {exc}", EXIT_FAILED)
    if receipt_file:
        try:
            Path(receipt_file).write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            _die(f"{receipt_file}: {exc.strerror or exc}")
    again = " (already recorded: the original receipt)" if status == 200 else ""
    click.echo(f"recorded{again}: election {election_id}, revision {revision}, seq {receipt.seq}")
    click.echo(f"  leaf hash  {receipt.leaf_hash.hex()}")
    click.echo(f"  tree head  size {sth.tree_size}, root {sth.root_hash.hex()}, {sth.timestamp}")


# --- verify --------------------------------------------------------------------------------


def print_report(report: Report, *, tree_head: str | None = None, notes: Sequence[str] = ()) -> None:
    """The summary and ``notes`` (exit 0), or every failed check (exit 1); ``tree_head``: the
    head's time, when known."""
    s = report.summary
    if report.ok and s.open:
        click.echo(f"OK: election {s.election} ({s.method}): open, {s.ballots} ballots verified up to tree size {s.tree_size}, no result yet")
        click.echo(f"  tally so far  {', '.join(s.ranking or ())} ({s.counted} voters counted, {s.voters} on the roll)")
        click.echo(f"  tree head     size {s.tree_size}, root {s.root_hash}{', ' + tree_head if tree_head else ''}")
        click.echo("  every signature, the roll, the election digest, the revisions, the tree root and the count so far check out")
        for note in notes:
            click.echo(f"  {note}")
        return
    if report.ok:
        click.echo(f"OK: election {s.election} ({s.method}): {s.ballots} ballots on the board, {s.voters} voters on the roll, {s.counted} counted; winner {s.winner}")
        click.echo(f"  ranking    {', '.join(s.ranking or ())}")
        click.echo(f"  tree head  size {s.tree_size}, root {s.root_hash}")
        click.echo("  every signature, the roll, the election digest, the revisions, the tree root, the count and the tie-break check out")
        for note in notes:
            click.echo(f"  {note}")
        return
    click.echo(f"FAILED: {len(report.failures)} check(s) failed for election {s.election}")
    for failure in report.failures:
        click.echo(f"  {failure}")


VERIFY_HELP = """Verify an election from the server (BASE_URL ELECTION_ID) or from an export (--offline DIR).

\b
A closed election: every signature, the roll, the board, the tree head, the recount and the
signed result. An open one: the same up to the current signed tree head, the tally so far
recounted (and compared with the server's live tally); it prints "open, N ballots verified up
to tree size T, no result yet".

\b
--follow keeps watching an open election until its result is published, like a Certificate
Transparency monitor: on each new signed tree head (from the assembly's websocket, or by
reading GET .../sth every --poll seconds when there is none) it checks the head's signature,
its consistency proof from the last verified head, every new ballot and the tree root, and
recounts the tally; then it verifies the signed result as for a closed election.

\b
Exit 0 when every check holds (with --follow: once the result is verified); 1 when a check
fails, every failed check printed with the seq it concerns (with --follow: at the first tree
head that fails, with that head's failures); 2 when the server or the files cannot be reached
or read."""


@click.command(help=VERIFY_HELP)
@click.argument("base_url", required=False)
@click.argument("election_id", required=False)
@click.option("--offline", "offline", default=None, type=click.Path(file_okay=False), help="An export directory.")
@click.option("--server-key", "server_key", default=None, help="Pin the server's public key (b64u).")
@click.option("--follow", is_flag=True, help="Follow an open election head by head until its result is verified.")
@click.option("--poll", "poll_s", default=POLL_S, show_default=True, type=click.FloatRange(min=0.1), help="With --follow: seconds between reads of the tree head when there is no websocket.")
@click.option("--no-websocket", "no_websocket", is_flag=True, help="With --follow: poll only, never open a websocket.")
def verify(base_url: str | None, election_id: str | None, offline: str | None, server_key: str | None, follow: bool, poll_s: float, no_websocket: bool) -> None:
    if offline is not None and (base_url or election_id):
        _die("give either BASE_URL ELECTION_ID or --offline DIR, not both")
    if offline is None and not (base_url and election_id):
        _die("give BASE_URL ELECTION_ID, or --offline DIR")
    if offline is not None and follow:
        _die("--follow needs BASE_URL ELECTION_ID, not --offline")
    pinned = None
    if server_key is not None:
        try:
            pinned = b64u_decode(server_key)
            check_public_key(pinned)
        except VotingError as exc:
            _die(f"--server-key: {exc}")
    if follow:
        assert base_url is not None and election_id is not None
        followed = _follow(base_url, election_id, pinned, poll_s, not no_websocket)
        if followed is not None:  # else the election is not open: verified once, below
            report, state = followed
            tallies = f"; {_plural(state.tallies, 'live tally', 'live tallies')} agree" if state.tallies else ""
            note = f"followed   {_plural(state.heads, 'tree head')}, each consistent with the one before{tallies}"
            print_report(report, notes=[f"{note} ({state.source})"])
            sys.exit(0 if report.ok else EXIT_FAILED)
    try:
        if offline is not None:
            bundle = read_bundle(offline, board_file=True)  # the verifier's workers parse the board
            if pinned is not None and bundle.server_public_key != pinned:
                bundle = Bundle(bundle.election, bundle.roll, bundle.board, bundle.sth, bundle.result, pinned, (*bundle.problems, Failure("server_key", "server-key.json is not the pinned key")))
        else:
            assert base_url is not None and election_id is not None
            bundle = fetch_bundle(base_url, election_id, server_public_key=pinned)
    except ClientError as exc:
        _die(str(exc))
    report = _verify_with_progress(bundle)
    signed = bundle.sth.get("signed") if isinstance(bundle.sth, dict) else None
    head_time = signed.get("timestamp") if isinstance(signed, dict) else None
    notes = []
    if bundle.tally is not None and report.ok:
        notes.append(f"live tally    the server's tally at tree size {report.summary.tree_size} agrees")
    print_report(report, tree_head=head_time if isinstance(head_time, str) else None, notes=notes)
    sys.exit(0 if report.ok else EXIT_FAILED)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _follow(base_url: str, election_id: str, pinned: bytes | None, poll_s: float, websocket: bool) -> tuple[Report, FollowState] | None:
    """`follow_election` with a live status line on stderr (a line per verified head when stderr is
    not a terminal): the report and what was followed, or None when the election is not open.
    Ctrl-C says what was verified and exits 130."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True)
    status = console.status("connecting") if console.is_terminal else None
    last_heads = 0
    last = FollowState(election_id)

    def show(state: FollowState) -> None:
        nonlocal last_heads, last
        last = state
        line = (
            f"following election {state.election} ({state.source}): tree size {state.tree_size}, "
            f"{_plural(state.ballots, 'ballot')} verified, {_plural(state.heads, 'tree head')}, "
            f"last head {state.head_time or '-'}"
        )
        if status is not None:
            status.update(Text(line, no_wrap=True, overflow="ellipsis"))  # plain text: a message may hold "[...]"
        elif state.heads != last_heads:
            last_heads = state.heads
            console.print(Text(line), highlight=False, soft_wrap=True)

    try:
        if status is not None:
            status.start()
        try:
            report = follow_election(base_url, election_id, server_public_key=pinned, websocket=websocket, poll_s=poll_s, on_state=show)
            return (report, last) if report is not None else None
        finally:
            if status is not None:
                status.stop()
    except ClientError as exc:
        _die(str(exc))
    except KeyboardInterrupt:
        click.echo(f"stopped: election {election_id} is still open; tree size {last.tree_size}, {last.ballots} ballots verified, nothing failed so far", err=True)
        sys.exit(130)


PROGRESS_FROM = 10_000  # ballots: smaller boards verify in about a second
#: No leaf is shorter than this (its signature, voter, signer and election digest alone are
#: 278 characters): a board file of another layout under PROGRESS_FROM x this needs no bar.
LEAF_BYTES_AT_LEAST = 256


def _board_size(board: object) -> int | None:
    r"""The number of leaves the progress bar expects, or None when unknown before parsing.

    A :class:`BoardFile` laid out one leaf per line, as `write_bundle` writes it ("[\n",
    a leaf a line, "\n]\n"), has two line breaks more than leaves; in another layout the
    count is unknown (None) and the bar shows the signatures checked, without a total.
    """
    if isinstance(board, list):
        return len(board)
    if not isinstance(board, BoardFile):
        return 0
    data = board.data
    if data.startswith(b"[\n") and data.endswith(b"\n]\n"):
        return max(data.count(b"\n") - 2, 0)
    return None


def _verify_with_progress(bundle: Bundle) -> Report:
    """A progress bar on stderr for large boards (signature checks are most of the work)."""
    board = bundle.board
    total = _board_size(board)
    if total is None:  # a board file of another layout: judged by its size
        large = isinstance(board, BoardFile) and len(board.data) >= PROGRESS_FROM * LEAF_BYTES_AT_LEAST
    else:
        large = total >= PROGRESS_FROM
    if not large:
        return verify_election(bundle)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("verifying signatures", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("signatures", total=total)
        done = 0

        def advance(n: int) -> None:
            # Never past the total: a board file that turns out to need parsing as a whole is
            # checked again from the start, and one with several leaves to a line has more
            # leaves than lines.
            nonlocal done
            done += n
            bar.update(task, completed=done if total is None else min(done, total))

        return verify_election(bundle, progress=advance)


COMMANDS = [keygen, register_key, vote, verify]
