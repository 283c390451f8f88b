"""The value rules of the raw tables: what a record that parsed and has its key must also hold
for the models to read it. This module is the one place each rule lives.

A record that breaks a rule is quarantined (`extract.load.quarantine_staged`, which imports this
module when it runs: the tables named here are defined by loaders that import `extract.load`): it
goes to `raw.quarantined_records` with the first rule it breaks (in the order listed here) and
where it came from, and never reaches its raw table; the rest of its batch loads. Each rule is a SQL
predicate over the record's fields (`Rule`), true when the record breaks it; `$load_epoch` is the
batch's load time in epoch seconds. A rule's text is `<field>: <rule>`, `field[]` for
every item of a list.

The rules:
- a required field missing, null or empty (and so the fields whose absence from a whole batch
  is schema drift, `REQUIRED_FIELDS`);
- every epoch-seconds timestamp the staging models read, when present: a whole number (as the
  models cast it), not negative, not in milliseconds (from 1e11, past the year 5000 in seconds,
  where milliseconds since 1973 lie), not before 2009-01-01 (WhatsApp Business launched later)
  and, but for an expiry, at most a day ahead of the load;
- the enums the contract closes: Meta's status values, respond.io's `traffic` and status values.
"""

from __future__ import annotations

from dataclasses import dataclass

from extract import respondio, whatsapp_cloud
from extract.captures import RESPONDIO_EVENTS
from extract.load import RawTable

EARLIEST_VALID_EPOCH = 1_230_768_000  # 2009-01-01T00:00:00Z
FUTURE_TOLERANCE_SECONDS = 86_400
MILLISECONDS_FROM = 100_000_000_000
# Meta's status values (SOURCES.md §1), `deleted` and `warning` included as some accounts get them.
META_STATUSES = ("sent", "delivered", "read", "failed", "deleted", "warning")
# respond.io's (RESPONDIO.md §1.5).
MESSAGE_STATUSES = ("pending", "sent", "delivered", "read", "failed")
TRAFFIC = ("incoming", "outgoing")


@dataclass(frozen=True)
class Rule:
    """`breaks` reads a record's fields from columns named by their JSON paths: `"$.timestamp"`
    the field's text (`json_extract_string`) for each path of `fields`, `"$.status[*]"` the
    list's items as JSON for each path of `lists`; `extract.load` extracts them from each
    record once, for every rule of its table."""

    text: str  # '<field>: <rule>', as stored in `raw.quarantined_records.rule`
    breaks: str  # SQL true when the record breaks the rule
    fields: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()


def _path(field: str) -> str:
    return "$." + field


def _column(path: str) -> str:
    return f'"{path}"'


def _missing(value: str) -> str:
    return f"({value} is null or {value} = '')"


def is_missing(document: str, field: str) -> str:
    """SQL: `field` of the JSON `document` is missing, null or empty."""
    return _missing(f"json_extract_string({document}, '{_path(field)}')")


def _epoch_checks(value: str, *, future: bool) -> list[tuple[str, str]]:
    """(rule, SQL true when broken) of an epoch-seconds timestamp whose text is `value`."""
    seconds = f"try_cast({value} as bigint)"
    checks = [
        ("not a whole number of seconds", f"{value} is not null and {seconds} is null"),
        ("negative", f"{seconds} < 0"),
        ("in milliseconds", f"{seconds} >= {MILLISECONDS_FROM}"),
        ("before 2009-01-01", f"{seconds} between 0 and {EARLIEST_VALID_EPOCH - 1}"),
    ]
    if future:
        checks.append(
            (
                "more than a day ahead of the load",
                f"{seconds} between $load_epoch + {FUTURE_TOLERANCE_SECONDS + 1} "
                f"and {MILLISECONDS_FROM - 1}",
            )
        )
    return checks


def _enum_checks(value: str, values: tuple[str, ...]) -> list[tuple[str, str]]:
    listed = ", ".join(f"'{value}'" for value in values)
    return [(f"not one of {', '.join(values)}", f"{value} not in ({listed})")]


def _rules(field: str, checks: list[tuple[str, str]]) -> list[Rule]:
    return [
        Rule(f"{field}: {rule}", f"coalesce({sql}, false)", fields=(_path(field),))
        for rule, sql in checks
    ]


def required(*fields: str) -> list[Rule]:
    return [
        rule for field in fields for rule in _rules(field, [("missing", _missing(_value(field)))])
    ]


def _value(field: str) -> str:
    return _column(_path(field))


def epoch(field: str, *, future: bool = True) -> list[Rule]:
    return _rules(field, _epoch_checks(_value(field), future=future))


def one_of(field: str, values: tuple[str, ...]) -> list[Rule]:
    return _rules(field, _enum_checks(_value(field), values))


def _item(field: str) -> str:
    return f"json_extract_string(item, '{_path(field)}')"


def each_item(items: str, field: str, checks: list[tuple[str, str]]) -> list[Rule]:
    """Rules over `field` of every item of the list `items` (`checks` over `_item(field)`):
    broken when any item breaks it."""
    path = _path(items) + "[*]"
    return [
        Rule(
            f"{items}[].{field}: {rule}",
            f"coalesce(list_bool_or(list_transform({_column(path)}, "
            f"lambda item: coalesce({sql}, false))), false)",
            lists=(path,),
        )
        for rule, sql in checks
    ]


REQUIRED_FIELDS: dict[RawTable, tuple[str, ...]] = {
    whatsapp_cloud.MESSAGES: ("from", "type", "timestamp"),
    respondio.MESSAGES: ("contactId", "channelId", "traffic", "timestamp"),
    RESPONDIO_EVENTS: ("timestamp",),
}
RULES: dict[RawTable, list[Rule]] = {
    whatsapp_cloud.MESSAGES: [
        *required(*REQUIRED_FIELDS[whatsapp_cloud.MESSAGES]),
        *epoch("timestamp"),
    ],
    # `id`, `status` and `timestamp` are parts of the key: a status missing one is rejected.
    whatsapp_cloud.STATUSES: [
        *epoch("timestamp"),
        *one_of("status", META_STATUSES),
        # The conversation's window closes up to a day after it opened: ahead by design.
        *epoch("conversation.expiration_timestamp", future=False),
    ],
    respondio.MESSAGES: [
        *required(*REQUIRED_FIELDS[respondio.MESSAGES]),
        *one_of("traffic", TRAFFIC),
        *epoch("timestamp"),
        *each_item("status", "value", [("missing", _missing(_item("value")))]),
        *each_item("status", "value", _enum_checks(_item("value"), MESSAGE_STATUSES)),
        *each_item("status", "timestamp", [("missing", _missing(_item("timestamp")))]),
        *each_item("status", "timestamp", _epoch_checks(_item("timestamp"), future=True)),
    ],
    respondio.CONTACTS: epoch("created_at"),
    respondio.CHANNELS: epoch("created_at"),
    RESPONDIO_EVENTS: [
        *required(*REQUIRED_FIELDS[RESPONDIO_EVENTS]),
        *epoch("timestamp"),
        *epoch("conversation.openedAt"),
        *epoch("conversation.closedAt"),
        *epoch("contact.created_at"),
    ],
}


def rules_of(table: RawTable) -> list[Rule]:
    return RULES.get(table, [])
