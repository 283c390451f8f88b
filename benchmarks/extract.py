"""Extract throughput: `make bench-extract` (or `python -m benchmarks.extract`).

For each size a simulated workspace is generated once and cached under
`$WABI_DATA_DIR/bench/<size>/` (default `data/bench/<size>/`; `workspace.json`, written last,
marks it complete), so reruns skip generation. Then each measurement runs in a fresh process, so
its peak RSS is its own, into a fresh DuckDB file:

- `api`: the simulator serves the workspace over loopback (in a process of its own, with a rate
  limit high enough never to answer 429), and the space lists, contacts and every contact's
  messages are walked with `RespondioClient` (4 contacts at a time, as the assets do) into
  `RawLoader`; records/s is records fetched per second of the whole walk, final merges included.
- `captures`: `load_captures` over the workspace's `captures/`; lines/s counts lines read,
  rows/s the raw rows written (payloads, their unpacked elements and respond.io events).
- `duckdb`: DuckDB's own reader over the same files (`read_ndjson_objects` into a table, malformed
  lines skipped, all cores): the engine's limit for comparison, with the ratio of our lines/s to
  its rows/s. It parses and stores; it does not hash, classify, unpack, upsert or keep rejects.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.workspaces import TOKEN, bench_dir, ensure_workspace, peak_rss_mib, served

PHASES = ("api", "captures", "duckdb")
SIZES = ("100k", "1m")


def walk_api(base_url: str, database: Path) -> dict:
    """The respond.io walk a first refresh makes: the workspace's lists, contacts, then every
    contact's messages (4 contacts at a time, as the assets do), each into `RawLoader`."""
    import duckdb

    from extract import respondio
    from extract.http import BearerSession
    from extract.load import RawLoader, warehouse_config
    from extract.respondio import RespondioClient

    concurrency = 4
    session = BearerSession(base_url, TOKEN, pool_size=concurrency * 2)
    client = RespondioClient(session, concurrency=concurrency)
    space_lists = {
        respondio.USERS: client.users,
        respondio.CHANNELS: client.channels,
        respondio.CLOSING_NOTES: client.closing_notes,
        respondio.CONTACTS: client.contacts,
    }
    with duckdb.connect(str(database), config=warehouse_config()) as con:
        wall = time.perf_counter()
        results = []
        for table, pages in space_lists.items():
            loader = RawLoader(con, table)
            for page in pages():
                loader.add(page.items, page.url)
            results.append(loader.commit())
        contact_ids = [
            row[0]
            for row in con.execute(
                f"select _record_id from {respondio.CONTACTS.qualified} order by _record_id"
            ).fetchall()
        ]
        loader = RawLoader(con, respondio.MESSAGES)
        for page in client.messages_of_contacts(contact_ids):
            loader.add(page.items, page.url)
        messages = loader.commit()
        wall = time.perf_counter() - wall
    session.close()
    records = sum(result.fetched for result in results) + messages.fetched
    return {
        "records": records,
        "messages": messages.fetched,
        "requests": session.stats["requests"],
        "rejected": sum(result.rejected for result in results) + messages.rejected,
        "wall_s": wall,
        "per_s": records / wall,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_api(size: str, database: Path) -> dict:
    with served(bench_dir(size)) as base_url:
        return walk_api(base_url, database)


def run_captures(size: str, database: Path) -> dict:
    import duckdb

    from extract.captures import load_captures
    from extract.load import warehouse_config

    with duckdb.connect(str(database), config=warehouse_config()) as con:
        wall = time.perf_counter()
        report = load_captures(con, bench_dir(size) / "captures")
        wall = time.perf_counter() - wall
    rows = sum(counts["inserted"] + counts["updated"] for counts in report.tables.values())
    return {
        "lines": report.lines_read,
        "rows": rows,
        "rejected": report.rejected,
        "wall_s": wall,
        "per_s": report.lines_read / wall,
        "rows_per_s": rows / wall,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_duckdb(size: str, database: Path) -> dict:
    import duckdb

    pattern = (bench_dir(size) / "captures" / "**" / "*.jsonl*").as_posix()
    with duckdb.connect(str(database)) as con:
        wall = time.perf_counter()
        con.execute(
            "create table lines as select * from read_ndjson_objects(?, ignore_errors = true)",
            [pattern],
        )
        (rows,) = con.execute("select count(*) from lines").fetchone()
        wall = time.perf_counter() - wall
        (threads,) = con.execute("select current_setting('threads')").fetchone()
    return {
        "rows": rows,
        "threads": threads,
        "wall_s": wall,
        "per_s": rows / wall,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_one(size: str, phase: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="wabi-bench-") as scratch:
        database = Path(scratch) / "warehouse.duckdb"
        return {"api": run_api, "captures": run_captures, "duckdb": run_duckdb}[phase](
            size, database
        )


def measure(size: str, phase: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.extract", "--one", f"{size}:{phase}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, phase = args.one.split(":")
        print(json.dumps(run_one(size, phase)))
        return
    phases = args.phases.split(",")
    for size in args.sizes.split(","):
        out, generated = ensure_workspace(size)
        counts = json.loads((out / "workspace.json").read_text())["counts"]
        note = f"generated in {generated:.0f} s" if generated is not None else "cached"
        print(f"\n{size}: {counts['messages']:,} messages, {out} ({note})")
        print(
            f"{'phase':<9} {'items':>11} {'rows':>11} {'wall s':>7} {'items/s':>9} "
            f"{'rows/s':>9} {'peak RSS MiB':>12}"
        )
        results = {}
        for phase in phases:
            r = results[phase] = measure(size, phase)
            items = r.get("records", r.get("lines", r.get("rows")))
            rows = r.get("rows", items)
            print(
                f"{phase:<9} {items:>11,} {rows:>11,} {r['wall_s']:>7.1f} {r['per_s']:>9,.0f} "
                f"{rows / r['wall_s']:>9,.0f} {r['peak_rss_mib']:>12}"
            )
        if "api" in results:
            api = results["api"]
            print(f"api: {api['requests']:,} requests, {api['rejected']} rejected")
        if "captures" in results:
            print(f"captures: {results['captures']['rejected']} rejected (the simulator's faults)")
        if {"captures", "duckdb"} <= results.keys():
            ours, engine = results["captures"], results["duckdb"]
            print(
                f"ours/DuckDB: {ours['per_s'] / engine['per_s']:.2f} (lines/s against rows/s; "
                f"DuckDB on {engine['threads']} threads)"
            )


if __name__ == "__main__":
    main()
