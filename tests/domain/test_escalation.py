"""The pure rules of "I need to talk": timers, transitions, the flood limit, context, queue
order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.escalation import (
    CONTEXT_MAX_CHARS,
    CRISIS_QUIET,
    FOLD_WINDOW,
    MAX_TIMER_MINUTES,
    QUIET_FIRST,
    QUIET_MAX,
    Actor,
    Ladder,
    LadderStep,
    Previous,
    QueueEntry,
    Status,
    Timers,
    TransitionRefused,
    Urgency,
    append_context,
    check_claim,
    check_hand_off,
    check_member_change,
    check_resolve,
    clean_context,
    is_moderator,
    is_rise,
    plan_alert,
    queue_order,
    quiet_period,
    timer_problem,
)

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


# --- the ladder --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urgency", "first", "second"),
    [(Urgency.CHAT, 5, 15), (Urgency.STRUGGLING, 5, 15), (Urgency.CRISIS, 2, 5)],
)
def test_default_ladder_steps(urgency: Urgency, first: int, second: int) -> None:
    assert Ladder().steps(urgency, START) == [
        (LadderStep.REPING, START + timedelta(minutes=first)),
        (LadderStep.ESCALATE, START + timedelta(minutes=second)),
    ]


def test_custom_timers_are_used_per_urgency() -> None:
    ladder = Ladder(
        normal=Timers(timedelta(minutes=10), timedelta(minutes=30)),
        crisis=Timers(timedelta(minutes=1), timedelta(minutes=3)),
    )
    assert ladder.timers(Urgency.CHAT).second == timedelta(minutes=30)
    assert ladder.timers(Urgency.CRISIS).first == timedelta(minutes=1)
    assert [due for _, due in ladder.steps(Urgency.CRISIS, START)] == [
        START + timedelta(minutes=1),
        START + timedelta(minutes=3),
    ]


def test_urgency_ranks_and_labels() -> None:
    assert sorted(Urgency, key=lambda u: u.rank) == [
        Urgency.CRISIS,
        Urgency.STRUGGLING,
        Urgency.CHAT,
    ]
    assert Urgency.CRISIS.label == "I'm in crisis"
    assert [s for s in Status if s.active] == [Status.OPEN, Status.CLAIMED]


@pytest.mark.parametrize(
    ("first", "second"),
    [(1, 2), (5, 15), (2, 5), (MAX_TIMER_MINUTES - 1, MAX_TIMER_MINUTES)],
)
def test_timer_problem_accepts_sensible_pairs(first: int, second: int) -> None:
    assert timer_problem(first, second) is None


@pytest.mark.parametrize(
    ("first", "second", "words"),
    [
        (0, 5, "between 1 and 1440"),
        (-1, 5, "between 1 and 1440"),
        (5, MAX_TIMER_MINUTES + 1, "between 1 and 1440"),
        (MAX_TIMER_MINUTES + 1, MAX_TIMER_MINUTES + 2, "between 1 and 1440"),
        (5, 5, "longer than the first"),
        (15, 5, "longer than the first"),
    ],
)
def test_timer_problem_explains_bad_pairs(first: int, second: int, words: str) -> None:
    problem = timer_problem(first, second)
    assert problem is not None
    assert words in problem


# --- transitions -------------------------------------------------------------------------


def test_an_open_request_can_be_claimed_and_resolved() -> None:
    check_claim(Status.OPEN)
    check_resolve(Status.OPEN)
    check_resolve(Status.CLAIMED)
    check_member_change(Status.OPEN)
    check_member_change(Status.CLAIMED)
    check_hand_off(Status.CLAIMED)


def test_claiming_a_claimed_request_is_refused_kindly() -> None:
    with pytest.raises(TransitionRefused, match="already claimed"):
        check_claim(Status.CLAIMED)


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CANCELLED])
def test_closed_requests_refuse_every_change(status: Status) -> None:
    for check in (check_claim, check_resolve, check_member_change):
        with pytest.raises(TransitionRefused, match="closed"):
            check(status)
    with pytest.raises(TransitionRefused, match="Only a claimed request"):
        check_hand_off(status)


def test_only_a_claimed_request_can_be_handed_off() -> None:
    with pytest.raises(TransitionRefused, match="Only a claimed request"):
        check_hand_off(Status.OPEN)


# --- asking again: the flood limit ---------------------------------------------------


def _closed(
    minutes_ago: float,
    *,
    pinged_minutes_ago: float | None = None,
    pinged: Urgency = Urgency.STRUGGLING,
    repeat: int = 0,
    status: Status = Status.CANCELLED,
    posted: bool = True,
    same_channel: bool = True,
) -> Previous:
    ping_ago = minutes_ago if pinged_minutes_ago is None else pinged_minutes_ago
    return Previous(
        status=status,
        closed_at=START - timedelta(minutes=minutes_ago),
        alert_posted=posted,
        same_channel=same_channel,
        pinged_at=START - timedelta(minutes=ping_ago),
        pinged_urgency=pinged,
        repeat=repeat,
    )


def test_a_first_request_gets_its_own_alert_and_pings() -> None:
    plan = plan_alert(None, Urgency.CHAT, START)
    assert (plan.fold, plan.ping, plan.repeat) == (False, True, 0)


@pytest.mark.parametrize(
    "previous",
    [
        _closed(31),  # long ago
        _closed(1, status=Status.RESOLVED),  # a moderator closed it: a new situation
        _closed(1, posted=False),  # its alert never reached the channel
        _closed(1, same_channel=False),  # the alert channel changed since
    ],
)
def test_asking_again_after_these_is_a_fresh_alert(previous: Previous) -> None:
    plan = plan_alert(previous, Urgency.STRUGGLING, START)
    assert (plan.fold, plan.ping) == (False, True)


def test_asking_again_soon_after_ok_now_folds_and_waits_out_the_quiet_period() -> None:
    plan = plan_alert(_closed(1, pinged_minutes_ago=2), Urgency.STRUGGLING, START)
    assert (plan.fold, plan.ping, plan.repeat) == (True, False, 1)
    later = plan_alert(_closed(1, pinged_minutes_ago=10), Urgency.STRUGGLING, START)
    assert (later.fold, later.ping) == (True, True)


def test_a_more_urgent_repeat_pings_at_once() -> None:
    plan = plan_alert(_closed(0.1, pinged=Urgency.CHAT), Urgency.STRUGGLING, START)
    assert (plan.fold, plan.ping) == (True, True)
    crisis = plan_alert(_closed(0.1, pinged=Urgency.STRUGGLING), Urgency.CRISIS, START)
    assert crisis.ping


def test_quiet_periods_grow_for_repeats_and_never_for_crisis() -> None:
    assert [quiet_period(Urgency.CHAT, n) for n in (1, 2, 3, 4, 5, 9)] == [
        QUIET_FIRST,
        QUIET_FIRST * 2,
        QUIET_FIRST * 4,
        QUIET_FIRST * 8,
        QUIET_MAX,
        QUIET_MAX,
    ]
    assert {quiet_period(Urgency.CRISIS, n) for n in range(1, 10)} == {CRISIS_QUIET}
    # A crisis repeat waits for the crisis ladder's usual first step at most.
    assert Ladder().crisis.first >= CRISIS_QUIET
    assert FOLD_WINDOW >= QUIET_FIRST


@given(
    closed=st.floats(min_value=0, max_value=60),
    pinged=st.floats(min_value=0, max_value=180),
    repeat=st.integers(min_value=0, max_value=20),
    before=st.sampled_from(list(Urgency)),
    now_urgency=st.sampled_from(list(Urgency)),
)
def test_the_limit_never_delays_a_first_or_more_urgent_request(
    closed: float, pinged: float, repeat: int, before: Urgency, now_urgency: Urgency
) -> None:
    previous = _closed(closed, pinged_minutes_ago=pinged, pinged=before, repeat=repeat)
    plan = plan_alert(previous, now_urgency, START)
    if not plan.fold or is_rise(before, now_urgency):
        assert plan.ping
    if not plan.ping:  # held back only inside the quiet period, at the same or lower urgency
        assert timedelta(minutes=pinged) < quiet_period(now_urgency, plan.repeat)
        assert not is_rise(before, now_urgency)
    assert plan.repeat == (repeat + 1 if plan.fold else 0)


def test_actor_is_a_moderator_by_role_or_manage_server() -> None:
    assert Actor(1, frozenset({7})).moderates((7, None, None))
    assert Actor(1, manage_server=True).moderates((None, None, None))
    assert not Actor(1, frozenset({8})).moderates((7, None, None))


# --- context -----------------------------------------------------------------------------


def test_clean_context_trims_and_drops_empty() -> None:
    assert clean_context("  I had a rough day \n") == "I had a rough day"
    assert clean_context(None) is None
    assert clean_context("") is None
    assert clean_context(" \n\t ") is None


def test_clean_context_limits_length_after_trimming() -> None:
    exact = "x" * CONTEXT_MAX_CHARS
    assert clean_context(f"   {exact}   ") == exact
    with pytest.raises(ValueError, match="1000 characters"):
        clean_context("x" * (CONTEXT_MAX_CHARS + 1))


def test_append_context_keeps_what_was_said_before() -> None:
    assert append_context(None, "first words", START) == "first words"
    assert append_context("", "first words", START) == "first words"
    combined = append_context("first words", "more words", START + timedelta(minutes=3))
    assert combined.startswith("first words")
    assert combined.endswith("more words")
    assert "[added 2026-01-05 12:03 UTC]" in combined
    again = append_context(combined, "third", START)
    assert again.startswith(combined)


# --- the queue ---------------------------------------------------------------------------


def _entry(request_id: int, urgency: Urgency, minutes_ago: int) -> QueueEntry:
    return QueueEntry(request_id, urgency, START - timedelta(minutes=minutes_ago))


def test_queue_puts_crisis_first_then_longest_waiting() -> None:
    entries = [
        _entry(1, Urgency.CHAT, 60),
        _entry(2, Urgency.CRISIS, 1),
        _entry(3, Urgency.STRUGGLING, 5),
        _entry(4, Urgency.CRISIS, 10),
        _entry(5, Urgency.STRUGGLING, 30),
    ]
    assert [e.request_id for e in queue_order(entries)] == [4, 2, 5, 3, 1]


entries_strategy = st.lists(
    st.builds(
        QueueEntry,
        request_id=st.integers(min_value=1, max_value=10_000),
        urgency=st.sampled_from(Urgency),
        created_at=st.datetimes(
            min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
        ),
    ),
    max_size=30,
)


@given(entries_strategy)
def test_queue_order_is_a_sorted_permutation(entries: list[QueueEntry]) -> None:
    ordered = queue_order(entries)
    assert sorted(ordered, key=id) == sorted(entries, key=id)  # same objects, nothing lost
    for before, after in itertools.pairwise(ordered):
        assert before.urgency.rank <= after.urgency.rank
        if before.urgency is after.urgency:
            assert before.created_at <= after.created_at


# --- who is a moderator ------------------------------------------------------------------


def test_is_moderator() -> None:
    assert is_moderator([10, 20], False, (20, None, None))
    assert is_moderator([30], False, (20, 30, None))  # the on-duty role counts
    assert is_moderator([], True, (None, None, None))  # Manage Server always counts
    assert not is_moderator([10], False, (20, None, None))
    assert not is_moderator([], False, (None, None, None))
    # An unset role (None, or 0 from a cleared setting) never matches anyone.
    assert not is_moderator([0], False, (0, None, None))


def test_context_as_a_whole_stays_within_one_embed() -> None:
    from bot.domain.escalation import CONTEXT_TOTAL_MAX_CHARS

    text = "x" * CONTEXT_MAX_CHARS
    at = datetime(2026, 1, 1, tzinfo=UTC)
    context = append_context(append_context(text, text, at), text, at)  # three messages fit
    with pytest.raises(ValueError, match="as many words"):
        append_context(context, text, at)  # the fourth is refused
    assert len(context) <= CONTEXT_TOTAL_MAX_CHARS < 4096
