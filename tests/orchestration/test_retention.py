"""Runs older than the retention are deleted with their logs; newer and unfinished ones stay."""

import os
import secrets
import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.defs.retention import (
    prune_dbt_targets,
    prune_old_runs,
    prune_refresh_logs,
    prune_runs,
)
from orchestration.project import wabi_dbt_project


@dg.op
def noop() -> None:
    pass


@dg.job
def tiny_job() -> None:
    noop()


def test_runs_created_before_the_cut_are_deleted_with_their_event_logs(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        old = tiny_job.execute_in_process(instance=instance).run_id
        time.sleep(0.05)
        cut = datetime.now(UTC)
        time.sleep(0.05)
        new = tiny_job.execute_in_process(instance=instance).run_id
        queued = instance.create_run_for_job(tiny_job, run_id=None).run_id  # not finished

        assert prune_runs(instance, cut) == 1

        assert instance.get_run_by_id(old) is None
        assert not instance.all_logs(old)
        assert {run.run_id for run in instance.get_runs()} == {new, queued}
        assert prune_runs(instance, cut) == 0


def test_refresh_logs_older_than_the_cut_are_deleted(tmp_path):
    old, new = tmp_path / "refresh-20260101T000000.log", tmp_path / "refresh-20261124T000000.log"
    other = tmp_path / "notes.log"
    for path in (old, new, other):
        path.write_text("x")
    long_ago = (datetime.now(UTC) - timedelta(days=200)).timestamp()
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))

    assert prune_refresh_logs(tmp_path, datetime.now(UTC) - timedelta(days=90)) == 1

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([new.name, other.name])


def _age(path, days: float) -> None:
    then = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    os.utime(path, (then, then))


def _invocation_folder(parent, name: str, days_old: float):
    """A target folder as one dbt invocation leaves it, last written `days_old` days ago."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "dbt.log").write_text("x")
    _age(folder, days_old)
    return folder


def test_dbt_invocation_target_folders_older_than_the_cut_are_deleted(tmp_path):
    """dagster-dbt's folders (`<op>-<run id[:7]>-<random[:7]>`, or the random part alone) go
    once old; new ones, dbt's own target files and folders named otherwise stay."""
    old = _invocation_folder(tmp_path, "wabi_dbt_models-1f2e3d4-a0b1c2d", days_old=100)
    old_bare = _invocation_folder(tmp_path, "0a1b2c3", days_old=100)
    new = _invocation_folder(tmp_path, "wabi_dbt_models-5f6e7d8-e3f4a5b", days_old=1)
    dbts_own = _invocation_folder(tmp_path, "compiled", days_old=100)
    other = _invocation_folder(tmp_path, "wabi_dbt_models-notahex-a0b1c2d", days_old=100)
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    _age(manifest, 100)

    assert prune_dbt_targets(tmp_path, datetime.now(UTC) - timedelta(days=90)) == 2

    assert not old.exists()
    assert not old_bare.exists()
    assert all(path.exists() for path in (new, dbts_own, other, manifest))


def test_the_sensor_prunes_by_wabi_run_retention_days(tmp_path, monkeypatch):
    """With a retention of one day, a two-day-old refresh log and dbt target folder go (the
    default 90 would keep them) and a run minutes old stays."""
    monkeypatch.setenv("WABI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WABI_RUN_RETENTION_DAYS", "1")
    two_days_old = tmp_path / "logs" / "refresh-20261123T060000.log"
    two_days_old.parent.mkdir()
    two_days_old.write_text("x")
    _age(two_days_old, 2)
    # the sensor prunes the dbt project's own target folder, where dagster-dbt writes
    target_dir = wabi_dbt_project.project_dir / wabi_dbt_project.target_path
    name = f"wabi_dbt_models-{secrets.token_hex(4)[:7]}-{secrets.token_hex(4)[:7]}"
    old_target = _invocation_folder(target_dir, name, days_old=2)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        tiny_job.execute_in_process(instance=instance)
        result = prune_old_runs(dg.build_sensor_context(instance=instance))

        assert "deleted 0 runs, 1 refresh logs and" in result.skip_message
        assert len(instance.get_runs()) == 1
    assert not two_days_old.exists()
    assert not old_target.exists()
