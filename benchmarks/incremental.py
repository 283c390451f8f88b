"""The incremental path: on top of N days of history, one new day, `dbt build` incrementally
against `dbt build --full-refresh` of the same warehouse; at several history sizes with the same
daily volume, to show how an incremental day's cost grows with history.

A workspace of N + 1 days is generated once (cached under `data/bench/incremental-<N>d/`). Its
history is loaded as daily refreshes would have loaded it, one load a day at 06:00 UTC of the
next day (`_loaded_at` is what the incremental models rebuild from): the capture files of that
arrival day and the API records created that day (respond.io's message records with the status
history the API lists at the end, a simplification: late statuses arrive with the record). One
`dbt build` over the history, then day N + 1 is loaded the same way, the warehouse is copied, and
the original is built incrementally while the copy is built with `--full-refresh`; each build is
a process measured whole. Last, the original is built once more with nothing new loaded: what
any build costs whatever it reads (dbt's start-up and every node's own overhead).
"""

import json
import shutil
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from benchmarks.pipeline import measure_dbt, node_seconds
from benchmarks.workspaces import BENCH_START, Measured, bench_dir, ensure_spec, measure_process

# The daily volume of every history size: a team of about 40 agents.
CONTACTS, AGENTS, MESSAGES_PER_DAY = 20_000, 40, 3_000
LOAD_AT = time(6)


def _workspace(history_days: int) -> Path:
    from simulator.model import WorkspaceSpec

    spec = WorkspaceSpec(
        seed=1,
        contacts=CONTACTS,
        agents=AGENTS,
        days=history_days + 1,
        messages_per_day=MESSAGES_PER_DAY,
        start=BENCH_START,
    )
    workspace, _ = ensure_spec(spec, bench_dir(f"incremental-{history_days}d"))
    return workspace


def _utc_day(epoch: int) -> date:
    return datetime.fromtimestamp(epoch, UTC).date()


def _records_by_day(path: Path, time_field: str) -> dict[date, list[dict]]:
    by_day: dict[date, list[dict]] = defaultdict(list)
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            by_day[_utc_day(record[time_field])].append(record)
    return by_day


def load_days(workspace: Path, data_dir: Path, first: date, last: date) -> None:
    """Load the days `first`..`last` one by one, each stamped as loaded the next morning."""
    from extract.respondio import CHANNELS, CLOSING_NOTES, CONTACTS, MESSAGES, USERS
    from simulator.warehouse import Warehouse, Workspace, load_raw, loader_clock

    source = Workspace(workspace)
    warehouse = Warehouse(data_dir)
    space = source.api_tables(
        {USERS: "users.json", CHANNELS: "channels.json", CLOSING_NOTES: "closing_notes.json"}
    )
    contacts = _records_by_day(workspace / "api" / "contacts.jsonl", "created_at")
    messages = _records_by_day(workspace / "api" / "messages.jsonl", "timestamp")
    captures = data_dir / "captures"
    day = first
    while day <= last:
        for kind in (source.meta_dir, source.events_dir):
            (captures / kind.name).mkdir(parents=True, exist_ok=True)
            for path in kind.glob(f"{day.isoformat()}.*"):
                shutil.copy2(path, captures / kind.name / path.name)
        records = {CONTACTS: contacts.get(day, []), MESSAGES: messages.get(day, [])}
        with loader_clock(datetime.combine(day + timedelta(days=1), LOAD_AT)):
            load_raw(warehouse, space | records, captures)
        day += timedelta(days=1)


def _measure_load(workspace: Path, data_dir: Path, first: date, last: date) -> Measured:
    return measure_process(
        [
            sys.executable,
            "-m",
            "benchmarks.incremental",
            str(workspace),
            str(data_dir),
            first.isoformat(),
            last.isoformat(),
        ]
    )


def _measure_build(data_dir: Path, *extra: str) -> tuple[Measured, float]:
    """A `dbt build` as a scheduled run makes it, measured; and the summed execution seconds of
    the incremental models."""
    from orchestration.defs.dbt import BUILD_COMMAND

    measured = measure_dbt(data_dir, (*BUILD_COMMAND, *extra), "build")
    seconds = node_seconds(data_dir, "build")
    # the models the project configures incremental, as this build's manifest says
    manifest = json.loads((data_dir / "dbt" / "build" / "target" / "manifest.json").read_text())
    return measured, sum(
        seconds[unique_id]
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    )


def bench_history(history_days: int) -> dict[str, float]:
    from simulator.warehouse import new_warehouse

    workspace = _workspace(history_days)
    start = date.fromisoformat(
        json.loads((workspace / "workspace.json").read_text())["spec"]["start"]
    )
    new_day = start + timedelta(days=history_days)
    root = (bench_dir(f"incremental-{history_days}d") / "run").resolve()
    shutil.rmtree(root, ignore_errors=True)
    incremental_dir, full_dir = root / "incremental", root / "full"
    new_warehouse(incremental_dir)
    history_load = _measure_load(workspace, incremental_dir, start, new_day - timedelta(days=1))
    history_build, _ = _measure_build(incremental_dir)
    day_load = _measure_load(workspace, incremental_dir, new_day, new_day)
    full_dir.mkdir(parents=True)
    shutil.copy2(incremental_dir / "warehouse.duckdb", full_dir / "warehouse.duckdb")
    incremental, incremental_models = _measure_build(incremental_dir)
    full, full_models = _measure_build(full_dir, "--full-refresh")
    nothing_new, _ = _measure_build(incremental_dir)
    return {
        "history_load_s": history_load.wall_s,
        "history_build_s": history_build.wall_s,
        "day_load_s": day_load.wall_s,
        "incremental_s": incremental.wall_s,
        "incremental_cpu_s": incremental.cpu_s,
        "incremental_rss_mib": incremental.peak_rss_mib,
        "full_s": full.wall_s,
        "full_cpu_s": full.cpu_s,
        "full_rss_mib": full.peak_rss_mib,
        "incremental_models_s": incremental_models,
        "full_models_s": full_models,
        "nothing_new_s": nothing_new.wall_s,
    }


def bench_incremental(history_sizes: list[int]) -> str:
    """Every history size measured; the results as a markdown section."""
    results = {days: bench_history(days) for days in history_sizes}
    lines = [
        f"### Incremental day vs full rebuild ({MESSAGES_PER_DAY:,} messages a day, "
        f"{CONTACTS:,} contacts, {AGENTS} agents)",
        "",
        "| history | history load s | history build s | day load s | incremental build s "
        "(CPU s, RSS MiB) | full rebuild s (CPU s, RSS MiB) | incremental/full | "
        "incremental models s: incremental / full | nothing new s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for days, r in results.items():
        lines.append(
            f"| {days} days | {r['history_load_s']:.1f} | {r['history_build_s']:.1f} | "
            f"{r['day_load_s']:.1f} | {r['incremental_s']:.1f} ({r['incremental_cpu_s']:.1f}, "
            f"{r['incremental_rss_mib']}) | {r['full_s']:.1f} ({r['full_cpu_s']:.1f}, "
            f"{r['full_rss_mib']}) | **{r['incremental_s'] / r['full_s']:.1%}** | "
            f"{r['incremental_models_s']:.1f} / {r['full_models_s']:.1f} = "
            f"{r['incremental_models_s'] / r['full_models_s']:.1%} | {r['nothing_new_s']:.1f} |"
        )
    if len(results) > 1:
        smallest, largest = min(results), max(results)
        growth = results[largest]["incremental_s"] / results[smallest]["incremental_s"]
        models_growth = (
            results[largest]["incremental_models_s"] / results[smallest]["incremental_models_s"]
        )
        lines += [
            "",
            f"An incremental day with {largest} days of history costs **{growth:.2f}x** one "
            f"with {smallest} days (the incremental models alone: {models_growth:.2f}x).",
        ]
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    workspace, data_dir, first, last = sys.argv[1:]
    load_days(Path(workspace), Path(data_dir), date.fromisoformat(first), date.fromisoformat(last))
