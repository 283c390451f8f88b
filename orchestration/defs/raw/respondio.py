"""Raw assets of the respond.io source and the gates on each new batch."""

from collections.abc import Callable, Iterator

import dagster as dg

from extract import respondio
from extract.captures import RESPONDIO_EVENTS, ensure_capture_tables
from extract.load import RawLoader, RawTable
from extract.respondio import Page, RespondioClient
from orchestration.defs.gates import (
    FIRST_STATUS_TIMES,
    BatchSuite,
    batch_suites,
    gate_new_batches,
    status_order_expectations,
)
from orchestration.defs.partitions import MESSAGE_DAYS, ONE_RUN_PER_BACKFILL, days_to_reload
from orchestration.defs.resources import RespondioApiResource, WarehouseResource
from orchestration.settings import max_quarantine_share

GROUP = "raw_respondio"
OWNERS = ["team:data-platform"]


def _space_list_asset(
    table: RawTable, pages: Callable[[RespondioClient], Iterator[Page]], description: str
) -> dg.AssetsDefinition:
    """A raw asset holding one of the workspace's small lists, reloaded whole every run (the
    upsert leaves unchanged records alone)."""

    @dg.asset(
        key=["raw", table.name],
        group_name=GROUP,
        owners=OWNERS,
        kinds={"python", "duckdb"},
        description=description,
    )
    def _space_list(
        warehouse: WarehouseResource, respondio_api: RespondioApiResource
    ) -> dg.MaterializeResult:
        with respondio_api.client() as client, warehouse.connect() as con:
            loader = RawLoader(con, table)
            for page in pages(client):
                loader.add(page.items, page.url)
            result = loader.commit()
        return dg.MaterializeResult(metadata=result.as_metadata())

    return _space_list


respondio__users = _space_list_asset(
    respondio.USERS,
    RespondioClient.users,
    "respond.io users (`GET /space/user`): agents, managers and owners with their team.",
)
respondio__channels = _space_list_asset(
    respondio.CHANNELS,
    RespondioClient.channels,
    "respond.io channels (`GET /space/channel`): one row per channel id, with its `source`.",
)
respondio__closing_notes = _space_list_asset(
    respondio.CLOSING_NOTES,
    RespondioClient.closing_notes,
    "respond.io closing-note categories (`GET /space/closing_notes`), keyed by category.",
)


@dg.asset(
    key=["raw", respondio.CONTACTS.name],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "duckdb"},
    description="respond.io contacts (`POST /contact/list`), one row per contact id, JSON as sent.",
)
def respondio__contacts(
    warehouse: WarehouseResource, respondio_api: RespondioApiResource
) -> dg.MaterializeResult:
    with respondio_api.client() as client, warehouse.connect() as con:
        loader = RawLoader(con, respondio.CONTACTS)
        for page in client.contacts():
            loader.add(page.items, page.url)
        result = loader.commit()
        requests = dict(client.session.stats)
    return dg.MaterializeResult(metadata=result.as_metadata() | {"http": requests})


@dg.asset(
    key=["raw", respondio.MESSAGES.name],
    deps=[respondio__contacts, dg.AssetKey(["raw", RESPONDIO_EVENTS.name])],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "duckdb"},
    partitions_def=MESSAGE_DAYS,
    backfill_policy=ONE_RUN_PER_BACKFILL,
    description=(
        "respond.io messages (`GET /contact/{identifier}/message/list`), one row per messageId, "
        "JSON as sent, outgoing ones with their status history. A run of no partition walks "
        "the contacts whose activity moved (changed in the contact list, an open conversation, "
        "or named by a captured event) and every contact once a week; a run of days (UTC) "
        "walks every contact created by then and reloads the messages created in those days."
    ),
)
def respondio__messages(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    respondio_api: RespondioApiResource,
) -> dg.MaterializeResult:
    days = days_to_reload(context)
    with respondio_api.client() as client, warehouse.connect() as con:
        ensure_capture_tables(con)  # the walk reads captured events when there are any
        if days is None:
            walk = respondio.plan_message_walk(con, RESPONDIO_EVENTS.qualified)
        else:
            walk = respondio.plan_reload_walk(con, *days.epochs)
        loader = RawLoader(con, respondio.MESSAGES)
        for page in client.messages_of_contacts(walk.contact_ids):
            items = (
                page.items if days is None else respondio.created_within(page.items, *days.epochs)
            )
            loader.add(items, page.url)
        result = loader.commit()
        respondio.record_message_walk(con, walk)
        requests = dict(client.session.stats)
    return dg.MaterializeResult(
        metadata=result.as_metadata()
        | walk.as_metadata()
        | (days.as_metadata() if days else {})
        | {"contacts_gone": len(client.contacts_gone), "http": requests}
    )


NEW_STATUSES_SQL = f"""
    select
        _record_id as message_id,
        json_extract_string(status_entry, '$.value') as status,
        try_cast(json_extract_string(status_entry, '$.timestamp') as bigint) as status_epoch
    from {respondio.MESSAGES.qualified}
    cross join unnest(json_extract(record, '$.status[*]')) as entries(status_entry)
    where list_contains($batch_ids, _batch_id)
"""

# A respond.io message carries its whole status history, so the batch holds all of it.
NEW_STATUS_ORDER_SQL = FIRST_STATUS_TIMES.format(statuses=NEW_STATUSES_SQL)


def new_message_suites(max_share: float) -> list[BatchSuite]:
    """The suites of `new_messages_valid`: the records kept out at most `max_share` of a batch's,
    no required field gone, and each message's statuses in order. (A message id is unique by
    construction: the loader keeps one row per key.)"""
    return [
        *batch_suites(respondio.MESSAGES, max_share),
        BatchSuite(
            "respondio_new_status_order",
            respondio.MESSAGES,
            NEW_STATUS_ORDER_SQL,
            status_order_expectations,
            chunk_key="message_id",
        ),
    ]


@dg.asset_check(
    asset=respondio__messages,
    name="new_messages_valid",
    blocking=True,
    description=(
        "Great Expectations on every batch not yet validated (normally the one just loaded): "
        "the records kept out (quarantined for breaking a value rule, or "
        "rejected) at most WABI_MAX_QUARANTINE_SHARE of the new records (at least one allowed); "
        "no required field absent from every new record (schema drift); statuses in order "
        "(sent, then delivered, then read). A failed batch keeps failing until a later walk "
        "brings records that pass. Batches that pass are marked validated."
    ),
)
def new_messages_valid(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return gate_new_batches(
        context,
        (dg.AssetKey(["raw", respondio.MESSAGES.name]), "new_messages_valid"),
        warehouse.connect,
        new_message_suites(max_quarantine_share()),
    )
