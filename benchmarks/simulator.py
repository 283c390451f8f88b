"""Simulator throughput and memory: `make bench-simulator` (or `python -m benchmarks.simulator`).

Each size runs in a fresh process, so peak RSS is that size's own. Prints messages per second
and peak RSS; the target (issue 3) is 1 M messages in under a minute on one core with memory
flat as the size grows.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# (contacts, days, messages per day): about 100 k and 1 M messages over three months.
SIZES = {"100k": (5_000, 90, 1_100), "1m": (50_000, 90, 11_000)}


def run_one(size: str) -> dict[str, float]:
    from simulator.generate import generate
    from simulator.model import WorkspaceSpec

    contacts, days, per_day = SIZES[size]
    spec = WorkspaceSpec(seed=1, contacts=contacts, agents=150, days=days, messages_per_day=per_day)
    with tempfile.TemporaryDirectory(prefix="wabi-bench-") as out:
        wall, cpu = time.perf_counter(), time.process_time()
        counts = generate(spec, Path(out))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "size": size,
        "messages": counts["messages"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "messages_per_s": round(counts["messages"] / wall),
        "peak_rss_mib": round(peak_mib),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100k,1m")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    print(
        f"{'size':>5} {'messages':>10} {'wall s':>7} {'cpu s':>6} {'msg/s':>8} {'peak RSS MiB':>12}"
    )
    for size in args.sizes.split(","):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.simulator", "--one", size],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout)
        print(
            f"{r['size']:>5} {r['messages']:>10,} {r['wall_s']:>7} {r['cpu_s']:>6} "
            f"{r['messages_per_s']:>8,} {r['peak_rss_mib']:>12}"
        )


if __name__ == "__main__":
    main()
