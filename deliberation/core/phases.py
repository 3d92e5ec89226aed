"""Named state machines: agenda item phases and amendment statuses.

Agenda item phases advance strictly one step at a time::

    pending -> debate -> amendments -> voting -> closed

and a chair may reopen the phase before the current one (one step back, never to pending), with
a reason that the audit log records.

Amendment statuses::

    draft --submit--> submitted --admit--> admitted --adopt--> adopted
    submitted | admitted --reject--> rejected
    draft | submitted | admitted --withdraw--> withdrawn
"""

from __future__ import annotations

from enum import StrEnum

from deliberation.core.errors import IllegalTransition, InvalidInput


class Phase(StrEnum):
    PENDING = "pending"
    DEBATE = "debate"
    AMENDMENTS = "amendments"
    VOTING = "voting"
    CLOSED = "closed"


PHASE_ORDER: tuple[Phase, ...] = (
    Phase.PENDING,
    Phase.DEBATE,
    Phase.AMENDMENTS,
    Phase.VOTING,
    Phase.CLOSED,
)

NEXT_PHASE: dict[Phase, Phase | None] = {phase: (PHASE_ORDER[i + 1] if i + 1 < len(PHASE_ORDER) else None) for i, phase in enumerate(PHASE_ORDER)}


def _names(enum: type[StrEnum]) -> str:
    return ", ".join(repr(m.value) for m in enum)


def parse_phase(value: str) -> Phase:
    """Return the Phase named ``value`` or raise InvalidInput."""
    try:
        return Phase(value)
    except ValueError:
        raise InvalidInput(f"unknown phase {value!r}; expected one of {_names(Phase)}") from None


def next_phase(current: str) -> Phase | None:
    """The only phase reachable from ``current``, or None when closed."""
    return NEXT_PHASE[parse_phase(current)]


def check_phase_transition(current: str, requested: str) -> Phase:
    """Return the requested Phase if it is the one next after ``current``."""
    cur = parse_phase(current)
    req = parse_phase(requested)
    allowed = NEXT_PHASE[cur]
    if req is allowed:
        return req
    hint = f"allowed next phase: {allowed.value!r}" if allowed is not None else "no further phase"
    raise IllegalTransition(f"cannot move agenda item from {cur.value!r} to {req.value!r}; {hint}")


PREVIOUS_PHASE: dict[Phase, Phase | None] = {phase: (PHASE_ORDER[i - 1] if i > 1 else None) for i, phase in enumerate(PHASE_ORDER)}


def is_reopening(current: str, requested: str) -> bool:
    """Whether moving from ``current`` to ``requested`` goes back (a reopening)."""
    return PHASE_ORDER.index(parse_phase(requested)) < PHASE_ORDER.index(parse_phase(current))


def check_phase_reopen(current: str, requested: str) -> Phase:
    """Return the requested Phase if it is the one before ``current`` (a reopening), pending
    excepted: an item that has opened never goes back to not having opened."""
    cur = parse_phase(current)
    req = parse_phase(requested)
    allowed = PREVIOUS_PHASE[cur]
    if req is allowed:
        return req
    hint = f"only the phase before, {allowed.value!r}, can be reopened (with a reason)" if allowed is not None else "no phase can be reopened"
    raise IllegalTransition(f"cannot move agenda item from {cur.value!r} to {req.value!r}; {hint}")


class AmendmentStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ADMITTED = "admitted"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    ADOPTED = "adopted"


class AmendmentAction(StrEnum):
    SUBMIT = "submit"
    ADMIT = "admit"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    ADOPT = "adopt"


# action -> (statuses it may start from, resulting status)
AMENDMENT_TRANSITIONS: dict[AmendmentAction, tuple[frozenset[AmendmentStatus], AmendmentStatus]] = {
    AmendmentAction.SUBMIT: (frozenset({AmendmentStatus.DRAFT}), AmendmentStatus.SUBMITTED),
    AmendmentAction.ADMIT: (frozenset({AmendmentStatus.SUBMITTED}), AmendmentStatus.ADMITTED),
    AmendmentAction.REJECT: (
        frozenset({AmendmentStatus.SUBMITTED, AmendmentStatus.ADMITTED}),
        AmendmentStatus.REJECTED,
    ),
    AmendmentAction.WITHDRAW: (
        frozenset({AmendmentStatus.DRAFT, AmendmentStatus.SUBMITTED, AmendmentStatus.ADMITTED}),
        AmendmentStatus.WITHDRAWN,
    ),
    AmendmentAction.ADOPT: (frozenset({AmendmentStatus.ADMITTED}), AmendmentStatus.ADOPTED),
}

TERMINAL_STATUSES: frozenset[AmendmentStatus] = frozenset({AmendmentStatus.WITHDRAWN, AmendmentStatus.REJECTED, AmendmentStatus.ADOPTED})


def parse_amendment_status(value: str) -> AmendmentStatus:
    try:
        return AmendmentStatus(value)
    except ValueError:
        raise InvalidInput(f"unknown amendment status {value!r}; expected one of {_names(AmendmentStatus)}") from None


def parse_amendment_action(value: str) -> AmendmentAction:
    try:
        return AmendmentAction(value)
    except ValueError:
        raise InvalidInput(f"unknown amendment action {value!r}; expected one of {_names(AmendmentAction)}") from None


def allowed_amendment_actions(current: str) -> list[AmendmentAction]:
    """Actions that ``check_amendment_transition`` accepts from ``current``."""
    cur = parse_amendment_status(current)
    return [a for a, (sources, _) in AMENDMENT_TRANSITIONS.items() if cur in sources]


def check_amendment_transition(current: str, action: str) -> AmendmentStatus:
    """Return the status ``action`` leads to from ``current`` or raise IllegalTransition."""
    cur = parse_amendment_status(current)
    act = parse_amendment_action(action)
    sources, target = AMENDMENT_TRANSITIONS[act]
    if cur in sources:
        return target
    expected = ", ".join(repr(s.value) for s in AmendmentStatus if s in sources)
    raise IllegalTransition(f"cannot {act.value} an amendment that is {cur.value!r}; {act.value!r} needs status {expected}")


def should_auto_admit(status: str, cosponsors: int, threshold: int) -> bool:
    """True when a submitted amendment has reached the co-sponsor threshold.

    A threshold of 0 (or less) disables automatic admission.
    """
    return parse_amendment_status(status) is AmendmentStatus.SUBMITTED and threshold > 0 and cosponsors >= threshold
