"""The raw batch gates validate a batch in chunks and decide as if on the whole batch.

Each test loads the simulated workspace's first messages as a real raw batch into a fresh DuckDB
file and runs `gate_new_batches` with chunks of CHUNK_ROWS rows, so the batch spans several.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import great_expectations.expectations as gxe
import pytest

from extract import respondio
from extract.load import RawLoader, unvalidated_batch_ids
from extract.rules import EARLIEST_VALID_EPOCH
from orchestration.defs.gates import (
    BatchSuite,
    chunk_frames,
    gate_new_batches,
    validate_frame,
)
from orchestration.defs.raw.respondio import new_message_suites
from orchestration.defs.resources import WarehouseResource

CHUNK_ROWS = 4
BATCH_MESSAGES = 20  # five chunks of about four rows
CHECK = (dg.AssetKey(["raw", respondio.MESSAGES.name]), "new_messages_valid")
# Columns of the new messages for the expectations these tests give the chunked machinery.
MESSAGES_SQL = f"""
    select
        _record_id as message_id,
        json_extract_string(record, '$.contactId') as contact_id,
        json_extract_string(record, '$.channelMessageId') as channel_message_id,
        try_cast(json_extract_string(record, '$.timestamp') as bigint) as created_epoch
    from {respondio.MESSAGES.qualified}
    where list_contains($batch_ids, _batch_id)
"""


@pytest.fixture
def messages(tiny_workspace: Path) -> list[dict[str, Any]]:
    lines = (tiny_workspace / "api" / "messages.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:BATCH_MESSAGES]]


@pytest.fixture
def warehouse(tmp_path: Path, messages: list[dict[str, Any]]) -> WarehouseResource:
    resource = WarehouseResource(data_dir=str(tmp_path))
    _load(resource, messages)
    return resource


def _load(warehouse: WarehouseResource, records: list[dict[str, Any]]) -> None:
    with warehouse.connect() as con:
        loader = RawLoader(con, respondio.MESSAGES)
        loader.add(records, "test://messages")
        loader.commit()


def _messages_suite(expectations: list[Any], chunk_key: str = "message_id") -> BatchSuite:
    return BatchSuite(
        "respondio_new_messages",
        respondio.MESSAGES,
        MESSAGES_SQL,
        lambda: expectations,
        chunk_key=chunk_key,
    )


def _chunks(warehouse: WarehouseResource, sql: str = MESSAGES_SQL) -> list[Any]:
    """The chunks the gate validates, as `chunk_frames` cuts the new batches."""
    with warehouse.connect() as con:
        batch_ids = unvalidated_batch_ids(con, respondio.MESSAGES)
        return list(chunk_frames(con, sql, {"batch_ids": batch_ids}, "message_id", CHUNK_ROWS))


def _gate(warehouse: WarehouseResource, suites: list[BatchSuite]) -> dg.AssetCheckResult:
    return gate_new_batches(
        dg.build_asset_check_context(), CHECK, warehouse.connect, suites, chunk_rows=CHUNK_ROWS
    )


def _failures(result: dg.AssetCheckResult) -> dict[str, dict[str, Any]]:
    return {f["expectation"]: f for f in result.metadata["failures"].value}


def _with_changes(messages: list[dict[str, Any]], ids: list[str], **changes: Any) -> list[dict]:
    return [m | changes for m in messages if str(m["messageId"]) in ids]


def test_a_clean_batch_in_several_chunks_passes_every_suite_on_every_row(warehouse, messages):
    chunks = _chunks(warehouse)
    assert len(chunks) >= 3
    ids = [i for chunk in chunks for i in chunk["message_id"]]
    assert sorted(ids) == sorted(str(m["messageId"]) for m in messages)

    result = _gate(warehouse, new_message_suites(0.01))

    assert result.passed, result.description
    # the status-order suite has a row per message with a status: outgoing ones
    outgoing = sum(1 for m in messages if m["traffic"] == "outgoing")
    assert outgoing > CHUNK_ROWS
    assert result.metadata["rows_validated.respondio_new_status_order"].value == outgoing
    assert result.metadata["rows_validated.respondio__messages_quarantine_share"].value == 1
    assert result.metadata["rows_validated.respondio__messages_schema_drift"].value == 4
    assert result.metadata["batches_validated"].value == 1
    assert f"all expectations met on {outgoing} rows" in result.description
    with warehouse.connect(read_only=True) as con:
        assert unvalidated_batch_ids(con, respondio.MESSAGES) == []
        audited = con.execute("select passed from audit.check_results").fetchall()
    assert audited == [(True,)]


def test_bad_values_in_later_chunks_are_all_counted(warehouse, messages):
    """Values the loader's rules let through (the rules are not what is tested here) that an
    expectation of the test's own refuses."""
    chunks = _chunks(warehouse)
    second, last = list(chunks[1]["message_id"][:1]), list(chunks[-1]["message_id"][:2])
    _load(warehouse, _with_changes(messages, second + last, timestamp=EARLIEST_VALID_EPOCH))

    result = _gate(
        warehouse,
        [
            _messages_suite(
                [
                    gxe.ExpectColumnValuesToBeBetween(
                        column="created_epoch", min_value=EARLIEST_VALID_EPOCH + 1
                    )
                ]
            )
        ],
    )

    assert not result.passed
    failure = _failures(result)["expect_column_values_to_be_between"]
    assert failure["unexpected_count"] == 3
    assert failure["sample"] == [str(EARLIEST_VALID_EPOCH)] * 3
    assert result.metadata["rows_validated.respondio_new_messages"].value == BATCH_MESSAGES
    with warehouse.connect(read_only=True) as con:
        assert len(unvalidated_batch_ids(con, respondio.MESSAGES)) == 2


def test_a_duplicate_id_far_apart_in_the_batch_fails_uniqueness(warehouse, messages):
    """A loader defect stored one message twice, first and last: split by position, the two
    rows would be in different chunks; split by the id's hash, they share one."""
    duplicated = str(messages[0]["messageId"])
    with warehouse.connect() as con:
        con.execute(
            "insert into raw.respondio__messages "
            "select * from raw.respondio__messages where _record_id = ?",
            [duplicated],
        )
        batch_ids = unvalidated_batch_ids(con, respondio.MESSAGES)
        rows = con.execute(MESSAGES_SQL, {"batch_ids": batch_ids}).fetchall()
    in_order = [row[0] for row in rows]
    positions = [i for i, message_id in enumerate(in_order) if message_id == duplicated]
    assert len({position // CHUNK_ROWS for position in positions}) == 2

    result = _gate(
        warehouse, [_messages_suite([gxe.ExpectColumnValuesToBeUnique(column="message_id")])]
    )

    assert not result.passed
    failure = _failures(result)["expect_column_values_to_be_unique"]
    assert failure["unexpected_count"] == 2
    assert failure["sample"] == [duplicated, duplicated]


NOTE_SQL = f"""
    select _record_id as message_id, json_extract_string(record, '$.note') as note
    from {respondio.MESSAGES.qualified}
    where list_contains($batch_ids, _batch_id)
"""


def test_an_expectation_that_raises_in_one_chunk_fails_the_gate(warehouse, messages):
    """A text note compared with numbers makes GX raise, in the one chunk holding a note; the
    other chunks, all null, pass."""
    expectations = [gxe.ExpectColumnValuesToBeBetween(column="note", min_value=0, max_value=9)]
    noted = list(_chunks(warehouse)[-1]["message_id"][:1])
    _load(warehouse, _with_changes(messages, noted, note="call back"))
    chunks = _chunks(warehouse, NOTE_SQL)
    outcomes = [validate_frame("note", chunk, expectations) for chunk in chunks]
    assert [outcome.passed for outcome in outcomes].count(False) == 1

    result = _gate(
        warehouse,
        [
            BatchSuite(
                "respondio_notes",
                respondio.MESSAGES,
                NOTE_SQL,
                lambda: expectations,
                chunk_key="message_id",
            )
        ],
    )

    assert not result.passed
    assert _failures(result)["expect_column_values_to_be_between"]["error"]
    assert "note) raised" in result.description


def test_rows_of_a_null_key_are_validated_together(warehouse, messages):
    """Chunks split by the provider's message id, missing from three messages (a field no
    value rule requires): those rows share one chunk and each is counted."""
    unnamed = [str(m["messageId"]) for m in messages[5:8]]
    _load(
        warehouse,
        [
            {k: v for k, v in m.items() if k != "channelMessageId"}
            for m in messages
            if str(m["messageId"]) in unnamed
        ],
    )

    result = _gate(
        warehouse,
        [
            _messages_suite(
                [gxe.ExpectColumnValuesToNotBeNull(column="channel_message_id")],
                chunk_key="channel_message_id",
            )
        ],
    )

    assert not result.passed
    assert _failures(result)["expect_column_values_to_not_be_null"]["unexpected_count"] == 3
    assert result.metadata["rows_validated.respondio_new_messages"].value == BATCH_MESSAGES


@pytest.mark.parametrize(
    "expectation",
    [
        gxe.ExpectColumnValuesToBeUnique(column="contact_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="contact_id", mostly=0.9),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
    ],
    ids=["unique_off_the_key", "mostly", "table_level"],
)
def test_an_expectation_chunks_cannot_decide_is_refused(warehouse, expectation):
    with pytest.raises(ValueError, match="cannot be validated in chunks split by message_id"):
        _gate(warehouse, [_messages_suite([expectation])])
