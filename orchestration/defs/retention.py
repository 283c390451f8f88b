"""Retention of old runs: Dagster's instance keeps every run and its event log until deleted,
`dagster.yaml`'s `retention` only purges schedule and sensor ticks, and dagster-dbt leaves each
dbt invocation's target folder (its artefacts and dbt.log) in the dbt project for good."""

import logging
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from orchestration.project import wabi_dbt_project
from orchestration.settings import Settings

log = logging.getLogger("wabi.retention")
# dagster-dbt's name for an invocation's target folder: `<op>-<run id[:7]>-<random[:7]>`, or the
# random part alone outside a run (DbtCliResource._get_unique_target_path).
DBT_INVOCATION_FOLDER = re.compile(r"(?:\w+-[0-9a-f]{7}-)?[0-9a-f]{7}")
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


def prune_dbt_targets(target_dir: Path, before: datetime) -> int:
    """Delete dagster-dbt's per-invocation target folders in `target_dir` last written before
    `before` (dbt's own `target/` files stay); return how many."""
    old = [
        path
        for path in target_dir.glob("*")
        if DBT_INVOCATION_FOLDER.fullmatch(path.name)
        and path.is_dir()
        and not path.is_symlink()
        and path.stat().st_mtime < before.timestamp()
    ]
    for path in old:
        shutil.rmtree(path)
    return len(old)


@dg.sensor(
    minimum_interval_seconds=6 * 3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every six hours, deletes finished runs (with their event and compute logs), refresh "
        "logs and dbt's per-run target folders older than WABI_RUN_RETENTION_DAYS (default 90)."
    ),
)
def prune_old_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    settings = Settings.from_env()
    before = datetime.now(UTC) - timedelta(days=settings.run_retention_days)
    started = time.monotonic()
    runs = prune_runs(context.instance, before)
    logs = prune_refresh_logs(settings.data_dir / "logs", before)
    targets = prune_dbt_targets(wabi_dbt_project.project_dir / wabi_dbt_project.target_path, before)
    log.info(
        "deleted %d runs, %d refresh logs and %d dbt target folders from before %s",
        runs,
        logs,
        targets,
        before,
    )
    return dg.SkipReason(
        f"deleted {runs} runs, {logs} refresh logs and {targets} dbt target folders from before "
        f"{before:%Y-%m-%d %H:%M} UTC in {time.monotonic() - started:.1f} s"
    )
