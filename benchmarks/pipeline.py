"""The whole pipeline at scale: `make bench` (or `wabi bench --scale 100k,1m,10m`).

For each scale the cached simulated workspace (benchmarks.workspaces) is loaded into a fresh
warehouse under `data/bench/<scale>/run/`, one stage at a time, each stage a process of its own
measured whole (wall s, CPU s, peak RSS, dbt's subprocess included):

- `extract`: the webhook captures (`load_captures`) and the respond.io API walked over loopback
  (the simulator serves it from a process the benchmark starts, outside every measurement);
- `dbt`: `dbt build` (models and tests) with the vars and raw tables the Dagster asset uses;
- `checks`: the Great Expectations gates, on the new raw batches and on the marts;
- `publish`: `publish_marts`, analytics.duckdb written and swapped in;
- `reference_sql`: benchmarks/reference.sql, the hand-written DuckDB script, on the raw tables;
- `reference_pandas`: benchmarks/reference_pandas.py, the same three reports in pandas.

The three reports of each reference must equal the marts, every row and column (floats to
1e-9), or the benchmark fails; pandas runs at 100k and 1m only (PANDAS_SCALES: memory).
`dbt_reports` is dbt's side of the transform comparison: the three reports and their upstream
models only. Results are printed and appended to benchmarks/RESULTS.md.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from benchmarks.workspaces import (
    SIZES,
    Measured,
    bench_dir,
    ensure_workspace,
    measure_process,
    served,
)

RESULTS = Path(__file__).with_name("RESULTS.md")
PIPELINE_STAGES = ("extract", "dbt", "checks", "publish")
REFERENCE_STAGES = ("reference_sql", "reference_pandas")
# The pandas reference holds every message and status event in memory: 1.0 GiB at 100k and
# 7.3 GiB at 1m measured, so 10m (~70 GiB) would not fit in this machine's 24 GiB.
PANDAS_SCALES = ("100k", "1m")
TIMEZONE = "UTC"  # the simulated workspaces' own
DEFAULT_HISTORY_DAYS = (30, 300)
DBT_SCHEMAS = ("staging", "intermediate", "marts")
# Each stage's measurement, kept in the run directory as it finishes (for --resume).
STAGES_FILE = "stages.json"


class ReferencesDisagree(RuntimeError):
    pass


# -- the stages, each run in a process of its own -------------------------------------------


def stage_extract(data_dir: Path, workspace: Path, base_url: str) -> dict:
    import duckdb

    from benchmarks.extract import walk_api
    from extract.captures import load_captures
    from extract.load import warehouse_config

    wall = time.perf_counter()
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), config=warehouse_config()) as con:
        captures = load_captures(con, workspace / "captures")
    captures_s = time.perf_counter() - wall
    api = walk_api(base_url, data_dir / "warehouse.duckdb")
    return {
        "captures_s": captures_s,
        "capture_lines": captures.lines_read,
        "api_s": api["wall_s"],
        "api_records": api["records"],
        "api_requests": api["requests"],
    }


def dbt_arguments(data_dir: Path, command: tuple[str, ...], run_name: str) -> list[str]:
    """A dbt command as the Dagster asset runs it (its vars), with target and logs of its own
    under `<data_dir>/dbt/<run_name>/`."""
    from orchestration.defs.dbt import dbt_vars
    from orchestration.defs.resources import ReportingResource
    from orchestration.project import DBT_PROJECT_DIR, dbt_executable
    from orchestration.settings import DEFAULT_BUSINESS_HOURS

    reporting = ReportingResource(timezone=TIMEZONE, business_hours=DEFAULT_BUSINESS_HOURS)
    return [
        dbt_executable(),
        *command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(data_dir / "dbt" / run_name / "target"),
        "--log-path",
        str(data_dir / "dbt" / run_name / "logs"),
        "--vars",
        json.dumps(dbt_vars(reporting)),
    ]


def measure_dbt(data_dir: Path, command: tuple[str, ...], run_name: str) -> Measured:
    """A dbt command on the warehouse in `data_dir`, run and measured as a process of its own."""
    from orchestration.project import DBT_PROJECT_DIR

    return measure_process(
        dbt_arguments(data_dir, command, run_name),
        cwd=DBT_PROJECT_DIR,
        env=os.environ | {"WABI_DATA_DIR": str(data_dir)},
    )


def node_seconds(data_dir: Path, run_name: str) -> dict[str, float]:
    """Execution seconds of a dbt run's nodes, by unique id (its run_results.json)."""
    path = data_dir / "dbt" / run_name / "target" / "run_results.json"
    results = json.loads(path.read_text())
    return {result["unique_id"]: result["execution_time"] for result in results["results"]}


def stage_dbt(data_dir: Path) -> dict:
    """`dbt build` as the Dagster asset runs it, raw tables ensured first."""
    from orchestration.defs.dbt import BUILD_COMMAND, ensure_source_tables
    from orchestration.defs.resources import WarehouseResource
    from orchestration.project import DBT_PROJECT_DIR

    warehouse = WarehouseResource(data_dir=str(data_dir))
    ensure_source_tables(warehouse)
    # a first build: what a failed run of this stage built is dropped (see --resume)
    with warehouse.connect() as con:
        for schema in DBT_SCHEMAS:
            con.execute(f"drop schema if exists {schema} cascade")
        con.execute("drop table if exists audit.dbt_tested_loads")
    with (data_dir / "dbt_build.log").open("w") as log:
        subprocess.run(
            dbt_arguments(data_dir, BUILD_COMMAND, "build"),
            cwd=DBT_PROJECT_DIR,
            env=os.environ | {"WABI_DATA_DIR": str(data_dir)},
            check=True,
            stdout=log,
        )
    seconds = node_seconds(data_dir, "build")
    slowest = sorted(seconds.items(), key=lambda item: -item[1])[:8]
    return {
        "models_s": sum(s for node, s in seconds.items() if node.startswith("model.")),
        "tests_s": sum(s for node, s in seconds.items() if node.startswith("test.")),
        "slowest": {node: round(s, 2) for node, s in slowest},
    }


def stage_checks(data_dir: Path) -> dict:
    import dagster as dg

    from orchestration.defs.dbt import messages_daily_consistent
    from orchestration.defs.raw.respondio import new_messages_valid
    from orchestration.defs.raw.webhooks import new_whatsapp_cloud_valid
    from orchestration.defs.resources import WarehouseResource

    warehouse = WarehouseResource(data_dir=str(data_dir))
    gates = {
        "new_messages_valid": new_messages_valid,
        "new_whatsapp_cloud_valid": new_whatsapp_cloud_valid,
        "messages_daily_consistent": messages_daily_consistent,
    }
    results = {
        name: gate(dg.build_asset_check_context(), warehouse=warehouse)
        for name, gate in gates.items()
    }
    failed = {name: r.description for name, r in results.items() if not r.passed}
    if failed:
        raise RuntimeError(f"gates failed: {failed}")
    return {name: result.description for name, result in results.items()}


def stage_publish(data_dir: Path) -> dict:
    from orchestration.defs.publish import publish_marts

    rows = publish_marts(data_dir / "warehouse.duckdb", data_dir / "analytics.duckdb")
    return {"tables": len(rows), "rows": sum(rows.values())}


def stage_reference(data_dir: Path, which: str) -> dict:
    """One reference's three reports, written to `<which>.duckdb` beside the warehouse."""
    import duckdb

    from benchmarks.reference import ReferenceVars, run_sql_reference
    from benchmarks.reference_pandas import run_pandas_reference
    from extract.pii import load_key

    run = {"reference_sql": run_sql_reference, "reference_pandas": run_pandas_reference}[which]
    variables = ReferenceVars.for_timezone(TIMEZONE, load_key(data_dir))
    reports = run(data_dir / "warehouse.duckdb", variables)
    output = data_dir / f"{which}.duckdb"
    output.unlink(missing_ok=True)
    with duckdb.connect(str(output)) as con:
        for name, frame in reports.items():
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
    return {name: len(frame) for name, frame in reports.items()}


def run_stage(stage: str, data_dir: Path, workspace: Path, base_url: str) -> dict:
    if stage == "extract":
        return stage_extract(data_dir, workspace, base_url)
    if stage in REFERENCE_STAGES:
        return stage_reference(data_dir, stage)
    return {"dbt": stage_dbt, "checks": stage_checks, "publish": stage_publish}[stage](data_dir)


# -- the benchmark ---------------------------------------------------------------------------


def measure_stage(stage: str, data_dir: Path, workspace: Path, base_url: str = "") -> Measured:
    arguments = [sys.executable, "-m", "benchmarks.pipeline", "--stage", stage]
    arguments += ["--data-dir", str(data_dir), "--workspace", str(workspace), "--url", base_url]
    return measure_process(arguments)


def compare_references(data_dir: Path, references: tuple[str, ...]) -> dict[str, int]:
    """Assert the references equal the marts; return the rows compared per report."""
    import duckdb

    from benchmarks.reference import differences, read_marts

    marts = read_marts(data_dir / "warehouse.duckdb")
    found = []
    for which in references:
        with duckdb.connect(str(data_dir / f"{which}.duckdb"), read_only=True) as con:
            for report, mart in marts.items():
                found += differences(report, mart, con.execute(f"select * from {report}").df())
    if found:
        raise ReferencesDisagree("\n".join(found[:50]))
    return {report: len(mart) for report, mart in marts.items()}


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().split()
    memory_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2
    packages = ["duckdb", "dbt-core", "dbt-duckdb", "dagster", "pandas", "great_expectations"]
    return (
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, {platform.platform()}; Python "
        f"{platform.python_version()}, "
        + ", ".join(f"{package} {version(package)}" for package in packages)
    )


def measure_reports_transform(data_dir: Path) -> Measured:
    """dbt's side of the transform comparison: `dbt run --full-refresh` of the three reports the
    references compute and every model upstream of them (no tests, no other mart)."""
    from benchmarks.reference import REPORT_KEYS

    selection = [f"+{report}" for report in REPORT_KEYS]
    return measure_dbt(data_dir, ("run", "--full-refresh", "--select", *selection), "reports")


def _ratios(stages: dict[str, Measured]) -> str:
    ours, sql, build = stages["dbt_reports"], stages["reference_sql"], stages["dbt"]
    text = (
        f"Transform, the three reports from raw: ours (`dbt_reports`) / DuckDB-SQL = "
        f"{ours.wall_s:.1f} / {sql.wall_s:.1f} s = **{ours.wall_s / sql.wall_s:.2f}x** wall, "
        f"{ours.cpu_s / sql.cpu_s:.2f}x CPU (whole `dbt build`: "
        f"{build.wall_s / sql.wall_s:.2f}x wall)"
    )
    if "reference_pandas" not in stages:
        return text + "; pandas not run at this scale (see PANDAS_SCALES)."
    pandas = stages["reference_pandas"]
    return text + (
        f"; pandas / ours = {pandas.wall_s:.1f} / {ours.wall_s:.1f} s = "
        f"**{pandas.wall_s / ours.wall_s:.2f}x** wall, {pandas.cpu_s / ours.cpu_s:.2f}x CPU."
    )


def _measured_stages(data_dir: Path) -> dict[str, Measured]:
    path = data_dir / STAGES_FILE
    if not path.exists():
        return {}
    return {stage: Measured(**fields) for stage, fields in json.loads(path.read_text()).items()}


def bench_scale(scale: str, resume: bool = False) -> str:
    """Run every stage at `scale`; the results as a markdown section. With `resume`, the stages
    a previous run of this scale measured are kept and the others run on what it left (a 10m
    extract takes half an hour)."""
    workspace, generated = ensure_workspace(scale)
    workspace = workspace.resolve()
    counts = json.loads((workspace / "workspace.json").read_text())["counts"]
    data_dir = (bench_dir(scale) / "run").resolve()
    if not resume:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    stages = _measured_stages(data_dir)
    references = REFERENCE_STAGES if scale in PANDAS_SCALES else REFERENCE_STAGES[:1]
    for stage in (*PIPELINE_STAGES, *references, "dbt_reports"):
        if stage in stages:
            continue
        if stage == "extract":
            with served(workspace) as base_url:
                stages[stage] = measure_stage(stage, data_dir, workspace, base_url)
        elif stage == "dbt_reports":
            stages[stage] = measure_reports_transform(data_dir)
        else:
            stages[stage] = measure_stage(stage, data_dir, workspace)
        print(f"{scale} {stage}: {stages[stage].as_json()}", file=sys.stderr, flush=True)
        (data_dir / STAGES_FILE).write_text(
            json.dumps({name: asdict(m) for name, m in stages.items()}, indent=1)
        )
    rows = compare_references(data_dir, references)
    dbt = json.loads(stages["dbt"].stdout.splitlines()[-1])
    extract = json.loads(stages["extract"].stdout.splitlines()[-1])
    pipeline = [stages[stage] for stage in PIPELINE_STAGES]
    note = f"generated in {generated:.0f} s" if generated is not None else "cached"
    lines = [
        f"### {scale}: {counts['messages']:,} messages, {counts['conversations']:,} "
        f"conversations, {counts['respondio_events']:,} respond.io events ({note})",
        "",
        "| stage | wall s | CPU s | peak RSS MiB |",
        "|---|---:|---:|---:|",
        *(
            f"| {stage} | {m.wall_s:.1f} | {m.cpu_s:.1f} | {m.peak_rss_mib} |"
            for stage, m in stages.items()
        ),
        f"| **pipeline (extract to publish)** | **{sum(m.wall_s for m in pipeline):.1f}** | "
        f"{sum(m.cpu_s for m in pipeline):.1f} | {max(m.peak_rss_mib for m in pipeline)} |",
        "",
        f"extract: captures {extract['captures_s']:.1f} s ({extract['capture_lines']:,} lines), "
        f"API walk {extract['api_s']:.1f} s ({extract['api_records']:,} records"
        # an extract whose figures were rebuilt from its batch log (RESULTS.md says when) has no
        # request count
        + (f", {extract['api_requests']:,} requests" if "api_requests" in extract else "")
        + ").",
        "",
        f"`dbt build` node execution times: models {dbt['models_s']:.1f} s, tests "
        f"{dbt['tests_s']:.1f} s (summed over dbt's 2 threads); slowest nodes: "
        + ", ".join(f"{node.split('.')[2]} {s} s" for node, s in dbt["slowest"].items()),
        "",
        f"{' and '.join(references)} equal the marts, every row and column "
        f"({', '.join(f'{r} {n} rows' for r, n in rows.items())}). {_ratios(stages)}",
        "",
    ]
    return "\n".join(lines)


def append_results(text: str) -> None:
    with RESULTS.open("a", encoding="utf-8") as results:
        results.write(text + "\n")


def parse_scales(values: list[str]) -> list[str]:
    scales = [scale for value in values for scale in value.split(",") if scale]
    unknown = sorted(set(scales) - SIZES.keys())
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scale(s) {unknown}; choose from {list(SIZES)}")
    return scales


def run_bench(scales: list[str], incremental_days: list[int], resume: bool = False) -> None:
    from benchmarks.incremental import bench_incremental

    started = datetime.now(UTC)
    append_results(f"\n## Run of {started:%Y-%m-%d %H:%M} UTC\n\nMachine: {machine()}.\n")
    for scale in scales:
        section = bench_scale(scale, resume)
        print(section, flush=True)
        append_results(section)
    if incremental_days:
        section = bench_incremental(incremental_days)
        print(section, flush=True)
        append_results(section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scale",
        action="append",
        default=[],
        help=f"repeatable or comma-separated, of {', '.join(SIZES)} (default: all)",
    )
    parser.add_argument(
        "--incremental-days",
        default=",".join(map(str, DEFAULT_HISTORY_DAYS)),
        help="history sizes (days) of the incremental benchmark; empty to skip it",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the stages a previous run of each scale measured; run the others",
    )
    parser.add_argument("--stage", choices=PIPELINE_STAGES + REFERENCE_STAGES)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.data_dir, args.workspace, args.url)))
        return
    try:
        scales = parse_scales(args.scale or [",".join(SIZES)])
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    run_bench(scales, [int(days) for days in args.incremental_days.split(",") if days], args.resume)


if __name__ == "__main__":
    main()
