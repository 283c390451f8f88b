"""What every benchmark shares: the simulated workspaces, generated once and cached under
`$WABI_DATA_DIR/bench/<size>/` (default `data/bench/<size>/`; `workspace.json`, written last,
marks one complete), the simulator serving one over loopback, and a child process measured
whole (wall seconds, CPU seconds and peak RSS from the kernel's own accounting of it).
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.model import WorkspaceSpec

# (contacts, days, messages per day): about 100 k, 1 M and 10 M messages over three months of a
# 150-agent team (10 M is a year of such a team's messages, packed into 90 days).
SIZES = {
    "100k": (5_000, 90, 1_100),
    "1m": (50_000, 90, 11_000),
    "10m": (500_000, 90, 110_000),
}
TOKEN = "bench-token"
REPO_ROOT = Path(__file__).resolve().parents[1]
# Every simulated day lies in the past: the raw gates refuse timestamps more than a day ahead.
BENCH_START = date(2025, 9, 1)


def bench_dir(size: str) -> Path:
    return Path(os.environ.get("WABI_DATA_DIR", "data")) / "bench" / size


def ensure_workspace(size: str) -> tuple[Path, float | None]:
    """The cached workspace of `size`, generated when missing; and the generation's wall s."""
    from simulator.model import WorkspaceSpec

    contacts, days, per_day = SIZES[size]
    spec = WorkspaceSpec(
        seed=1,
        contacts=contacts,
        agents=150,
        days=days,
        messages_per_day=per_day,
        start=BENCH_START,
    )
    return ensure_spec(spec, bench_dir(size))


def ensure_spec(spec: "WorkspaceSpec", out: Path) -> tuple[Path, float | None]:
    """The workspace of `spec` in `out`, generated unless already there; the generation's wall
    s (None when cached)."""
    from simulator.generate import generate

    marker = out / "workspace.json"
    if marker.exists() and json.loads(marker.read_text()).get("spec") == spec.as_json():
        return out, None
    shutil.rmtree(out, ignore_errors=True)  # a generation cut short, or another spec
    wall = time.perf_counter()
    generate(spec, out)
    return out, time.perf_counter() - wall


def peak_rss_mib() -> int:
    """This process's own peak RSS."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def serve(workspace: Path) -> None:
    """Serve `workspace` until stdin closes; print the base URL first (a rate limit high enough
    never to answer 429)."""
    from simulator.server import SimulatorServer

    with SimulatorServer(workspace, token=TOKEN, rate_limit_per_second=100_000) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


@contextmanager
def served(workspace: Path) -> Iterator[str]:
    """The simulator serving `workspace` in a process of its own (so that no measured process
    pays for it); yields its base URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.workspaces", str(workspace)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        server.wait(timeout=60)


@dataclass(frozen=True)
class Measured:
    """A child process, measured whole: the kernel's rusage of it and of every process it
    waited for (dbt's subprocess included). Peak RSS is the largest of them, not their sum."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: int
    stdout: str

    def as_json(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "peak_rss_mib": self.peak_rss_mib}


class ProcessFailed(RuntimeError):
    pass


def measure_process(
    arguments: Sequence[str], cwd: Path = REPO_ROOT, env: Mapping[str, str] | None = None
) -> Measured:
    """Run `arguments` in `cwd` to completion and measure it; stderr passes through, stdout is
    kept. Python children run from the repository, where `benchmarks` imports."""
    wall = time.perf_counter()
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, text=True, cwd=cwd, env=env)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - wall
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if process.returncode != 0:
        raise ProcessFailed(f"{' '.join(arguments)} exited {process.returncode}:\n{stdout[-4000:]}")
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=round(usage.ru_maxrss / 1024),
        stdout=stdout,
    )


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
