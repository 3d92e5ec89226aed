import pytest

from deliberation.core.errors import DeliberationError, IllegalTransition, InvalidInput
from deliberation.core.phases import (
    AmendmentAction,
    AmendmentStatus,
    Phase,
    allowed_amendment_actions,
    check_amendment_transition,
    check_phase_transition,
    next_phase,
    should_auto_admit,
)

ORDER = ["pending", "debate", "amendments", "voting", "closed"]


def test_error_codes_and_statuses():
    assert (DeliberationError.code, DeliberationError.status) == ("deliberation_error", 400)
    assert (IllegalTransition.code, IllegalTransition.status) == ("illegal_transition", 409)
    assert (InvalidInput.code, InvalidInput.status) == ("invalid_input", 400)
    assert issubclass(IllegalTransition, DeliberationError)
    assert issubclass(InvalidInput, DeliberationError)


@pytest.mark.parametrize("i", range(4))
def test_each_phase_moves_to_the_next(i):
    got = check_phase_transition(ORDER[i], ORDER[i + 1])
    assert got is Phase(ORDER[i + 1])
    assert next_phase(ORDER[i]) is got


@pytest.mark.parametrize(
    ("current", "requested"),
    [(c, r) for c in ORDER[:-1] for r in ORDER if r != ORDER[ORDER.index(c) + 1]],
)
def test_every_other_move_is_illegal(current, requested):
    allowed = ORDER[ORDER.index(current) + 1]
    with pytest.raises(
        IllegalTransition,
        match=rf"cannot move agenda item from '{current}' to '{requested}'; allowed next phase: '{allowed}'",
    ):
        check_phase_transition(current, requested)


def test_illegal_transition_message_example():
    with pytest.raises(IllegalTransition) as info:
        check_phase_transition("pending", "voting")
    assert str(info.value) == "cannot move agenda item from 'pending' to 'voting'; allowed next phase: 'debate'"
    assert info.value.status == 409


@pytest.mark.parametrize("requested", ORDER)
def test_closed_has_no_further_phase(requested):
    with pytest.raises(IllegalTransition, match=rf"from 'closed' to '{requested}'; no further phase"):
        check_phase_transition("closed", requested)
    assert next_phase("closed") is None


@pytest.mark.parametrize(("current", "requested"), [("bogus", "debate"), ("pending", "Debate"), ("", "debate")])
def test_unknown_phase_is_invalid_input(current, requested):
    with pytest.raises(InvalidInput, match=r"unknown phase .*; expected one of 'pending', 'debate'"):
        check_phase_transition(current, requested)


LEGAL = {
    ("draft", "submit"): "submitted",
    ("submitted", "admit"): "admitted",
    ("submitted", "reject"): "rejected",
    ("admitted", "reject"): "rejected",
    ("draft", "withdraw"): "withdrawn",
    ("submitted", "withdraw"): "withdrawn",
    ("admitted", "withdraw"): "withdrawn",
    ("admitted", "adopt"): "adopted",
}


@pytest.mark.parametrize(("current", "action"), list(LEGAL))
def test_legal_amendment_transitions(current, action):
    assert check_amendment_transition(current, action) is AmendmentStatus(LEGAL[(current, action)])


@pytest.mark.parametrize(
    ("current", "action"),
    [(s.value, a.value) for s in AmendmentStatus for a in AmendmentAction if (s.value, a.value) not in LEGAL],
)
def test_illegal_amendment_transitions_name_status_and_action(current, action):
    with pytest.raises(IllegalTransition, match=rf"cannot {action} an amendment that is '{current}'; '{action}' needs status"):
        check_amendment_transition(current, action)


def test_illegal_amendment_message_lists_allowed_sources():
    with pytest.raises(IllegalTransition, match=r"'reject' needs status 'submitted', 'admitted'$"):
        check_amendment_transition("draft", "reject")


def test_unknown_amendment_status_and_action():
    with pytest.raises(InvalidInput, match=r"unknown amendment status 'pending'; expected one of 'draft'"):
        check_amendment_transition("pending", "submit")
    with pytest.raises(InvalidInput, match=r"unknown amendment action 'approve'; expected one of 'submit'"):
        check_amendment_transition("draft", "approve")


def test_allowed_amendment_actions():
    assert allowed_amendment_actions("draft") == [AmendmentAction.SUBMIT, AmendmentAction.WITHDRAW]
    assert allowed_amendment_actions("admitted") == [
        AmendmentAction.REJECT,
        AmendmentAction.WITHDRAW,
        AmendmentAction.ADOPT,
    ]
    for terminal in ("withdrawn", "rejected", "adopted"):
        assert allowed_amendment_actions(terminal) == []


@pytest.mark.parametrize(
    ("status", "cosponsors", "threshold", "want"),
    [
        ("submitted", 3, 3, True),
        ("submitted", 4, 3, True),
        ("submitted", 2, 3, False),
        ("submitted", 5, 0, False),
        ("draft", 5, 3, False),
        ("admitted", 5, 3, False),
        ("withdrawn", 5, 1, False),
    ],
)
def test_should_auto_admit(status, cosponsors, threshold, want):
    assert should_auto_admit(status, cosponsors, threshold) is want


def test_should_auto_admit_unknown_status():
    with pytest.raises(InvalidInput, match="unknown amendment status 'nope'"):
        should_auto_admit("nope", 1, 1)


def test_only_the_phase_before_can_be_reopened_and_never_pending() -> None:
    from deliberation.core.phases import PHASE_ORDER, check_phase_reopen, is_reopening

    allowed = {("amendments", "debate"), ("voting", "amendments"), ("closed", "voting")}
    for cur in PHASE_ORDER:
        for req in PHASE_ORDER:
            assert is_reopening(cur, req) == (PHASE_ORDER.index(req) < PHASE_ORDER.index(cur))
            if (cur.value, req.value) in allowed:
                assert check_phase_reopen(cur, req) is req
            else:
                with pytest.raises(IllegalTransition):
                    check_phase_reopen(cur, req)
