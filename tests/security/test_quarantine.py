"""A record that breaks a value rule is quarantined, the rest of its batch loads, and the raw
gates judge the batch: the share kept out against WABI_MAX_QUARANTINE_SHARE, and schema drift.

Real DuckDB files, real capture files, the real loaders and checks; two tests run the real
refresh job over the shared simulated workspace.
"""

import copy
import json
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from extract import respondio, whatsapp_cloud
from extract.captures import load_captures
from extract.load import RawLoader, unvalidated_batch_ids
from orchestration.cli import RefreshFailed
from orchestration.defs.raw.respondio import new_messages_valid
from orchestration.defs.raw.webhooks import new_whatsapp_cloud_valid
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import Settings, SettingsError
from tests.conftest import refresh_from
from tests.extract.payloads import envelope

SENT_AT = 1_773_900_000  # within the shared workspace's days
YEAR_2100 = 4_102_444_800
MILLISECONDS = SENT_AT * 1000
CAPTURE = "whatsapp_cloud/receiver-9.jsonl"
QUARANTINED_COLUMNS = "source, raw_table, record_id, location, rule, batch_id"


def _status(wamid: str, timestamp: Any, status: str = "sent") -> dict[str, Any]:
    return envelope(
        {
            "statuses": [
                {
                    "id": wamid,
                    "status": status,
                    "timestamp": timestamp if isinstance(timestamp, str) else str(timestamp),
                    "recipient_id": "16505551234",
                }
            ]
        }
    )


def _message(wamid: str, **changes: Any) -> dict[str, Any]:
    message = {
        "from": "16505551234",
        "id": wamid,
        "timestamp": str(SENT_AT),
        "type": "text",
        "text": {"body": "hello"},
    } | changes
    return envelope({"messages": [{k: v for k, v in message.items() if v is not None}]})


def _write(root: Path, payloads: list[dict[str, Any]], name: str = CAPTURE, mode: str = "w"):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode) as handle:
        handle.writelines(json.dumps(payload) + "\n" for payload in payloads)


def _quarantined(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        f"select {QUARANTINED_COLUMNS} from raw.quarantined_records order by location"
    ).fetchall()


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchone()[0]


@pytest.fixture
def warehouse(tmp_path: Path) -> WarehouseResource:
    return WarehouseResource(data_dir=str(tmp_path / "data"))


@pytest.fixture
def captures(tmp_path: Path) -> Path:
    root = tmp_path / "captures"
    root.mkdir()
    return root


def _load(warehouse: WarehouseResource, captures: Path):
    with warehouse.connect() as con:
        return load_captures(con, captures)


def _webhooks_gate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return new_whatsapp_cloud_valid(dg.build_asset_check_context(), warehouse=warehouse)


# --- the loaders quarantine ---------------------------------------------------------------


def test_a_status_in_2100_among_a_thousand_is_quarantined_with_its_rule_and_place(
    warehouse, captures
):
    good = [_status(f"wamid.good-{i}", SENT_AT + i) for i in range(1000)]
    _write(captures, [*good[:500], _status("wamid.bad", YEAR_2100), *good[500:]])

    report = _load(warehouse, captures)

    with warehouse.connect(read_only=True) as con:
        assert _count(con, whatsapp_cloud.STATUSES.qualified) == 1000
        ((source, table, record_id, location, rule, batch_id),) = _quarantined(con)
        (record,) = con.execute("select record from raw.quarantined_records").fetchone()
        (logged,) = con.execute(
            "select quarantined from raw._batches where batch_id = ?", [batch_id]
        ).fetchone()
    assert (source, table) == ("whatsapp_cloud", whatsapp_cloud.STATUSES.qualified)
    assert record_id == f"wamid.bad|sent|{YEAR_2100}"
    assert location == f"{CAPTURE}:501"
    assert rule == "timestamp: more than a day ahead of the load"
    assert json.loads(record)["timestamp"] == str(YEAR_2100)
    assert logged == 1
    statuses = report.tables[whatsapp_cloud.STATUSES.qualified]
    assert statuses["quarantined"] == 1
    assert statuses["inserted"] == 1000
    assert report.as_metadata()["quarantine_rules"] == {rule: 1}


@pytest.mark.parametrize(
    ("payload", "table", "rule"),
    [
        (_status("wamid.ms", MILLISECONDS), whatsapp_cloud.STATUSES, "timestamp: in milliseconds"),
        (_status("wamid.neg", -5), whatsapp_cloud.STATUSES, "timestamp: negative"),
        (
            _status("wamid.old", 1_000_000_000),
            whatsapp_cloud.STATUSES,
            "timestamp: before 2009-01-01",
        ),
        (
            _status("wamid.nan", "soon"),
            whatsapp_cloud.STATUSES,
            "timestamp: not a whole number of seconds",
        ),
        (
            _status("wamid.odd", SENT_AT, status="bounced"),
            whatsapp_cloud.STATUSES,
            "status: not one of sent, delivered, read, failed, deleted, warning",
        ),
        (
            _message("wamid.m-ms", timestamp=str(MILLISECONDS)),
            whatsapp_cloud.MESSAGES,
            "timestamp: in milliseconds",
        ),
        (_message("wamid.m-type", type=None), whatsapp_cloud.MESSAGES, "type: missing"),
        (_message("wamid.m-from", **{"from": ""}), whatsapp_cloud.MESSAGES, "from: missing"),
    ],
    ids=[
        "ms",
        "negative",
        "before_2009",
        "not_a_number",
        "unknown_status",
        "message_ms",
        "no_type",
        "empty_from",
    ],
)
def test_a_capture_breaking_a_value_rule_is_quarantined_and_the_rest_loads(
    warehouse, captures, payload, table, rule
):
    _write(captures, [_status("wamid.fine", SENT_AT), _message("wamid.fine-m"), payload])

    report = _load(warehouse, captures)

    with warehouse.connect(read_only=True) as con:
        rows = _quarantined(con)
        assert _count(con, whatsapp_cloud.STATUSES.qualified) == 1
        assert _count(con, whatsapp_cloud.MESSAGES.qualified) == 1
        rejected = _count(con, "raw.rejected_records")
    assert [(row[1], row[3], row[4]) for row in rows] == [(table.qualified, f"{CAPTURE}:3", rule)]
    assert rejected == 0
    assert report.tables[table.qualified]["quarantined"] == 1


def test_a_respondio_event_in_milliseconds_is_quarantined(warehouse, captures):
    events = [
        {"event": "conversationOpened", "eventId": f"ev-{n}", "timestamp": stamp}
        for n, stamp in enumerate([SENT_AT, MILLISECONDS, None])
    ]
    _write(captures, events, name="respondio_events/day.jsonl")

    report = _load(warehouse, captures)

    with warehouse.connect(read_only=True) as con:
        rows = _quarantined(con)
        assert _count(con, "raw.respondio__events") == 1
    assert [(row[2], row[3], row[4]) for row in rows] == [
        ("ev-1", "respondio_events/day.jsonl:2", "timestamp: in milliseconds"),
        ("ev-2", "respondio_events/day.jsonl:3", "timestamp: missing"),
    ]
    assert report.tables["raw.respondio__events"]["quarantined"] == 2


def _respondio_message(message_id: int, **changes: Any) -> dict[str, Any]:
    record = {
        "messageId": message_id,
        "channelMessageId": f"wamid.api-{message_id}",
        "contactId": 7,
        "channelId": 3,
        "traffic": "outgoing",
        "timestamp": SENT_AT,
        "message": {"type": "text", "text": "hello"},
        "status": [{"value": "sent", "timestamp": SENT_AT}],
    } | changes
    return {k: v for k, v in record.items() if v is not None}


def _walk(warehouse: WarehouseResource, records: list[dict[str, Any]], url: str):
    with warehouse.connect() as con:
        loader = RawLoader(con, respondio.MESSAGES)
        loader.add(records, url)
        return loader.commit()


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        (
            {"status": [{"value": "sent", "timestamp": MILLISECONDS}]},
            "status[].timestamp: in milliseconds",
        ),
        ({"timestamp": -1}, "timestamp: negative"),
        ({"traffic": "sideways"}, "traffic: not one of incoming, outgoing"),
        ({"contactId": None}, "contactId: missing"),
        (
            {"status": [{"value": "seen", "timestamp": SENT_AT}]},
            "status[].value: not one of pending, sent, delivered, read, failed",
        ),
        ({"status": [{"value": "sent"}]}, "status[].timestamp: missing"),
    ],
    ids=["status_ms", "negative", "traffic", "no_contact", "status_value", "status_no_time"],
)
def test_an_api_record_breaking_a_value_rule_is_quarantined_with_its_page(warehouse, changes, rule):
    url = "http://127.0.0.1:9/v2/contact/id:7/message/list?limit=50"

    result = _walk(warehouse, [_respondio_message(1), _respondio_message(2, **changes)], url)

    assert (result.inserted, result.quarantined, result.unchanged) == (1, 1, 0)
    assert result.as_metadata()["quarantine_rules"] == {rule: 1}
    with warehouse.connect(read_only=True) as con:
        assert _count(con, respondio.MESSAGES.qualified) == 1
        rows = _quarantined(con)
    assert [row[:5] for row in rows] == [
        ("respondio", respondio.MESSAGES.qualified, "2", url, rule)
    ]


def test_a_corrected_api_record_loads_on_the_next_walk_and_a_repeat_is_not_kept_twice(warehouse):
    url = "http://127.0.0.1:9/v2/contact/id:7/message/list"
    bad = _respondio_message(5, timestamp=MILLISECONDS)
    first = _walk(warehouse, [bad], url)
    again = _walk(warehouse, [bad], url)  # the next walk, nothing changed at the source
    corrected = _walk(warehouse, [_respondio_message(5)], url)

    assert (first.quarantined, again.quarantined, corrected.quarantined) == (1, 1, 0)
    assert corrected.inserted == 1
    with warehouse.connect(read_only=True) as con:
        (stored,) = con.execute(
            "select record->>'timestamp' from raw.respondio__messages where _record_id = '5'"
        ).fetchone()
        assert len(_quarantined(con)) == 1
    assert stored == str(SENT_AT)


def test_a_corrected_capture_line_loads_on_the_next_run(warehouse, captures):
    _write(captures, [_status(f"wamid.c-{i}", MILLISECONDS + i) for i in range(3)])
    first = _load(warehouse, captures)
    _write(captures, [_status(f"wamid.c-{i}", SENT_AT + i) for i in range(3)], mode="a")

    second = _load(warehouse, captures)

    assert first.tables[whatsapp_cloud.STATUSES.qualified]["quarantined"] == 3
    assert second.tables[whatsapp_cloud.STATUSES.qualified] == {
        "fetched": 3,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "quarantined": 0,
    }
    with warehouse.connect(read_only=True) as con:
        stamps = con.execute(
            "select record->>'timestamp' from raw.whatsapp_cloud__statuses order by 1"
        ).fetchall()
        assert len(_quarantined(con)) == 3
    assert stamps == [(str(SENT_AT + i),) for i in range(3)]


# --- the gates judge the batch --------------------------------------------------------------


@pytest.mark.parametrize(("bad", "passes"), [(1, True), (2, False)])
def test_one_bad_record_in_a_small_batch_passes_two_fail(warehouse, captures, bad, passes):
    """1 % of 10 rounds to nothing, yet one record is always allowed: a run of few records is
    not halted by the one bad webhook."""
    good = [_status(f"wamid.s-{i}", SENT_AT + i) for i in range(10 - bad)]
    _write(captures, good + [_status(f"wamid.b-{i}", YEAR_2100) for i in range(bad)])
    _load(warehouse, captures)

    result = _webhooks_gate(warehouse)

    assert result.passed is passes, result.description
    if not passes:
        assert "whatsapp_cloud__statuses_quarantine_share" in result.description
        assert f"{bad} of 10 new records kept out ({bad} quarantined, 0 rejected)" in (
            result.description
        )
        assert "timestamp: more than a day ahead of the load (2)" in result.description


def test_the_share_is_read_from_the_environment(warehouse, captures, monkeypatch):
    good = [_status(f"wamid.s-{i}", SENT_AT + i) for i in range(100)]
    _write(captures, good + [_status(f"wamid.b-{i}", MILLISECONDS + i) for i in range(5)])
    _load(warehouse, captures)

    monkeypatch.setenv("WABI_MAX_QUARANTINE_SHARE", "0.01")
    assert not _webhooks_gate(warehouse).passed
    monkeypatch.setenv("WABI_MAX_QUARANTINE_SHARE", "0.05")
    result = _webhooks_gate(warehouse)
    assert result.passed, result.description


@pytest.mark.parametrize("value", ["1.5", "-0.1", "1%", "nan"])
def test_a_share_outside_zero_to_one_is_refused_in_one_line(monkeypatch, value):
    monkeypatch.setenv("WABI_MAX_QUARANTINE_SHARE", value)
    with pytest.raises(SettingsError, match="WABI_MAX_QUARANTINE_SHARE must be a fraction") as e:
        Settings.from_env()
    assert "\n" not in str(e.value)


def test_a_share_of_zero_allows_no_bad_record(warehouse, captures, monkeypatch):
    monkeypatch.setenv("WABI_MAX_QUARANTINE_SHARE", "0")
    _write(captures, [_status("wamid.ok", SENT_AT), _status("wamid.bad", -1)])
    _load(warehouse, captures)

    assert not _webhooks_gate(warehouse).passed


def test_a_required_field_gone_from_a_whole_batch_is_schema_drift(warehouse, captures):
    _write(captures, [_message(f"wamid.d-{i}", type=None) for i in range(12)])
    _load(warehouse, captures)

    result = _webhooks_gate(warehouse)

    assert not result.passed
    assert "whatsapp_cloud__messages_schema_drift" in result.description
    assert "raw.whatsapp_cloud__messages: type absent from all 12 new records" in (
        result.description
    )


def test_a_field_missing_from_a_few_records_is_no_drift(warehouse, captures):
    _write(
        captures,
        [_message(f"wamid.d-{i}") for i in range(120)] + [_message("wamid.d-x", type=None)],
    )
    _load(warehouse, captures)

    result = _webhooks_gate(warehouse)

    assert result.passed, result.description
    assert result.metadata["rows_validated.whatsapp_cloud__messages_schema_drift"].value == 3


def test_a_failed_batch_keeps_failing_until_the_source_sends_records_again(warehouse, captures):
    _write(captures, [_status(f"wamid.c-{i}", MILLISECONDS + i) for i in range(20)])
    _load(warehouse, captures)
    assert not _webhooks_gate(warehouse).passed

    # Nothing new: the failed batch is judged again, and fails again.
    assert _load(warehouse, captures).batches == []
    again = _webhooks_gate(warehouse)
    assert not again.passed
    assert "20 of 20 new records kept out" in again.description

    # The receiver fixed, the statuses written again in seconds: they load, and the gate passes.
    _write(captures, [_status(f"wamid.c-{i}", SENT_AT + i) for i in range(20)], mode="a")
    _load(warehouse, captures)
    result = _webhooks_gate(warehouse)
    assert result.passed, result.description
    with warehouse.connect(read_only=True) as con:
        assert unvalidated_batch_ids(con, whatsapp_cloud.STATUSES) == []
        assert _count(con, whatsapp_cloud.STATUSES.qualified) == 20


def test_a_walk_of_messages_all_in_milliseconds_fails_the_respondio_gate(warehouse):
    _walk(
        warehouse,
        [_respondio_message(i, timestamp=MILLISECONDS + i) for i in range(1, 31)],
        "http://127.0.0.1:9/v2/contact/id:7/message/list",
    )

    result = new_messages_valid(dg.build_asset_check_context(), warehouse=warehouse)

    assert not result.passed
    assert "respondio__messages_quarantine_share" in result.description
    assert "timestamp: in milliseconds (30)" in result.description


# --- a real refresh -------------------------------------------------------------------------


def _workspace_statuses(workspace_dir: Path) -> dict[str, Any]:
    """A status payload of the workspace's own captures, as a template (its business number is
    one the workspace knows)."""
    for path in sorted((workspace_dir / "captures" / "whatsapp_cloud").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if '"statuses"' in line:
                return json.loads(line)
    raise AssertionError("the workspace has no status capture")


def _statuses_like(template: dict[str, Any], stamps: list[tuple[str, int]]) -> list[dict]:
    payloads = []
    for wamid, stamp in stamps:
        payload = copy.deepcopy(template)
        status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
        status |= {"id": wamid, "status": "sent", "timestamp": str(stamp)}
        payloads.append(payload)
    return payloads


def test_a_refresh_publishes_a_thousand_statuses_and_quarantines_the_one_in_2100(pipeline_copy):
    template = _workspace_statuses(pipeline_copy.workspace_dir)
    good = [(f"wamid.wabi-good-{i}", SENT_AT + i) for i in range(1000)]
    _write(
        pipeline_copy.workspace_dir / "captures",
        _statuses_like(template, [*good[:700], ("wamid.wabi-2100", YEAR_2100), *good[700:]]),
    )
    published_before = pipeline_copy.analytics_path.read_bytes()

    refresh_from(pipeline_copy.workspace_dir, pipeline_copy.data_dir)

    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        rows = _quarantined(con)
        published = con.execute(
            "select count(*) from marts.fct_messages where message_id like 'wamid.wabi-good-%'"
        ).fetchone()[0]
    assert [row[1:5] for row in rows] == [
        (
            whatsapp_cloud.STATUSES.qualified,
            f"wamid.wabi-2100|sent|{YEAR_2100}",
            f"{CAPTURE}:701",
            "timestamp: more than a day ahead of the load",
        )
    ]
    assert published == 1000
    assert pipeline_copy.analytics_path.read_bytes() != published_before
    with duckdb.connect(str(pipeline_copy.analytics_path), read_only=True) as con:
        assert (
            con.execute(
                "select count(*) from fct_messages where message_id like 'wamid.wabi-good-%'"
            ).fetchone()[0]
            == 1000
        )


def test_a_capture_of_statuses_all_in_milliseconds_stops_the_refresh(pipeline_copy):
    template = _workspace_statuses(pipeline_copy.workspace_dir)
    _write(
        pipeline_copy.workspace_dir / "captures",
        _statuses_like(template, [(f"wamid.wabi-ms-{i}", MILLISECONDS + i) for i in range(50)]),
    )
    published_before = pipeline_copy.analytics_path.read_bytes()

    with pytest.raises(RefreshFailed, match="new_whatsapp_cloud_valid") as failure:
        refresh_from(pipeline_copy.workspace_dir, pipeline_copy.data_dir)

    assert "whatsapp_cloud__statuses_quarantine_share" in str(failure.value)
    assert "timestamp: in milliseconds (50)" in str(failure.value)
    assert pipeline_copy.analytics_path.read_bytes() == published_before
    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        assert len(_quarantined(con)) == 50


def test_a_warehouse_from_before_quarantine_gets_its_table_and_columns(warehouse):
    with warehouse.connect() as con:
        con.execute("create schema raw")
        con.execute("""
            create table raw._batches (
                batch_id varchar primary key, source varchar not null, entity varchar not null,
                started_at timestamp not null, finished_at timestamp, fetched bigint,
                inserted bigint, updated bigint, unchanged bigint, rejected bigint,
                validated_at timestamp
            )""")

    result = _walk(warehouse, [_respondio_message(1, timestamp=-1)], "http://127.0.0.1:9/v2/x")

    with warehouse.connect(read_only=True) as con:
        logged = con.execute(
            "select quarantined, gate_failed_at from raw._batches where batch_id = ?",
            [result.batch_id],
        ).fetchone()
        assert len(_quarantined(con)) == 1
    assert logged == (1, None)
