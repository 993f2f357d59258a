"""How hard the property-based tests look, in one place: hypothesis profiles.

    HYPOTHESIS_PROFILE=dev   (the default) quick and reproducible, for working locally
    HYPOTHESIS_PROFILE=ci    what `.ci/run` sets: twice dev's examples, reproducible
    HYPOTHESIS_PROFILE=soak  ten times ci's examples, random: a longer hunt, run by hand

A test that takes its own example count (the stateful models, the fuzzers) asks
`examples(n)`, where `n` is its count under `ci`. Every run is derandomised except soak's,
so CI is repeatable and a failure seen there is seen again locally with the same profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILES = {"dev": 0.5, "ci": 1.0, "soak": 10.0}  # examples, against ci's
CI_EXAMPLES = 200  # for a plain @given test under ci

NAME = os.environ.get("HYPOTHESIS_PROFILE", "dev")
if NAME not in PROFILES:
    raise SystemExit(f"HYPOTHESIS_PROFILE is {NAME!r}; use one of {', '.join(PROFILES)}")
SCALE = PROFILES[NAME]
RANDOM = NAME == "soak"

for name, scale in PROFILES.items():
    settings.register_profile(
        name,
        max_examples=max(1, round(CI_EXAMPLES * scale)),
        derandomize=name != "soak",
        database=None,  # derandomised runs need no memory of earlier ones
        deadline=None,  # examples that touch a database vary with the machine
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
settings.load_profile(NAME)


def examples(ci_count: int) -> int:
    """A test's own example count under the profile in use (`ci_count` under ci)."""
    return max(1, round(ci_count * SCALE))
