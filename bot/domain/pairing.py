"""Buddy pairing: who is paired with whom in a round. Pure, and deterministic given a seed.

The rules, strongest first:
1. a blocked pair never happens (a block is absolute, in both directions);
2. nobody is left out if any arrangement places everyone; an odd count makes one trio;
3. nobody meets someone they were paired with in the last `window` rounds while any other
   arrangement exists; a repeat that cannot be avoided is of the oldest pair possible;
4. then: buddies whose offers of support meet the other's gaps, close timezones, and people
   who have never met before are preferred.

Each rule is a cost so much larger than everything below it that no amount of the lesser can
outweigh one unit of the greater. Up to `EXACT_LIMIT` members the cheapest arrangement is found
exactly (dynamic programming over subsets); above it a fast heuristic works on members sorted
by timezone, then repairs whoever is left over and swaps partners to undo repeats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

UNPLACED_COST = 1e12
REPEAT_COST = 1e7
REPEAT_AGE_STEP = 1e4  # a repeat of an older pair costs less
MET_BEFORE_COST = 30.0  # met longer ago than the window: allowed, mildly avoided
HOUR_COST = 4.0  # per hour of timezone difference
UNKNOWN_TIMEZONE_HOURS = 4
COMPLEMENT_BONUS = 20.0  # one buddy offers a kind of support the other is missing
EXACT_LIMIT = 12
NEIGHBOURS = 40  # heuristic: candidates looked at for each member
SWAP_SAMPLE = 400  # heuristic: other pairs tried when undoing a repeat


@dataclass(frozen=True)
class Candidate:
    member_id: int
    # Minutes east of UTC this week; None when the member never said.
    utc_offset_minutes: int | None = None
    offers: frozenset[str] = frozenset()  # kinds of support they are glad to give
    gaps: frozenset[str] = frozenset()  # kinds of support missing from their circle


@dataclass(frozen=True)
class Rules:
    round_number: int
    window: int = 6  # rounds within which a pair should not meet again
    seed: int = 0


@dataclass(frozen=True)
class Pairing:
    groups: tuple[tuple[int, ...], ...]  # pairs, and at most one trio
    unplaced: tuple[int, ...]  # only when blocks leave no way to place them
    repeats: tuple[frozenset[int], ...] = field(default=())  # pairs that met within the window


def pair_key(a: int, b: int) -> frozenset[int]:
    return frozenset((a, b))


class Costs:
    """The cost of putting two members together (infinite when blocked)."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        history: Mapping[frozenset[int], int],
        blocks: Iterable[frozenset[int]],
        rules: Rules,
    ) -> None:
        self.by_id = {c.member_id: c for c in candidates}
        self.history = history
        self.blocks = set(blocks)
        self.rules = rules

    def age(self, a: int, b: int) -> int | None:
        last = self.history.get(pair_key(a, b))
        return None if last is None else self.rules.round_number - last

    def is_repeat(self, a: int, b: int) -> bool:
        age = self.age(a, b)
        return age is not None and age <= self.rules.window

    def pair(self, a: int, b: int) -> float:
        if a == b or pair_key(a, b) in self.blocks:
            return math.inf
        cost = self._hours_apart(a, b) * HOUR_COST + self._jitter(a, b)
        age = self.age(a, b)
        if age is not None:
            if age <= self.rules.window:
                cost += REPEAT_COST + (self.rules.window - age) * REPEAT_AGE_STEP
            else:
                cost += MET_BEFORE_COST
        return cost - self._complement(a, b)

    def group(self, members: Sequence[int]) -> float:
        return sum(self.pair(a, b) for i, a in enumerate(members) for b in members[i + 1 :])

    def _hours_apart(self, a: int, b: int) -> float:
        x, y = self.by_id[a].utc_offset_minutes, self.by_id[b].utc_offset_minutes
        if x is None or y is None:
            return UNKNOWN_TIMEZONE_HOURS
        apart = abs(x - y) % 1440
        return min(apart, 1440 - apart) / 60

    def _complement(self, a: int, b: int) -> float:
        x, y = self.by_id[a], self.by_id[b]
        return COMPLEMENT_BONUS if (x.offers & y.gaps) or (y.offers & x.gaps) else 0.0

    def _jitter(self, a: int, b: int) -> float:
        # Deterministic tie-breaking that changes with the seed (int tuples hash stably).
        low, high = min(a, b), max(a, b)
        return (hash((self.rules.seed, low, high)) % 1000) / 1000


def pair_members(
    candidates: Sequence[Candidate],
    history: Mapping[frozenset[int], int],
    blocks: Iterable[frozenset[int]],
    rules: Rules,
    *,
    exact_limit: int = EXACT_LIMIT,
) -> Pairing:
    """Arrange `candidates` in pairs (one trio for an odd count). `history` maps a pair to the
    last round it was together."""
    costs = Costs(candidates, history, blocks, rules)
    ids = sorted(costs.by_id, key=lambda m: (hash((rules.seed, m)), m))
    if len(ids) <= exact_limit:
        groups, unplaced = _exact(ids, costs)
    else:
        groups, unplaced = _heuristic(ids, costs)
    groups = sorted(tuple(sorted(g)) for g in groups)
    repeats = tuple(
        pair_key(a, b)
        for g in groups
        for i, a in enumerate(g)
        for b in g[i + 1 :]
        if costs.is_repeat(a, b)
    )
    return Pairing(tuple(groups), tuple(sorted(unplaced)), repeats)


def _exact(ids: list[int], costs: Costs) -> tuple[list[tuple[int, ...]], list[int]]:
    """The cheapest arrangement, by dynamic programming over subsets of members."""
    n = len(ids)
    price = [[costs.pair(ids[i], ids[j]) for j in range(n)] for i in range(n)]

    @cache
    def best(mask: int, trio_left: bool) -> tuple[float, tuple[tuple[int, ...], ...]]:
        if mask == 0:
            return 0.0, ()
        i = (mask & -mask).bit_length() - 1
        rest = mask & ~(1 << i)
        cost, groups = best(rest, trio_left)
        choice = (cost + UNPLACED_COST, ((i,), *groups))
        others = [j for j in range(n) if rest >> j & 1]
        for x, j in enumerate(others):
            if math.isinf(price[i][j]):
                continue
            cost, groups = best(rest & ~(1 << j), trio_left)
            if cost + price[i][j] < choice[0]:
                choice = (cost + price[i][j], ((i, j), *groups))
            if not trio_left:
                continue
            for k in others[x + 1 :]:
                extra = price[i][k] + price[j][k]
                if math.isinf(extra):
                    continue
                cost, groups = best(rest & ~(1 << j) & ~(1 << k), False)
                total = cost + price[i][j] + extra
                if total < choice[0]:
                    choice = (total, ((i, j, k), *groups))
        return choice

    _, chosen = best((1 << n) - 1, True)
    best.cache_clear()
    groups = [tuple(ids[i] for i in g) for g in chosen if len(g) > 1]
    unplaced = [ids[g[0]] for g in chosen if len(g) == 1]
    return groups, unplaced


def _heuristic(ids: list[int], costs: Costs) -> tuple[list[tuple[int, ...]], list[int]]:
    """Greedy over members sorted by timezone, then repair leftovers and undo repeats."""

    def offset(member: int) -> int:
        minutes = costs.by_id[member].utc_offset_minutes
        return 10_000 if minutes is None else minutes

    order = sorted(ids, key=offset)  # `ids` is already shuffled by the seed: stable ties
    partner: dict[int, int] = {}
    for index, a in enumerate(order):
        if a in partner:
            continue
        chosen, chosen_cost, looked = None, math.inf, 0
        for b in order[index + 1 :]:
            if b in partner:
                continue
            cost = costs.pair(a, b)
            if cost < chosen_cost:
                chosen, chosen_cost = b, cost
            looked += 1
            if looked >= NEIGHBOURS and chosen_cost < REPEAT_COST:
                break
            if looked >= 4 * NEIGHBOURS:
                break
        if chosen is not None:
            partner[a], partner[chosen] = chosen, a
    pairs = _pairs_of(partner)
    leftovers = [m for m in order if m not in partner]
    leftovers = _repair(leftovers, pairs, costs)
    _undo_repeats(pairs, costs)
    _match_support(pairs, costs)
    groups: list[tuple[int, ...]] = [tuple(p) for p in pairs]
    if len(leftovers) == 1:
        groups, leftovers = _make_trio(leftovers[0], groups, costs)
    return groups, leftovers


def _pairs_of(partner: dict[int, int]) -> list[list[int]]:
    return [[a, b] for a, b in partner.items() if a < b]


def _repair(leftovers: list[int], pairs: list[list[int]], costs: Costs) -> list[int]:
    """Place members the greedy pass could not: pair leftovers together, or break a pair
    (a, b) so that u takes a and b takes another leftover."""
    waiting = list(leftovers)
    placed_any = True
    while len(waiting) >= 2 and placed_any:
        placed_any = False
        for u in list(waiting):
            if u not in waiting:
                continue
            others = [v for v in waiting if v != u and not math.isinf(costs.pair(u, v))]
            if others:
                v = min(others, key=lambda v: costs.pair(u, v))
                pairs.append([u, v])
                waiting.remove(u)
                waiting.remove(v)
                placed_any = True
                continue
            for pair in pairs:
                for a, b in (pair, pair[::-1]):
                    if math.isinf(costs.pair(u, a)):
                        continue
                    mates = [v for v in waiting if v != u and not math.isinf(costs.pair(b, v))]
                    if mates:
                        v = min(mates, key=lambda v: costs.pair(b, v))
                        pair[:] = [u, a]
                        pairs.append([b, v])
                        waiting.remove(u)
                        waiting.remove(v)
                        placed_any = True
                        break
                if u not in waiting:
                    break
    return waiting


def _undo_repeats(pairs: list[list[int]], costs: Costs) -> None:
    """Swap partners between a repeating pair and another pair when that removes the repeat
    without making one (such a swap always lowers the total cost)."""
    count = len(pairs)
    for index in range(count):
        a, b = pairs[index]
        if not costs.is_repeat(a, b):
            continue
        start = hash((costs.rules.seed, a, b)) % count
        for step in range(min(count, SWAP_SAMPLE)):
            other = pairs[(start + step) % count]
            if other is pairs[index]:
                continue
            c, d = other
            now = costs.pair(a, b) + costs.pair(c, d)
            straight = costs.pair(a, c) + costs.pair(b, d)
            crossed = costs.pair(a, d) + costs.pair(b, c)
            if min(straight, crossed) < now:
                new = ([a, c], [b, d]) if straight <= crossed else ([a, d], [b, c])
                if any(costs.is_repeat(x, y) for x, y in new):
                    continue  # the repeat would only move: look for a better swap
                pairs[index][:], other[:] = new
                break


def _match_support(pairs: list[list[int]], costs: Costs) -> None:
    """Swap partners between pairs that involve offers or gaps of support whenever that
    lowers the total cost: the greedy pass, looking at timezone neighbours, misses a member
    whose offer meets another's gap a little further away."""

    def involved(member: int) -> bool:
        candidate = costs.by_id[member]
        return bool(candidate.offers or candidate.gaps)

    special = [pair for pair in pairs if involved(pair[0]) or involved(pair[1])]
    for position, first in enumerate(special):
        for second in special[position + 1 : position + 1 + 2 * NEIGHBOURS]:
            a, b = first
            c, d = second
            now = costs.pair(a, b) + costs.pair(c, d)
            straight = costs.pair(a, c) + costs.pair(b, d)
            crossed = costs.pair(a, d) + costs.pair(b, c)
            if min(straight, crossed) < now:
                first[:], second[:] = ([a, c], [b, d]) if straight <= crossed else ([a, d], [b, c])


def _make_trio(
    member: int, groups: list[tuple[int, ...]], costs: Costs
) -> tuple[list[tuple[int, ...]], list[int]]:
    """The odd one out joins the pair where they fit best."""
    best_index, best_cost = None, math.inf
    for index, group in enumerate(groups):
        cost = costs.pair(member, group[0]) + costs.pair(member, group[1])
        if cost < best_cost:
            best_index, best_cost = index, cost
    if best_index is None:
        return groups, [member]
    groups[best_index] = (*groups[best_index], member)
    return groups, []
