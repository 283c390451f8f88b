"""`wabi refresh` fails cleanly: one refresh at a time per data directory; a refresh killed with
SIGKILL takes its dbt child with it and leaves nothing that blocks or litters the next one, and
SIGTERM stops both; a data directory whose path holds a quote and a space works like any other.

Real processes (`.venv/bin/wabi refresh`) against a simulated workspace served on loopback.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.refresh_lock import LOCK_FILE
from orchestration.settings import REPO_ROOT
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec
from simulator.server import SimulatorServer

SPEC = WorkspaceSpec(
    seed=41, contacts=60, agents=4, days=7, messages_per_day=60, start=date(2026, 3, 16)
)
WABI = Path(sys.prefix) / "bin" / "wabi"
# Generous bounds: the machine is small and shared; a refresh of SPEC takes one to two minutes.
REFRESH_SECONDS = 900
STARTUP_SECONDS = 120
STOP_SECONDS = 30
# dbt is caught as it starts its build, which runs far longer than this unless it is killed.
DBT_GONE_SECONDS = 10
# A quote and a space, the characters that broke SQL text built from paths.
DATA_DIR_NAME = "o'brien data"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """The workspace, the base URL serving it and its token."""
    workspace = tmp_path_factory.mktemp("safety_workspace")
    generate(SPEC, workspace)
    token = secrets.token_urlsafe(16)
    with SimulatorServer(workspace, token=token) as server:
        yield workspace, server.base_url, token


def _environment(data_dir: Path, served: tuple[Path, str, str]) -> dict[str, str]:
    workspace, base_url, token = served
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("WABI_") and name != "DAGSTER_HOME"
    }
    return inherited | {
        "WABI_DATA_DIR": str(data_dir),
        # Not UTC: a valid zone other than the default runs the whole pipeline.
        "WABI_TIMEZONE": "America/Sao_Paulo",
        "WABI_PLATFORM_URL": base_url,
        "WABI_PLATFORM_TOKEN": token,
        "WABI_WEBHOOK_DIR": str(workspace / CAPTURES_DIR),
    }


def _start_refresh(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(WABI), "refresh"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until(condition, seconds: float, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the refresh ended before {what}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    """Live child processes of `pid`, from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended while we looked
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                children.append(int(entry.name))
    return children


def _command_line(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text().split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Whether `pid` is a process that still runs (a zombie waits for its reaper, it is dead)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _dbt_builds(refresh_pid: int) -> list[int]:
    return [
        pid
        for pid in _children(refresh_pid)
        if "build" in _command_line(pid) and any("dbt" in part for part in _command_line(pid))
    ]


def _published_messages(data_dir: Path) -> int:
    with duckdb.connect(str(data_dir / "analytics.duckdb"), read_only=True) as con:
        return con.execute("select sum(sent + received) from rpt_messages_daily").fetchone()[0]


def _staging_files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob(".analytics.duckdb.*"))


def test_a_second_refresh_of_the_same_data_directory_stops_at_once(tmp_path, served):
    data_dir = tmp_path / DATA_DIR_NAME
    env = _environment(data_dir, served)
    first = _start_refresh(env)
    try:
        lock = data_dir / LOCK_FILE
        _wait_until(
            lambda: lock.exists() and lock.read_text().strip() == str(first.pid),
            STARTUP_SECONDS,
            "lock held by the first refresh",
            first,
        )
        started = time.monotonic()
        second = subprocess.run(
            [str(WABI), "refresh"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=STOP_SECONDS,
        )
        stopped_after = time.monotonic() - started
        assert first.poll() is None, "the first refresh must still be running"
        _, first_errors = first.communicate(timeout=REFRESH_SECONDS)
    finally:
        first.kill()
        first.wait(timeout=STOP_SECONDS)

    assert second.returncode == 3
    assert second.stderr.splitlines() == [
        f"wabi refresh: another refresh (pid {first.pid}) holds {data_dir / LOCK_FILE}"
    ]
    assert "Traceback" not in second.stderr
    assert stopped_after < STOP_SECONDS
    assert first.returncode == 0, first_errors
    # The quoted data directory published: the figures are there, and no staging file is left.
    assert _published_messages(data_dir) > 0
    assert _staging_files(data_dir) == []


def _wait_for_dbt_build(refresh: subprocess.Popen) -> list[int]:
    """The pids of the `dbt build` children of `refresh`, once there is one."""
    builds: list[int] = []

    def dbt_is_building() -> bool:
        builds[:] = _dbt_builds(refresh.pid)
        return bool(builds)

    _wait_until(dbt_is_building, REFRESH_SECONDS, "dbt build child", refresh)
    return builds


def test_a_killed_refresh_takes_its_dbt_child_and_leaves_nothing_behind(tmp_path, served):
    data_dir = tmp_path / DATA_DIR_NAME
    env = _environment(data_dir, served)
    killed = _start_refresh(env)
    try:
        builds = _wait_for_dbt_build(killed)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=STOP_SECONDS)
    finally:
        killed.kill()
        killed.wait(timeout=STOP_SECONDS)
    assert killed.returncode == -signal.SIGKILL

    deadline = time.monotonic() + DBT_GONE_SECONDS
    while any(_alive(pid) for pid in builds) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in builds if _alive(pid)], "dbt outlived the refresh that started it"

    # What a publish killed halfway leaves: a staging file and its write-ahead log.
    stale = data_dir / ".analytics.duckdb.0123456789abcdef.tmp"
    stale.write_bytes(b"half a database")
    stale.with_name(stale.name + ".wal").write_bytes(b"half a log")

    # The lock died with its holder: the next refresh runs, publishes and cleans up.
    rerun = subprocess.run(
        [str(WABI), "refresh"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=REFRESH_SECONDS,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _published_messages(data_dir) > 0
    assert _staging_files(data_dir) == []


def test_sigterm_stops_the_refresh_and_its_dbt_child(tmp_path, served):
    data_dir = tmp_path / "data"
    refresh = _start_refresh(_environment(data_dir, served))
    try:
        builds = _wait_for_dbt_build(refresh)
        refresh.send_signal(signal.SIGTERM)
        _, errors = refresh.communicate(timeout=STOP_SECONDS)
    finally:
        refresh.kill()
        refresh.wait(timeout=STOP_SECONDS)
    # dbt was asked to stop and the refresh waited for it: nothing it started runs on.
    assert refresh.returncode == 1, errors
    assert "analytics.duckdb was not replaced" in errors
    assert not [pid for pid in builds if _alive(pid)]
    assert not (data_dir / "analytics.duckdb").exists()
