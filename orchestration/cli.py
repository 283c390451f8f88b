"""The `wabi` command: simulate and serve a workspace, refresh the warehouse, run the demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from extract.pii import PiiKeyError
from orchestration.refresh_lock import RefreshLocked, refresh_lock
from orchestration.settings import REPO_ROOT, Settings, SettingsError, checked_timezone

if TYPE_CHECKING:
    from dagster import ExecuteInProcessResult

    from simulator.model import WorkspaceSpec

log = logging.getLogger("wabi")

# The demo's workspace: four weeks of a small team, sized to run end to end in about a minute.
DEMO_WORKSPACE = {"seed": 7, "contacts": 400, "agents": 12, "days": 28, "messages_per_day": 250}
HEADLINE_SQL = """
    select min(report_date), max(report_date), sum(sent), sum(delivered), sum(read), sum(received)
    from rpt_messages_daily
"""
EXAMPLE_QUERY = (
    "select report_date, sum(sent) as sent, sum(delivered) as delivered, sum(read) as read, "
    "sum(received) as received from rpt_messages_daily group by 1 order by 1 desc limit 7;"
)


# `wabi refresh` and `wabi demo` exit with this when another refresh holds the data directory.
EXIT_LOCKED = 3


class RefreshFailed(RuntimeError):
    """The Dagster run failed; analytics.duckdb was left as it was."""


@dataclass(frozen=True)
class RefreshOptions:
    """What a refresh does beyond loading what is new."""

    # UTC days (first, last) whose messages and statuses are reloaded from the sources: a run of
    # that range of the message assets' daily partitions.
    reload_days: tuple[date, date] | None = None
    # dbt's incremental models rebuilt from all of raw.
    full_refresh: bool = False


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _utc_time(text: str) -> datetime:
    """An ISO date or time as the warehouse's naive UTC times: one with an offset converted."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time") from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _add_workspace_arguments(parser: argparse.ArgumentParser, defaults: dict[str, int]) -> None:
    parser.add_argument("--seed", type=int, default=defaults["seed"])
    parser.add_argument("--contacts", type=int, default=defaults["contacts"])
    parser.add_argument("--agents", type=int, default=defaults["agents"])
    parser.add_argument("--days", type=int, default=defaults["days"])
    parser.add_argument("--messages-per-day", type=int, default=defaults["messages_per_day"])
    parser.add_argument(
        "--channels", help="comma-separated: whatsapp,messenger,instagram,telegram,webchat"
    )
    parser.add_argument("--start", type=date.fromisoformat, help="first local day (YYYY-MM-DD)")


def _workspace_spec(args: argparse.Namespace, timezone: str) -> WorkspaceSpec:
    from simulator.model import WorkspaceSpec

    spec = WorkspaceSpec(
        seed=args.seed,
        contacts=args.contacts,
        agents=args.agents,
        days=args.days,
        messages_per_day=args.messages_per_day,
        timezone=timezone,
    )
    if args.channels:
        spec = replace(spec, channels=tuple(args.channels.split(",")))
    if args.start:
        spec = replace(spec, start=args.start)
    return spec


def ensure_workspace(spec: WorkspaceSpec, out_dir: Path) -> bool:
    """Generate the workspace (without faults) into `out_dir` unless this simulator already
    made that one there; return whether it generated one."""
    from simulator.generate import generate, generator_fingerprint

    manifest = out_dir / "workspace.json"
    if manifest.exists():
        existing = json.loads(manifest.read_text())
        wanted = {"spec": spec.as_json(), "faults": "none", "generator": generator_fingerprint()}
        if all(existing.get(key) == value for key, value in wanted.items()):
            return False
    counts = generate(spec, out_dir)
    log.info("simulated workspace in %s: %s", out_dir, counts)
    return True


def run_refresh(settings: Settings, options: RefreshOptions = RefreshOptions()) -> Path:
    """Run the daily refresh job in this process, against a persistent Dagster instance.

    dbt's and Dagster's own output, and wabi's log (retries, rate limits, rejects, the faults a
    source threw), go to a log file under `data/logs/`, whose path is returned. Raises
    `RefreshLocked` at once when another process is refreshing the same data directory.
    """
    with refresh_lock(settings.data_dir):
        settings.export()
        log_dir = settings.data_dir / "logs"
        log_dir.mkdir(exist_ok=True)
        log_file = log_dir / f"refresh-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
        with (
            log_file.open("w") as sink,
            redirect_stdout(sink),
            redirect_stderr(sink),
            _logging_to(sink),
        ):
            result = _execute_refresh_job(settings.sources, options)
    if not result.success:
        failures = [
            f"{event.step_key}: {event.message}"
            for event in result.all_events
            if event.event_type_value == "STEP_FAILURE"
            or (
                event.event_type_value == "ASSET_CHECK_EVALUATION"
                and "did not pass" in (event.message or "")
            )
        ]
        raise RefreshFailed(
            "refresh failed; analytics.duckdb was not replaced:\n  "
            + "\n  ".join(failures)
            + f"\nRun log: {log_file}"
        )
    return log_file


@contextmanager
def _logging_to(sink: TextIO) -> Iterator[None]:
    """wabi's INFO and above into `sink` for the duration."""
    wabi = logging.getLogger("wabi")
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = wabi.level
    wabi.addHandler(handler)
    wabi.setLevel(logging.INFO)
    try:
        yield
    finally:
        wabi.removeHandler(handler)
        wabi.setLevel(level)


def _execute_refresh_job(sources: list[str], options: RefreshOptions) -> ExecuteInProcessResult:
    from orchestration.project import prepare_manifest

    prepare_manifest()
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.partitions import run_arguments
    from orchestration.defs.schedules import refresh_run_config, refresh_selection

    job = defs.resolve_job_def("daily_refresh_job")
    keys = refresh_selection(sources).resolve(defs.resolve_asset_graph())
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=sorted(keys),
            run_config=refresh_run_config(full_refresh=options.full_refresh),
            **run_arguments(options.reload_days),
        )


def duckdb_shell() -> str:
    """The DuckDB shell installed beside wabi (package duckdb-cli), else whatever is on PATH."""
    beside = Path(sys.prefix) / "bin" / "duckdb"
    return os.path.relpath(beside) if beside.exists() else "duckdb"


def headline(analytics_path: Path) -> str:
    import duckdb

    with duckdb.connect(str(analytics_path), read_only=True) as con:
        first, last, sent, delivered, read, received = con.execute(HEADLINE_SQL).fetchone()
    return (
        f"Messages {first} to {last}: sent {sent:,} · delivered {delivered:,} · "
        f"read {read:,} · received {received:,}"
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator.generate import generate

    spec = _workspace_spec(args, checked_timezone(args.timezone, "--timezone"))
    counts = generate(spec, args.out, faults=args.faults, compress=args.gzip)
    print(
        f"Wrote {counts['messages']:,} messages, {counts['conversations']:,} conversations and "
        f"{counts['contacts']:,} contacts to {args.out} (faults: {args.faults}); "
        f"expected figures in {args.out / 'expected'}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from simulator.server import SimulatorServer

    token = os.environ.get("WABI_PLATFORM_TOKEN")
    if not token:
        print("Set WABI_PLATFORM_TOKEN to the token clients must present.", file=sys.stderr)
        return 2
    from simulator.faults import FaultProfile

    server = SimulatorServer(
        args.workspace,
        token=token,
        port=args.port,
        rate_limit_per_second=args.rate_limit,
        faults=FaultProfile.named(args.faults),
        fault_seed=args.fault_seed,
    )
    print(f"Serving {args.workspace} as respond.io API v2 at {server.base_url} (Ctrl-C stops)")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
        if args.faults != "none":
            print(f"Faults fired: {server.fault_summary()}")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    overrides = {
        "data_dir": args.data_dir.resolve() if args.data_dir else None,
        "timezone": checked_timezone(args.timezone, "--timezone") if args.timezone else None,
        "platform_url": args.platform_url,
        "webhook_dir": args.webhook_dir.resolve() if args.webhook_dir else None,
    }
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if settings.platform_url and not settings.platform_token:
        print("Set WABI_PLATFORM_TOKEN for WABI_PLATFORM_URL (see .env.example).", file=sys.stderr)
        return 2
    if not settings.sources:
        from orchestration.defs.schedules import NO_SOURCE

        print(f"Nothing to refresh: {NO_SOURCE} (see .env.example).", file=sys.stderr)
        return 2
    reload_days = None
    if args.reload_from or args.reload_to:
        reload_days = (args.reload_from or args.reload_to, args.reload_to or args.reload_from)
        if reload_days[0] > reload_days[1]:
            print("--from must not be after --to.", file=sys.stderr)
            return 2
    options = RefreshOptions(reload_days=reload_days, full_refresh=args.full_refresh)
    try:
        log_file = run_refresh(settings, options)
    except RefreshFailed as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Published {settings.data_dir / 'analytics.duckdb'} (run log: {log_file})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = Settings.from_env()
    if args.timezone:
        settings = replace(settings, timezone=checked_timezone(args.timezone, "--timezone"))
    # Held from the start: a new simulated world deletes the warehouse another run may be using.
    with refresh_lock(settings.data_dir):
        return _demo(args, settings, started)


def _demo(args: argparse.Namespace, settings: Settings, started: float) -> int:
    from simulator.generate import CAPTURES_DIR
    from simulator.server import SimulatorServer

    workspace_dir = settings.data_dir / "simulated"
    print(f"Simulating a workspace in {workspace_dir} ...")
    if ensure_workspace(_workspace_spec(args, settings.timezone), workspace_dir):
        # Another simulated world: records of the previous one must not mix with its records.
        for stale in settings.data_dir.glob("warehouse.duckdb*"):
            stale.unlink()
    token = secrets.token_urlsafe(24)
    with SimulatorServer(workspace_dir, token=token) as server:
        print(f"Serving it as respond.io API v2 on {server.base_url}; running the pipeline ...")
        settings = replace(
            settings,
            platform_url=server.base_url,
            platform_token=token,
            webhook_dir=workspace_dir / CAPTURES_DIR,
        )
        try:
            log_file = run_refresh(settings)
        except RefreshFailed as error:
            print(error, file=sys.stderr)
            return 1
    analytics = settings.data_dir / "analytics.duckdb"
    print()
    print(
        f"Done in {time.monotonic() - started:.0f}s (run log: {log_file}).\n"
        f"Analysts' file, to open read-only: {analytics}"
    )
    print(headline(analytics))
    print(f"Reporting time zone: {settings.timezone}. Try:")
    print(f'  {duckdb_shell()} -readonly {analytics} "{EXAMPLE_QUERY}"')
    from orchestration.report.page import REPORT_FILE

    print(f"Report, to open in any browser (offline): {analytics.with_name(REPORT_FILE)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from orchestration.verify import verify

    data_dir = (args.data_dir or Settings.from_env().data_dir).resolve()
    workspace = (args.workspace or data_dir / "simulated").resolve()
    analytics = data_dir / "analytics.duckdb"
    for needed in (analytics, workspace / "expected"):
        if not needed.exists():
            print(f"{needed} does not exist: run `wabi demo` first.", file=sys.stderr)
            return 2
    results = verify(analytics, workspace)
    for table, mismatches in results.items():
        if not mismatches:
            print(f"ok        {table}")
            continue
        print(f"MISMATCH  {table}: {len(mismatches)}")
        for mismatch in mismatches[: args.show]:
            print(f"  {mismatch}")
    failed = [table for table, mismatches in results.items() if mismatches]
    print(
        f"{len(results) - len(failed)} of {len(results)} tables equal the oracle"
        + (f"; differing: {', '.join(failed)}" if failed else ".")
    )
    return 1 if failed else 0


def cmd_rejects(args: argparse.Namespace) -> int:
    from orchestration.rejects import (
        Filters,
        WarehouseBusy,
        WarehouseUnreadable,
        read_groups,
        render_text,
    )

    data_dir = (args.data_dir or Settings.from_env().data_dir).resolve()
    filters = Filters(since=args.since, source=args.source, reason=args.reason)
    try:
        groups = read_groups(
            data_dir / "warehouse.duckdb", filters, args.limit, show_records=args.show_records
        )
    except WarehouseUnreadable as error:
        print(f"wabi rejects: {error}", file=sys.stderr)
        # Busy as `wabi refresh` is when another refresh holds the data: try again later.
        return EXIT_LOCKED if isinstance(error, WarehouseBusy) else 2
    if args.json:
        print(json.dumps({"groups": [group.as_json() for group in groups]}, default=str))
    elif not groups:
        filtered = any(value is not None for value in (args.since, args.source, args.reason))
        print("no quarantined or rejected records" + (" match" if filtered else ""))
    else:
        print(render_text(groups, args.show_records))
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings.export()
    from orchestration.project import prepare_manifest

    prepare_manifest()
    dagster = str(Path(sys.prefix) / "bin" / "dagster")
    # No -m: pyproject.toml's [tool.dagster] names the module and the location ("wabi").
    process = subprocess.Popen(
        [dagster, "dev", "--host", "127.0.0.1", "--port", str(args.port)], cwd=REPO_ROOT
    )
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()


def cmd_bench(args: argparse.Namespace) -> int:
    """benchmarks/pipeline.py, run from the repository (benchmarks/ is not an installed package)."""
    from orchestration.project import prepare_manifest

    prepare_manifest()
    arguments = [sys.executable, "-m", "benchmarks.pipeline"]
    arguments += [f"--scale={scale}" for scale in args.scale]
    if args.incremental_days is not None:
        arguments.append(f"--incremental-days={args.incremental_days}")
    if args.resume:
        arguments.append("--resume")
    return subprocess.run(arguments, cwd=REPO_ROOT).returncode


def cmd_report(args: argparse.Namespace) -> int:
    from orchestration.report.browser import BrowserError, screenshot_page
    from orchestration.report.page import REPORT_FILE, AnalyticsFileMissing, build_report
    from orchestration.report.queries import ReportInputError

    settings = Settings.from_env()
    data_dir = (args.data_dir or settings.data_dir).resolve()
    try:
        summary = build_report(
            data_dir / "analytics.duckdb",
            args.out or data_dir / REPORT_FILE,
            start=args.start,
            end=args.end,
            days=args.days,
            channel_id=args.channel,
            timezone=settings.timezone,
        )
    except (AnalyticsFileMissing, ReportInputError) as error:
        print(f"wabi report: {error}", file=sys.stderr)
        return 2
    period = str(summary.period) if summary.period else "no data yet"
    print(f"Wrote {summary.path} ({summary.size_bytes / 1e6:.1f} MB; {period})")
    if args.screenshot:
        try:
            screenshot_page(summary.path, args.screenshot)
        except BrowserError as error:
            print(f"wabi report: no screenshot: {error}", file=sys.stderr)
            return 2
        print(f"Screenshot of its Overview: {args.screenshot}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from orchestration.dbt_docs import generate_docs, serve_docs

    settings = Settings.from_env()
    if args.data_dir:
        settings = replace(settings, data_dir=args.data_dir.resolve())
    try:
        site = generate_docs(settings)
    except subprocess.CalledProcessError as error:
        print(f"dbt docs generate failed (exit {error.returncode}).", file=sys.stderr)
        return 1
    if args.no_serve:
        print(f"dbt documentation built: {site / 'index.html'}")
        return 0
    server = serve_docs(site, args.port)
    print(f"Serving dbt's documentation on http://127.0.0.1:{server.server_port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from simulator.faults import PROFILES
    from simulator.model import WorkspaceSpec

    spec_defaults = {k: getattr(WorkspaceSpec(), k) for k in DEMO_WORKSPACE}
    parser = argparse.ArgumentParser(prog="wabi", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="simulate a workspace, run the whole pipeline, publish")
    _add_workspace_arguments(demo, DEMO_WORKSPACE)
    demo.add_argument(
        "--timezone", help="reporting time zone (IANA name); default WABI_TIMEZONE or UTC"
    )
    demo.set_defaults(handler=cmd_demo)

    refresh = commands.add_parser("refresh", help="run the daily refresh job now, in this process")
    refresh.add_argument("--data-dir", type=Path, help="default WABI_DATA_DIR or ./data")
    refresh.add_argument("--timezone", help="default WABI_TIMEZONE or UTC")
    refresh.add_argument("--platform-url", help="default WABI_PLATFORM_URL")
    refresh.add_argument(
        "--webhook-dir", type=Path, help="capture files to load; default WABI_WEBHOOK_DIR"
    )
    refresh.add_argument(
        "--from",
        dest="reload_from",
        type=date.fromisoformat,
        help="reload the messages and statuses of the UTC days from this one (a backfill of "
        "the message assets' daily partitions) instead of loading what is new",
    )
    refresh.add_argument(
        "--to", dest="reload_to", type=date.fromisoformat, help="last UTC day to reload"
    )
    refresh.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild dbt's incremental models from all of raw (after changing one)",
    )
    refresh.set_defaults(handler=cmd_refresh)

    simulate = commands.add_parser("simulate", help="write a simulated workspace to a directory")
    _add_workspace_arguments(simulate, spec_defaults)
    simulate.add_argument("--timezone", default="UTC")
    simulate.add_argument("--out", type=Path, required=True)
    simulate.add_argument(
        "--faults",
        choices=list(PROFILES),
        default="none",
        help="light/heavy also tear some capture lines, as crashed receivers do",
    )
    simulate.add_argument("--gzip", action="store_true", help="gzip the capture files")
    simulate.set_defaults(handler=cmd_simulate)

    serve = commands.add_parser("serve", help="serve a simulated workspace as respond.io API v2")
    serve.add_argument("workspace", type=Path)
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--rate-limit", type=int, default=50, help="requests per second per endpoint"
    )
    serve.add_argument(
        "--faults",
        choices=list(PROFILES),
        default="none",
        help="misbehave like a real SaaS API: 429 bursts, 5xx/449, slow answers, "
        "dropped connections, pages repeating records",
    )
    serve.add_argument("--fault-seed", type=int, default=0)
    serve.set_defaults(handler=cmd_serve)

    verify = commands.add_parser(
        "verify", help="compare the published marts with a simulated workspace's oracle"
    )
    verify.add_argument("--data-dir", type=Path, help="default WABI_DATA_DIR or ./data")
    verify.add_argument(
        "--workspace", type=Path, help="the simulated workspace; default <data dir>/simulated"
    )
    verify.add_argument(
        "--show", type=int, default=20, help="mismatches printed per table (all are counted)"
    )
    verify.set_defaults(handler=cmd_verify)

    rejects = commands.add_parser(
        "rejects",
        help="list the records the loaders kept aside (quarantined or rejected), by rule and place",
    )
    rejects.add_argument("--data-dir", type=Path, help="default WABI_DATA_DIR or ./data")
    rejects.add_argument(
        "--since",
        type=_utc_time,
        help="only records kept aside from then on (YYYY-MM-DD or an ISO time; UTC unless it "
        "has an offset)",
    )
    rejects.add_argument("--source", help="only this source (whatsapp_cloud, respondio, captures)")
    rejects.add_argument(
        "--rule",
        "--reason",
        dest="reason",
        metavar="TEXT",
        help="only rules or reasons containing this text",
    )
    rejects.add_argument(
        "--limit", type=_non_negative, default=20, help="places listed per group (default 20)"
    )
    rejects.add_argument(
        "--show-records",
        action="store_true",
        help="also print each record as it came: CUSTOMER DATA (phone numbers, messages), for "
        "the operator who fixes them; never paste it where others read",
    )
    rejects.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    rejects.set_defaults(handler=cmd_rejects)

    dev = commands.add_parser("dev", help="open the Dagster UI (asset graph, checks, schedule)")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=cmd_dev)

    bench = commands.add_parser(
        "bench", help="time every stage at 100k/1m/10m messages against two references"
    )
    bench.add_argument(
        "--scale",
        action="append",
        default=[],
        help="100k, 1m or 10m; repeatable or comma-separated (default: all three)",
    )
    bench.add_argument(
        "--incremental-days",
        help="history sizes (days) of the incremental-vs-full benchmark (default 30,300); "
        "empty skips it",
    )
    bench.add_argument(
        "--resume",
        action="store_true",
        help="keep the stages an earlier run of a scale measured (data/bench/<scale>/run) and "
        "run the rest",
    )
    bench.set_defaults(handler=cmd_bench)

    report = commands.add_parser(
        "report", help="write the report page (report.html) from analytics.duckdb"
    )
    report.add_argument(
        "--from",
        dest="start",
        type=date.fromisoformat,
        help="first day (YYYY-MM-DD); default --days days up to --to",
    )
    report.add_argument(
        "--days", type=int, default=28, help="the period's length when --from is not given"
    )
    report.add_argument(
        "--to", dest="end", type=date.fromisoformat, help="last day; default the last with data"
    )
    report.add_argument(
        "--channel", help="a channel_id of dim_channels: its figures only, where a mart has one"
    )
    report.add_argument("--out", type=Path, help="default <data dir>/report.html")
    report.add_argument("--data-dir", type=Path, help="default WABI_DATA_DIR or ./data")
    report.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="also save the Overview as headless Chromium draws it (e.g. docs/report.png)",
    )
    report.set_defaults(handler=cmd_report)

    docs = commands.add_parser(
        "docs", help="build and serve dbt's documentation site (lineage, column definitions)"
    )
    docs.add_argument("--port", type=int, default=8080)
    docs.add_argument("--no-serve", action="store_true", help="build the site and print its path")
    docs.add_argument("--data-dir", type=Path, help="default WABI_DATA_DIR or ./data")
    docs.set_defaults(handler=cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    try:
        return args.handler(args)
    except (PiiKeyError, SettingsError) as error:  # a settings mistake: one line, no traceback
        print(f"wabi: {error}", file=sys.stderr)
        return 2
    except RefreshLocked as error:
        print(f"wabi {args.command}: {error}", file=sys.stderr)
        return EXIT_LOCKED


if __name__ == "__main__":
    sys.exit(main())
