"""Every gate passes on good data and stops publishing on bad data, leaving analytics.duckdb as
it was: the raw batch gates (GX: the share of records quarantined, statuses in order), the dbt
tests, and the marts gate (GX)."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from extract import respondio
from extract.captures import load_captures
from extract.load import RawLoader
from orchestration.cli import RefreshFailed
from orchestration.defs.dbt import messages_daily_consistent
from orchestration.defs.raw.respondio import new_messages_valid
from orchestration.defs.raw.webhooks import new_whatsapp_cloud_valid
from orchestration.defs.resources import WarehouseResource
from tests.conftest import refresh_from


def _append_messages(workspace_dir, count=1, **changes):
    """A source that starts sending bad records: more messages for a contact with an open
    conversation (so the incremental walk visits it), ids from 999000001 on."""
    contacts = (workspace_dir / "api" / "contacts.jsonl").read_text().splitlines()
    open_ids = {c["id"] for c in map(json.loads, contacts) if c["status"] == "open"}
    messages = workspace_dir / "api" / "messages.jsonl"
    template = next(
        m
        for m in map(json.loads, messages.read_text().splitlines())
        if m["traffic"] == "outgoing" and m["contactId"] in open_ids
    )
    records = [
        template
        | {"messageId": 999_000_001 + n, "channelMessageId": f"wabi-test-bad-{n}"}
        | changes
        for n in range(count)
    ]
    with messages.open("a") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return records


def _fct_messages_has(data_dir, message_id):
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return (
            con.execute(
                "select count(*) from marts.fct_messages where message_id = ?", [message_id]
            ).fetchone()[0]
            > 0
        )


def test_raw_gate_passes_on_the_built_warehouse(pipeline_copy):
    result = new_messages_valid(
        dg.build_asset_check_context(),
        warehouse=WarehouseResource(data_dir=str(pipeline_copy.data_dir)),
    )
    assert result.passed, result.description


def test_a_walk_of_1970_statuses_fails_the_raw_gate_and_nothing_downstream_runs(pipeline_copy):
    """The API starts sending statuses at epoch 0: 30 of the walk's messages are quarantined,
    far more than 1 % of it, so the batch fails and nothing downstream runs."""
    _append_messages(
        pipeline_copy.workspace_dir, count=30, status=[{"value": "sent", "timestamp": 0}]
    )
    published_before = pipeline_copy.analytics_path.read_bytes()

    with pytest.raises(RefreshFailed, match="new_messages_valid") as failure:
        refresh_from(pipeline_copy.workspace_dir, pipeline_copy.data_dir)

    assert "respondio__messages_quarantine_share" in str(failure.value)
    assert "status[].timestamp: before 2009-01-01 (30)" in str(failure.value)
    with duckdb.connect(str(pipeline_copy.warehouse_path), read_only=True) as con:
        audited = con.execute(
            "select description from audit.check_results "
            "where check_name = 'new_messages_valid' and not passed"
        ).fetchall()
        quarantined = con.execute(
            "select count(*) from raw.quarantined_records where raw_table = ?",
            [respondio.MESSAGES.qualified],
        ).fetchone()[0]
    assert len(audited) == 1
    assert "30 quarantined" in audited[0][0]
    assert quarantined == 30
    assert pipeline_copy.analytics_path.read_bytes() == published_before
    assert not _fct_messages_has(pipeline_copy.data_dir, "respondio:999000001")

    # The next walk fetches the same bad records again: its batch fails too, and keeps blocking.
    with pytest.raises(RefreshFailed, match="new_messages_valid"):
        refresh_from(pipeline_copy.workspace_dir, pipeline_copy.data_dir)
    assert pipeline_copy.analytics_path.read_bytes() == published_before


def test_a_capture_with_one_1970_status_is_quarantined_and_the_gate_passes(pipeline_copy):
    """A webhook receiver that wrote one status with a zero timestamp: the status is kept out
    of the raw table, and one bad record does not halt reporting."""
    fixture = (
        Path(__file__).parents[1] / "fixtures" / "whatsapp_cloud" / "status_sent_pmp_marketing.json"
    )
    payload = json.loads(fixture.read_text())
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    status |= {"id": "wamid.wabi-test-1970", "timestamp": "0"}
    captures = pipeline_copy.workspace_dir / "captures"
    (captures / "whatsapp_cloud" / "receiver-2.jsonl").write_text(json.dumps(payload) + "\n")
    warehouse = WarehouseResource(data_dir=str(pipeline_copy.data_dir))
    with warehouse.connect() as con:
        load_captures(con, captures)

    result = new_whatsapp_cloud_valid(dg.build_asset_check_context(), warehouse=warehouse)

    assert result.passed, result.description
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "select record_id, location, rule from raw.quarantined_records"
        ).fetchall()
        stored = con.execute(
            "select count(*) from raw.whatsapp_cloud__statuses "
            "where _record_id like 'wamid.wabi-test-1970|%'"
        ).fetchone()[0]
    assert rows == [
        (
            "wamid.wabi-test-1970|sent|0",
            "whatsapp_cloud/receiver-2.jsonl:1",
            "timestamp: before 2009-01-01",
        )
    ]
    assert stored == 0


def test_a_record_that_breaks_a_dbt_test_stops_publishing(pipeline_copy):
    _append_messages(pipeline_copy.workspace_dir, sender={"source": "carrier_pigeon"})
    published_before = pipeline_copy.analytics_path.read_bytes()

    with pytest.raises(RefreshFailed, match="wabi_dbt_models"):
        refresh_from(pipeline_copy.workspace_dir, pipeline_copy.data_dir)

    assert pipeline_copy.analytics_path.read_bytes() == published_before
    assert not _fct_messages_has(pipeline_copy.data_dir, "respondio:999000001")


def test_marts_gate_passes_on_the_built_marts(pipeline_copy):
    result = messages_daily_consistent(
        dg.build_asset_check_context(),
        warehouse=WarehouseResource(data_dir=str(pipeline_copy.data_dir)),
    )
    assert result.passed, result.description


@pytest.mark.parametrize(
    ("tampering", "named_in_failure"),
    [
        ("update marts.rpt_messages_daily set read = delivered + 1 where sent > 0", "read"),
        ("delete from marts.rpt_messages_daily where received > 0", "raw_messages"),
    ],
    ids=["read_exceeds_delivered", "messages_missing_from_marts"],
)
def test_marts_gate_fails_on_inconsistent_marts(pipeline_copy, tampering, named_in_failure):
    with duckdb.connect(str(pipeline_copy.warehouse_path)) as con:
        con.execute(tampering)

    result = messages_daily_consistent(
        dg.build_asset_check_context(),
        warehouse=WarehouseResource(data_dir=str(pipeline_copy.data_dir)),
    )

    assert not result.passed
    assert named_in_failure in result.description


def _status_payload(wamid: str, status: str, epoch: int) -> dict:
    fixture = (
        Path(__file__).parents[1] / "fixtures" / "whatsapp_cloud" / "status_sent_pmp_marketing.json"
    )
    payload = json.loads(fixture.read_text())
    payload["entry"][0]["changes"][0]["value"]["statuses"][0] |= {
        "id": wamid,
        "status": status,
        "timestamp": str(epoch),
    }
    return payload


@pytest.mark.parametrize(("read_after_sent", "passes"), [(60, True), (-60, False)])
def test_statuses_out_of_their_order_fail_the_whatsapp_cloud_gate(
    pipeline_copy, read_after_sent, passes
):
    """`read` a minute after `sent` passes; a minute before, which no phone can do, fails. The
    two statuses arrive in separate captures, as Meta sends them."""
    sent_at = 1_773_900_000  # within the shared workspace's days
    captures = pipeline_copy.workspace_dir / "captures" / "whatsapp_cloud"
    warehouse = WarehouseResource(data_dir=str(pipeline_copy.data_dir))
    for name, status, epoch in [
        ("receiver-2.jsonl", "sent", sent_at),
        ("receiver-3.jsonl", "read", sent_at + read_after_sent),
    ]:
        (captures / name).write_text(json.dumps(_status_payload("wamid.order", status, epoch)))
        with warehouse.connect() as con:
            load_captures(con, captures.parent)
        result = new_whatsapp_cloud_valid(dg.build_asset_check_context(), warehouse=warehouse)

    assert result.passed is passes, result.description
    if not passes:
        assert "whatsapp_cloud_new_status_order" in result.description
        assert "read_epoch" in result.description


def test_a_respondio_message_delivered_before_it_was_sent_fails_the_raw_gate(pipeline_copy):
    warehouse = WarehouseResource(data_dir=str(pipeline_copy.data_dir))
    with warehouse.connect(read_only=True) as con:
        (record,) = con.execute(
            "select record from raw.respondio__messages "
            "where json_extract_string(record, '$.traffic') = 'outgoing' limit 1"
        ).fetchone()
    message = json.loads(record) | {"messageId": 999_000_002}
    sent_at = message["timestamp"]
    message["status"] = [
        {"value": "sent", "timestamp": sent_at},
        {"value": "delivered", "timestamp": sent_at - 30},
    ]
    with warehouse.connect() as con:
        loader = RawLoader(con, respondio.MESSAGES)
        loader.add([message], "test://out-of-order")
        loader.commit()

    result = new_messages_valid(dg.build_asset_check_context(), warehouse=warehouse)

    assert not result.passed
    assert "respondio_new_status_order" in result.description
    assert "delivered_epoch" in result.description
