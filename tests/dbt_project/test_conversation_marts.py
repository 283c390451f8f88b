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

from dataclasses import dataclass
from datetime import date

import pytest

from simulator.model import WorkspaceSpec
from simulator.warehouse import Warehouse, Workspace
from tests.dbt_project.warehouse import build_warehouse

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


@dataclass(frozen=True)
class Built:
    """One configuration's workspace and the warehouse built from it."""

    configuration: str
    workspace: Workspace
    warehouse: Warehouse


@pytest.fixture(scope="module", params=sorted(CONFIGURATIONS))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One generated workspace and one built warehouse per configuration."""
    spec = CONFIGURATIONS[request.param]
    workspace = Workspace.generate(spec, tmp_path_factory.mktemp(f"workspace_{request.param}"))
    data_dir = tmp_path_factory.mktemp(f"warehouse_{request.param}")
    return Built(request.param, workspace, build_warehouse(workspace, data_dir, spec.timezone))


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
def test_conversation_marts_equal_the_oracle_exactly(built: Built, table: str):
    expected_columns, expected_rows = built.workspace.expected(table)
    columns, rows = built.warehouse.rows(table)
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


def test_every_message_of_a_conversation_is_in_fct_messages_once(built: Built):
    (attributed, counted, orphans), *_ = built.warehouse.query(
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


def test_the_new_york_workspace_spans_the_clock_change(built: Built):
    """Guards the DST configuration: conversations open across 2026-11-01, and business seconds
    differ from wall-clock seconds."""
    if built.configuration != "new_york_dst":
        pytest.skip("only the New York configuration crosses a clock change")
    (spanning, shorter), *_ = built.warehouse.query(
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
