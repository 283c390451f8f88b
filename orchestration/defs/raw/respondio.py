"""Raw assets of the respond.io source and the gates on each new batch."""

import time

import dagster as dg

from extract.load import RawLoader, RawTable, mark_batches_validated, unvalidated_batch_ids
from orchestration.defs.gates import check_result, epoch_bounds, validate_frame
from orchestration.defs.resources import RespondioApiResource, WarehouseResource

RESPONDIO_CONTACTS = RawTable(source="respondio", entity="contacts", key_field="id")
RESPONDIO_MESSAGES = RawTable(source="respondio", entity="messages", key_field="messageId")
GROUP = "raw_respondio"
OWNERS = ["team:data-platform"]
MESSAGE_STATUSES = ["pending", "sent", "delivered", "read", "failed"]


@dg.asset(
    key=["raw", RESPONDIO_CONTACTS.name],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "duckdb"},
    description="respond.io contacts (`POST /contact/list`), one row per contact id, JSON as sent.",
)
def respondio__contacts(
    warehouse: WarehouseResource, respondio_api: RespondioApiResource
) -> dg.MaterializeResult:
    with respondio_api.client() as client, warehouse.connect() as con:
        loader = RawLoader(con, RESPONDIO_CONTACTS)
        for page in client.contacts():
            loader.add(page.items, page.url)
        result = loader.commit()
        requests = dict(client.session.stats)
    return dg.MaterializeResult(metadata=result.as_metadata() | {"http": requests})


@dg.asset(
    key=["raw", RESPONDIO_MESSAGES.name],
    deps=[respondio__contacts],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "duckdb"},
    description=(
        "respond.io messages of every contact (`GET /contact/{identifier}/message/list`), one row "
        "per messageId, JSON as sent, outgoing ones with their status history."
    ),
)
def respondio__messages(
    warehouse: WarehouseResource, respondio_api: RespondioApiResource
) -> dg.MaterializeResult:
    with respondio_api.client() as client, warehouse.connect() as con:
        contact_ids = [
            row[0]
            for row in con.execute(
                f"select _record_id from {RESPONDIO_CONTACTS.qualified} order by _record_id"
            ).fetchall()
        ]
        loader = RawLoader(con, RESPONDIO_MESSAGES)
        for page in client.messages_of_contacts(contact_ids):
            loader.add(page.items, page.url)
        result = loader.commit()
        requests = dict(client.session.stats)
    return dg.MaterializeResult(
        metadata=result.as_metadata()
        | {
            "contacts_walked": len(contact_ids),
            "contacts_gone": len(client.contacts_gone),
            "http": requests,
        }
    )


NEW_MESSAGES_SQL = f"""
    select
        _record_id as message_id,
        json_extract_string(record, '$.traffic') as traffic,
        json_extract_string(record, '$.contactId') as contact_id,
        json_extract_string(record, '$.channelId') as channel_id,
        try_cast(json_extract_string(record, '$.timestamp') as bigint) as created_epoch
    from {RESPONDIO_MESSAGES.qualified}
    where list_contains($batch_ids, _batch_id)
"""
NEW_STATUSES_SQL = f"""
    select
        _record_id as message_id,
        json_extract_string(status_entry, '$.value') as status,
        try_cast(json_extract_string(status_entry, '$.timestamp') as bigint) as status_epoch
    from {RESPONDIO_MESSAGES.qualified}
    cross join unnest(json_extract(record, '$.status[*]')) as entries(status_entry)
    where list_contains($batch_ids, _batch_id)
"""


@dg.asset_check(
    asset=respondio__messages,
    name="new_messages_valid",
    blocking=True,
    description=(
        "Great Expectations on every batch not yet validated (normally the one just loaded; a "
        "batch that failed keeps failing until corrected): ids present and unique, traffic and "
        "status values within the contract, every timestamp after 2009-01-01 and at most a day "
        "ahead. Batches that pass are marked validated."
    ),
)
def new_messages_valid(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    import great_expectations.expectations as gxe

    with warehouse.connect() as con:
        batch_ids = unvalidated_batch_ids(con, RESPONDIO_MESSAGES)
        messages = con.execute(NEW_MESSAGES_SQL, {"batch_ids": batch_ids}).df()
        statuses = con.execute(NEW_STATUSES_SQL, {"batch_ids": batch_ids}).df()
    bounds = epoch_bounds(time.time())
    outcomes = [
        validate_frame(
            "respondio_new_messages",
            messages,
            [
                gxe.ExpectColumnValuesToNotBeNull(column="message_id"),
                gxe.ExpectColumnValuesToBeUnique(column="message_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="contact_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="channel_id"),
                gxe.ExpectColumnValuesToBeInSet(
                    column="traffic", value_set=["incoming", "outgoing"]
                ),
                gxe.ExpectColumnValuesToNotBeNull(column="traffic"),
                gxe.ExpectColumnValuesToNotBeNull(column="created_epoch"),
                gxe.ExpectColumnValuesToBeBetween(column="created_epoch", **bounds),
            ],
        ),
        validate_frame(
            "respondio_new_message_statuses",
            statuses,
            [
                gxe.ExpectColumnValuesToBeInSet(column="status", value_set=MESSAGE_STATUSES),
                gxe.ExpectColumnValuesToNotBeNull(column="status"),
                gxe.ExpectColumnValuesToNotBeNull(column="status_epoch"),
                gxe.ExpectColumnValuesToBeBetween(column="status_epoch", **bounds),
            ],
        ),
    ]
    result = check_result(outcomes, {"batches_validated": len(batch_ids)})
    if result.passed:
        with warehouse.connect() as con:
            mark_batches_validated(con, batch_ids)
    return result
