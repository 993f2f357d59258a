"""Buddy pairing at scale: 10,000 members with a year of history.

The instance is seeded and meant to look like a real community: members spread over 14 real
UTC offsets (weighted, two of them tiny groups; 8% never said), about 20% with offers or gaps
of support, about 1% with one to three blocks (mostly of people in their own timezone), and a
year of history: 26 earlier rounds of 14 days, each arranged by `pair_members` itself with the
previous rounds as history (about one member in ten sits a round out). History is therefore
concentrated among timezone neighbours, the hard case. The whole year is generated once per
repeat window: 6 rounds (the default) and 26 rounds ("no repeat within a year").

For the final round, with everyone taking part, it reports the wall time of `pair_members`
(median of a few runs), its peak memory (tracemalloc, in a separate run), and the groups,
trios, unplaced members and repeats (pairs that met within the window).

It then compares with an optimal matching on the same cost function (needs the `bench` extra,
networkx): a graph whose edges are the finite-cost pairs among each member's K nearest
candidates by timezone (K = 100 either side in timezone order, wrapping round the date line,
against the heuristic's forward scan of NEIGHBOURS = 40) plus every pair the heuristic chose,
solved by `max_weight_matching(maxcardinality=True)` with weight = BIG - cost. networkx is
pure Python, so each comparison runs in a child process with a time limit; sizes that do not
finish in time are reported as such. Communities of up to MATCHING_LIMIT (300) members are
compared on the complete graph (so networkx's matching is the exact optimum for an even
count), with both windows: there a year of rounds exhausts the new partners, which the
10,000-member instance never does.

    .venv/bin/python -m benchmarks.pairing                   # 10,000; compare at 2k/5k/10k (hours)
    .venv/bin/python -m benchmarks.pairing --quick           # 1,000 members, compare at 500
    .venv/bin/python -m benchmarks.pairing --members 3000 --compare 3000 --timeout 300
    .venv/bin/python -m benchmarks.pairing --small-only      # 14 to 300 members, both windows

Up to MATCHING_LIMIT (300) members pair_members itself uses an exact matching (rustworkx), so
there the comparison is of two independent implementations of the optimum: for an even count
the costs must be equal. For an odd count networkx's line is its matching with the odd one
out joined to the pair that suits them, and the lower bound line says how far pair_members'
arrangement (with its trio) can be from the true optimum at most.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import platform
import queue
import random
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.buddies import (
    EXACT_LIMIT,
    MATCHING_LIMIT,
    NEIGHBOURS,
    Candidate,
    Costs,
    Pairing,
    Rules,
    pair_key,
)
from bot.domain.buddies import pair_members as heuristic_above_12
from bot.matching import matching_bound, pair_members

SEED = 2026
ROUNDS_OF_HISTORY = 26  # a year of rounds of 14 days
WINDOWS = (6, 26)
SIT_OUT = 0.10  # share of members skipping any one earlier round
UNKNOWN_TIMEZONE = 0.08
WITH_SUPPORT = 0.20  # share of members with offers and/or gaps
WITH_BLOCKS = 0.01  # share of members who blocked one to three others
TIMED_RUNS = 3
GRAPH_NEIGHBOURS = 100  # optimal matching: candidates on either side in timezone order
BIG = 1e8  # larger than any finite pair cost; weight = BIG - cost
MILLI = 1000  # weights are integers in thousandths, so networkx stays exact

# Minutes east of UTC and a weight: roughly where an English-speaking community lives.
OFFSETS = (
    (-600, 0.4),  # Hawaii: a small group that runs out of new partners
    (-480, 7),  # US Pacific
    (-360, 6),  # US Central
    (-300, 12),  # US Eastern
    (-180, 5),  # Brazil
    (0, 12),  # UK, Ireland
    (60, 16),  # Central Europe
    (120, 6),  # Eastern Europe, South Africa
    (330, 8),  # India
    (345, 0.2),  # Nepal: smaller still
    (480, 7),  # Singapore, Philippines, Perth
    (540, 3),  # Japan, Korea
    (600, 5),  # Sydney
    (720, 2),  # New Zealand
)
SUPPORT_KINDS = ("listening", "practical", "company", "accountability", "distraction")


@dataclass
class Instance:
    candidates: list[Candidate]
    blocks: list[frozenset[int]]


@dataclass
class Year:
    history: dict[frozenset[int], int]
    pairs: int  # distinct pairs that met during the year
    same_offset: float  # share of those pairs in the same timezone
    repeats: int  # repeats within the window made during the year
    unplaced: int


@dataclass
class Summary:
    groups: int
    trios: int
    unplaced: int
    repeats: int
    repeat_age: float  # rounds since the repeating pairs last met, on average (nan: none)
    met_before: int  # pairs that met longer ago than the window
    cost: float  # Costs.group summed over all groups (unplaced not included)
    mean_hours: float  # timezone difference per pair, on average
    complements: int  # pairs where one offers what the other is missing


def build_instance(members: int, seed: int) -> Instance:
    rng = random.Random(seed)
    ids = sorted(rng.sample(range(10**17, 10**18), members))  # snowflake-sized ids
    offsets, weights = zip(*OFFSETS, strict=True)
    candidates = []
    for member in ids:
        offset = None if rng.random() < UNKNOWN_TIMEZONE else rng.choices(offsets, weights)[0]
        offers: frozenset[str] = frozenset()
        gaps: frozenset[str] = frozenset()
        if rng.random() < WITH_SUPPORT:
            shape = rng.random()
            if shape < 0.7:
                offers = frozenset(rng.sample(SUPPORT_KINDS, rng.randint(1, 2)))
            if shape > 0.4:
                gaps = frozenset(rng.sample(SUPPORT_KINDS, rng.randint(1, 2)))
        candidates.append(Candidate(member, offset, offers, gaps))
    by_offset: dict[int | None, list[int]] = {}
    for c in candidates:
        by_offset.setdefault(c.utc_offset_minutes, []).append(c.member_id)
    blocks: set[frozenset[int]] = set()
    for c in rng.sample(candidates, max(1, round(members * WITH_BLOCKS))):
        for _ in range(rng.randint(1, 3)):
            # Mostly someone they are likely to have met: their own timezone.
            pool = by_offset[c.utc_offset_minutes] if rng.random() < 0.8 else ids
            other = rng.choice(pool)
            if other != c.member_id:
                blocks.add(pair_key(c.member_id, other))
    return Instance(candidates, sorted(blocks, key=sorted))


def year_of_history(instance: Instance, window: int, seed: int) -> Year:
    rng = random.Random(seed)
    history: dict[frozenset[int], int] = {}
    repeats = unplaced = 0
    for round_number in range(1, ROUNDS_OF_HISTORY + 1):
        present = [c for c in instance.candidates if rng.random() >= SIT_OUT]
        rules = Rules(round_number=round_number, window=window, seed=seed + round_number)
        result = pair_members(present, history, instance.blocks, rules)
        repeats += len(result.repeats)
        unplaced += len(result.unplaced)
        for group in result.groups:
            for key in group_pairs(group):
                history[key] = round_number
    offset = {c.member_id: c.utc_offset_minutes for c in instance.candidates}
    same = sum(1 for key in history if len({offset[m] for m in key}) == 1)
    return Year(history, len(history), same / len(history), repeats, unplaced)


def group_pairs(group: Sequence[int]) -> list[frozenset[int]]:
    return [pair_key(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]


def summarize(groups: Sequence[Sequence[int]], unplaced: int, costs: Costs) -> Summary:
    pairs = [tuple(key) for group in groups for key in group_pairs(group)]
    ages = [costs.age(a, b) or 0 for a, b in pairs if costs.is_repeat(a, b)]
    return Summary(
        groups=len(groups),
        trios=sum(1 for g in groups if len(g) == 3),
        unplaced=unplaced,
        repeats=len(ages),
        repeat_age=statistics.fmean(ages) if ages else math.nan,
        met_before=sum(
            1 for a, b in pairs if costs.age(a, b) is not None and not costs.is_repeat(a, b)
        ),
        cost=sum(costs.group(g) for g in groups),
        mean_hours=statistics.fmean(costs._hours_apart(a, b) for a, b in pairs),
        complements=sum(1 for a, b in pairs if costs._complement(a, b) > 0),
    )


def describe(summary: Summary) -> str:
    repeat_age = f" (met {summary.repeat_age:.1f} rounds ago)" if summary.repeats else ""
    return (
        f"groups {summary.groups:,}, trios {summary.trios}, unplaced {summary.unplaced}, "
        f"repeats {summary.repeats}{repeat_age}, met before {summary.met_before:,}, "
        f"mean {summary.mean_hours:.2f} h apart, complements {summary.complements:,}, "
        f"cost {summary.cost:,.1f}"
    )


def final_round(
    instance: Instance, year: Year, window: int, seed: int
) -> tuple[Rules, Pairing, list[float]]:
    rules = Rules(round_number=ROUNDS_OF_HISTORY + 1, window=window, seed=seed)
    timings = []
    for _ in range(TIMED_RUNS):
        started = time.perf_counter()
        result = pair_members(instance.candidates, year.history, instance.blocks, rules)
        timings.append(time.perf_counter() - started)
    return rules, result, timings


def peak_memory(instance: Instance, year: Year, rules: Rules) -> int:
    tracemalloc.start()
    try:
        pair_members(instance.candidates, year.history, instance.blocks, rules)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def timezone_order(costs: Costs) -> list[int]:
    """Members by UTC offset (unknown last), ties in the seeded order pair_members uses."""
    seed = costs.rules.seed

    def key(member: int) -> tuple[int, int, int]:
        minutes = costs.by_id[member].utc_offset_minutes
        return (10_000 if minutes is None else minutes, hash((seed, member)), member)

    return sorted(costs.by_id, key=key)


def optimal_graph(costs: Costs, ours: Pairing) -> Any:
    import networkx as nx

    graph = nx.Graph()
    order = timezone_order(costs)
    graph.add_nodes_from(order)
    count = len(order)

    def add(a: int, b: int) -> None:
        cost = costs.pair(a, b)
        if not math.isinf(cost):
            graph.add_edge(a, b, weight=round((BIG - cost) * MILLI))

    # Up to MATCHING_LIMIT members every pair is an edge (the optimum is then exact);
    # above, each member's neighbours in timezone order.
    reach = count - 1 if count <= MATCHING_LIMIT else min(GRAPH_NEIGHBOURS, count - 1)
    for index, a in enumerate(order):
        for step in range(1, reach + 1):
            add(a, order[(index + step) % count])  # wraps round the date line
    for group in ours.groups:
        for a, b in (tuple(key) for key in group_pairs(group)):
            add(a, b)
    return graph


def _match_in_child(graph: Any, results: Any) -> None:
    from networkx.algorithms.matching import max_weight_matching

    started = time.perf_counter()
    matching = max_weight_matching(graph, maxcardinality=True)
    results.put((time.perf_counter() - started, sorted(tuple(sorted(e)) for e in matching)))


def optimal_matching(graph: Any, timeout: float) -> tuple[float, list[tuple[int, int]]] | None:
    """(seconds, matched pairs), or None when networkx did not finish within `timeout`."""
    context = multiprocessing.get_context("fork")  # the child inherits the graph, no pickling
    results = context.Queue()
    child = context.Process(target=_match_in_child, args=(graph, results), daemon=True)
    child.start()
    try:
        return results.get(timeout=timeout)
    except queue.Empty:
        return None
    finally:
        if child.is_alive():
            child.terminate()
        child.join()


def with_trio(
    matched: list[tuple[int, int]], left: list[int], costs: Costs
) -> tuple[list[tuple[int, ...]], list[int]]:
    """As pair_members does for an odd count: a lone leftover joins the pair it fits best."""
    groups: list[tuple[int, ...]] = list(matched)
    if len(left) != 1:
        return groups, left
    member = left[0]
    best = min(
        range(len(groups)),
        key=lambda i: costs.pair(member, groups[i][0]) + costs.pair(member, groups[i][1]),
        default=None,
    )
    if best is None or math.isinf(
        costs.pair(member, groups[best][0]) + costs.pair(member, groups[best][1])
    ):
        return groups, left
    groups[best] = (*groups[best], member)
    return groups, []


def path_for(members: int) -> str:
    if members <= EXACT_LIMIT:
        return "exact search"
    return "matching" if members <= MATCHING_LIMIT else "heuristic"


def compare(members: int, window: int, timeout: float) -> None:
    label = f"[{members:,} members, window {window}]"
    instance = build_instance(members, SEED)
    year = year_of_history(instance, window, SEED)
    rules, ours, timings = final_round(instance, year, window, SEED)
    costs = Costs(instance.candidates, year.history, instance.blocks, rules)
    mine = summarize(ours.groups, len(ours.unplaced), costs)
    print(
        f"{label} pair_members ({path_for(members)}) median {statistics.median(timings):.3f} s"
        f" (runs {', '.join(f'{t:.3f}' for t in timings)}): {describe(mine)}"
    )
    if members % 2 == 1 and members <= MATCHING_LIMIT:
        bound = matching_bound(instance.candidates, year.history, instance.blocks, rules)
        print(f"{label} odd count: cost - lower bound {mine.cost - bound:+,.1f}")
    if EXACT_LIMIT < members <= MATCHING_LIMIT:
        # What the heuristic (all there was above 12 members before) makes of this round.
        started = time.perf_counter()
        old = heuristic_above_12(instance.candidates, year.history, instance.blocks, rules)
        took = time.perf_counter() - started
        was = summarize(old.groups, len(old.unplaced), costs)
        print(f"{label} the heuristic on the same round {took:.3f} s: {describe(was)}")
    started = time.perf_counter()
    graph = optimal_graph(costs, ours)
    built = time.perf_counter() - started
    complete = graph.number_of_edges() == members * (members - 1) // 2 - len(instance.blocks)
    if not complete:
        print(
            f"{label} graph: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} "
            f"edges, built in {built:.1f} s; max_weight_matching, limit {timeout:.0f} s",
            flush=True,
        )
    found = optimal_matching(graph, timeout)
    if found is None:
        print(f"{label} networkx did NOT finish within {timeout:.0f} s (stopped; no figures)")
        return
    seconds, matched = found
    placed = {m for pair in matched for m in pair}
    groups, left = with_trio(matched, [m for m in graph.nodes if m not in placed], costs)
    best = summarize(groups, len(left), costs)
    odd = members % 2 == 1
    exact = ""
    if complete:
        exact = " (complete graph; the odd one out joins a pair)" if odd else " (complete: exact)"
    print(f"{label} networkx{exact} {seconds:.1f} s: {describe(best)}")
    extra = mine.cost - best.cost
    against = "networkx" if odd else "optimal"
    print(
        f"{label} ours - {against}: cost {extra:+,.1f} "
        f"({extra / max(1, best.groups):+.2f} a group),"
        f" complements {mine.complements - best.complements:+,}, "
        f"repeats {mine.repeats - best.repeats:+d}, unplaced {mine.unplaced - best.unplaced:+d}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pairing", description=__doc__)
    parser.add_argument("--members", type=int, default=10_000, help="size of the main run")
    parser.add_argument(
        "--compare",
        type=int,
        nargs="*",
        default=None,
        help="sizes for the networkx comparison (default 2000 5000 10000, none above --members;"
        " 5000 takes about half an hour, 10000 far longer)",
    )
    parser.add_argument(
        "--compare-windows",
        type=int,
        nargs="+",
        default=[6],
        help="windows for the networkx comparison (default 6)",
    )
    parser.add_argument(
        "--small",
        type=int,
        nargs="*",
        default=[14, 20, 30, 60, 120, 300, 15, 61, 299],
        help="communities compared with networkx on the complete graph (the exact optimum for"
        " an even count), both windows (default 14 20 30 60 120 300, and odd 15 61 299)",
    )
    parser.add_argument(
        "--small-only", action="store_true", help="only the small communities' comparison"
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed to each networkx run"
    )
    parser.add_argument("--quick", action="store_true", help="1,000 members, compare at 500")
    args = parser.parse_args()
    if args.quick:
        args.members, args.timeout = 1_000, min(args.timeout, 120)
        args.compare = [500] if args.compare is None else args.compare
    if args.compare is None:
        args.compare = [n for n in (2_000, 5_000, 10_000) if n <= args.members]

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", load average {os.getloadavg()[0]:.2f}"
    )
    if args.small_only:
        for members in args.small:
            for window in WINDOWS:
                compare(members, window, args.timeout)
        return
    instance = build_instance(args.members, SEED)
    offsets = Counter(c.utc_offset_minutes for c in instance.candidates)
    supporting = sum(1 for c in instance.candidates if c.offers or c.gaps)
    print(
        f"{args.members:,} members over {len(offsets) - (None in offsets)} UTC offsets "
        f"({offsets[None]:,} unknown), {supporting:,} with offers/gaps, "
        f"{len(instance.blocks)} blocks; {ROUNDS_OF_HISTORY} earlier rounds, "
        f"{SIT_OUT:.0%} sitting out any one"
    )
    for window in WINDOWS:
        started = time.perf_counter()
        year = year_of_history(instance, window, SEED)
        made_in = time.perf_counter() - started
        print(
            f"[window {window:2d}] year: {year.pairs:,} distinct pairs, {year.same_offset:.0%} "
            f"within one UTC offset, {year.repeats} repeats and {year.unplaced} unplaced over "
            f"{ROUNDS_OF_HISTORY} rounds (generated in {made_in:.1f} s)"
        )
        rules, result, timings = final_round(instance, year, window, SEED)
        costs = Costs(instance.candidates, year.history, instance.blocks, rules)
        summary = summarize(result.groups, len(result.unplaced), costs)
        peak = peak_memory(instance, year, rules)
        median = statistics.median(timings)
        print(
            f"[window {window:2d}] final round: pair_members median {median:.2f}"
            f" s (runs {', '.join(f'{t:.2f}' for t in timings)}), peak memory "
            f"{peak / 2**20:.1f} MiB (tracemalloc, separate run)"
        )
        print(f"[window {window:2d}] final round: {describe(summary)}")

    try:
        import networkx
    except ImportError:
        print(
            "networkx is not installed: skipping the comparison with an optimal matching. "
            "Install the bench extra: .venv/bin/pip install -e '.[bench]'"
        )
        return
    print(
        f"optimal matching: networkx {networkx.__version__}, {GRAPH_NEIGHBOURS} candidates either "
        f"side in timezone order (pair_members scans {NEIGHBOURS} forward) + its chosen pairs"
    )
    for members in args.small:
        for window in WINDOWS:
            compare(members, window, args.timeout)
    for members in sorted(args.compare):
        for window in args.compare_windows:
            compare(members, window, args.timeout)


if __name__ == "__main__":
    main()
