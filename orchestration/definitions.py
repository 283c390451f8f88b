"""wabi's Dagster code location: `dagster dev` and `wabi refresh` load these Definitions."""

import dagster as dg

from orchestration.defs import dbt, freshness, publish, report, retention, schedules, sensors
from orchestration.defs.raw import respondio, webhooks
from orchestration.defs.resources import build_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([respondio, webhooks, dbt, publish, report]),
    asset_checks=[
        *dg.load_asset_checks_from_modules([respondio, webhooks, dbt]),
        *freshness.mart_freshness_checks,
    ],
    jobs=[schedules.daily_refresh_job],
    schedules=[schedules.daily_refresh_job_schedule],
    sensors=[
        sensors.new_captures_sensor,
        sensors.alert_on_run_failure,
        freshness.mart_freshness_sensor,
        retention.prune_old_runs,
    ],
    resources=build_resources(),
)
