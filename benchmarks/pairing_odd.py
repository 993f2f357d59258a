"""The matching path against the exact search on small rounds, where the exact search is the
true optimum (every arrangement with at most one trio). For an even count the two must cost
the same; for an odd count the matching path pairs everyone outside the trio optimally and
tries several trios, so it can cost more. This counts how often, and checks that the number
placed and the repeats never differ.

    .venv/bin/python -m benchmarks.pairing_odd                 # 3,000 random rounds of 2-12
    .venv/bin/python -m benchmarks.pairing_odd --rounds 10000 --seed 7
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections import Counter

from bot.domain.buddies import Candidate, Costs, Rules, pair_members
from bot.matching import matching_bound, max_weight_matching

OFFSETS = [None, 0, 0, 60, 330, 540, -300, 720]
KINDS = ["practical", "emotional", "social"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pairing_odd", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seen: Counter[str] = Counter()
    extra: list[float] = []
    for _ in range(args.rounds):
        n = rng.randint(2, 12)
        ids = rng.sample(range(1, 10_000), n)
        cands = [
            Candidate(
                m,
                rng.choice(OFFSETS),
                frozenset(rng.sample(KINDS, rng.randint(0, 2))),
                frozenset(rng.sample(KINDS, rng.randint(0, 2))),
            )
            for m in ids
        ]
        pairs = [frozenset(p) for p in itertools.combinations(ids, 2)]
        history = {p: rng.randint(10, 19) for p in rng.sample(pairs, min(len(pairs), 3 * n))}
        blocks = set(rng.sample(pairs, min(len(pairs), rng.randint(0, n // 2))))
        if rng.random() < 0.5:
            blocks = set()
        rules = Rules(20, window=rng.randint(1, 8), seed=rng.randint(0, 2**32))
        costs = Costs(cands, history, blocks, rules)
        exact = pair_members(cands, history, blocks, rules)
        matched = pair_members(
            cands, history, blocks, rules, exact_limit=0, matching=max_weight_matching
        )
        kind = "even" if n % 2 == 0 else "odd"
        if exact.unplaced:
            seen["blocks leave someone out (not compared)"] += 1
            continue
        seen[f"{kind} rounds"] += 1
        if matched.unplaced:
            seen[f"{kind}: someone left out who need not be"] += 1
        if sorted(history[p] for p in matched.repeats) != sorted(history[p] for p in exact.repeats):
            seen[f"{kind}: repeats differ"] += 1
        best = sum(costs.group(g) for g in exact.groups)
        got = sum(costs.group(g) for g in matched.groups)
        if got > best + 1e-6:
            seen[f"{kind}: costs more than the optimum"] += 1
            extra.append(got - best)
        if matching_bound(cands, history, blocks, rules) > best + 1e-6:
            seen["lower bound above the optimum (a bug)"] += 1
    for what, count in sorted(seen.items()):
        print(f"{what}: {count:,}")
    if extra:
        extra.sort()
        print(
            f"when it costs more: by {extra[len(extra) // 2]:.1f} (median), {extra[-1]:.1f} "
            "(most), in cost units (4 = an hour of timezone difference for one pair)"
        )


if __name__ == "__main__":
    main()
