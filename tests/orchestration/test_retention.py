"""Runs older than the retention are deleted with their logs; newer and unfinished ones stay."""

import os
import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.defs.retention import prune_old_runs, prune_refresh_logs, prune_runs


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


def test_the_sensor_prunes_by_wabi_run_retention_days(tmp_path, monkeypatch):
    """With a retention of one day, a two-day-old refresh log goes (the default 90 would keep
    it) and a run minutes old stays."""
    monkeypatch.setenv("WABI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WABI_RUN_RETENTION_DAYS", "1")
    two_days_old = tmp_path / "logs" / "refresh-20261123T060000.log"
    two_days_old.parent.mkdir()
    two_days_old.write_text("x")
    then = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(two_days_old, (then, then))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        tiny_job.execute_in_process(instance=instance)
        result = prune_old_runs(dg.build_sensor_context(instance=instance))

        assert "deleted 0 runs and 1 refresh logs" in result.skip_message
        assert len(instance.get_runs()) == 1
    assert not two_days_old.exists()
