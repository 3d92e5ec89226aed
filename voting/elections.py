"""Elections on agenda items: create (draft), configure, open (freeze and sign the options and
the roll), close (sign the result over the final tree) and apply the outcome to the draft."""

from __future__ import annotations

import json
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from deliberation.amendments import adopt_tx
from deliberation.common import NotFound, iso, load
from deliberation.presence import delegates_of, present_user_ids
from deliberation.context import Ctx
from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.core.phases import AmendmentStatus, Phase, check_amendment_transition
from deliberation.tables import AgendaItem, AgendaProvision, Amendment, Provision, User
from kurultai.db import Database, current_database
from kurultai.unit_of_work import Tx
from voting.core.ballot import revision_supersedes
from voting.core.counting import METHODS, STATUS_QUO, Rule, WeightedBallot, compute_result
from voting.core.encoding import format_time
from voting.core.keys import Signer, sign_object
from voting.core.signed import digest
from voting.board import stored_roll
from voting.keys import approved_keys
from voting.tables import Election, ElectionRoll, Leaf, TreeHead

KINDS = ("amendments", "yes_no")
VISIBILITIES = ("live", "after_close")
MAJORITIES = ("simple", "absolute", "two_thirds")
#: Who is on a vote's roll, and so what its quorum and turnout are measured against: every
#: delegate with an approved key, or only those of them checked in when the vote opens
#: (deliberation/presence.py). Not in any signed object: the roll itself says who was on it.
QUORUM_BASES = ("all", "present")
YES_NO_OPTIONS = [{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}, {"id": "abstain", "label": "Abstain"}]
STATUS_QUO_LABEL = "Keep the current text"


def amendment_option(amendment_id: int) -> str:
    return f"amendment-{amendment_id}"


def election_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "election": json.loads(row["election_envelope"]) if row["election_envelope"] else None,
        "assembly": row["assembly"],
        "agenda_item": row["agenda_item"],
        "provision": row["provision"],
        "kind": row["kind"],
        "title": row["title"],
        "method": row["method"],
        "visibility": row["visibility"],
        "rule": json.loads(row["rule"]) if row["rule"] else None,
        "options": json.loads(row["options"]),
        "weights": json.loads(row["weights"]),
        "tree_size": row["tree_size"],
        "root_hash": row["root_hash"] or None,
        "created_at": iso(row["created_ms"]),
        "opened_at": iso(row["opened_ms"]),
        "closed_at": iso(row["closed_ms"]),
        "quorum_basis": row.get("quorum_basis") or "all",
        "present_at_open": row.get("present_at_open"),
        **attendance_at_open(row),
        "named": bool(row.get("named")),
    }


def attendance_at_open(row: dict[str, Any]) -> dict[str, Any]:
    """Who was in the room when the vote opened (unsigned metadata, stored at opening; null for
    a draft and for votes opened before migrations/m0012): `delegates_at_open`, the usernames of
    the delegates checked in (`checked_in_at_open`) and of those with an approved key left off
    the roll because they were not (`left_off_roll`; only with the basis "present")."""
    stored = json.loads(row["attendance_at_open"]) if row.get("attendance_at_open") else None
    return {
        "delegates_at_open": row.get("delegates_at_open"),
        "checked_in_at_open": stored["present"] if stored else None,
        "left_off_roll": stored["left_off"] if stored else None,
    }


async def get_election_row(election_id: int) -> dict[str, Any]:
    return await load(Election, election_id, "election")


async def list_elections(assembly_id: int) -> list[dict[str, Any]]:
    rows = await Election.select().where(Election.assembly == assembly_id).order_by(Election.id)
    return [election_view(r) for r in rows]


async def _admitted_options(provision_id: int) -> list[dict[str, str]]:
    rows = await Amendment.select(Amendment.id, Amendment.title).where((Amendment.provision == provision_id) & (Amendment.status == AmendmentStatus.ADMITTED.value)).order_by(Amendment.id)
    return [{"id": amendment_option(r["id"]), "label": r["title"] or f"Amendment {r['id']}"} for r in rows]


def _check_config(method: str, visibility: str, kind: str, rule: dict[str, Any] | None) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"election kind must be one of {list(KINDS)}, got {kind!r}")
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {list(METHODS)}, got {method!r}")
    if (kind == "yes_no") != (method == "yes_no"):
        raise InvalidInput(f"a {kind!r} election cannot use method {method!r}")
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {list(VISIBILITIES)}, got {visibility!r}")
    if kind == "yes_no":
        if not rule or rule.get("majority") not in MAJORITIES or not isinstance(rule.get("quorum_percent"), int) or not 0 <= rule["quorum_percent"] <= 100:
            raise InvalidInput(f"a yes_no election needs rule {{'majority': one of {list(MAJORITIES)}, 'quorum_percent': 0-100}}, got {rule!r}")
        return json.dumps({"majority": rule["majority"], "quorum_percent": rule["quorum_percent"]})
    if rule:
        raise InvalidInput("only a yes_no election takes a rule")
    return ""


def check_quorum_basis(basis: str) -> str:
    if basis not in QUORUM_BASES:
        raise InvalidInput(f"quorum_basis must be one of {list(QUORUM_BASES)}, got {basis!r}")
    return basis


def check_named(named: object) -> bool:
    """A vote is named (its register of who has voted is public) or secret (the default)."""
    if not isinstance(named, bool):
        raise InvalidInput(f"named must be true or false, got {named!r}")
    return named


def _order(options: list[dict[str, str]], order: list[str] | None) -> list[dict[str, str]]:
    """Apply the moderator's order: listed ids first in that order, the rest after."""
    if not order:
        return options
    ids = [o["id"] for o in options]
    unknown = [x for x in order if x not in ids]
    if unknown or len(set(order)) != len(order):
        raise InvalidInput(f"option order must list distinct ids among {ids}, got {order}")
    by_id = {o["id"]: o for o in options}
    return [by_id[x] for x in order] + [o for o in options if o["id"] not in order]


async def _check_weights(assembly_id: int, weights: dict[str, int]) -> None:
    for name, w in weights.items():
        if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 1_000_000:
            raise InvalidInput(f"weight of {name!r} must be an integer 1-1000000, got {w!r}")
        if not await User.exists().where(User.username == name):
            raise InvalidInput(f"weights name unknown user {name!r}")


def default_title(kind: str, provision_number: str | None, item_title: str) -> str:
    """An election's title when the chair gives none (the web layer passes one in the chair's
    language)."""
    return f"Amendments to Article {provision_number}" if kind == "amendments" else f"Final vote: {item_title}"


async def create_election(ctx: Ctx, item_id: int, actor: str, spec: dict[str, Any], title_for: Callable[[str, str | None, str], str] = default_title) -> dict[str, Any]:
    kind = spec.get("kind", "amendments")
    method = spec.get("method") or ("yes_no" if kind == "yes_no" else "schulze")
    visibility = spec.get("visibility", "live")
    rule_text = _check_config(method, visibility, kind, spec.get("rule"))
    basis = check_quorum_basis(spec.get("quorum_basis", "all"))
    named = check_named(spec.get("named", False))

    async def run(tx: Tx) -> dict[str, Any]:
        item = await load(AgendaItem, item_id, "agenda item")
        if item["phase"] != Phase.VOTING:
            raise IllegalTransition(f"elections are created in the 'voting' phase; agenda item {item_id} is {item['phase']!r}")
        on_floor = [r["provision"] for r in await AgendaProvision.select(AgendaProvision.provision).where(AgendaProvision.agenda_item == item_id)]
        provision = spec.get("provision")
        if kind == "amendments":
            if provision is None and len(on_floor) == 1:
                provision = on_floor[0]
            if provision not in on_floor:
                raise InvalidInput(f"choose a 'provision' on the floor of agenda item {item_id}: {on_floor}")
            options = [{"id": STATUS_QUO, "label": STATUS_QUO_LABEL}, *await _admitted_options(provision)]
        else:
            if provision is not None and provision not in on_floor:
                raise InvalidInput(f"provision {provision} is not on the floor of agenda item {item_id}")
            options = list(YES_NO_OPTIONS)
        options = _order(options, spec.get("order")) if kind == "amendments" else options
        weights = spec.get("weights") or {}
        await _check_weights(item["assembly"], weights)
        number = None
        if provision is not None:
            row = await Provision.select(Provision.number).where(Provision.id == provision).first()
            number = row["number"] if row else str(provision)
        title = spec.get("title") or title_for(kind, number, item["title"])
        e = Election(
            assembly=item["assembly"],
            agenda_item=item_id,
            provision=provision,
            kind=kind,
            title=title,
            method=method,
            visibility=visibility,
            rule=rule_text,
            options=json.dumps(options, ensure_ascii=False),
            weights=json.dumps(weights, ensure_ascii=False),
            status="draft",
            created_ms=tx.now_ms,
            quorum_basis=basis,
            named=named,
        )
        await e.save()
        await tx.audit(item["assembly"], actor, "election.created", {"election": e.id, "method": method, "kind": kind, "named": named})
        view = election_view(await get_election_row(e.id))
        await tx.emit(item["assembly"], "election.created", view)
        return view

    return await ctx.write(run)


async def update_election(ctx: Ctx, election_id: int, actor: str, changes: dict[str, Any]) -> dict[str, Any]:
    assembly_id = (await get_election_row(election_id))["assembly"]  # an election never changes assembly

    async def run(tx: Tx) -> dict[str, Any]:
        await tx.lock_assembly(assembly_id)  # the lock opening takes: a change never lands on an open vote
        row = await get_election_row(election_id)
        if row["status"] != "draft":
            raise IllegalTransition(f"only a draft election can be changed; election {election_id} is {row['status']!r}")
        method = changes.get("method", row["method"])
        visibility = changes.get("visibility", row["visibility"])
        rule = changes.get("rule", json.loads(row["rule"]) if row["rule"] else None)
        rule_text = _check_config(method, visibility, row["kind"], rule)
        values: dict[Any, Any] = {Election.method: method, Election.visibility: visibility, Election.rule: rule_text}
        if "title" in changes:
            values[Election.title] = changes["title"]
        if "quorum_basis" in changes:
            values[Election.quorum_basis] = check_quorum_basis(changes["quorum_basis"])
        if "named" in changes:
            values[Election.named] = check_named(changes["named"])
        if "order" in changes:
            values[Election.options] = json.dumps(_order(json.loads(row["options"]), changes["order"]), ensure_ascii=False)
        if "weights" in changes:
            await _check_weights(row["assembly"], changes["weights"])
            values[Election.weights] = json.dumps(changes["weights"], ensure_ascii=False)
        await Election.update(values).where(Election.id == election_id)
        await tx.audit(row["assembly"], actor, "election.updated", {"election": election_id, "fields": sorted(changes)})
        view = election_view(await get_election_row(election_id))
        await tx.emit(row["assembly"], "election.updated", view)
        return view

    return await ctx.write(run)


async def check_one_kind_of_vote(assembly_id: int, election_id: int, named: bool) -> None:
    """An assembly holds either named votes or secret ones, never both. A delegate's key is the
    same in every vote of the assembly (voting/keys.py), and every board lists ballots by key:
    a named vote's register ties each key to a name, which would reveal every secret ballot cast
    with that key before or after. Called under the assembly's lock when a vote opens."""
    opened = await Election.select(Election.id, Election.named).where((Election.assembly == assembly_id) & (Election.status != "draft") & (Election.id != election_id))
    if named and any(not r["named"] for r in opened):
        raise IllegalTransition(
            "this assembly has held secret votes: a named vote would tie each delegate's key, the same in every vote of the assembly, to their name and so reveal their secret ballots; hold every vote of an assembly named, or none"
        )
    if not named and any(r["named"] for r in opened):
        raise IllegalTransition("this assembly has held named votes: its delegates' keys are tied to their names, so a secret vote would not be secret; make this vote named too")


async def open_election(
    ctx: Ctx,
    signer: Signer,
    election_id: int,
    actor: str,
    quorum_basis: str | None = None,
    before_sign: Callable[[int], Awaitable[None]] | None = None,
    named: bool | None = None,
) -> dict[str, Any]:
    """Freeze and sign the options and the roll. `quorum_basis` (the chair's choice when opening;
    else the election's own) "present" puts on the roll only the delegates checked in now.
    `named` (likewise) makes the vote named: its register of who has voted is public from now
    on (voting/register.py); it cannot change once the vote is open.

    Everything the roll is made of (the approved keys, the delegates, who is checked in) is read
    under the assembly's lock, the lock every check-in and check-out takes, so the roll and the
    attendance recorded with it are what the audit log says at that point of its chain.
    `before_sign` (a test hook, `Board.before_open`) is awaited once they are read."""
    if quorum_basis is not None:
        check_quorum_basis(quorum_basis)
    if named is not None:
        check_named(named)
    assembly_id = (await get_election_row(election_id))["assembly"]  # an election never changes assembly

    async def run(tx: Tx) -> dict[str, Any]:
        await tx.lock_assembly(assembly_id)
        row = await get_election_row(election_id)
        if row["status"] != "draft":
            raise IllegalTransition(f"cannot open election {election_id}: it is {row['status']!r}, want 'draft'")
        basis = quorum_basis or row["quorum_basis"] or "all"
        is_named = bool(row.get("named")) if named is None else named
        await check_one_kind_of_vote(assembly_id, election_id, is_named)
        item = await load(AgendaItem, row["agenda_item"], "agenda item")
        if item["phase"] != Phase.VOTING:
            raise IllegalTransition(f"agenda item {item['id']} is {item['phase']!r}; elections open in the 'voting' phase")
        options = json.loads(row["options"])
        if row["kind"] == "amendments":
            # Freeze: keep the moderator's order for amendments still admitted, append newly admitted ones.
            admitted = {o["id"]: o for o in await _admitted_options(row["provision"])}
            kept = [o for o in options if o["id"] == STATUS_QUO or o["id"] in admitted]
            kept += [o for oid, o in admitted.items() if oid not in {k["id"] for k in kept}]
            options = kept
        weights = json.loads(row["weights"])
        keys = await approved_keys(row["assembly"])
        if not keys:
            raise IllegalTransition("no delegate has an approved key; approve keys before opening")
        present = await present_user_ids(row["assembly"])
        delegates = await delegates_of(row["assembly"])
        checked_in = sorted(d["username"] for d in delegates if d["user_id"] in present)
        left_off: list[str] = []
        if basis == "present":
            left_off = sorted(k["username"] for k in keys if k["user"] not in present)
            keys = [k for k in keys if k["user"] in present]
            if not keys:
                raise IllegalTransition("no delegate who is checked in has an approved key; check delegates in, or open the vote on the basis of all members")
        if before_sign is not None:
            await before_sign(election_id)
        voters = sorted(
            # The election's own `weights` first, else the member's weight (issue #18; 1 by default).
            ({"key_id": k["key_id"], "public_key": k["public_key"], "weight": int(weights.get(k["username"], k["weight"]))} for k in keys),
            key=lambda v: v["key_id"],
        )
        roll_env = sign_object(signer, {"v": 1, "type": "roll", "election": str(election_id), "voters": voters})
        opened_at = format_time(tx.now_ms)
        signed: dict[str, Any] = {
            "v": 1,
            "type": "election",
            "id": str(election_id),
            "assembly": str(row["assembly"]),
            "agenda_item": str(row["agenda_item"]),
            "title": row["title"],
            "options": options,
            "method": row["method"],
            "visibility": row["visibility"],
            "roll_digest": digest(roll_env["signed"]),
            "opened_at": opened_at,
        }
        if row["rule"]:
            signed["rule"] = json.loads(row["rule"])
        election_env = sign_object(signer, signed)
        sth = sign_object(
            signer,
            {"v": 1, "type": "sth", "election": str(election_id), "tree_size": 0, "root_hash": _empty_root(), "timestamp": opened_at},
        )
        await Election.update(
            {
                Election.status: "open",
                Election.options: json.dumps(options, ensure_ascii=False),
                Election.election_envelope: json.dumps(election_env, ensure_ascii=False),
                Election.election_digest: digest(signed),
                Election.root_hash: _empty_root(),
                Election.opened_ms: tx.now_ms,
                Election.quorum_basis: basis,
                Election.named: is_named,
                Election.present_at_open: len(checked_in),
                Election.delegates_at_open: len(delegates),
                Election.attendance_at_open: json.dumps({"present": checked_in, "left_off": left_off}, ensure_ascii=False),
            }
        ).where(Election.id == election_id)
        await ElectionRoll.insert(ElectionRoll(election=election_id, envelope=json.dumps(roll_env, ensure_ascii=False)))
        await TreeHead.insert(TreeHead(election=election_id, tree_size=0, envelope=json.dumps(sth), created_ms=tx.now_ms))
        await tx.audit(
            row["assembly"],
            actor,
            "election.opened",
            {
                "election": election_id,
                "election_digest": digest(signed),
                "roll_size": len(voters),
                "quorum_basis": basis,
                "present": len(checked_in),
                "delegates": len(delegates),
                "checked_in": checked_in,
                "left_off": left_off,
                "named": is_named,
            },
        )
        await tx.emit(row["assembly"], "election.opened", {"election": str(election_id), "envelope": election_env, "roll_size": len(voters)})
        await tx.emit(row["assembly"], "sth.updated", {"election": str(election_id), "sth": sth})
        return election_view(await get_election_row(election_id))

    return await ctx.write(run)


def _empty_root() -> str:
    from voting.core.merkle import EMPTY_ROOT

    return EMPTY_ROOT.hex()


async def counted_ballots(election_id: int, roll: dict[str, int]) -> list[WeightedBallot]:
    """Each voter's highest-revision ballot, weighted by the roll."""
    rows = await Leaf.select(Leaf.voter, Leaf.revision, Leaf.ranking).where(Leaf.election == election_id).order_by(Leaf.seq)
    latest: dict[str, tuple[int, list[str]]] = {}
    for r in rows:
        if revision_supersedes(r["revision"], latest.get(r["voter"], (0, []))[0]):
            latest[r["voter"]] = (r["revision"], json.loads(r["ranking"]))
    return [WeightedBallot(tuple(rk), roll.get(v, 1)) for v, (_rev, rk) in latest.items()]


async def close_election(ctx: Ctx, signer: Signer, election_id: int, actor: str, on_closed: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Close and sign the result. `on_closed` runs inside the write, so that no ballot batch
    queued behind it in the same process can still append to the closed tree."""

    async def run(tx: Tx) -> dict[str, Any]:
        if not ctx.db.is_sqlite:
            await Election.raw("SELECT id FROM election WHERE id = {} FOR UPDATE", election_id)
        row = await get_election_row(election_id)
        if row["status"] != "open":
            raise IllegalTransition(f"cannot close election {election_id}: it is {row['status']!r}, want 'open'")
        roll_signed = json.loads(await stored_roll(election_id))["signed"]
        weights = {v["key_id"]: v["weight"] for v in roll_signed["voters"]}
        total = sum(weights.values())
        options = [o["id"] for o in json.loads(row["options"])]
        rule = json.loads(row["rule"]) if row["rule"] else None
        counted = compute_result(
            row["method"],
            options,
            await counted_ballots(election_id, weights),
            rule=Rule(rule["majority"], rule["quorum_percent"]) if rule else None,
            roll_weight=total if row["method"] == "yes_no" else None,
        )
        result_signed = {
            "v": 1,
            "type": "result",
            "election": str(election_id),
            "election_digest": row["election_digest"],
            "tree_size": row["tree_size"],
            "root_hash": row["root_hash"],
            "method": row["method"],
            "counted": counted["counted"],
            "weight_counted": counted["weight_counted"],
            "abstentions": counted["abstentions"],
            "ranking": counted["ranking"],
            "winner": counted["winner"],
            "ties_broken": counted["ties_broken"],
            "details": counted["details"],
        }
        result_env = sign_object(signer, result_signed)
        await Election.update({Election.status: "closed", Election.result_envelope: json.dumps(result_env, ensure_ascii=False), Election.closed_ms: tx.now_ms}).where(Election.id == election_id)
        if on_closed is not None:
            on_closed(election_id)
        await _apply_outcome(tx, row, counted, actor)
        await tx.audit(row["assembly"], actor, "election.closed", {"election": election_id, "winner": counted["winner"], "tree_size": row["tree_size"]})
        await tx.emit(row["assembly"], "election.closed", {"election": str(election_id), "tree_size": row["tree_size"], "root_hash": row["root_hash"]})
        await tx.emit(row["assembly"], "result.published", {"election": str(election_id), "result": result_env})
        return election_view(await get_election_row(election_id))

    return await ctx.write(run)


async def _apply_outcome(tx: Tx, row: dict[str, Any], counted: dict[str, Any], actor: str) -> None:
    winner = counted["winner"]
    if row["kind"] == "yes_no":
        details = counted["details"]
        outcome = {"election": str(row["id"]), "winner": winner, **{k: details[k] for k in ("yes", "no", "abstain", "quorum_met", "passed")}}
        await AgendaItem.update({AgendaItem.outcome: json.dumps(outcome)}).where(AgendaItem.id == row["agenda_item"])
        item = await load(AgendaItem, row["agenda_item"], "agenda item")
        from deliberation.agenda import item_view

        await tx.emit(row["assembly"], "agenda.updated", {"item": await item_view(item, tx.now_ms)})
        return
    for opt in counted["ranking"]:
        if not opt.startswith("amendment-"):
            continue
        amendment_id = int(opt.split("-", 1)[1])
        if opt == winner:
            await adopt_tx(tx, amendment_id, actor)
            continue
        amendment = await Amendment.select(Amendment.status).where(Amendment.id == amendment_id).first()
        if amendment and amendment["status"] == AmendmentStatus.ADMITTED:
            check_amendment_transition(amendment["status"], "reject")
            reason = f"not adopted: election {row['id']} chose {winner}"
            await Amendment.update({Amendment.status: AmendmentStatus.REJECTED.value, Amendment.reason: reason, Amendment.updated_ms: tx.now_ms}).where(Amendment.id == amendment_id)
            await tx.audit(row["assembly"], actor, "amendment.reject", {"amendment": amendment_id, "reason": reason})
            from deliberation.amendments import get_amendment

            await tx.emit(row["assembly"], "amendment.updated", await get_amendment(amendment_id))


#: The key ids on each election's roll, per database: a roll never changes once the election opened.
_ROLL_KEYS: weakref.WeakKeyDictionary[Database, dict[int, frozenset[str]]] = weakref.WeakKeyDictionary()


async def roll_key_ids(election_id: int) -> frozenset[str]:
    """The key ids on the election's signed roll (empty for a draft)."""
    cached = _ROLL_KEYS.setdefault(current_database(), {})
    if election_id in cached:
        return cached[election_id]
    text = await stored_roll(election_id)
    if not text:
        return frozenset()
    ids = frozenset(v["key_id"] for v in json.loads(text)["signed"]["voters"])
    if len(cached) >= 256:
        cached.clear()
    cached[election_id] = ids
    return ids


async def voter_status(assembly_id: int, user_id: int) -> dict[str, dict[str, Any]]:
    """Whether a member can vote in each open election of the assembly, by election id:
    `on_roll` (with the key on the roll), else why not: `absent` (a vote on the basis of the
    members present, and they had an approved key but were not checked in when it opened: they
    are in its stored `left_off_roll`), `late` (their key was approved after the vote opened, or
    they became a delegate after), `pending` (still waiting for approval), `none` (no usable key)."""
    from voting.keys import list_keys

    mine = await list_keys(assembly_id, user_id)
    me = await User.select(User.username).where(User.id == user_id).first()
    username = me["username"] if me else None
    out: dict[str, dict[str, Any]] = {}
    for e in await list_elections(assembly_id):
        if e["status"] != "open":
            continue
        on_roll = await roll_key_ids(int(e["id"]))
        listed = [k["key_id"] for k in mine if k["key_id"] in on_roll]
        if listed:
            out[str(e["id"])] = {"status": "on_roll", "key_id": listed[0]}
        elif e["quorum_basis"] == "present" and username in (e["left_off_roll"] or []):
            out[str(e["id"])] = {"status": "absent"}  # approved in time, but not checked in when the vote opened
        elif any(k["status"] == "approved" for k in mine):
            out[str(e["id"])] = {"status": "late"}
        elif any(k["status"] == "pending" for k in mine):
            out[str(e["id"])] = {"status": "pending"}
        else:
            out[str(e["id"])] = {"status": "none"}
    return out


async def require_row(election_id: int) -> dict[str, Any]:
    row = await Election.select().where(Election.id == election_id).first() if 1 <= election_id <= 2**31 - 1 else None
    if row is None:
        raise NotFound(f"no election with id {election_id}")
    return row
