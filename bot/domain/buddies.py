"""Buddy pairing: who is paired with whom in a round. Pure, and deterministic given a seed.

The rules, strongest first:
1. a blocked pair never happens (a block is absolute, in both directions);
2. nobody is left out if any arrangement places everyone; an odd count makes one trio;
3. nobody meets someone they were paired with in the last `window` rounds while any other
   arrangement exists; a repeat that cannot be avoided is of the oldest pair possible;
4. then: buddies whose offers of support meet the other's gaps, close timezones, and people
   who have never met before are preferred.

Each rule is a cost so much larger than everything below it that no amount of the lesser can
outweigh one unit of the greater. How the cheapest arrangement is looked for depends on size:

- up to `EXACT_LIMIT` members, exactly, trio included (dynamic programming over subsets);
- up to `MATCHING_LIMIT` members, by an exact minimum-cost matching on the same costs, given
  a `MatchEdges` (the domain stays standard library only: `bot.matching` gives rustworkx's
  blossom algorithm; without one, the heuristic). With an even count this is the optimum.
  With an odd count the pairs are optimal for everyone outside the trio, and several trios
  are tried (see `_by_matching`); `matching_bound` gives a lower bound on the optimum;
- above that, a fast heuristic on members sorted by timezone, which then repairs whoever is
  left over and swaps partners to undo repeats (the matching's time grows about as the cube
  of the count, all of it holding the GIL: 0.4 s at 300 members, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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
MATCHING_LIMIT = 300
BIG = 1e8  # matching: larger than any finite cost of a pair or of joining one; weight = BIG - cost
TRIO_ROUNDS = 4  # matching: times the others are matched again around a settled trio
ODD_STARTS = 8  # matching, odd counts: trios tried (each one more matching, or a few)
MILLI = 1000  # matching: integer weights in thousandths of a cost unit (exact arithmetic)
NEIGHBOURS = 40  # heuristic: candidates looked at for each member
SWAP_SAMPLE = 400  # heuristic: other pairs tried when undoing a repeat


# A maximum-weight matching with the most pairs possible: (number of nodes, edges as
# (i, j, integer weight)) -> the matched (i, j), in any order and either way round.
MatchEdges = Callable[[int, list[tuple[int, int, int]]], Iterable[tuple[int, int]]]


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
    matching_limit: int = MATCHING_LIMIT,
    matching: MatchEdges | None = None,
) -> Pairing:
    """Arrange `candidates` in pairs (one trio for an odd count). `history` maps a pair to the
    last round it was together. `matching` (e.g. `bot.matching.max_weight_matching`) is what
    the matching path uses; without one, rounds above `exact_limit` use the heuristic."""
    costs = Costs(candidates, history, blocks, rules)
    ids = _seeded_order(costs)
    if len(ids) <= exact_limit:
        groups, unplaced = _exact(ids, costs)
    elif len(ids) <= matching_limit and matching is not None:
        groups, unplaced = _by_matching(ids, costs, matching)
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


def _seeded_order(costs: Costs) -> list[int]:
    """The members in an order that changes with the seed (for ties), the same every time."""
    return sorted(costs.by_id, key=lambda m: (hash((costs.rules.seed, m)), m))


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


class _Matcher:
    """Minimum-cost matchings of `ids` (or of all but a few of them) with the most pairs:
    `matching` on integer weights BIG - cost. The costs of every pair are worked out once
    and shared by every matching asked for."""

    def __init__(self, ids: list[int], costs: Costs, matching: MatchEdges) -> None:
        self.ids, self.costs, self.matching = ids, costs, matching
        self.index = {m: i for i, m in enumerate(ids)}
        self.price = [[costs.pair(a, b) for b in ids] for a in ids]
        count = len(ids)
        self.edges = [
            (i, j, _weight(self.price[i][j]))
            for i in range(count)
            for j in range(i + 1, count)
            if not math.isinf(self.price[i][j])
        ]
        # The cheapest two others a member could be with: a lower bound on joining a pair.
        self.star = []
        for row in self.price:
            finite = sorted(c for c in row if not math.isinf(c))
            self.star.append(finite[0] + finite[1] if len(finite) >= 2 else math.inf)

    def match(
        self, without: frozenset[int] = frozenset(), *, stand_in: bool = False
    ) -> tuple[list[tuple[int, ...]], list[int], int | None, float]:
        """(pairs, members matched to nobody, the odd one out, the matching's cost). With
        `stand_in`, one more node whose cost to each member is their `star`: the matching
        then also picks the odd one out, and its cost is a lower bound on every arrangement
        with one trio that places everyone."""
        skip = {self.index[m] for m in without}
        edges = [e for e in self.edges if e[0] not in skip and e[1] not in skip]
        nodes, extra = len(self.ids), -1
        if stand_in:
            extra, nodes = nodes, nodes + 1
            edges += [
                (i, extra, _weight(star))
                for i, star in enumerate(self.star)
                if i not in skip and not math.isinf(star)
            ]
        pairs: list[tuple[int, ...]] = []
        odd_one, cost = None, 0.0
        matched = self.matching(nodes, edges)
        # In no fixed order (rustworkx's set changes from one process to the next): sorted,
        # so that what is done with it (and so the round) is the same every time.
        for i, j in sorted((min(e), max(e)) for e in matched):
            if extra in (i, j):
                member = i if j == extra else j
                odd_one, cost = self.ids[member], cost + self.star[member]
            else:
                pairs.append((self.ids[i], self.ids[j]))
                cost += self.price[i][j]
        placed = {m for pair in pairs for m in pair} | {odd_one} | set(without)
        return pairs, [m for m in self.ids if m not in placed], odd_one, cost


def _weight(cost: float) -> int:
    return round((BIG - cost) * MILLI)


def _by_matching(
    ids: list[int], costs: Costs, matching: MatchEdges
) -> tuple[list[tuple[int, ...]], list[int]]:
    """An even count: the minimum-cost matching, the exact optimum. An odd count: a trio
    and the optimal matching of everyone else. Several trios are tried: the one a stand-in
    member's matching picks (its cost to each member is the cheapest way they could join a
    pair), and one around each of the next ODD_STARTS - 1 likeliest odd ones out
    (`_likely_odd_ones`); each is settled (`_settle_trio`) and everyone else matched again
    around it while that helps. The cheapest arrangement found is kept. When blocks leave
    someone out, trios around those left out are tried first."""
    matcher = _Matcher(ids, costs, matching)
    if len(ids) % 2 == 0:
        pairs, waiting, _, _ = matcher.match()
        best = _with_trio(pairs, waiting, costs)
        for member in waiting[:ODD_STARTS]:  # blocks: a trio may place one more
            found = _trio_around(member, matcher)
            if (len(found[1]), _total(found[0], costs)) < (len(best[1]), _total(best[0], costs)):
                best = found
        return best
    pairs, waiting, odd_one, _ = matcher.match(stand_in=True)
    if odd_one is not None:
        waiting.insert(0, odd_one)
    best = _with_trio(pairs, waiting, costs)
    if not best[1]:
        best = (_around_trio(best[0], matcher), [])
    starts = [m for m in best[1] if m != odd_one]  # blocks left them out: try them first
    starts += [m for m in _likely_odd_ones(pairs, odd_one, matcher) if m not in starts]
    for member in starts[: ODD_STARTS - 1 + len(best[1])]:
        found = _trio_around(member, matcher)
        if (len(found[1]), _total(found[0], costs)) < (len(best[1]), _total(best[0], costs) - 1e-9):
            best = found
    return best


def _likely_odd_ones(
    pairs: list[tuple[int, ...]], odd_one: int | None, matcher: _Matcher
) -> list[int]:
    """Members by an estimate of the best arrangement with them as the odd one out: their
    `star`, plus the stand-in's matching with them taken out and their partner paired with
    the stand-in's odd one instead (one swap: an upper bound on matching the others)."""
    index = matcher.index
    if odd_one is None:
        return [matcher.ids[i] for i in sorted(index.values(), key=lambda i: matcher.star[i])]
    o = index[odd_one]
    total = sum(matcher.price[index[a]][index[b]] for a, b in pairs)
    estimate = []
    for a, b in pairs:
        for w, p in ((index[a], index[b]), (index[b], index[a])):
            swapped = total - matcher.price[w][p] + matcher.price[p][o]
            estimate.append((matcher.star[w] + swapped, matcher.ids[w]))
    return [m for _, m in sorted(estimate)]


def _trio_around(member: int, matcher: _Matcher) -> tuple[list[tuple[int, ...]], list[int]]:
    """An arrangement with `member` in the trio: everyone else matched, `member` joining the
    pair that suits them (or, when none of those pairs can take them, the trio made of them
    and the two others it costs least to be with), then improved around the trio."""
    costs = matcher.costs
    pairs, waiting, _, _ = matcher.match(frozenset({member}))
    groups, left = _with_trio(pairs, [*waiting, member], costs)
    if member in left:
        others = [m for m in matcher.ids if m != member]
        trios = [
            (costs.group((member, a, b)), (member, a, b))
            for i, a in enumerate(others)
            for b in others[i + 1 :]
        ]
        cost, trio = min(trios, default=(math.inf, ()))
        if math.isinf(cost):
            return groups, left  # nobody can be with them in a trio: they wait
        pairs, left, _, _ = matcher.match(frozenset(trio))
        groups = [*pairs, trio]
    if left:
        return groups, left
    return _around_trio(groups, matcher), []


def _around_trio(groups: list[tuple[int, ...]], matcher: _Matcher) -> list[tuple[int, ...]]:
    """Match everyone else again around the trio and settle it again, while that helps."""
    total = _total(groups, matcher.costs)
    for _ in range(TRIO_ROUNDS):
        trio = next((g for g in groups if len(g) == 3), None)
        if trio is None:
            break
        pairs, waiting, _, _ = matcher.match(frozenset(trio))
        if waiting:
            break
        candidate = [*pairs, trio]
        _settle_trio(candidate, len(candidate) - 1, matcher.costs)
        cost = _total(candidate, matcher.costs)
        if cost >= total - 1e-9:
            break
        groups, total = candidate, cost
    return groups


def _total(groups: Sequence[tuple[int, ...]], costs: Costs) -> float:
    return sum(costs.group(g) for g in groups)


def _with_trio(
    pairs: list[tuple[int, ...]], waiting: list[int], costs: Costs
) -> tuple[list[tuple[int, ...]], list[int]]:
    """Whoever is waiting: the one of them it costs least joins a pair as the trio (then
    settled); the rest stay unplaced (only when blocks leave no way)."""
    groups, waiting = list(pairs), list(waiting)
    joins = [(_join_cost(m, groups, costs), m) for m in waiting]
    (cost, index), member = min(joins, default=((math.inf, None), None))
    if index is not None and member is not None and not math.isinf(cost):
        groups[index] = (*groups[index], member)
        waiting.remove(member)
        _settle_trio(groups, index, costs)
    return groups, waiting


def _join_cost(
    member: int, groups: Sequence[tuple[int, ...]], costs: Costs
) -> tuple[float, int | None]:
    """(cost, index) of the pair `member` would join most cheaply; (inf, None) if none."""
    best: tuple[float, int | None] = (math.inf, None)
    for index, group in enumerate(groups):
        if len(group) != 2:
            continue
        cost = sum(costs.pair(member, other) for other in group)
        if cost < best[0]:
            best = (cost, index)
    return best


def _settle_trio(groups: list[tuple[int, ...]], trio: int, costs: Costs) -> None:
    """The pairs are optimal for everyone outside the trio, but the trio itself was only the
    odd one out joining the pair that suited them: try the five members of the trio and each
    pair in every other split (a trio and a pair) while that lowers the cost."""
    improved = True
    while improved:
        improved = False
        for index, pair in enumerate(groups):
            if index == trio:
                continue
            five = (*groups[trio], *pair)
            best, split = costs.group(groups[trio]) + costs.group(pair), None
            for two in itertools.combinations(range(5), 2):
                new_pair = tuple(five[i] for i in two)
                new_trio = tuple(five[i] for i in range(5) if i not in two)
                cost = costs.group(new_pair) + costs.group(new_trio)
                if cost < best - 1e-9:
                    best, split = cost, (new_trio, new_pair)
            if split is not None:
                groups[trio], groups[index] = split
                improved = True


def matching_bound(
    candidates: Sequence[Candidate],
    history: Mapping[frozenset[int], int],
    blocks: Iterable[frozenset[int]],
    rules: Rules,
    matching: MatchEdges,
) -> float:
    """A lower bound on the cost of any arrangement that places everyone: the exact optimum
    for an even count, the stand-in's matching for an odd one. For benchmarks and tests."""
    costs = Costs(candidates, history, blocks, rules)
    ids = _seeded_order(costs)
    return _Matcher(ids, costs, matching).match(stand_in=len(ids) % 2 == 1)[3]


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
