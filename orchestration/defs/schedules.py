"""The daily refresh: every asset and check, in one process, one run at a time."""

import dagster as dg

daily_refresh_job = dg.define_asset_job(
    "daily_refresh_job",
    selection=dg.AssetSelection.all(),
    # One process: DuckDB allows a single writer per file, so steps never run side by side.
    executor_def=dg.in_process_executor,
    description="Extract every source, build and test the marts, then publish analytics.duckdb.",
)

daily_refresh_job_schedule = dg.ScheduleDefinition(
    job=daily_refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh every day at 06:00 UTC.",
)
