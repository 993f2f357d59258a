"""The pure rules of support circles (gaps, validation, note limits, milestones) and the
preference buddy pairing gives to pairs whose offers meet the other's gaps."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.domain.buddies import (
    COMPLEMENT_BONUS,
    EXACT_LIMIT,
    Candidate,
    Costs,
    Rules,
    pair_members,
)
from bot.domain.checkins import InvalidInput
from bot.domain.circles import (
    MAX_TOPICS,
    NAME_MAX_CHARS,
    NOTE_RECIPIENT_GAP,
    NOTES_PER_DAY,
    STREAK_MILESTONES,
    TOPIC_MAX_CHARS,
    Kind,
    NoteVerdict,
    Person,
    check_name,
    check_topics,
    gaps,
    may_send_note,
    streak_milestone,
    years_in_server,
)
from bot.matching import max_weight_matching

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ROUND = 20
EMOTIONAL = frozenset({"emotional"})


# --- gaps and Person -------------------------------------------------------------------------


def test_an_empty_circle_lacks_every_kind_in_the_standard_order() -> None:
    assert gaps([]) == [
        Kind.EMOTIONAL,
        Kind.PRACTICAL,
        Kind.INFORMATIONAL,
        Kind.COMPANIONSHIP,
    ]


def test_gaps_are_the_kinds_nobody_gives_whatever_the_order_of_people() -> None:
    people = [
        Person(Kind.COMPANIONSHIP, name="Sam"),
        Person(Kind.EMOTIONAL, user_id=7),
        Person(Kind.COMPANIONSHIP, user_id=8),  # a second person for a kind changes nothing
    ]
    assert gaps(people) == [Kind.PRACTICAL, Kind.INFORMATIONAL]
    assert gaps(reversed(people)) == [Kind.PRACTICAL, Kind.INFORMATIONAL]
    assert gaps(Person(kind, name="x") for kind in Kind) == []


def test_a_professional_counts_for_their_kind() -> None:
    assert gaps([Person(Kind.EMOTIONAL, name="my therapist", professional=True)]) == [
        Kind.PRACTICAL,
        Kind.INFORMATIONAL,
        Kind.COMPANIONSHIP,
    ]


@pytest.mark.parametrize(
    ("person", "shown"),
    [
        (Person(Kind.EMOTIONAL, user_id=42), "<@42>"),
        (Person(Kind.EMOTIONAL, name="my sister"), "my sister"),
        (Person(Kind.PRACTICAL, name="Dr Lee", professional=True), "Dr Lee (professional)"),
        (Person(Kind.PRACTICAL, user_id=9, professional=True), "<@9> (professional)"),
        (Person(Kind.INFORMATIONAL), "someone"),
        # A member is shown by mention even if a name is also set.
        (Person(Kind.COMPANIONSHIP, user_id=5, name="ignored"), "<@5>"),
    ],
)
def test_person_display(person: Person, shown: str) -> None:
    assert person.display() == shown


def test_kinds_have_labels_and_meanings() -> None:
    assert [k.value for k in Kind] == ["emotional", "practical", "informational", "companionship"]
    assert (Kind.EMOTIONAL.label, Kind.EMOTIONAL.meaning) == ("Emotional", "someone who listens")
    assert len({k.emoji for k in Kind}) == 4


# --- check_name ------------------------------------------------------------------------------


def test_check_name_collapses_whitespace() -> None:
    assert check_name("  my   big\tsister \n") == "my big sister"
    assert check_name("Sam") == "Sam"


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_check_name_refuses_a_blank_name(text: str) -> None:
    with pytest.raises(InvalidInput, match="type a name"):
        check_name(text)


def test_check_name_length_boundary() -> None:
    longest = "a" * NAME_MAX_CHARS
    assert check_name(longest) == longest
    # Whitespace collapsed before counting: padding does not push it over.
    assert check_name(f"  {longest}  ") == longest
    with pytest.raises(InvalidInput, match=f"under {NAME_MAX_CHARS} characters"):
        check_name("a" * (NAME_MAX_CHARS + 1))


# --- check_topics ----------------------------------------------------------------------------


def test_check_topics_splits_trims_and_drops_empty_parts() -> None:
    assert check_topics("job loss, new parent") == ["job loss", "new parent"]
    assert check_topics(" ,  grief  ,, moving   house ,") == ["grief", "moving house"]
    assert check_topics("") == []
    assert check_topics(" , ,") == []


def test_check_topics_drops_duplicates_ignoring_case_keeping_the_first() -> None:
    assert check_topics("Job loss, job LOSS, grief, Grief") == ["Job loss", "grief"]


def test_check_topics_length_boundary() -> None:
    longest = "t" * TOPIC_MAX_CHARS
    assert check_topics(f"{longest}, ok") == [longest, "ok"]
    with pytest.raises(InvalidInput, match=f"under {TOPIC_MAX_CHARS} characters"):
        check_topics("ok, " + "t" * (TOPIC_MAX_CHARS + 1))


def test_check_topics_count_boundary() -> None:
    five = [f"topic {n}" for n in range(MAX_TOPICS)]
    assert check_topics(", ".join(five)) == five
    # A duplicate does not count towards the limit.
    assert check_topics(", ".join([*five, "TOPIC 0"])) == five
    with pytest.raises(InvalidInput, match=f"Up to {MAX_TOPICS} topics"):
        check_topics(", ".join([*five, "one more"]))


# --- may_send_note ---------------------------------------------------------------------------


def test_a_first_note_is_allowed() -> None:
    assert may_send_note([], None, NOW) == NoteVerdict(True)


def test_a_few_notes_a_day_per_sender() -> None:
    earlier = [NOW - timedelta(hours=h) for h in range(1, NOTES_PER_DAY)]
    assert may_send_note(earlier, None, NOW).allowed
    full = [NOW - timedelta(hours=h) for h in range(1, NOTES_PER_DAY + 1)]
    verdict = may_send_note(full, None, NOW)
    assert not verdict.allowed
    assert verdict.reason is not None
    assert f"{NOTES_PER_DAY} notes today" in verdict.reason


def test_the_daily_limit_is_a_rolling_day() -> None:
    full = [NOW - timedelta(hours=23, minutes=59), NOW - timedelta(hours=2), NOW]
    assert not may_send_note(full, None, NOW).allowed
    # Exactly a day after the oldest, that one no longer counts.
    assert may_send_note(full, None, full[0] + timedelta(days=1)).allowed
    # Older notes passed in by mistake are not counted either.
    old = [NOW - timedelta(days=1), NOW - timedelta(days=2), NOW - timedelta(hours=25)]
    assert may_send_note(old, None, NOW).allowed


def test_one_note_per_recipient_per_week() -> None:
    last = NOW - NOTE_RECIPIENT_GAP + timedelta(seconds=1)
    verdict = may_send_note([], last, NOW)
    assert not verdict.allowed
    again = int((last + NOTE_RECIPIENT_GAP).timestamp())
    assert verdict.reason is not None
    assert f"<t:{again}:D>" in verdict.reason
    assert may_send_note([], NOW - NOTE_RECIPIENT_GAP, NOW).allowed
    assert may_send_note([], NOW - timedelta(days=30), NOW).allowed


def test_the_recipient_limit_applies_even_with_none_sent_today() -> None:
    assert timedelta(days=7) == NOTE_RECIPIENT_GAP
    assert not may_send_note([], NOW - timedelta(days=6), NOW).allowed


# --- streak_milestone ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "milestone"),
    [
        (6, 7, 7),
        (29, 30, 30),
        (99, 100, 100),
        (364, 365, 365),
        (0, 1, None),
        (7, 8, None),
        (7, 7, None),  # checked in again the same day: nothing new
        (365, 366, None),
        (0, 7, 7),
        (8, 30, 30),
    ],
)
def test_streak_milestone(before: int, after: int, milestone: int | None) -> None:
    assert streak_milestone(before, after) == milestone


def test_every_milestone_is_reached_once_on_a_daily_climb() -> None:
    reached = [m for day in range(1, 400) if (m := streak_milestone(day - 1, day)) is not None]
    assert tuple(reached) == STREAK_MILESTONES


# --- years_in_server -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("joined", "today", "years"),
    [
        (date(2024, 3, 10), date(2024, 3, 10), 0),
        (date(2024, 3, 10), date(2025, 3, 9), 0),
        (date(2024, 3, 10), date(2025, 3, 10), 1),
        (date(2024, 3, 10), date(2026, 1, 5), 1),
        (date(2024, 3, 10), date(2034, 3, 10), 10),
        (date(2024, 12, 31), date(2025, 1, 1), 0),
        (date(2026, 6, 1), date(2026, 1, 5), 0),  # a join date in the future: never negative
    ],
)
def test_years_in_server(joined: date, today: date, years: int) -> None:
    assert years_in_server(joined, today) == years


@pytest.mark.parametrize(
    ("today", "years"),
    [
        (date(2025, 2, 28), 0),
        (date(2025, 3, 1), 1),  # no 29 February: the year is complete on 1 March
        (date(2027, 2, 28), 2),
        (date(2027, 3, 1), 3),
        (date(2028, 2, 28), 3),
        (date(2028, 2, 29), 4),  # a leap year: on the day itself
    ],
)
def test_years_in_server_for_someone_who_joined_on_29_february(today: date, years: int) -> None:
    assert years_in_server(date(2024, 2, 29), today) == years


# --- the pairing preference ------------------------------------------------------------------


def _equal_round(size: int, *, offerer: int = 1, gapped: int = 2) -> list[Candidate]:
    """`size` members in one timezone, alike except that `offerer` offers emotional support
    and `gapped` has nobody for it."""
    members = []
    for member in range(1, size + 1):
        offers = EMOTIONAL if member == offerer else frozenset()
        lacks = EMOTIONAL if member == gapped else frozenset()
        members.append(Candidate(member, 60, offers=offers, gaps=lacks))
    return members


def _paired(groups: tuple[tuple[int, ...], ...], a: int, b: int) -> bool:
    return any({a, b} <= set(group) for group in groups)


def test_costs_give_the_bonus_when_either_offer_meets_the_others_gap() -> None:
    rules = Rules(ROUND, seed=5)
    plain = Costs([Candidate(1, 0), Candidate(2, 0)], {}, set(), rules).pair(1, 2)
    cases = [
        (Candidate(1, 0, offers=EMOTIONAL), Candidate(2, 0, gaps=EMOTIONAL), True),
        (Candidate(1, 0, gaps=EMOTIONAL), Candidate(2, 0, offers=EMOTIONAL), True),
        (
            Candidate(1, 0, offers=frozenset({"practical", "emotional"})),
            Candidate(2, 0, gaps=frozenset({"emotional", "companionship"})),
            True,
        ),
        # Offers and gaps of different kinds, or both offering, or both lacking: no bonus.
        (Candidate(1, 0, offers=EMOTIONAL), Candidate(2, 0, gaps=frozenset({"practical"})), False),
        (Candidate(1, 0, offers=EMOTIONAL), Candidate(2, 0, offers=EMOTIONAL), False),
        (Candidate(1, 0, gaps=EMOTIONAL), Candidate(2, 0, gaps=EMOTIONAL), False),
        # One's own offer does not fill one's own gap.
        (Candidate(1, 0, offers=EMOTIONAL, gaps=EMOTIONAL), Candidate(2, 0), False),
    ]
    for a, b, bonus in cases:
        cost = Costs([a, b], {}, set(), rules).pair(1, 2)
        assert cost == pytest.approx(plain - COMPLEMENT_BONUS if bonus else plain), (a, b)
        assert Costs([a, b], {}, set(), rules).pair(2, 1) == cost


@pytest.mark.parametrize("size", range(4, EXACT_LIMIT + 1))
def test_exact_path_pairs_the_offer_with_the_gap(size: int) -> None:
    assert size <= EXACT_LIMIT
    for seed in range(8):
        result = pair_members(_equal_round(size), {}, set(), Rules(ROUND, seed=seed))
        assert result.unplaced == ()
        assert _paired(result.groups, 1, 2), (size, seed, result.groups)


def test_without_offers_the_same_members_are_not_always_paired() -> None:
    """The control for the tests above: the preference, not chance, puts 1 and 2 together."""
    plain = [Candidate(m, 60) for m in range(1, 9)]
    together = [
        _paired(pair_members(plain, {}, set(), Rules(ROUND, seed=seed)).groups, 1, 2)
        for seed in range(20)
    ]
    assert not all(together)
    assert all(
        _paired(pair_members(_equal_round(8), {}, set(), Rules(ROUND, seed=s)).groups, 1, 2)
        for s in range(20)
    )


def test_exact_path_prefers_the_complement_over_a_small_timezone_difference() -> None:
    # 1 offers, 2 lacks it but is an hour away; 3 and 4 share 1's timezone exactly.
    members = [
        Candidate(1, 0, offers=EMOTIONAL),
        Candidate(2, 60, gaps=EMOTIONAL),
        Candidate(3, 0),
        Candidate(4, 60),
    ]
    for seed in range(10):
        result = pair_members(members, {}, set(), Rules(ROUND, seed=seed))
        assert result.groups == ((1, 2), (3, 4))


@pytest.mark.parametrize("size", [14, 20, 40])
def test_heuristic_path_pairs_every_offer_with_a_gap_when_there_are_enough(size: int) -> None:
    """Half offer emotional support, half have nobody for it: more than EXACT_LIMIT members,
    so the heuristic runs, and every pair it makes is one where the offer meets the gap."""
    assert size > EXACT_LIMIT
    half = size // 2
    members = [Candidate(m, 60, offers=EMOTIONAL) for m in range(1, half + 1)] + [
        Candidate(m, 60, gaps=EMOTIONAL) for m in range(half + 1, size + 1)
    ]
    for seed in range(10):
        result = pair_members(members, {}, set(), Rules(ROUND, seed=seed))
        assert result.unplaced == ()
        assert len(result.groups) == half
        for a, b in result.groups:
            assert (a <= half) != (b <= half), (seed, result.groups)


def test_heuristic_path_prefers_complements_over_chance() -> None:
    """A lone complementary pair among 20 members: far more often together than chance
    (1 in 19) across seeds."""
    size, seeds = 20, range(60)
    with_offers = sum(
        _paired(pair_members(_equal_round(size), {}, set(), Rules(ROUND, seed=s)).groups, 1, 2)
        for s in seeds
    )
    plain = [Candidate(m, 60) for m in range(1, size + 1)]
    without = sum(
        _paired(pair_members(plain, {}, set(), Rules(ROUND, seed=s)).groups, 1, 2) for s in seeds
    )
    assert with_offers >= 3 * max(without, 5)


@pytest.mark.parametrize("size", [13, 20])
def test_heuristic_path_always_pairs_a_lone_complementary_pair(size: int) -> None:
    assert size > EXACT_LIMIT
    missed = [
        seed
        for seed in range(20)
        if not _paired(
            pair_members(_equal_round(size), {}, set(), Rules(ROUND, seed=seed)).groups, 1, 2
        )
    ]
    assert missed == []


PATHS: list[dict[str, Any]] = [
    {},
    {"exact_limit": 0, "matching": max_weight_matching},
    {"exact_limit": 0, "matching_limit": 0},
]


@pytest.mark.parametrize("path", PATHS, ids=["exact", "matching", "heuristic"])
def test_offers_never_outweigh_a_block(path: dict[str, Any]) -> None:
    for size, seed in itertools.product((4, 9, 14), range(8)):
        result = pair_members(
            _equal_round(size), {}, {frozenset((1, 2))}, Rules(ROUND, seed=seed), **path
        )
        assert not _paired(result.groups, 1, 2)
        assert result.unplaced == ()


@pytest.mark.parametrize("path", PATHS, ids=["exact", "matching", "heuristic"])
def test_offers_never_outweigh_a_recent_repeat(path: dict[str, Any]) -> None:
    for size, seed, age in itertools.product((4, 9, 14), range(6), (1, 6)):
        history = {frozenset((1, 2)): ROUND - age}
        result = pair_members(
            _equal_round(size), history, set(), Rules(ROUND, window=6, seed=seed), **path
        )
        assert not _paired(result.groups, 1, 2)
        assert result.repeats == ()
