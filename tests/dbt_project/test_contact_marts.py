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

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from simulator.model import WorkspaceSpec
from simulator.warehouse import Warehouse, Workspace
from tests.dbt_project.warehouse import KEY, build_warehouse

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
CONTACT_MARTS = (
    "dim_channels",
    "dim_users",
    "dim_contacts",
    "rpt_contacts_daily",
    "rpt_whatsapp_app_statistics",
)
REPORT_KEYS = {"rpt_contacts_daily": 1, "rpt_whatsapp_app_statistics": 2}


def _build(workspace: Workspace, data_dir: Path, timezone: str) -> Warehouse:
    """Every raw table of both sources loaded, then one `dbt build` of the contact marts, all
    they depend on, and the tests and unit tests of those models (only tests whose every parent
    is built here, not those of sibling models)."""
    select = [f"+{model}" for model in CONTACT_MARTS]
    return build_warehouse(workspace, data_dir, timezone, select=select)


def _expected(workspace: Workspace, table: str) -> tuple[list[str], list[list[str]]]:
    """The oracle's CSV: its header and its rows as printed, in column order."""
    header, rows = workspace.expected(table)
    return header, [[row[column] for column in header] for row in rows]


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
    header, expected_rows = _expected(workspace, table)
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


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.generate(DEMO_SPEC, tmp_path_factory.mktemp("contacts_workspace"))


@pytest.fixture(scope="module")
def warehouse(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return _build(workspace, tmp_path_factory.mktemp("contacts_utc") / "data", "UTC")


@pytest.fixture(scope="module")
def new_york_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.generate(NEW_YORK_SPEC, tmp_path_factory.mktemp("contacts_new_york_workspace"))


@pytest.fixture(scope="module")
def new_york_warehouse(
    new_york_workspace: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> Warehouse:
    data_dir = tmp_path_factory.mktemp("contacts_new_york") / "data"
    return _build(new_york_workspace, data_dir, NEW_YORK_SPEC.timezone)


# -- reports against the oracle -----------------------------------------------------------


def test_contacts_daily_equals_the_oracle_exactly(workspace, warehouse):
    header, expected_rows = _expected(workspace, "rpt_contacts_daily")
    deleted = header.index("deleted_contacts")

    assert len(expected_rows) == DEMO_SPEC.days
    assert sum(int(row[deleted]) for row in expected_rows) > 0  # the workspace deletes contacts
    assert _differences(workspace, warehouse, "rpt_contacts_daily") == []


def test_whatsapp_app_statistics_equal_the_oracle_exactly(workspace, warehouse):
    _, expected_rows = _expected(workspace, "rpt_whatsapp_app_statistics")
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
    _, expected_rows = _expected(new_york_workspace, "rpt_contacts_daily")

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
    } == {contact_id: KEY.phone_hash(number) for contact_id, number in numbers.items()}
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
