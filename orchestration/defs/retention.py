"""Retention of old runs: Dagster's instance keeps every run and its event log until deleted, and
`dagster.yaml`'s `retention` only purges schedule and sensor ticks."""

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from orchestration.settings import Settings

log = logging.getLogger("wabi.retention")
FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


def prune_runs(instance: dg.DagsterInstance, before: datetime) -> int:
    """Delete the finished runs created before `before`, with their event and compute logs;
    return how many."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=FINISHED, created_before=before)
    )
    for record in records:
        run_id = record.dagster_run.run_id
        instance.compute_log_manager.delete_logs(prefix=[run_id])
        instance.delete_run(run_id)
    return len(records)


def prune_refresh_logs(log_dir: Path, before: datetime) -> int:
    """Delete `wabi refresh`'s run logs last written before `before`; return how many."""
    old = [
        path for path in log_dir.glob("refresh-*.log") if path.stat().st_mtime < before.timestamp()
    ]
    for path in old:
        path.unlink()
    return len(old)


@dg.sensor(
    minimum_interval_seconds=6 * 3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every six hours, deletes finished runs (with their event and compute logs) and refresh "
        "logs older than WABI_RUN_RETENTION_DAYS (default 90)."
    ),
)
def prune_old_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    settings = Settings.from_env()
    before = datetime.now(UTC) - timedelta(days=settings.run_retention_days)
    started = time.monotonic()
    runs = prune_runs(context.instance, before)
    logs = prune_refresh_logs(settings.data_dir / "logs", before)
    log.info("deleted %d runs and %d refresh logs from before %s", runs, logs, before)
    return dg.SkipReason(
        f"deleted {runs} runs and {logs} refresh logs from before {before:%Y-%m-%d %H:%M} UTC "
        f"in {time.monotonic() - started:.1f} s"
    )
