"""The raw loader on a real DuckDB file: exactly once, changes replace, rejects keep the text."""

import duckdb
import pytest

from extract.load import RawLoader, RawTable, mark_batches_validated, unvalidated_batch_ids

# A table no value rule applies to (`extract.rules`): these tests are about the loader alone.
MESSAGES = RawTable(source="respondio", entity="loader_test_messages", key_field="messageId")


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


def _load(con, records, location="page-1"):
    loader = RawLoader(con, MESSAGES)
    loader.add(records, location)
    return loader.commit()


def _stored(con):
    return dict(
        con.execute(
            "select _record_id, record::varchar from raw.respondio__loader_test_messages"
        ).fetchall()
    )


def test_a_rerun_of_the_same_records_loads_nothing(con):
    records = [{"messageId": 1, "traffic": "incoming"}, {"messageId": 2, "traffic": "outgoing"}]
    first = _load(con, records)
    second = _load(con, list(reversed(records)))

    assert (first.inserted, first.updated) == (2, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    assert len(_stored(con)) == 2


def test_the_same_record_with_keys_in_another_order_is_unchanged(con):
    _load(con, [{"messageId": 1, "traffic": "incoming", "timestamp": 5}])
    again = _load(con, [{"timestamp": 5, "traffic": "incoming", "messageId": 1}])
    assert again.unchanged == 1


def test_a_changed_record_replaces_the_stored_version(con):
    _load(con, [{"messageId": 7, "status": [{"value": "sent", "timestamp": 1}]}])
    changed = _load(
        con,
        [
            {
                "messageId": 7,
                "status": [{"value": "sent", "timestamp": 1}, {"value": "read", "timestamp": 9}],
            }
        ],
    )
    assert (changed.inserted, changed.updated) == (0, 1)
    assert '"read"' in _stored(con)["7"]
    assert (
        con.execute("select _batch_id from raw.respondio__loader_test_messages").fetchone()[0]
        == changed.batch_id
    )


def test_a_record_repeated_across_pages_is_stored_once_in_its_latest_form(con):
    result = _load(con, [{"messageId": 3, "v": 1}, {"messageId": 3, "v": 2}])
    assert result.inserted == 1
    assert _stored(con)["3"] == '{"messageId":3,"v":2}'


def test_unkeyable_records_are_rejected_with_reason_and_the_rest_loads(con):
    records = [
        {"messageId": 1},
        "not an object",
        {"traffic": "incoming"},
        {"messageId": ""},
        {"messageId": True},
        {"messageId": "abc"},
    ]
    result = _load(con, records, location="http://127.0.0.1/v2/contact/id:1/message/list")

    assert (result.inserted, result.rejected) == (2, 4)
    assert result.rejection_reasons == {
        "not a JSON object (str)": 1,
        "missing or invalid messageId": 3,
    }
    rejects = con.execute(
        "select source, location, reason, raw_text, batch_id from raw.rejected_records"
    ).fetchall()
    assert len(rejects) == 4
    assert {r[0] for r in rejects} == {"respondio"}
    assert {r[1] for r in rejects} == {"http://127.0.0.1/v2/contact/id:1/message/list"}
    assert '"not an object"' in {r[3] for r in rejects}
    assert {r[4] for r in rejects} == {result.batch_id}


def test_every_batch_is_logged_until_a_gate_validates_it(con):
    first = _load(con, [{"messageId": 1}])
    second = _load(con, [{"messageId": 2}])
    rows = con.execute(
        "select batch_id, fetched, inserted from raw._batches order by finished_at"
    ).fetchall()
    assert rows == [(first.batch_id, 1, 1), (second.batch_id, 1, 1)]
    assert unvalidated_batch_ids(con, MESSAGES) == [first.batch_id, second.batch_id]
    mark_batches_validated(con, [first.batch_id])
    assert unvalidated_batch_ids(con, MESSAGES) == [second.batch_id]
