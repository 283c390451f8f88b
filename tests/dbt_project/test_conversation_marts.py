"""The conversation marts equal the simulator's oracle exactly, on real dbt over real DuckDB files.

Two simulated workspaces, each loaded as a deployment would (respond.io's API records, the
respond.io webhook events and Meta's captures) and built by one `dbt build` (models, data tests
and unit tests):
- the demo's spec, reported in UTC;
- a smaller spec in America/New_York across the end of daylight saving time (2026-11-01), built
  with `reporting_timezone` set to it: dates, weekdays, hours and business seconds move with the
  clocks.
Every row and column of `fct_conversations` and of each conversation report must equal the
oracle's `expected/<table>.csv`: floats to 1e-9, an empty cell is NULL, dates and timestamps
compared as the CSV prints them.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from extract.captures import load_captures
from extract.load import RawLoader, ensure_raw_table
from extract.respondio import API_TABLES, CHANNELS, CLOSING_NOTES, CONTACTS, MESSAGES, USERS
from orchestration.project import DBT_PROJECT_DIR, dbt_executable
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec

SALT = "wabi-test-salt"
CONFIGURATIONS = {
    "utc": WorkspaceSpec(seed=7, contacts=400, agents=12, days=28, messages_per_day=250),
    "new_york_dst": WorkspaceSpec(
        seed=3,
        contacts=150,
        agents=6,
        days=21,
        messages_per_day=90,
        start=date(2026, 10, 19),
        timezone="America/New_York",
    ),
}
# Each table's key: the columns that name a row.
TABLE_KEYS = {
    "fct_conversations": ("conversation_id",),
    "rpt_conversations_daily": ("report_date", "channel_id"),
    "rpt_conversations_by_category": ("report_date", "closing_category"),
    "rpt_first_response_buckets": ("report_date", "channel_id", "bucket"),
    "rpt_assignments_daily": ("report_date", "assigned_by_type"),
    "rpt_busiest_hours": ("day_of_week", "hour_of_day"),
    "rpt_user_performance_daily": ("report_date", "user_id"),
}
# API files: (raw table, file, one JSON record a line or one JSON array).
API_FILES = (
    (MESSAGES, "messages.jsonl", True),
    (CONTACTS, "contacts.jsonl", True),
    (USERS, "users.json", False),
    (CHANNELS, "channels.json", False),
    (CLOSING_NOTES, "closing_notes.json", False),
)


@dataclass(frozen=True)
class Warehouse:
    configuration: str
    workspace: Path
    path: Path

    def table(self, name: str) -> tuple[list[str], list[dict[str, object]]]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            cursor = con.execute(f"select * from marts.{name}")
            columns = [column[0] for column in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return columns, rows

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def expected(self, name: str) -> tuple[list[str], list[dict[str, str]]]:
        with (self.workspace / "expected" / f"{name}.csv").open(newline="") as handle:
            reader = csv.DictReader(handle)
            return list(reader.fieldnames or []), list(reader)


def _api_records(path: Path, lines: bool) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        if lines:
            return [json.loads(line) for line in handle if line.strip()]
        return json.load(handle)


def _load_raw(workspace: Path, database: Path) -> None:
    with duckdb.connect(str(database)) as con:
        for table in API_TABLES:
            ensure_raw_table(con, table)
        for table, name, lines in API_FILES:
            loader = RawLoader(con, table)
            loader.add(_api_records(workspace / "api" / name, lines), name)
            loader.commit()
        load_captures(con, workspace / CAPTURES_DIR)


def _dbt_build(data_dir: Path, timezone: str) -> None:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("WABI_")
    } | {"WABI_DATA_DIR": str(data_dir), "WABI_PII_SALT": SALT}
    result = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(data_dir / "dbt_target"),
            "--log-path",
            str(data_dir / "dbt_logs"),
            "--vars",
            json.dumps({"reporting_timezone": timezone}),
        ],
        cwd=DBT_PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.fixture(scope="module", params=sorted(CONFIGURATIONS))
def warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One generated workspace and one built warehouse per configuration."""
    spec = CONFIGURATIONS[request.param]
    workspace = tmp_path_factory.mktemp(f"workspace_{request.param}")
    generate(spec, workspace)
    data_dir = tmp_path_factory.mktemp(f"warehouse_{request.param}")
    _load_raw(workspace, data_dir / "warehouse.duckdb")
    _dbt_build(data_dir, spec.timezone)
    return Warehouse(request.param, workspace, data_dir / "warehouse.duckdb")


def _same(expected: str, actual: object) -> bool:
    """A CSV cell against a DuckDB value: empty is NULL, numbers to 1e-9, the rest as printed."""
    if expected == "" or actual is None:
        return expected == "" and actual is None
    if isinstance(actual, bool):
        return str(actual) == expected
    if isinstance(actual, int | float):
        return abs(float(expected) - actual) <= 1e-9
    return str(actual) == expected


def _key(row: dict, columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("" if row[column] is None else str(row[column]) for column in columns)


@pytest.mark.parametrize("table", sorted(TABLE_KEYS))
def test_conversation_marts_equal_the_oracle_exactly(warehouse: Warehouse, table: str):
    expected_columns, expected_rows = warehouse.expected(table)
    columns, rows = warehouse.table(table)
    key_columns = TABLE_KEYS[table]
    expected = {_key(row, key_columns): row for row in expected_rows}
    actual = {_key(row, key_columns): row for row in rows}

    assert expected_rows
    assert columns == expected_columns
    assert len(actual) == len(rows)  # the key names one row
    assert sorted(actual.keys() - expected.keys()) == []
    assert sorted(expected.keys() - actual.keys()) == []
    mismatches = [
        (key, column, want[column], actual[key][column])
        for key, want in sorted(expected.items())
        for column in expected_columns
        if not _same(want[column], actual[key][column])
    ]
    assert mismatches[:20] == []


def test_every_message_of_a_conversation_is_in_fct_messages_once(warehouse: Warehouse):
    (attributed, counted, orphans), *_ = warehouse.query(
        """
        select
            (select count(conversation_id) from marts.fct_messages),
            (select sum(incoming_messages + outgoing_messages) from marts.fct_conversations),
            (select count(*) from marts.fct_messages
             where conversation_id is not null
                and conversation_id not in (select conversation_id from marts.fct_conversations))
        """
    )

    assert attributed == counted > 0
    assert orphans == 0


def test_the_new_york_workspace_spans_the_clock_change(warehouse: Warehouse):
    """Guards the DST configuration: conversations open across 2026-11-01, and business seconds
    differ from wall-clock seconds."""
    if warehouse.configuration != "new_york_dst":
        pytest.skip("only the New York configuration crosses a clock change")
    (spanning, shorter), *_ = warehouse.query(
        """
        select
            count(case when opened_at < timestamp '2026-11-01 06:00:00'
                and closed_at > timestamp '2026-11-01 06:00:00' then 1 end),
            count(case when resolution_business_seconds < resolution_seconds then 1 end)
        from marts.fct_conversations
        """
    )

    assert spanning > 0
    assert shorter > 0
