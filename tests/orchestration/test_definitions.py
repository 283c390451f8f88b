"""The code location loads and its graph is as designed: raw -> dbt -> gates -> publish."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.definitions import defs
from orchestration.project import mart_models
from orchestration.settings import REPO_ROOT

GX_GATES = {
    "raw/respondio__messages:new_messages_valid",
    "raw/whatsapp_cloud__statuses:new_whatsapp_cloud_valid",
    "rpt_messages_daily:messages_daily_consistent",
}


def _graph():
    return defs.resolve_asset_graph()


NOON_UTC = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SCHEDULE_VARIABLES = (
    "WABI_PLATFORM_URL",
    "WABI_PLATFORM_TOKEN",
    "WABI_WEBHOOK_DIR",
    "WABI_TIMEZONE",
    "WABI_REFRESH_AT",
)
RAW_ASSETS = {
    "raw/respondio__users",
    "raw/respondio__channels",
    "raw/respondio__closing_notes",
    "raw/respondio__contacts",
    "raw/respondio__messages",
    "raw/respondio__events",
    "raw/whatsapp_cloud__payloads",
    "raw/whatsapp_cloud__messages",
    "raw/whatsapp_cloud__statuses",
    "raw/whatsapp_cloud__contacts",
    "raw/whatsapp_cloud__errors",
}


def test_every_asset_is_materialisable_and_publish_waits_for_the_marts():
    graph = _graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {key for key in keys if key.startswith("raw/")} == RAW_ASSETS
    assert {"fct_messages", "rpt_messages_daily", "publish"} <= keys
    assert all(graph.get(key).is_materializable for key in graph.get_all_asset_keys())
    marts = {dg.AssetKey(name) for name in mart_models()}
    assert {dg.AssetKey("fct_messages"), dg.AssetKey("rpt_messages_daily")} <= marts
    assert graph.get(dg.AssetKey("publish")).parent_keys == marts


def _scheduled(monkeypatch, at: datetime = NOON_UTC, **env: str):
    for name in SCHEDULE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    schedule = defs.resolve_schedule_def("daily_refresh_job_schedule")
    context = dg.build_schedule_context(
        repository_def=defs.get_repository_def(), scheduled_execution_time=at
    )
    return schedule.evaluate_tick(context)


def test_the_schedule_runs_once_a_day_at_the_local_refresh_time(monkeypatch, tmp_path):
    """06:30 in Kolkata is 01:00 UTC: the tick before skips, the ones after ask for the same
    run (its key is the local date), and the next local day asks again."""
    local = {"WABI_WEBHOOK_DIR": str(tmp_path), "WABI_TIMEZONE": "Asia/Kolkata"}
    local["WABI_REFRESH_AT"] = "06:30"
    before = _scheduled(monkeypatch, datetime(2026, 11, 24, 0, 45, tzinfo=UTC), **local)
    due = _scheduled(monkeypatch, datetime(2026, 11, 24, 1, 0, tzinfo=UTC), **local)
    later = _scheduled(monkeypatch, datetime(2026, 11, 24, 17, 0, tzinfo=UTC), **local)
    next_day = _scheduled(monkeypatch, datetime(2026, 11, 25, 1, 15, tzinfo=UTC), **local)

    assert not before.run_requests
    assert "06:30:00 Asia/Kolkata" in before.skip_message
    assert [r.run_key for r in due.run_requests] == ["daily-2026-11-24"]
    assert [r.run_key for r in later.run_requests] == ["daily-2026-11-24"]
    assert [r.run_key for r in next_day.run_requests] == ["daily-2026-11-25"]
    # Filed under the UTC day's partition, and tagged to load what is new, not to reload it.
    (request,) = next_day.run_requests
    assert request.partition_key == "2026-11-25"
    assert request.tags["wabi/load"] == "new"


def test_the_schedule_refreshes_only_the_configured_sources(monkeypatch, tmp_path):
    only_captures = _scheduled(monkeypatch, WABI_WEBHOOK_DIR=str(tmp_path))
    both = _scheduled(
        monkeypatch,
        WABI_WEBHOOK_DIR=str(tmp_path),
        WABI_PLATFORM_URL="http://127.0.0.1:9/v2",
        WABI_PLATFORM_TOKEN="t",
    )

    def raw_selected(result) -> set[str]:
        (request,) = result.run_requests
        return {k.to_user_string() for k in request.asset_selection} & RAW_ASSETS

    assert raw_selected(both) == RAW_ASSETS
    assert raw_selected(only_captures) == {
        key for key in RAW_ASSETS if key.startswith("raw/whatsapp_cloud") or "events" in key
    }
    (request,) = only_captures.run_requests
    assert {"rpt_messages_daily", "publish"} <= {
        k.to_user_string() for k in request.asset_selection
    }


def test_the_schedule_skips_when_no_source_is_configured(monkeypatch):
    result = _scheduled(monkeypatch)
    assert not result.run_requests
    assert "no source is configured" in result.skip_message


def test_gx_gates_and_dbt_tests_are_blocking_checks():
    graph = _graph()
    checks = {key.to_user_string(): graph.get_check_spec(key) for key in graph.asset_check_keys}
    freshness = {name for name in checks if name.endswith(":freshness_check")}
    assert checks.keys() >= GX_GATES
    dbt_tests = {name for name in checks if name not in GX_GATES | freshness}
    assert len(dbt_tests) > 30
    assert all(checks[name].blocking for name in checks.keys() - freshness)


def test_every_mart_and_the_published_file_have_a_freshness_check():
    graph = _graph()
    checked = {
        key.asset_key.to_user_string()
        for key in graph.asset_check_keys
        if key.name == "freshness_check"
    }
    assert checked == {*mart_models(), "publish"}
    sensor = defs.resolve_sensor_def("mart_freshness_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_daily_schedule_runs_the_refresh_job():
    schedule = defs.resolve_schedule_def("daily_refresh_job_schedule")
    assert schedule.job_name == "daily_refresh_job"
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def("daily_refresh_job")
    assert job.executor_def.name == "in_process"


def test_dagster_cli_validates_the_code_location(tmp_path):
    dagster = Path(sys.prefix) / "bin" / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


# Every raw asset but the respond.io lists and contacts, which have no day.
MESSAGE_ASSETS = RAW_ASSETS - {
    "raw/respondio__users",
    "raw/respondio__channels",
    "raw/respondio__closing_notes",
    "raw/respondio__contacts",
}


def test_message_and_status_assets_are_partitioned_by_utc_day_and_backfill_in_one_run():
    """The respond.io messages (with their status histories) and the capture tables (one load
    writes them all) are daily partitioned; everything else, dbt included, is not."""
    graph = _graph()
    partitioned = {
        key.to_user_string(): graph.get(key)
        for key in graph.get_all_asset_keys()
        if graph.get(key).partitions_def is not None
    }
    assert partitioned.keys() == MESSAGE_ASSETS
    for node in partitioned.values():
        days = node.partitions_def
        assert isinstance(days, dg.DailyPartitionsDefinition)
        assert days.timezone == "UTC"
        assert days.start.date().isoformat() == "2018-01-01"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_the_refresh_job_takes_a_full_refresh_switch_for_dbt(monkeypatch, tmp_path):
    from orchestration.defs.schedules import refresh_run_config
    from orchestration.settings import DEFAULT_BUSINESS_HOURS

    resources = {
        "WABI_DATA_DIR": str(tmp_path),
        "WABI_TIMEZONE": "UTC",
        "WABI_BUSINESS_HOURS": DEFAULT_BUSINESS_HOURS,
        "WABI_PLATFORM_URL": "http://127.0.0.1:9/v2",
        "WABI_PLATFORM_TOKEN": "t",
        "WABI_WEBHOOK_DIR": str(tmp_path),
    }
    for name, value in resources.items():
        monkeypatch.setenv(name, value)
    job = defs.resolve_job_def("daily_refresh_job")
    assert dg.validate_run_config(job, refresh_run_config(full_refresh=True))
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"wabi_dbt_models": {"config": {"full": True}}}})


def test_old_runs_are_pruned_by_a_running_sensor_and_ticks_by_the_instance():
    sensor = defs.resolve_sensor_def("prune_old_runs")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert settings["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert settings["retention"]["schedule"]["purge_after_days"] == 90
    assert settings["retention"]["sensor"]["purge_after_days"]["skipped"] == 7
