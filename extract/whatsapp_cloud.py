"""WhatsApp Cloud API webhook payloads in the raw layer: stored whole, unpacked by DuckDB.

Every Meta payload (SOURCES.md §1) is stored untouched in `raw.whatsapp_cloud__payloads`, keyed by
the md5 of its canonical JSON (sorted keys, compact), so a payload Meta delivered twice is one row;
payloads of every `field` (account_update, template status, ...) are kept.

The elements staging needs are unpacked in SQL from the payloads of each batch (`unnest` over
`entry[].changes[].value.<kind>[]`), one table per kind, whatever the change's `field`:

| table                          | one row per                | `_record_id`                      |
|--------------------------------|----------------------------|-----------------------------------|
| `raw.whatsapp_cloud__messages` | `messages[]` element       | the wamid `id`                    |
| `raw.whatsapp_cloud__statuses` | `statuses[]` element       | `id|status|timestamp`             |
| `raw.whatsapp_cloud__contacts` | `contacts[]` element       | `wa_id`                           |
| `raw.whatsapp_cloud__errors`   | value-level `errors[]`     | `<payload id>|<e>|<c>|<i>`        |

(`e`, `c`, `i`: 0-based positions of the entry, the change and the error.) A status's history is
several rows, one per status value and time; a status's `conversation`, `pricing` and `errors` stay
inside its record for staging to unpack. `record` is the element as DuckDB serialises it: the same
keys in the same order, whitespace dropped, numbers in shortest form (`1.50` becomes `1.5`); its
`_record_hash` is the md5 of that text. Each row also carries the context of its payload:
`_payload_id`, `waba_id` (`entry[].id`), `phone_number_id`, `display_phone_number` (the value's
`metadata`) and `field`. Upserts as in `extract.load`: the same element loaded again changes
nothing. A key part must be a non-empty JSON string or a number (its text as written): an element
that is not an object, or whose key part is missing, empty, null, a boolean, an object or an array,
is rejected with the reason (which part, and what it was), and its payload stays stored.

A payload whose containers are of the wrong type (an `entry[]` or `changes[]` item that is not an
object, `changes` not a list, `value` not an object, `messages`/`statuses`/`contacts`/`errors`
not a list) cannot be unpacked: `envelope_problem` names the first such place, and the capture
loader rejects the whole payload with it. Missing or null containers are empty ones. Everything
else Meta may send (unknown message `type`s, new fields, numbers where strings were expected) is
kept as it came.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from extract.load import LoadResult, RawTable, create_staging, ensure_raw_table, merge_batch

SOURCE = "whatsapp_cloud"
CONTEXT_COLUMNS = ("_payload_id", "waba_id", "phone_number_id", "display_phone_number", "field")
PAYLOADS = RawTable(SOURCE, "payloads", key_field="md5 of the canonical JSON")
MESSAGES = RawTable(SOURCE, "messages", key_field="id", context_columns=CONTEXT_COLUMNS)
STATUSES = RawTable(
    SOURCE, "statuses", key_field="id|status|timestamp", context_columns=CONTEXT_COLUMNS
)
CONTACTS = RawTable(SOURCE, "contacts", key_field="wa_id", context_columns=CONTEXT_COLUMNS)
ERRORS = RawTable(
    SOURCE,
    "errors",
    key_field="payload id|entry|change|error index",
    context_columns=CONTEXT_COLUMNS,
)
ELEMENT_TABLES = (MESSAGES, STATUSES, CONTACTS, ERRORS)
TABLES = (PAYLOADS, *ELEMENT_TABLES)


# A key part: a JSON string or number, by its text; null when missing or of another type. ''
# counts as missing: a key must identify something.
KEY_TYPES = "('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE')"
# DuckDB's JSON type names in JSON's words, for reject reasons.
JSON_TYPE_WORDS = (
    "map {'VARCHAR': 'a string', 'BIGINT': 'a number', 'UBIGINT': 'a number', "
    "'DOUBLE': 'a number', 'BOOLEAN': 'a boolean', 'NULL': 'null', 'OBJECT': 'an object', "
    "'ARRAY': 'an array'}"
)


def _field(name: str) -> str:
    return (
        f"case when json_type(element, '$.{name}') in {KEY_TYPES} "
        f"then nullif(json_extract_string(element, '$.{name}'), '') end"
    )


def _field_problem(name: str) -> str:
    """SQL: why `name` of an element object is not a key part, or null when it is one."""
    kind = f"json_type(element, '$.{name}')"
    return f"""case
        when {kind} is null then '{name} is missing'
        when {kind} not in {KEY_TYPES}
            then '{name} is ' || {JSON_TYPE_WORDS}[{kind}] || ', not a string or a number'
        when json_extract_string(element, '$.{name}') = '' then '{name} is empty'
    end"""


def _problems(*names: str) -> str:
    """SQL: the detail of the reject of an element whose key is null."""
    fields = ", ".join(_field_problem(name) for name in names)
    return f"""coalesce(
        case when json_type(element) is distinct from 'OBJECT'
            then 'the element is ' || {JSON_TYPE_WORDS}[json_type(element)] end,
        concat_ws('; ', {fields}))"""


# entity -> (SQL key over one element row, the reject reason's kind when it is null, SQL of the
# reason's detail). `||` yields null when any part is null.
ELEMENT_KEYS: dict[str, tuple[str, str, str]] = {
    "messages": (_field("id"), "messages element without id", _problems("id")),
    "statuses": (
        f"{_field('id')} || '|' || {_field('status')} || '|' || {_field('timestamp')}",
        "statuses element without id, status or timestamp",
        _problems("id", "status", "timestamp"),
    ),
    "contacts": (_field("wa_id"), "contacts element without wa_id", _problems("wa_id")),
    "errors": (
        "_payload_id || '|' || entry_index || '|' || change_index || '|' || element_index",
        "errors element without key",  # never: every part is always set
        "''",
    ),
}
ELEMENT_KINDS = ("messages", "statuses", "contacts", "errors")

# Every unnest is in a select list: a lateral one (in the `from` clause) copies the row it unnests,
# the whole payload or `value`, once per item, so a payload of many elements would take memory in
# proportion to its size times its elements. `generate_subscripts` numbers the items alike.
# One row per change of every staged payload, with the payload's context.
CHANGES_SQL = """
    create or replace temp table _cap_changes as
    with payload_entries as (
        select _record_id as _payload_id, _file, _line, _ord,
            json_extract(record, '$.entry[*]') as entries
        from {payloads}
    ),
    entries as (
        select * exclude (entries), unnest(entries) as entry,
            generate_subscripts(entries, 1) - 1 as entry_index
        from payload_entries
    ),
    entry_changes as (
        select * exclude (entry), json_extract_string(entry, '$.id') as waba_id,
            json_extract(entry, '$.changes[*]') as changes
        from entries
    ),
    changes as (
        select * exclude (changes), unnest(changes) as change,
            generate_subscripts(changes, 1) - 1 as change_index
        from entry_changes
    )
    select
        _payload_id,
        _file,
        _line,
        _ord,
        entry_index,
        change_index,
        waba_id,
        json_extract_string(change, '$.value.metadata.phone_number_id') as phone_number_id,
        json_extract_string(change, '$.value.metadata.display_phone_number')
            as display_phone_number,
        json_extract_string(change, '$.field') as field,
        json_extract(change, '$.value') as value
    from changes
"""
ELEMENTS_SQL = """
    create or replace temp table _cap_elements as
    with change_elements as (
        select * exclude (value), json_extract(value, '$.{entity}[*]') as elements
        from _cap_changes
    ),
    elements as (
        select * exclude (elements), unnest(elements) as element,
            generate_subscripts(elements, 1) - 1 as element_index
        from change_elements
    )
    select
        *,
        row_number() over (
            order by _ord, entry_index, change_index, element_index
        ) as element_ord,
        {key} as _key
    from elements
"""


def is_envelope(payload: object) -> bool:
    """Meta's webhook envelope: `object` names the WhatsApp Business Account, `entry` a list."""
    return (
        isinstance(payload, dict)
        and payload.get("object") == "whatsapp_business_account"
        and isinstance(payload.get("entry"), list)
    )


def describe(value: object) -> str:
    """A JSON value's type in words, for reject reasons: `a list`, `null`, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    words = {str: "a string", list: "a list", dict: "an object"}
    return words.get(type(value), type(value).__name__)


def envelope_problem(payload: dict) -> str | None:
    """Why a payload naming `whatsapp_business_account` cannot be unpacked, or None: the first
    container of the wrong type. A missing or null container counts as an empty one."""
    entries = payload.get("entry")
    if entries is None:
        return "entry is missing"
    if not isinstance(entries, list):
        return f"entry is {describe(entries)}, not a list"
    for e, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return f"entry[{e}] is {describe(entry)}, not an object"
        changes = entry.get("changes")
        if changes is None:
            continue
        if not isinstance(changes, list):
            return f"entry[{e}].changes is {describe(changes)}, not a list"
        for c, change in enumerate(changes):
            where = f"entry[{e}].changes[{c}]"
            if not isinstance(change, dict):
                return f"{where} is {describe(change)}, not an object"
            value = change.get("value")
            if value is None:
                continue
            if not isinstance(value, dict):
                return f"{where}.value is {describe(value)}, not an object"
            for kind in ELEMENT_KINDS:
                items = value.get(kind)
                if items is not None and not isinstance(items, list):
                    return f"{where}.value.{kind} is {describe(items)}, not a list"
    return None


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES:
        ensure_raw_table(con, table)


def merge_elements(
    con: duckdb.DuckDBPyConnection, payloads: str, started_at: datetime, loaded_at: datetime
) -> list[LoadResult]:
    """Unpack the payloads staged in the temp table `payloads` into the element tables, one
    logged batch per table that received any element. The caller owns the transaction."""
    con.execute(CHANGES_SQL.format(payloads=payloads))
    results = []
    for table in ELEMENT_TABLES:
        key, reason, detail = ELEMENT_KEYS[table.entity]
        con.execute(ELEMENTS_SQL.format(key=key, entity=table.entity))
        if not con.execute("select count(*) from _cap_elements").fetchone()[0]:
            continue  # no batch for a kind this batch of payloads does not hold
        # Few or none: fetched as Python dicts.
        rejects = [
            {"location": location, "reason": f"{reason}: {why}", "raw_text": raw_text}
            for location, why, raw_text in con.execute(
                f"""select _file || ':' || _line, {detail}, element::varchar
                from _cap_elements where _key is null order by element_ord"""
            ).fetchall()
        ]
        create_staging(con, "_cap_staged", table)
        context = ", ".join(CONTEXT_COLUMNS)
        con.execute(f"""
            insert into _cap_staged by name
            select _key as _record_id, element::varchar as record,
                md5(element::varchar) as _record_hash, _file, _line, element_ord as _ord,
                {context}
            from _cap_elements where _key is not null""")
        results.append(merge_batch(con, table, "_cap_staged", rejects, started_at, loaded_at))
    con.execute("drop table if exists _cap_changes")
    con.execute("drop table if exists _cap_elements")
    con.execute("drop table if exists _cap_staged")
    return results
