"""The code location loads and its graph is as designed: raw -> dbt -> gates -> publish."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs
from orchestration.settings import REPO_ROOT

GX_GATES = {
    "raw/respondio__messages:new_messages_valid",
    "rpt_messages_daily:messages_daily_consistent",
}


def _graph():
    return defs.resolve_asset_graph()


def test_every_asset_is_materialisable_and_publish_waits_for_the_marts():
    graph = _graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {
        "raw/respondio__contacts",
        "raw/respondio__messages",
        "stg_respondio__contacts",
        "stg_respondio__messages",
        "stg_respondio__message_statuses",
        "int_message_statuses_pivoted",
        "fct_messages",
        "rpt_messages_daily",
        "publish",
    }
    assert all(graph.get(key).is_materializable for key in graph.get_all_asset_keys())
    assert graph.get(dg.AssetKey("publish")).parent_keys == {
        dg.AssetKey("fct_messages"),
        dg.AssetKey("rpt_messages_daily"),
    }


def test_gx_gates_and_dbt_tests_are_blocking_checks():
    graph = _graph()
    checks = {key.to_user_string(): graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert checks.keys() >= GX_GATES
    dbt_tests = {name for name in checks if name not in GX_GATES}
    assert len(dbt_tests) > 30
    assert all(spec.blocking for spec in checks.values())


def test_the_daily_schedule_runs_the_refresh_job():
    schedule = defs.resolve_schedule_def("daily_refresh_job_schedule")
    assert schedule.job_name == "daily_refresh_job"
    assert schedule.cron_schedule == "0 6 * * *"
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
