"""The daily refresh: the assets of every configured source, their checks, the marts and the
publish step, in one process, one run at a time."""

from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.defs.partitions import LOAD_NEW, refresh_partition
from orchestration.settings import Settings

# The raw asset group each source fills; a deployment may configure either source or both.
SOURCE_GROUPS = {"respondio_api": "raw_respondio", "webhooks": "raw_webhooks"}
NO_SOURCE = (
    "no source is configured: set WABI_PLATFORM_URL and WABI_PLATFORM_TOKEN (respond.io's API), "
    "WABI_WEBHOOK_DIR (webhook captures), or both"
)


def refresh_selection(sources: list[str]) -> dg.AssetSelection:
    """Every asset but the raw assets of sources this deployment does not read."""
    unused = [group for source, group in SOURCE_GROUPS.items() if source not in sources]
    return dg.AssetSelection.all() - dg.AssetSelection.groups(*unused)


def refresh_run_config(*, full_refresh: bool = False) -> dict[str, object]:
    """The run config of a refresh: whether dbt rebuilds its incremental models from all of raw
    (`DbtBuildConfig`, also offered in the UI's launchpad)."""
    return {"ops": {"wabi_dbt_models": {"config": {"full_refresh": full_refresh}}}}


daily_refresh_job = dg.define_asset_job(
    "daily_refresh_job",
    selection=dg.AssetSelection.all(),
    # One process: DuckDB allows a single writer per file, so steps never run side by side.
    executor_def=dg.in_process_executor,
    description="Extract every source, build and test the marts, then publish analytics.duckdb.",
)


@dg.schedule(
    job=daily_refresh_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Refresh once a day at WABI_REFRESH_AT (default 06:00) in the reporting time zone "
        "(WABI_TIMEZONE), from the sources configured at that moment. It ticks every quarter "
        "hour so the time and zone are read when it runs, and the run key (the local date) makes "
        "it one run a day."
    ),
)
def daily_refresh_job_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    settings = Settings.from_env()
    if not settings.sources:
        return dg.SkipReason(NO_SOURCE)
    local = context.scheduled_execution_time.astimezone(ZoneInfo(settings.timezone))
    if local.time() < settings.refresh_at:
        return dg.SkipReason(f"the refresh is due at {settings.refresh_at} {settings.timezone}")
    keys = refresh_selection(settings.sources).resolve(context.repository_def.asset_graph)
    return dg.RunRequest(
        run_key=f"daily-{local.date().isoformat()}",
        asset_selection=sorted(keys),
        partition_key=refresh_partition(context.scheduled_execution_time),
        tags={"wabi/sources": ",".join(settings.sources), "wabi/report_date": str(local.date())}
        | LOAD_NEW,
    )
