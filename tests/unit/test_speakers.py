import dataclasses

import pytest

from deliberation.core.errors import IllegalTransition, InvalidInput
from deliberation.core.speakers import SpeakerKind, SpeakerStatus, SpeechType, Timer, kind_of, queue_order, resolve_speech_type


def test_enums():
    assert [k.value for k in SpeakerKind] == ["speech", "point_of_order"]
    assert [s.value for s in SpeakerStatus] == ["waiting", "speaking", "done", "withdrawn"]


def test_queue_order_points_of_order_first():
    entries = [
        (1, "speech", 30),
        (2, "speech", 10),
        (3, "point_of_order", 50),
        (4, "speech", 20),
        (5, "point_of_order", 5),
    ]
    assert queue_order(entries) == [5, 3, 2, 4, 1]
    assert queue_order([]) == []


def test_queue_order_ties_break_by_id():
    assert queue_order([(9, "speech", 1), (3, "speech", 1), (7, "point_of_order", 1)]) == [7, 3, 9]


def test_queue_order_rejects_unknown_kind():
    with pytest.raises(InvalidInput, match="unknown speaker kind 'rant'; expected 'speech' or 'point_of_order'"):
        queue_order([(1, "rant", 1)])


def test_new_timer_is_stopped():
    t = Timer(limit_ms=60_000)
    assert not t.running
    assert t.elapsed(123) == 0
    assert t.remaining(123) == 60_000
    assert t.to_dict(123) == {"running": False, "started_at_ms": None, "elapsed_ms": 0, "remaining_ms": 60_000, "limit_ms": 60_000}


def test_start_pause_resume_stop():
    t = Timer(60_000).start(1_000)
    assert t.running and t.started_at_ms == 1_000
    assert t.elapsed(11_000) == 10_000
    assert t.remaining(11_000) == 50_000
    t = t.pause(11_000)
    assert not t.running and t.elapsed_ms == 10_000
    assert t.elapsed(99_000) == 10_000  # paused: the clock does not move
    t = t.resume(20_000)
    assert t.elapsed(25_000) == 15_000
    assert t.to_dict(25_000) == {"running": True, "started_at_ms": 20_000, "elapsed_ms": 15_000, "remaining_ms": 45_000, "limit_ms": 60_000}
    t = t.stop(30_000)
    assert not t.running and t.elapsed(40_000) == 20_000
    # start resets
    t2 = t.start(50_000)
    assert t2.elapsed(50_000) == 0 and t2.elapsed_ms == 0
    # stop of a stopped timer keeps it
    assert t.stop(60_000) == t


def test_overtime_goes_negative():
    t = Timer(10_000).start(0)
    assert t.remaining(10_000) == 0
    assert t.overtime(10_000) == 0
    assert t.remaining(12_500) == -2_500
    assert t.overtime(12_500) == 2_500
    assert t.to_dict(12_500)["remaining_ms"] == -2_500


def test_clock_going_backwards_counts_as_no_time():
    t = Timer(1_000, elapsed_ms=200, started_at_ms=5_000)
    assert t.elapsed(4_000) == 200


def test_illegal_timer_moves():
    running = Timer(1_000).start(0)
    stopped = Timer(1_000)
    with pytest.raises(IllegalTransition, match="cannot start the timer: it is already running"):
        running.start(5)
    with pytest.raises(IllegalTransition, match="cannot resume the timer: it is already running"):
        running.resume(5)
    with pytest.raises(IllegalTransition, match="cannot pause the timer: it is not running"):
        stopped.pause(5)
    assert IllegalTransition.status == 409


def test_timer_is_frozen_and_validated():
    t = Timer(1_000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.limit_ms = 5  # type: ignore[misc]
    with pytest.raises(InvalidInput, match="timer limit_ms must be >= 0, got -1"):
        Timer(-1)
    with pytest.raises(InvalidInput, match="timer elapsed_ms must be >= 0, got -5"):
        Timer(10, elapsed_ms=-5)
    with pytest.raises(InvalidInput, match="timer limit_ms must be an integer, got '10'"):
        Timer("10")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="timer started_at_ms must be an integer, got True"):
        Timer(10, started_at_ms=True)  # type: ignore[arg-type]


def test_storage_round_trip():
    for t in (Timer(90_000), Timer(90_000).start(7).pause(1_007), Timer(90_000).start(7).pause(1_007).resume(2_000)):
        assert Timer.from_dict(t.to_storage()) == t
    assert Timer.from_dict({"limit_ms": 5}) == Timer(5)
    assert Timer(5).with_limit(9) == Timer(9)


def test_from_dict_rejects_bad_input():
    with pytest.raises(InvalidInput, match="timer is missing limit_ms"):
        Timer.from_dict({"elapsed_ms": 1})
    with pytest.raises(InvalidInput, match="timer must be an object, got list"):
        Timer.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="got a to_dict\\(\\) view with remaining_ms"):
        Timer.from_dict(Timer(5).start(0).to_dict(3))
    with pytest.raises(InvalidInput, match="timer elapsed_ms must be an integer, got None"):
        Timer.from_dict({"limit_ms": 5, "elapsed_ms": None})


def test_speech_types_and_their_kind():
    assert [t.value for t in SpeechType] == ["contribution", "pro", "contra", "point_of_order", "question", "intervention"]
    assert [t for t in SpeechType if kind_of(t) is SpeakerKind.POINT_OF_ORDER] == [SpeechType.POINT_OF_ORDER]


@pytest.mark.parametrize(
    "kind,speech_type,want",
    [
        (None, None, SpeechType.CONTRIBUTION),
        ("speech", None, SpeechType.CONTRIBUTION),
        ("point_of_order", None, SpeechType.POINT_OF_ORDER),
        (None, "pro", SpeechType.PRO),
        ("speech", "question", SpeechType.QUESTION),
        ("point_of_order", "point_of_order", SpeechType.POINT_OF_ORDER),
    ],
)
def test_resolve_speech_type(kind, speech_type, want):
    assert resolve_speech_type(kind, speech_type) is want


@pytest.mark.parametrize(
    "kind,speech_type,match",
    [
        (None, "rant", r"unknown speech type 'rant'; expected one of \['contribution', 'pro', 'contra', 'point_of_order', 'question', 'intervention'\]"),
        ("rant", None, "unknown speaker kind 'rant'"),
        ("rant", "pro", "unknown speaker kind 'rant'"),
        ("point_of_order", "pro", "speech type 'pro' is of kind 'speech', but the request says kind 'point_of_order'"),
        ("speech", "point_of_order", "speech type 'point_of_order' is of kind 'point_of_order', but the request says kind 'speech'"),
    ],
)
def test_resolve_speech_type_refuses(kind, speech_type, match):
    with pytest.raises(InvalidInput, match=match):
        resolve_speech_type(kind, speech_type)
