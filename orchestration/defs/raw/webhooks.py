"""Raw assets of the webhook captures under `WABI_WEBHOOK_DIR`: Meta's WhatsApp Cloud payloads
and respond.io's events, loaded together because one directory walk reads both."""

from collections.abc import Iterator

import dagster as dg

from extract import whatsapp_cloud
from extract.captures import RESPONDIO_EVENTS, files_holding, load_captures
from orchestration.defs.gates import (
    FIRST_STATUS_TIMES,
    BatchSuite,
    batch_suites,
    gate_new_batches,
    status_order_expectations,
)
from orchestration.defs.partitions import MESSAGE_DAYS, ONE_RUN_PER_BACKFILL, days_to_reload
from orchestration.defs.resources import WarehouseResource, WebhookCapturesResource
from orchestration.settings import max_quarantine_share

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
    events of those days. Malformed lines go to `raw.rejected_records`, records that break a
    value rule to `raw.quarantined_records`, and the rest loads."""
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

# The tables the webhook captures fill whose records a gate judges (the payloads are kept whole).
GATED_TABLES = (*whatsapp_cloud.ELEMENT_TABLES, RESPONDIO_EVENTS)


@dg.asset_check(
    asset=dg.AssetKey(["raw", whatsapp_cloud.STATUSES.name]),
    name="new_whatsapp_cloud_valid",
    blocking=True,
    additional_deps=[
        dg.AssetKey(["raw", table.name])
        for table in GATED_TABLES
        if table != whatsapp_cloud.STATUSES
    ],
    description=(
        "Great Expectations on the WhatsApp Cloud and respond.io event batches not yet "
        "validated, per table: the records kept out (quarantined for breaking a value rule, or "
        "rejected) at most WABI_MAX_QUARANTINE_SHARE of the new records (at least one allowed); "
        "no required field absent from every new record (schema drift); each message's statuses "
        "in order (sent, then delivered, then read). A failed batch keeps failing until the "
        "captures bring records again."
    ),
)
def new_whatsapp_cloud_valid(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    share = max_quarantine_share()
    return gate_new_batches(
        context,
        (dg.AssetKey(["raw", whatsapp_cloud.STATUSES.name]), "new_whatsapp_cloud_valid"),
        warehouse.connect,
        [
            *(suite for table in GATED_TABLES for suite in batch_suites(table, share)),
            BatchSuite(
                "whatsapp_cloud_new_status_order",
                whatsapp_cloud.STATUSES,
                NEW_META_STATUS_ORDER_SQL,
                status_order_expectations,
                chunk_key="message_id",
            ),
        ],
    )
