"""The refresh lock: one holder per data directory, re-entrant in its own process, released when
its holder dies, and taken by every Dagster run through the warehouse resource."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration import refresh_lock
from orchestration.defs.resources import WarehouseResource
from orchestration.refresh_lock import LOCK_FILE, RefreshLocked
from orchestration.settings import REPO_ROOT

# Another process, taking the lock of the directory in argv[1] and saying so, then waiting.
HOLDER = """
import sys, time
from orchestration.refresh_lock import acquire
acquire(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""
TRY = """
import sys
from pathlib import Path
from orchestration.refresh_lock import RefreshLocked, acquire
try:
    acquire(sys.argv[1])
except RefreshLocked as error:
    print(error)
    sys.exit(3)
"""


def _other_process_takes(data_dir) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TRY, str(data_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of `tmp_path`."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    with refresh_lock.refresh_lock(tmp_path) as path:
        refused = _other_process_takes(tmp_path)
    assert path == tmp_path / LOCK_FILE
    assert refused.returncode == 3
    assert refused.stdout == f"another refresh (pid {os.getpid()}) holds {path}\n"
    assert _other_process_takes(tmp_path).returncode == 0


def test_the_lock_is_reentrant_and_the_last_release_frees_it(tmp_path):
    refresh_lock.acquire(tmp_path)
    refresh_lock.acquire(tmp_path)
    refresh_lock.release(tmp_path)
    assert _other_process_takes(tmp_path).returncode == 3
    refresh_lock.release(tmp_path)
    assert _other_process_takes(tmp_path).returncode == 0


def test_a_killed_holder_leaves_the_lock_free(tmp_path, holder):
    assert _other_process_takes(tmp_path).returncode == 3
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert _other_process_takes(tmp_path).returncode == 0


@dg.asset
def touches_the_warehouse(warehouse: WarehouseResource) -> None:
    with warehouse.connect() as con:
        con.execute("create table if not exists touched (touched_at timestamp)")
        con.execute("insert into touched values (now())")


def _run(data_dir) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [touches_the_warehouse],
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir))},
        raise_on_error=False,
    )


def test_a_dagster_run_waits_for_no_one_and_writes_beside_no_one(tmp_path, holder):
    refused = _run(tmp_path)
    assert not refused.success
    errors = [
        event.event_specific_data.error.to_string()
        for event in refused.all_events
        if event.event_type_value == "RESOURCE_INIT_FAILURE"
    ]
    assert len(errors) == 1
    assert f"another refresh (pid {holder.pid}) holds {tmp_path / LOCK_FILE}" in errors[0]
    assert not (tmp_path / "warehouse.duckdb").exists()

    holder.kill()
    holder.wait(timeout=30)
    assert _run(tmp_path).success
    # ... and gave the lock back when it ended.
    assert _other_process_takes(tmp_path).returncode == 0


def test_the_lock_of_another_data_directory_is_another_lock(tmp_path, holder):
    other = tmp_path / "other"
    with refresh_lock.refresh_lock(other):
        pass
    with pytest.raises(RefreshLocked):
        refresh_lock.acquire(tmp_path)


@pytest.mark.parametrize("command", ["refresh", "demo"])
def test_wabi_stops_at_once_while_another_process_holds_the_data_directory(
    tmp_path, holder, command
):
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(b"another refresh's warehouse")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("WABI_") and name != "DAGSTER_HOME"
    }
    env |= {"WABI_DATA_DIR": str(tmp_path), "WABI_WEBHOOK_DIR": str(tmp_path / "captures")}
    ran = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "wabi"), command],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 3
    assert ran.stderr.splitlines() == [
        f"wabi {command}: another refresh (pid {holder.pid}) holds {tmp_path / LOCK_FILE}"
    ]
    # The demo did not start a new simulated world over the running refresh's warehouse.
    assert warehouse.read_bytes() == b"another refresh's warehouse"
    assert not (tmp_path / "simulated").exists()
