"""Sensors: a refresh when new webhook capture files arrive, and an alert when a run fails."""

import hashlib
import logging

import dagster as dg
import requests

from extract.captures import capture_paths
from orchestration.defs.partitions import LOAD_NEW, refresh_partition
from orchestration.defs.schedules import daily_refresh_job, refresh_selection
from orchestration.settings import Settings

log = logging.getLogger("wabi.alerts")


def captures_fingerprint(settings: Settings) -> str | None:
    """A digest of the capture files' names, sizes and modification times (None without a
    capture directory): it changes when a file appears or grows."""
    if settings.webhook_dir is None or not settings.webhook_dir.is_dir():
        return None
    digest = hashlib.sha256()
    for path in capture_paths(settings.webhook_dir):
        stat = path.stat()
        digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


@dg.sensor(
    job=daily_refresh_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Starts a refresh when capture files under WABI_WEBHOOK_DIR appear or grow (checked "
        "every five minutes; file names, sizes and times only, the warehouse is not opened)."
    ),
)
def new_captures_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    settings = Settings.from_env()
    fingerprint = captures_fingerprint(settings)
    if fingerprint is None:
        return dg.SkipReason("WABI_WEBHOOK_DIR is not set or is not a directory")
    if fingerprint == context.cursor:
        return dg.SkipReason("no new or grown capture file")
    keys = refresh_selection(settings.sources).resolve(context.repository_def.asset_graph)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"captures-{fingerprint}",
                asset_selection=sorted(keys),
                partition_key=refresh_partition(),
                tags={"wabi/trigger": "new_captures"} | LOAD_NEW,
            )
        ],
        cursor=fingerprint,
    )


def send_alert(text: str, url: str | None) -> None:
    """Log the alert; POST it as `{"text": ...}` (Slack's and most chat tools' incoming-webhook
    shape) when a URL is configured. A failing alert is logged, never raised."""
    log.error(text)
    if not url:
        return
    try:
        requests.post(url, json={"text": text}, timeout=10).raise_for_status()
    except requests.RequestException as error:
        log.error("the alert could not be sent: %s", error.__class__.__name__)


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Logs a short alert for every failed run; POSTs it to WABI_ALERT_WEBHOOK if set.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    text = (
        f"wabi: run {run.run_id[:8]} of {run.job_name} failed; analytics.duckdb was kept as it "
        f"was. {context.failure_event.message or ''}".strip()
    )
    send_alert(text, Settings.from_env().alert_webhook)
