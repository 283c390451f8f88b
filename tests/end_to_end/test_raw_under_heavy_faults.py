"""Every raw asset, materialised by Dagster against both sources at their worst (the API under
heavy faults, captures with torn and duplicated lines), holds exactly the simulator's records;
a second run loads nothing."""

import json
import secrets

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import defs
from orchestration.defs.partitions import run_arguments
from simulator.faults import FaultProfile
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec
from simulator.server import SimulatorServer

SPEC = WorkspaceSpec(seed=23, contacts=150, agents=5, days=10, messages_per_day=150)


def _materialize_raw(workspace, data_dir, monkeypatch) -> dg.ExecuteInProcessResult:
    token = secrets.token_urlsafe(16)
    raw_keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "raw"]
    with SimulatorServer(
        workspace, token=token, rate_limit_per_second=200, faults=FaultProfile.named("heavy")
    ) as server:
        monkeypatch.setenv("WABI_DATA_DIR", str(data_dir))
        monkeypatch.setenv("WABI_TIMEZONE", "UTC")
        monkeypatch.setenv("WABI_PLATFORM_URL", server.base_url)
        monkeypatch.setenv("WABI_PLATFORM_TOKEN", token)
        monkeypatch.setenv("WABI_WEBHOOK_DIR", str(workspace / CAPTURES_DIR))
        result = defs.resolve_job_def("daily_refresh_job").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), asset_selection=raw_keys, **run_arguments()
        )
        assert sum(server.fault_summary().values()) > 0
    return result


@pytest.fixture(scope="module")
def heavy_run(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("heavy_workspace")
    generate(SPEC, workspace, faults="heavy")
    data_dir = tmp_path_factory.mktemp("heavy_data")
    with pytest.MonkeyPatch.context() as monkeypatch:
        first = _materialize_raw(workspace, data_dir, monkeypatch)
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
            first_end = con.execute("select max(finished_at) from raw._batches").fetchone()[0]
        second = _materialize_raw(workspace, data_dir, monkeypatch)
    return workspace, data_dir, first, second, first_end


def _count(data_dir, sql):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_raw_row_counts_equal_the_simulators_truth(heavy_run):
    workspace, data_dir, first, *_ = heavy_run
    counts = json.loads((workspace / "workspace.json").read_text())["counts"]
    api = workspace / "api"
    expected = {
        "respondio__users": len(json.loads((api / "users.json").read_text())),
        "respondio__channels": len(json.loads((api / "channels.json").read_text())),
        "respondio__closing_notes": len(json.loads((api / "closing_notes.json").read_text())),
        "respondio__contacts": counts["contacts"],
        "respondio__messages": counts["messages"],
        "respondio__events": counts["respondio_events"],
        "whatsapp_cloud__payloads": counts["whatsapp_cloud_incoming_messages"]
        + counts["whatsapp_cloud_statuses"],
        "whatsapp_cloud__messages": counts["whatsapp_cloud_incoming_messages"],
        "whatsapp_cloud__statuses": counts["whatsapp_cloud_statuses"],
    }
    actual = {table: _count(data_dir, f"select count(*) from raw.{table}") for table in expected}

    assert first.success
    assert counts["respondio_malformed"] + counts["whatsapp_cloud_malformed"] > 0
    assert actual == expected
    assert _count(data_dir, "select count(*) from raw.rejected_records") == (
        counts["respondio_malformed"] + counts["whatsapp_cloud_malformed"]
    )


def test_a_second_run_loads_nothing(heavy_run):
    _, data_dir, _, second, first_end = heavy_run
    assert second.success
    changed = _count(
        data_dir,
        f"select coalesce(sum(inserted + updated), 0) from raw._batches "
        f"where finished_at > '{first_end}'",
    )
    assert changed == 0
    new_rejects = _count(
        data_dir, f"select count(*) from raw.rejected_records where rejected_at > '{first_end}'"
    )
    assert new_rejects == 0
