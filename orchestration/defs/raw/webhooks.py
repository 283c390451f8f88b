"""Raw assets of the webhook captures under `WABI_WEBHOOK_DIR`: Meta's WhatsApp Cloud payloads
and respond.io's events, loaded together because one directory walk reads both."""

from collections.abc import Iterator

import dagster as dg

from extract import whatsapp_cloud
from extract.captures import RESPONDIO_EVENTS, files_holding, load_captures
from orchestration.defs.gates import (
    FIRST_STATUS_TIMES,
    BatchSuite,
    gate_new_batches,
    status_order_expectations,
)
from orchestration.defs.partitions import MESSAGE_DAYS, ONE_RUN_PER_BACKFILL, days_to_reload
from orchestration.defs.resources import WarehouseResource, WebhookCapturesResource

GROUP = "raw_webhooks"
OWNERS = ["team:data-platform"]
DESCRIPTIONS = {
    whatsapp_cloud.PAYLOADS: "Every WhatsApp Cloud webhook payload as Meta sent it, once each.",
    whatsapp_cloud.MESSAGES: "Incoming WhatsApp messages (`messages[]`), one row per wamid.",
    whatsapp_cloud.STATUSES: "WhatsApp status events (`statuses[]`), one per wamid, status, time.",
    whatsapp_cloud.CONTACTS: "WhatsApp contact profiles (`contacts[]`), one row per wa_id.",
    whatsapp_cloud.ERRORS: "Errors Meta reported for a whole change (value-level `errors[]`).",
    RESPONDIO_EVENTS: "respond.io webhook events (conversations, assignments, contacts).",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["raw", table.name],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"python", "duckdb"},
            description=description,
            partitions_def=MESSAGE_DAYS,
        )
        for table, description in DESCRIPTIONS.items()
    ],
    name="webhook_captures",
    backfill_policy=ONE_RUN_PER_BACKFILL,
)
def webhook_captures(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    webhooks: WebhookCapturesResource,
) -> Iterator[dg.MaterializeResult]:
    """A run of no partition loads new and grown capture files only (a manifest tracks what was
    loaded); a run of days (UTC) reads again the loaded files holding messages, statuses or
    events of those days. Malformed lines go to `raw.rejected_records` and the rest loads."""
    days = days_to_reload(context)
    with warehouse.connect() as con:
        reload = None if days is None else files_holding(con, *days.epochs)
        report = load_captures(con, webhooks.path, reload=reload)
    tables = report.tables
    common = {key: value for key, value in report.as_metadata().items() if key not in ("tables",)}
    if days is not None:
        common |= days.as_metadata()
    for table in DESCRIPTIONS:
        yield dg.MaterializeResult(
            asset_key=["raw", table.name],
            metadata=common | tables.get(table.qualified, {"inserted": 0, "updated": 0}),
        )


NEW_META_MESSAGES_SQL = f"""
    select
        _record_id as wamid,
        json_extract_string(record, '$.type') as message_type,
        try_cast(json_extract_string(record, '$.timestamp') as bigint) as sent_epoch
    from {whatsapp_cloud.MESSAGES.qualified}
    where list_contains($batch_ids, _batch_id)
"""
NEW_META_STATUSES_SQL = f"""
    select
        json_extract_string(record, '$.id') as wamid,
        json_extract_string(record, '$.status') as status,
        try_cast(json_extract_string(record, '$.timestamp') as bigint) as status_epoch
    from {whatsapp_cloud.STATUSES.qualified}
    where list_contains($batch_ids, _batch_id)
"""
# Meta sends each status apart, so a message's order is checked over all its statuses loaded so
# far, for the messages the new batches touch.
NEW_META_STATUS_ORDER_SQL = FIRST_STATUS_TIMES.format(
    statuses=f"""
    select
        json_extract_string(record, '$.id') as message_id,
        json_extract_string(record, '$.status') as status,
        try_cast(json_extract_string(record, '$.timestamp') as bigint) as status_epoch
    from {whatsapp_cloud.STATUSES.qualified}
    where json_extract_string(record, '$.id') in (
        select json_extract_string(record, '$.id') from {whatsapp_cloud.STATUSES.qualified}
        where list_contains($batch_ids, _batch_id)
    )"""
)
# Meta's status values (SOURCES.md §1), `deleted` and `warning` included as some accounts get them.
META_STATUSES = ["sent", "delivered", "read", "failed", "deleted", "warning"]


@dg.asset_check(
    asset=dg.AssetKey(["raw", whatsapp_cloud.STATUSES.name]),
    name="new_whatsapp_cloud_valid",
    blocking=True,
    additional_deps=[dg.AssetKey(["raw", whatsapp_cloud.MESSAGES.name])],
    description=(
        "Great Expectations on every WhatsApp Cloud batch not yet validated: wamids present, "
        "status values Meta's, every timestamp after 2009-01-01 and at most a day ahead, each "
        "message's statuses in order (sent, then delivered, then read). A failing batch keeps "
        "failing until the captures are corrected."
    ),
)
def new_whatsapp_cloud_valid(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    import great_expectations.expectations as gxe

    return gate_new_batches(
        context,
        (dg.AssetKey(["raw", whatsapp_cloud.STATUSES.name]), "new_whatsapp_cloud_valid"),
        warehouse.connect,
        [
            BatchSuite(
                "whatsapp_cloud_new_messages",
                whatsapp_cloud.MESSAGES,
                NEW_META_MESSAGES_SQL,
                lambda bounds: [
                    gxe.ExpectColumnValuesToNotBeNull(column="wamid"),
                    gxe.ExpectColumnValuesToNotBeNull(column="message_type"),
                    gxe.ExpectColumnValuesToNotBeNull(column="sent_epoch"),
                    gxe.ExpectColumnValuesToBeBetween(column="sent_epoch", **bounds),
                ],
                chunk_key="wamid",
            ),
            BatchSuite(
                "whatsapp_cloud_new_statuses",
                whatsapp_cloud.STATUSES,
                NEW_META_STATUSES_SQL,
                lambda bounds: [
                    gxe.ExpectColumnValuesToNotBeNull(column="wamid"),
                    gxe.ExpectColumnValuesToNotBeNull(column="status"),
                    gxe.ExpectColumnValuesToBeInSet(column="status", value_set=META_STATUSES),
                    gxe.ExpectColumnValuesToNotBeNull(column="status_epoch"),
                    gxe.ExpectColumnValuesToBeBetween(column="status_epoch", **bounds),
                ],
                chunk_key="wamid",
            ),
            BatchSuite(
                "whatsapp_cloud_new_status_order",
                whatsapp_cloud.STATUSES,
                NEW_META_STATUS_ORDER_SQL,
                lambda bounds: status_order_expectations(),
                chunk_key="message_id",
            ),
        ],
    )
