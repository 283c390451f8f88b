"""The daily refresh: the assets of every configured source, their checks, the marts and the
publish step, in one process, one run at a time."""

import dagster as dg

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


daily_refresh_job = dg.define_asset_job(
    "daily_refresh_job",
    selection=dg.AssetSelection.all(),
    # One process: DuckDB allows a single writer per file, so steps never run side by side.
    executor_def=dg.in_process_executor,
    description="Extract every source, build and test the marts, then publish analytics.duckdb.",
)


@dg.schedule(
    job=daily_refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh every day at 06:00 UTC, from the sources configured at that moment.",
)
def daily_refresh_job_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    sources = Settings.from_env().sources
    if not sources:
        return dg.SkipReason(NO_SOURCE)
    keys = refresh_selection(sources).resolve(context.repository_def.asset_graph)
    return dg.RunRequest(asset_selection=sorted(keys), tags={"wabi/sources": ",".join(sources)})
