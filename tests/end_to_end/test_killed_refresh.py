"""A refresh killed in the middle of extraction, then run again, ends with the same raw tables
as a run that was never interrupted: nothing lost, nothing twice."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import dagster as dg
import duckdb

from orchestration.definitions import defs
from orchestration.defs.partitions import run_arguments
from orchestration.settings import REPO_ROOT
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec
from simulator.server import SimulatorServer

SPEC = WorkspaceSpec(seed=29, contacts=200, agents=5, days=10, messages_per_day=150)
# The raw part of the refresh job, as `wabi refresh` runs it, in a process of its own.
RAW_REFRESH = """
import dagster as dg
from orchestration.definitions import defs
from orchestration.defs.partitions import run_arguments
keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "raw"]
defs.resolve_job_def("daily_refresh_job").execute_in_process(
    instance=dg.DagsterInstance.ephemeral(), asset_selection=keys, **run_arguments()
)
"""


def _snapshot(data_dir) -> dict[str, set[tuple[str, str]]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' "
                "and table_name not like '\\_%' escape '\\' "
                "and table_name not in ('rejected_records', 'quarantined_records')"
            ).fetchall()
        ]
        return {
            table: set(con.execute(f"select _record_id, _record_hash from raw.{table}").fetchall())
            for table in tables
        }


def _environment(data_dir, workspace, server, token) -> dict[str, str]:
    return {
        "WABI_DATA_DIR": str(data_dir),
        "WABI_TIMEZONE": "UTC",
        "WABI_PLATFORM_URL": server.base_url,
        "WABI_PLATFORM_TOKEN": token,
        "WABI_WEBHOOK_DIR": str(workspace / CAPTURES_DIR),
    }


def test_a_refresh_killed_mid_extraction_then_rerun_equals_an_uninterrupted_one(
    tmp_path, monkeypatch
):
    workspace = tmp_path / "workspace"
    generate(SPEC, workspace, faults="light")
    contacts = json.loads((workspace / "workspace.json").read_text())["counts"]["contacts"]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    killed.mkdir()
    clean.mkdir()
    token = secrets.token_urlsafe(16)
    # Slow enough that the message walk takes seconds: the kill lands in the middle of it.
    with SimulatorServer(workspace, token=token, rate_limit_per_second=40) as server:
        env = os.environ | _environment(killed, workspace, server, token)
        process = subprocess.Popen(
            [sys.executable, "-c", RAW_REFRESH],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while server.stats.get("requests", 0) < contacts // 2 and time.monotonic() < deadline:
                assert process.poll() is None, "the refresh ended before it could be killed"
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        interrupted = _snapshot(killed)
        # killed in the message walk: contacts committed, no message batch yet
        assert len(interrupted["respondio__contacts"]) == contacts
        assert not interrupted.get("respondio__messages")

        for data_dir in (killed, clean):
            for name, value in _environment(data_dir, workspace, server, token).items():
                monkeypatch.setenv(name, value)
            keys = [
                k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "raw"
            ]
            result = defs.resolve_job_def("daily_refresh_job").execute_in_process(
                instance=dg.DagsterInstance.ephemeral(), asset_selection=keys, **run_arguments()
            )
            assert result.success

    restarted, uninterrupted = _snapshot(killed), _snapshot(clean)
    assert restarted.keys() == uninterrupted.keys()
    assert {t: len(rows) for t, rows in restarted.items()} == {
        t: len(rows) for t, rows in uninterrupted.items()
    }
    assert restarted == uninterrupted
