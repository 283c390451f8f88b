"""Freshness checks on the published marts: a mart not materialised within 26 hours (a daily
refresh plus slack) is stale. They watch the schedule; they do not gate a run, so unlike the
quality checks they are not blocking."""

from datetime import timedelta

import dagster as dg

from orchestration.project import mart_models

STALE_AFTER = timedelta(hours=26)

mart_freshness_checks = dg.build_last_update_freshness_checks(
    assets=[dg.AssetKey(name) for name in (*mart_models(), "publish")],
    lower_bound_delta=STALE_AFTER,
    severity=dg.AssetCheckSeverity.ERROR,
)

mart_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=mart_freshness_checks,
    minimum_interval_seconds=600,
    name="mart_freshness_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
