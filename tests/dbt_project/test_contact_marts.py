"""The dimensions, the Contacts report and the WhatsApp app statistics, on real dbt over real
DuckDB files, against the simulator's oracle.

Two simulated workspaces, each loaded as a refresh would (the API's users, channels, closing
notes, contacts and messages through `RawLoader`; the webhook captures, Meta's and respond.io's
events, through `load_captures`) and built by one `dbt build` of the contact marts and all
they depend on:
- the demo's spec in UTC, which has contacts deleted before any extraction: the reports must
  equal `expected/` exactly, the dimensions must hold one row per id and the counts the
  workspace implies, and no column of these marts may hold a customer's phone number;
- a workspace in America/New_York over the end of daylight saving time (1 November 2026): the
  Contacts report must equal the oracle there too.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from extract.captures import load_captures
from extract.load import RawLoader
from extract.respondio import CHANNELS, CLOSING_NOTES, CONTACTS, MESSAGES, USERS
from orchestration.project import DBT_PROJECT_DIR, dbt_executable
from simulator.generate import CAPTURES_DIR, generate
from simulator.model import WorkspaceSpec

DEMO_SPEC = WorkspaceSpec(seed=7, contacts=400, agents=12, days=28, messages_per_day=250)
NEW_YORK_SPEC = WorkspaceSpec(
    seed=3,
    contacts=200,
    agents=6,
    days=21,
    messages_per_day=120,
    start=date(2026, 10, 19),
    timezone="America/New_York",
)
SALT = "wabi-test-salt"
API_FILES = (
    (USERS, "users.json"),
    (CHANNELS, "channels.json"),
    (CLOSING_NOTES, "closing_notes.json"),
    (CONTACTS, "contacts.jsonl"),
    (MESSAGES, "messages.jsonl"),
)
CONTACT_MARTS = (
    "dim_channels",
    "dim_users",
    "dim_contacts",
    "rpt_contacts_daily",
    "rpt_whatsapp_app_statistics",
)
REPORT_KEYS = {"rpt_contacts_daily": 1, "rpt_whatsapp_app_statistics": 2}


@dataclass(frozen=True)
class Workspace:
    root: Path

    def api_records(self, name: str) -> list[dict]:
        path = self.root / "api" / name
        if path.suffix == ".json":
            return json.loads(path.read_text())
        with path.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def events(self) -> Iterator[dict]:
        """respond.io's webhook events, as captured."""
        for path in sorted((self.root / CAPTURES_DIR / "respondio_events").iterdir()):
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8") as handle:
                yield from (json.loads(line) for line in handle if line.strip())

    def expected(self, table: str) -> tuple[list[str], list[list[str]]]:
        with (self.root / "expected" / f"{table}.csv").open(newline="") as handle:
            header, *rows = list(csv.reader(handle))
        return header, rows


@dataclass(frozen=True)
class Warehouse:
    path: Path

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def table(self, name: str) -> tuple[list[str], list[tuple]]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            cursor = con.execute(f"select * from marts.{name}")
            return [column[0] for column in cursor.description], cursor.fetchall()


def _build(workspace: Workspace, data_dir: Path, timezone: str) -> Warehouse:
    """Load every raw table of both sources and run `dbt build` once: the contact marts, all
    they depend on, and the tests and unit tests of those models."""
    data_dir.mkdir(parents=True)
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        for table, name in API_FILES:
            loader = RawLoader(con, table)
            loader.add(workspace.api_records(name), name)
            loader.commit()
        load_captures(con, workspace.root / CAPTURES_DIR)
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("WABI_")
    } | {"WABI_DATA_DIR": str(data_dir), "WABI_PII_SALT": SALT}
    result = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--select",
            *(f"+{model}" for model in CONTACT_MARTS),
            # only tests whose every parent is built here (not those of sibling models)
            "--indirect-selection",
            "cautious",
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
    return Warehouse(data_dir / "warehouse.duckdb")


def _same(expected: str, actual: object) -> bool:
    """A CSV cell of the oracle against a value of the mart: empty is NULL, floats to 1e-9."""
    if expected == "" or actual is None:
        return expected == "" and actual is None
    if isinstance(actual, float):
        return abs(float(expected) - actual) <= 1e-9
    if isinstance(actual, bool):
        return expected == str(actual)
    if isinstance(actual, int):
        return int(expected) == actual
    return expected == str(actual)


def _differences(workspace: Workspace, warehouse: Warehouse, table: str) -> list[tuple]:
    """(key, column, expected, actual) for every cell where the mart and the oracle differ,
    with a missing or surplus row as one difference."""
    header, expected_rows = workspace.expected(table)
    columns, actual_rows = warehouse.table(table)
    assert columns == header
    width = REPORT_KEYS[table]
    expected = {tuple(row[:width]): row for row in expected_rows}
    actual = {tuple(str(value) for value in row[:width]): row for row in actual_rows}
    assert len(expected) == len(expected_rows)
    assert len(actual) == len(actual_rows)
    differences: list[tuple] = [(key, "row", None, "surplus") for key in actual.keys() - expected]
    for key, want in expected.items():
        got = actual.get(key)
        if got is None:
            differences.append((key, "row", "present", None))
            continue
        differences.extend(
            (key, column, cell, value)
            for column, cell, value in zip(header, want, got, strict=True)
            if not _same(cell, value)
        )
    return differences


def _phone_hash(number: str) -> str:
    return hashlib.sha256((SALT + "".join(c for c in number if c.isdigit())).encode()).hexdigest()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("contacts_workspace")
    generate(DEMO_SPEC, root)
    return Workspace(root)


@pytest.fixture(scope="module")
def warehouse(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return _build(workspace, tmp_path_factory.mktemp("contacts_utc") / "data", "UTC")


@pytest.fixture(scope="module")
def new_york_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("contacts_new_york_workspace")
    generate(NEW_YORK_SPEC, root)
    return Workspace(root)


@pytest.fixture(scope="module")
def new_york_warehouse(
    new_york_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> Warehouse:
    data_dir = tmp_path_factory.mktemp("contacts_new_york") / "data"
    return _build(new_york_workspace, data_dir, NEW_YORK_SPEC.timezone)


# -- reports against the oracle -----------------------------------------------------------


def test_contacts_daily_equals_the_oracle_exactly(workspace, warehouse):
    header, expected_rows = workspace.expected("rpt_contacts_daily")
    deleted = header.index("deleted_contacts")

    assert len(expected_rows) == DEMO_SPEC.days
    assert sum(int(row[deleted]) for row in expected_rows) > 0  # the workspace deletes contacts
    assert _differences(workspace, warehouse, "rpt_contacts_daily") == []


def test_whatsapp_app_statistics_equal_the_oracle_exactly(workspace, warehouse):
    _, expected_rows = workspace.expected("rpt_whatsapp_app_statistics")
    whatsapp = {
        str(channel["id"])
        for channel in workspace.api_records("channels.json")
        if channel["source"] == "whatsapp_cloud"
    }

    assert len(expected_rows) >= DEMO_SPEC.days
    assert {row[1] for row in expected_rows} == whatsapp
    assert _differences(workspace, warehouse, "rpt_whatsapp_app_statistics") == []


def test_contacts_daily_in_new_york_over_the_dst_change_equals_the_oracle(
    new_york_workspace, new_york_warehouse
):
    _, expected_rows = new_york_workspace.expected("rpt_contacts_daily")

    assert "2026-11-01" in {row[0] for row in expected_rows}
    assert _differences(new_york_workspace, new_york_warehouse, "rpt_contacts_daily") == []


# -- dimensions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key"),
    [("dim_channels", "channel_id"), ("dim_users", "user_id"), ("dim_contacts", "contact_id")],
)
def test_each_dimension_has_one_row_per_id(warehouse, table, key):
    [(rows, ids)] = warehouse.query(f"select count(*), count(distinct {key}) from marts.{table}")

    assert rows == ids > 0


def test_users_and_channels_are_the_workspace_lists(workspace, warehouse):
    users = {str(user["id"]): user for user in workspace.api_records("users.json")}
    channels = {str(channel["id"]) for channel in workspace.api_records("channels.json")}
    dim_users = {row[0]: row[1:] for row in warehouse.query("select * from marts.dim_users")}

    assert dim_users == {
        user_id: (f"{user['firstName']} {user['lastName']}", user["role"], user["team"]["name"])
        for user_id, user in users.items()
    }
    # every WhatsApp message of this workspace is respond.io's: no Meta-only number
    assert {row[0] for row in warehouse.query("select channel_id from marts.dim_channels")} == (
        channels
    )
    assert warehouse.query(
        "select channel_type, count(*) from marts.dim_channels group by all order by 1"
    ) == [
        ("instagram", 1),
        ("messenger", 1),
        ("telegram", 1),
        ("webchat", 1),
        ("whatsapp_cloud", 1),
    ]


def test_contacts_are_the_listed_ones_and_those_deleted_before_any_extraction(workspace, warehouse):
    listed = {str(contact["id"]) for contact in workspace.api_records("contacts.jsonl")}
    deleted = {
        str(event["contact"]["id"]): event["timestamp"]
        for event in workspace.events()
        if event["event"] == "contactDeleted"
    }
    counts = json.loads((workspace.root / "workspace.json").read_text())["counts"]
    contacts = {
        contact_id: (is_deleted, deleted_at)
        for contact_id, is_deleted, deleted_at in warehouse.query(
            "select contact_id, is_deleted, epoch(deleted_at) from marts.dim_contacts"
        )
    }

    assert len(deleted) == counts["deleted_contacts"] > 0
    assert not deleted.keys() & listed  # deleted before any extraction: never listed
    assert contacts.keys() == listed | deleted.keys()
    assert {key: value for key, value in contacts.items() if value[0]} == {
        contact_id: (True, at) for contact_id, at in deleted.items()
    }


def test_contacts_carry_hashes_of_their_numbers_and_their_activity(workspace, warehouse):
    numbers = {str(c["id"]): c["phone"] for c in workspace.api_records("contacts.jsonl")}
    received = {}
    for message in workspace.api_records("messages.jsonl"):
        if message["traffic"] == "incoming":
            contact_id = str(message["contactId"])
            received[contact_id] = received.get(contact_id, 0) + 1
    rows = warehouse.query(
        "select contact_id, phone_hash, messages_received from marts.dim_contacts"
    )

    assert {
        contact_id: phone_hash for contact_id, phone_hash, _ in rows if contact_id in numbers
    } == {contact_id: _phone_hash(number) for contact_id, number in numbers.items()}
    assert {contact_id: count for contact_id, _, count in rows if count} == received


def test_no_contact_mart_holds_a_raw_phone_number(workspace, warehouse):
    numbers = {contact["phone"] for contact in workspace.api_records("contacts.jsonl")}
    numbers |= {
        event["contact"]["phone"] for event in workspace.events() if event["event"] == "newContact"
    }
    digits = {"".join(c for c in number if c.isdigit()) for number in numbers}
    values: set[str] = set()
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        for table in CONTACT_MARTS:
            columns = con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'marts' and table_name = ? and data_type = 'VARCHAR'",
                [table],
            ).fetchall()
            for (column,) in columns:
                rows = con.execute(f'select distinct "{column}" from marts.{table}').fetchall()
                values.update(value for (value,) in rows if value is not None)

    assert len(numbers) > 300
    assert len(values) > 1000
    leaks = {value for value in values if any(number in value for number in digits)}
    assert leaks == set()
