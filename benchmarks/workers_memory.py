"""Memory of the bot's worker processes (`bot.workers`) once started and warmed up, as the bot
starts them: matplotlib imported and a tiny figure drawn, rustworkx imported. Prints each
worker's resident set size (VmRSS, from /proc; Linux only) and their sum.

    .venv/bin/python -m benchmarks.workers_memory
"""

from __future__ import annotations

import asyncio
import os

from bot import workers


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def main() -> None:
    workers.warm()
    # Every worker has run its warm-up once it has answered (the initializer runs first).
    pids = set()
    while len(pids) < workers.WORKERS:
        pids.update(await asyncio.gather(*(workers.run(os.getpid) for _ in range(8))))
    await asyncio.sleep(1.0)
    sizes = sorted(_rss_kib(pid) / 1024 for pid in pids)
    print(
        f"{len(sizes)} warmed workers: "
        + ", ".join(f"{size:.1f} MiB" for size in sizes)
        + f"; together {sum(sizes):.1f} MiB (VmRSS)"
    )


if __name__ == "__main__":
    asyncio.run(main())
