"""Row-by-row dbt tests read only the raw loads no passing build has tested yet, on real dbt over
a real DuckDB file (macros tested_loads.sql and get_where_subquery.sql).

One small workspace loaded at FIRST_LOAD and built; a later load at SECOND_LOAD (a few more
message records) and a build. Then, in place, a respond.io record of the first load gets a status
no test accepts, keeping its `_loaded_at`: a row already tested, as if a test had been added
since; the project is built again, and a copy of that warehouse with `--full-refresh`. Then a
record loaded at THIRD_LOAD takes the same bad status in place and the project is built twice.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pytest

from extract.respondio import MESSAGES
from simulator.model import WorkspaceSpec
from simulator.warehouse import Warehouse, Workspace, load_raw, loader_clock, new_warehouse
from tests.dbt_project.warehouse import DbtRun, dbt_build

SPEC = WorkspaceSpec(seed=5, contacts=40, agents=3, days=4, messages_per_day=40)
FIRST_LOAD = datetime(2026, 9, 12, 6)
# more than the lookback (72 h) after the first load: once a build has passed on this load, the
# rows of the first are out of the window
SECOND_LOAD = FIRST_LOAD + timedelta(days=5)
THIRD_LOAD = SECOND_LOAD + timedelta(days=1)
BAD_STATUS = "teleported"
STATUS_VALUES_TEST = (
    "accepted_values_stg_respondio__message_statuses_status__pending__sent__delivered__read__failed"
)


@dataclass(frozen=True)
class Builds:
    first: DbtRun
    second: DbtRun
    old_row: DbtRun
    old_row_full_refresh: DbtRun
    new_bad_row: DbtRun
    new_bad_row_again: DbtRun
    warehouse: Warehouse


def _with_status(record: dict, status: str) -> dict:
    entries = record["status"] or [{"value": "sent", "timestamp": record["timestamp"]}]
    return record | {"status": [entry | {"value": status} for entry in entries]}


def _new_message(record: dict, message_id: int) -> dict:
    return record | {"messageId": message_id, "channelMessageId": f"wamid.tested-{message_id}"}


def _test_result(run: DbtRun, test: str) -> dict:
    [result] = [
        result
        for result in run.run_results()["results"]
        if result["unique_id"].startswith(f"test.wabi.{test}.")
    ]
    return result


def _status_test(run: DbtRun) -> str:
    return _test_result(run, STATUS_VALUES_TEST)["status"]


def _marked(warehouse: Warehouse) -> list[tuple]:
    return warehouse.query(
        "select loaded_through, passed from audit.dbt_tested_loads order by loaded_through"
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    root = tmp_path_factory.mktemp("tested_loads")
    workspace = Workspace.generate(SPEC, root / "workspace")
    api = workspace.api_tables()
    outgoing = [m for m in api[MESSAGES] if m["traffic"] == "outgoing"]
    kept, later = outgoing[:-5], outgoing[-5:]
    warehouse = new_warehouse(root / "data")
    with loader_clock(FIRST_LOAD):
        load_raw(warehouse, api | {MESSAGES: [m for m in api[MESSAGES] if m not in later]})
    first = dbt_build(warehouse, run_name="first")
    with loader_clock(SECOND_LOAD):
        load_raw(warehouse, {MESSAGES: later})
    second = dbt_build(warehouse, run_name="second")
    # a row the first build tested, changed in place: a test added since would not read it
    old = kept[0]
    with duckdb.connect(str(warehouse.path)) as con:
        changed = con.execute(
            "update raw.respondio__messages set record = ? where _record_id = ?",
            [json.dumps(_with_status(old, BAD_STATUS)), str(old["messageId"])],
        ).fetchall()
    assert changed == [(1,)]
    old_row = dbt_build(warehouse, run_name="old_row")
    copy = Warehouse(root / "full_refresh")
    copy.data_dir.mkdir()
    shutil.copy2(warehouse.path, copy.path)
    old_row_full_refresh = dbt_build(
        copy, full_refresh=True, run_name="full_refresh", succeed=False
    )
    # A new row that only a dbt test refuses: the loader would quarantine an unknown status, so
    # the row loads good and takes the bad status in place, keeping its `_loaded_at`.
    new = _new_message(kept[1], 900_000_001)
    with loader_clock(THIRD_LOAD):
        load_raw(warehouse, {MESSAGES: [new]})
    with duckdb.connect(str(warehouse.path)) as con:
        changed = con.execute(
            "update raw.respondio__messages set record = ? where _record_id = ?",
            [json.dumps(_with_status(new, BAD_STATUS)), str(new["messageId"])],
        ).fetchall()
    assert changed == [(1,)]
    new_bad_row = dbt_build(warehouse, run_name="new_bad_row", succeed=False)
    new_bad_row_again = dbt_build(warehouse, run_name="new_bad_row_again", succeed=False)
    return Builds(
        first, second, old_row, old_row_full_refresh, new_bad_row, new_bad_row_again, warehouse
    )


def test_a_passing_build_marks_the_loads_it_tested(builds):
    assert _marked(builds.warehouse)[:3] == [
        (FIRST_LOAD, True),
        (SECOND_LOAD, True),
        (SECOND_LOAD, True),
    ]


def test_rows_loaded_before_the_last_passing_build_less_the_lookback_are_not_read_again(builds):
    assert _status_test(builds.old_row) == "pass"
    window = "_loaded_at > cast('2026-09-14 06:00:00.000000' as timestamp)"
    assert window in _test_result(builds.old_row, STATUS_VALUES_TEST)["compiled_code"]
    assert "_loaded_at" not in _test_result(builds.first, STATUS_VALUES_TEST)["compiled_code"]


def test_a_full_refresh_reads_every_row(builds):
    assert _status_test(builds.old_row_full_refresh) == "fail"


def test_a_bad_row_loaded_since_fails_the_build_and_marks_nothing(builds):
    assert _status_test(builds.new_bad_row) == "fail"
    assert (THIRD_LOAD, True) not in _marked(builds.warehouse)


def test_rows_of_a_failed_build_are_read_again_until_a_build_passes(builds):
    assert _status_test(builds.new_bad_row_again) == "fail"
    assert max(at for at, passed in _marked(builds.warehouse) if passed) == SECOND_LOAD


def test_uniqueness_tests_read_every_row(builds):
    unique = _test_result(builds.old_row, "unique_stg_respondio__messages_message_id")
    assert unique["status"] == "pass"
    assert "_loaded_at" not in unique["compiled_code"]


def test_the_suites_builds_run_every_unit_test(builds):
    """Scheduled builds leave dbt's unit tests out (BUILD_COMMAND); the suite's builds are where
    they run."""
    manifest = json.loads((builds.first.target_path / "manifest.json").read_text())
    results = builds.first.run_results()["results"]
    unit_tests = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit")}
    assert set(unit_tests) == set(manifest["unit_tests"])
    assert len(unit_tests) > 10
    assert set(unit_tests.values()) == {"pass"}
