"""The exact matching behind buddy rounds of up to 300 members, given to the pure pairing rules
(`bot.domain.buddies`, standard library only): rustworkx's maximum-weight matching (the blossom
algorithm, native code), and `pair_members` with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import rustworkx

from bot.domain import buddies
from bot.domain.buddies import Candidate, Pairing, Rules


def max_weight_matching(nodes: int, edges: list[tuple[int, int, int]]) -> set[tuple[int, int]]:
    """The matching with the most pairs and, among those, the largest total weight (a set:
    the pairing rules put it in order themselves)."""
    graph = rustworkx.PyGraph()
    graph.add_nodes_from(range(nodes))
    graph.add_edges_from(edges)
    return rustworkx.max_weight_matching(graph, max_cardinality=True, weight_fn=int)


def pair_members(
    candidates: Sequence[Candidate],
    history: Mapping[frozenset[int], int],
    blocks: Iterable[frozenset[int]],
    rules: Rules,
) -> Pairing:
    """`bot.domain.buddies.pair_members` with the exact matching (module-level, so that a
    worker process can be asked to run it)."""
    return buddies.pair_members(candidates, history, blocks, rules, matching=max_weight_matching)


def matching_bound(
    candidates: Sequence[Candidate],
    history: Mapping[frozenset[int], int],
    blocks: Iterable[frozenset[int]],
    rules: Rules,
) -> float:
    return buddies.matching_bound(candidates, history, blocks, rules, max_weight_matching)
