"""`rpt_load_issues_daily`: the records kept aside, counted per local day, kind, source, raw
table and kind of rule or reason, by a real `dbt build` on a warehouse holding them; no record
text or location reaches it."""

import json
from datetime import date, datetime

import duckdb
import pytest

from simulator.warehouse import Warehouse, new_warehouse
from tests.dbt_project.warehouse import dbt_build

PHONE = "15550002222"
SELECT = ["+rpt_load_issues_daily"]
STATUSES, MESSAGES = "raw.whatsapp_cloud__statuses", "raw.respondio__messages"


def _keep_aside(warehouse: Warehouse, quarantined: list[tuple], rejected: list[tuple]) -> None:
    """Rows as the loaders write them: (source, raw table, location, rule, quarantined at) and
    (source, location, reason, rejected at), each record holding a customer's number, in a
    warehouse `new_warehouse` made (which has both tables)."""
    with duckdb.connect(str(warehouse.path)) as con:
        for number, (source, raw_table, location, rule, at) in enumerate(quarantined):
            con.execute(
                "insert into raw.quarantined_records values (?, ?, ?, ?, ?, ?, 'batch-q', ?)",
                [source, raw_table, f"id-{number}", location, rule, f'{{"from": "{PHONE}"}}', at],
            )
        for source, location, reason, at in rejected:
            con.execute(
                "insert into raw.rejected_records values (?, ?, ?, ?, ?, 'batch-r')",
                [source, location, reason, f'{{"from": "{PHONE}', at],
            )


@pytest.fixture(scope="module")
def new_york(tmp_path_factory) -> Warehouse:
    warehouse = new_warehouse(tmp_path_factory.mktemp("load-issues"))
    _keep_aside(
        warehouse,
        quarantined=[
            (
                "whatsapp_cloud",
                STATUSES,
                "captures/a.jsonl:1",
                "timestamp: in milliseconds",
                datetime(2026, 3, 10, 15, 0),
            ),
            (
                "whatsapp_cloud",
                STATUSES,
                "captures/a.jsonl:2",
                "timestamp: in milliseconds",
                datetime(2026, 3, 10, 16, 0),
            ),
            # 03:00 UTC on the 11th is still the 10th in New York (UTC-4 since March 8th).
            (
                "whatsapp_cloud",
                STATUSES,
                "captures/a.jsonl:3",
                "timestamp: in milliseconds",
                datetime(2026, 3, 11, 3, 0),
            ),
            (
                "respondio",
                MESSAGES,
                "http://127.0.0.1:1/v2/contact/7/message/list",
                "status[].timestamp: in milliseconds",
                datetime(2026, 3, 11, 12, 0),
            ),
        ],
        rejected=[
            (
                "captures",
                f"captures/{PHONE}.jsonl:4",
                "invalid JSON: Expecting value at column 1",
                datetime(2026, 3, 10, 14, 0),
            ),
            (
                "captures",
                "captures/b.jsonl:9",
                "invalid JSON: Unterminated string starting at column 9",
                datetime(2026, 3, 10, 18, 0),
            ),
            ("respondio", "contacts", "id is missing", datetime(2026, 3, 11, 12, 0)),
        ],
    )
    dbt_build(warehouse, timezone="America/New_York", select=SELECT)
    return warehouse


def test_records_kept_aside_are_counted_per_local_day_kind_and_reason(new_york):
    columns, rows = new_york.table("rpt_load_issues_daily")

    assert columns == ["report_date", "kind", "source", "raw_table", "reason_kind", "records"]
    assert sorted(rows, key=str) == sorted(
        [
            (
                date(2026, 3, 10),
                "quarantined",
                "whatsapp_cloud",
                STATUSES,
                "timestamp: in milliseconds",
                3,
            ),
            (
                date(2026, 3, 11),
                "quarantined",
                "respondio",
                MESSAGES,
                "status[].timestamp: in milliseconds",
                1,
            ),
            (date(2026, 3, 10), "rejected", "captures", None, "invalid JSON", 2),
            (date(2026, 3, 11), "rejected", "respondio", None, "id is missing", 1),
        ],
        key=str,
    )


def test_the_builds_unit_test_of_the_mart_passed(new_york):
    results = json.loads(
        (new_york.data_dir / "dbt" / "build" / "target" / "run_results.json").read_text()
    )
    statuses = {result["unique_id"]: result["status"] for result in results["results"]}
    unit_test = (
        "unit_test.wabi.rpt_load_issues_daily."
        "load_issues_are_counted_per_local_day_kind_and_reason_kind"
    )
    assert statuses[unit_test] == "pass"


def test_no_record_text_or_location_reaches_a_load_issue_model(new_york):
    for schema, table in [
        ("staging", "stg_load_issues__quarantined_records"),
        ("staging", "stg_load_issues__rejected_records"),
        ("marts", "rpt_load_issues_daily"),
    ]:
        _, rows = new_york.table(table, schema)
        assert rows
        assert not [row for row in rows if PHONE in str(row)], table
        assert not [row for row in rows if "captures/" in str(row) or "http" in str(row)], table


def test_an_unknown_source_fails_the_build(tmp_path):
    warehouse = new_warehouse(tmp_path)
    _keep_aside(
        warehouse,
        quarantined=[],
        rejected=[("elsewhere", "x", "invalid JSON: at column 1", datetime(2026, 3, 10))],
    )

    run = dbt_build(warehouse, select=SELECT, succeed=False)

    assert "accepted_values_rpt_load_issues_daily_source" in run.stdout
