"""A run of some days of the message assets' daily partitions (a backfill) reloads those days'
messages and statuses from both sources and nothing else; `full_refresh` rebuilds dbt's
incremental models from all of raw."""

import secrets
from datetime import UTC, date, datetime

import dagster as dg
import duckdb

from orchestration.cli import RefreshOptions
from orchestration.definitions import defs
from orchestration.defs.partitions import run_arguments
from simulator.generate import CAPTURES_DIR
from simulator.server import SimulatorServer
from tests.conftest import WABI_VARIABLES, refresh_from

RELOADED = date(2026, 3, 20)  # the shared workspace runs 2026-03-16 to 2026-03-29
LEFT_ALONE = date(2026, 3, 24)
# Both sources' rows of messages and statuses are timed by `timestamp`: respond.io's by creation,
# Meta's statuses by their own time.
RECORD_EPOCH = "try_cast(json_extract_string(record, '$.timestamp') as bigint)"
TABLES = ("respondio__messages", "whatsapp_cloud__statuses")


def _epochs(day: date) -> tuple[int, int]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return start, start + 86_400


def _rows_of_day(con: duckdb.DuckDBPyConnection, table: str, day: date) -> set[tuple[str, str]]:
    since, until = _epochs(day)
    rows = con.execute(
        f"""select _record_id, _record_hash from raw.{table}
        where {RECORD_EPOCH} between ? and ? - 1""",
        [since, until],
    ).fetchall()
    return set(rows)


def _delete_day(con: duckdb.DuckDBPyConnection, table: str, day: date) -> None:
    since, until = _epochs(day)
    con.execute(f"delete from raw.{table} where {RECORD_EPOCH} between ? and ? - 1", [since, until])


def _raw_run(pipeline, monkeypatch, reload_days=None) -> dg.ExecuteInProcessResult:
    """The refresh job's raw assets: a refresh, or a reload of days as a backfill runs it."""
    raw_keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "raw"]
    token = secrets.token_urlsafe(16)
    for name in WABI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with SimulatorServer(pipeline.workspace_dir, token=token, rate_limit_per_second=500) as server:
        monkeypatch.setenv("WABI_DATA_DIR", str(pipeline.data_dir))
        monkeypatch.setenv("WABI_PLATFORM_URL", server.base_url)
        monkeypatch.setenv("WABI_PLATFORM_TOKEN", token)
        monkeypatch.setenv("WABI_WEBHOOK_DIR", str(pipeline.workspace_dir / CAPTURES_DIR))
        return defs.resolve_job_def("daily_refresh_job").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=raw_keys,
            **run_arguments(reload_days),
        )


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> list[dict]:
    return [
        {name: value.value for name, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string() == key
    ]


def test_a_backfill_of_one_day_reloads_that_day_and_nothing_else(pipeline_copy, monkeypatch):
    with duckdb.connect(str(pipeline_copy.warehouse_path)) as con:
        kept = {table: _rows_of_day(con, table, RELOADED) for table in TABLES}
        state = con.execute("select * from raw._extract_state order by all").fetchall()
        rejects = con.execute("select count(*) from raw.rejected_records").fetchone()[0]
        for table in TABLES:
            assert _rows_of_day(con, table, LEFT_ALONE), table
            for day in (RELOADED, LEFT_ALONE):
                _delete_day(con, table, day)  # as if a bad load had lost them

    result = _raw_run(pipeline_copy, monkeypatch, (RELOADED, RELOADED))

    assert result.success
    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        for table, rows in kept.items():
            assert rows, table
            assert _rows_of_day(con, table, RELOADED) == rows, table
            assert not _rows_of_day(con, table, LEFT_ALONE), table
        # The incremental walk's watermarks and the rejects are the reload's to leave alone.
        assert con.execute("select * from raw._extract_state order by all").fetchall() == state
        assert con.execute("select count(*) from raw.rejected_records").fetchone()[0] == rejects
    (messages,) = _metadata(result, "raw/respondio__messages")
    assert messages["walk"] == "reload"
    assert messages["reloaded_days"] == "2026-03-20..2026-03-20"
    (statuses,) = _metadata(result, "raw/whatsapp_cloud__statuses")
    # The day's Meta file and its respond.io events file, read again; no other file.
    assert statuses["files"]["reloaded"] == 2
    assert statuses["files"]["seen"] == 2
    partitions = {
        event.partition
        for event in result.get_asset_materialization_events()
        if event.asset_key.path[0] == "raw"
    }
    # The message assets by day, the others unpartitioned.
    assert partitions == {RELOADED.isoformat(), None}


def test_a_refresh_does_not_bring_back_what_it_has_seen(pipeline_copy, monkeypatch):
    """A refresh (today's partition, tagged to load what is new) reads only new and grown
    capture files: lost rows of captures already loaded stay lost, which is what a backfill is
    for."""
    with duckdb.connect(str(pipeline_copy.warehouse_path)) as con:
        _delete_day(con, "whatsapp_cloud__statuses", LEFT_ALONE)

    result = _raw_run(pipeline_copy, monkeypatch)

    assert result.success
    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        assert not _rows_of_day(con, "whatsapp_cloud__statuses", LEFT_ALONE)
    (statuses,) = _metadata(result, "raw/whatsapp_cloud__statuses")
    assert statuses["files"]["reloaded"] == 0


def test_a_full_refresh_rebuilds_the_incremental_models_from_raw(pipeline_copy):
    """A row no raw record backs survives an incremental build of `fct_messages` (which
    rewrites only the messages raw touched) but not `full_refresh`."""
    with duckdb.connect(str(pipeline_copy.warehouse_path)) as con:
        con.execute(
            "insert into marts.fct_messages "
            "select * replace ('respondio:no-such-message' as message_id) "
            "from marts.fct_messages limit 1"
        )

    log_file = refresh_from(
        pipeline_copy.workspace_dir,
        pipeline_copy.data_dir,
        options=RefreshOptions(full_refresh=True),
    )

    assert "--full-refresh" in log_file.read_text()
    with duckdb.connect(str(pipeline_copy.analytics_path), read_only=True) as con:
        found = con.execute(
            "select count(*) from fct_messages where message_id = 'respondio:no-such-message'"
        ).fetchone()[0]
    assert found == 0
