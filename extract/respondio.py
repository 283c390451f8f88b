"""respond.io Developer API v2 (`shared/spec/RESPONDIO.md`): workspace users and channels,
contacts, and each contact's messages, walked with cursor pagination."""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from extract.http import BearerSession, SourceRequestError
from extract.load import RAW_SCHEMA, RawTable, utc_now

log = logging.getLogger("wabi.extract.respondio")

SOURCE = "respondio"
USERS = RawTable(SOURCE, "users", key_field="id")
CHANNELS = RawTable(SOURCE, "channels", key_field="id")
CLOSING_NOTES = RawTable(SOURCE, "closing_notes", key_field="category")
CONTACTS = RawTable(SOURCE, "contacts", key_field="id")
MESSAGES = RawTable(SOURCE, "messages", key_field="messageId")
API_TABLES = (USERS, CHANNELS, CLOSING_NOTES, CONTACTS, MESSAGES)
PAGE_LIMIT = 100  # the API's maximum
ALL_CONTACTS_QUERY = {"search": "", "timezone": "UTC", "filter": {"$or": []}}
# Sized for respond.io: 100 000 pages of 100 are ten million contacts in a workspace, or messages
# of one contact, beyond any real one; a walk that goes further is a cursor that never ends.
MAX_PAGES = 100_000
# Pages in a row that name a next page yet bring nothing new: one can be a list shifting under
# its cursor, three in a row is a cursor going round.
STALL_PAGES = 3


@dataclass(frozen=True)
class Page:
    url: str
    items: list[Any]


def _identity(item: Any, key: str) -> Hashable:
    """What tells a record from another in one walk: its key, else all of it."""
    value = item.get(key) if isinstance(item, dict) else None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    return json.dumps(item, sort_keys=True, default=str)


class RespondioClient:
    def __init__(
        self,
        session: BearerSession,
        *,
        concurrency: int = 4,
        max_pages: int = MAX_PAGES,
        stall_pages: int = STALL_PAGES,
    ) -> None:
        self.session = session
        self.concurrency = concurrency
        self.max_pages = max_pages
        self.stall_pages = stall_pages
        # Contacts whose message list answered 404: deleted since they were listed.
        self.contacts_gone: list[str] = []

    def pages(
        self, method: str, path: str, key: str, body: dict[str, Any] | None = None
    ) -> Iterator[Page]:
        """Every page of a list endpoint, following `pagination.next` until it is empty.

        A cursor that never ends stops the walk: a `next` already followed, `stall_pages` pages
        in a row that each name a `next` but bring no record not already read in this walk
        (records are known by `key`), or more than `max_pages` pages."""
        url = self.session.url(f"{path}?limit={PAGE_LIMIT}")
        followed: set[str] = set()
        read: set[Hashable] = set()
        stalled = 0
        while url:
            if url in followed:
                raise SourceRequestError(f"pagination of {path} loops back to a page already read")
            if len(followed) == self.max_pages:
                raise SourceRequestError(
                    f"pagination of {path} goes on past {self.max_pages} pages: "
                    "the cursor never ends"
                )
            self.session.require_same_origin(url, f"pagination of {path}: the next link")
            followed.add(url)
            payload = self.session.request_json(method, url, json=body)
            items = payload.get("items") if isinstance(payload, dict) else None
            if not isinstance(items, list):
                raise SourceRequestError(f"{path} answered without an items list")
            pagination = payload.get("pagination") or {}
            next_url = pagination.get("next") if isinstance(pagination, dict) else None
            if not isinstance(next_url, str | None):
                raise SourceRequestError(f"{path} answered a next link that is not a string")
            yield Page(url=url, items=items)
            identities = {_identity(item, key) for item in items}
            stalled = stalled + 1 if next_url and identities <= read else 0
            if stalled == self.stall_pages:
                raise SourceRequestError(
                    f"pagination of {path}: {stalled} pages in a row name a next page but bring "
                    "no record not already read in this walk: the cursor never ends"
                )
            read |= identities
            url = next_url or ""

    def users(self) -> Iterator[Page]:
        return self.pages("GET", "/space/user", USERS.key_field)

    def channels(self) -> Iterator[Page]:
        return self.pages("GET", "/space/channel", CHANNELS.key_field)

    def closing_notes(self) -> Iterator[Page]:
        return self.pages("GET", "/space/closing_notes", CLOSING_NOTES.key_field)

    def contacts(self) -> Iterator[Page]:
        return self.pages("POST", "/contact/list", CONTACTS.key_field, ALL_CONTACTS_QUERY)

    def contact_messages(self, contact_id: str) -> list[Page]:
        """The contact's message pages; none for a contact deleted since it was listed (the
        messages already loaded stay in the warehouse)."""
        try:
            return list(
                self.pages("GET", f"/contact/id:{contact_id}/message/list", MESSAGES.key_field)
            )
        except SourceRequestError as error:
            if error.status_code != 404:
                raise
            log.info("contact %s is gone (404); its stored messages are kept", contact_id)
            self.contacts_gone.append(contact_id)
            return []

    def messages_of_contacts(self, contact_ids: Iterable[str]) -> Iterator[Page]:
        """Each contact's message pages, fetched `concurrency` contacts at a time."""
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="respondio") as pool:
            for pages in pool.map(self.contact_messages, contact_ids):
                yield from pages


# -- which contacts' messages to fetch ---------------------------------------------------------
# The message list has no time filter, so a run fetches the messages of the contacts whose
# activity moved since the last walk; a full walk every `FULL_WALK_EVERY` catches what no signal
# showed (for example a broadcast to a contact with no open conversation, when the deployment
# does not capture respond.io's message events).
STATE_TABLE = f"{RAW_SCHEMA}._extract_state"
FULL_WALK_EVERY = timedelta(days=7)
# Events arrive late and out of order: contacts named by events this long before the watermark
# are walked again.
EVENT_LOOKBACK = timedelta(hours=48)


@dataclass(frozen=True)
class MessageWalk:
    """The contacts one run walks, why, and the state to store once its batch is committed."""

    contact_ids: list[str]
    full: bool
    reason: str
    started_at: datetime
    events_watermark: int | None  # the newest respond.io event time seen when planned
    reload: bool = False  # a reload of given days: its state is never recorded

    def as_metadata(self) -> dict[str, Any]:
        return {
            "walk": "reload" if self.reload else "full" if self.full else "incremental",
            "walk_reason": self.reason,
            "contacts_walked": len(self.contact_ids),
            "events_watermark": self.events_watermark,
        }


def ensure_state_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        create table if not exists {STATE_TABLE} (
            source varchar not null,
            name varchar not null,
            value varchar not null,
            updated_at timestamp not null,
            primary key (source, name)
        )""")


def _state(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        f"select name, value from {STATE_TABLE} where source = ?", [SOURCE]
    ).fetchall()
    return dict(rows)


def plan_message_walk(
    con: duckdb.DuckDBPyConnection,
    events_table: str,
    *,
    full_walk_every: timedelta = FULL_WALK_EVERY,
    now: datetime | None = None,
) -> MessageWalk:
    """Every listed contact on the first run, after `full_walk_every`, or when asked (a zero
    interval); otherwise the contacts added or changed in the contact list since the last walk,
    those with an open conversation, and those named by a respond.io event newer than the last
    walk's watermark (less `EVENT_LOOKBACK`)."""
    ensure_state_table(con)
    now = now or utc_now()
    state = _state(con)
    watermark = con.execute(
        f"select max(try_cast(json_extract_string(record, '$.timestamp') as bigint)) "
        f"from {events_table}"
    ).fetchone()[0]
    listed = f"select _record_id from {CONTACTS.qualified}"
    last_full = state.get("last_full_walk_at")
    if last_full is None or now - datetime.fromisoformat(last_full) >= full_walk_every:
        reason = "first walk" if last_full is None else f"last full walk at {last_full}"
        ids = [row[0] for row in con.execute(f"{listed} order by _record_id").fetchall()]
        return MessageWalk(ids, True, reason, now, watermark)
    since_events = int(state.get("events_watermark", 0)) - int(EVENT_LOOKBACK.total_seconds())
    rows = con.execute(
        f"""
        {listed} where _loaded_at > $last_walk
        union
        {listed} where json_extract_string(record, '$.status') = 'open'
        union
        select json_extract_string(record, '$.contact.id') from {events_table}
        where try_cast(json_extract_string(record, '$.timestamp') as bigint) > $since_events
            and json_extract_string(record, '$.contact.id') in ({listed})
        order by 1""",
        {"last_walk": datetime.fromisoformat(state["last_walk_at"]), "since_events": since_events},
    ).fetchall()
    reason = f"moved since {state['last_walk_at']}"
    return MessageWalk([row[0] for row in rows], False, reason, now, watermark)


def plan_reload_walk(con: duckdb.DuckDBPyConnection, since: int, until: int) -> MessageWalk:
    """The walk reloading the messages created in `[since, until)` (epoch seconds): every listed
    contact created before `until`, since the message list has no time filter."""
    rows = con.execute(
        f"""select _record_id from {CONTACTS.qualified}
        where coalesce(try_cast(json_extract_string(record, '$.created_at') as bigint), 0) < ?
        order by _record_id""",
        [until],
    ).fetchall()
    reason = f"reload of the messages created in [{since}, {until})"
    return MessageWalk([row[0] for row in rows], False, reason, utc_now(), None, reload=True)


def created_within(messages: list[Any], since: int, until: int) -> list[Any]:
    """The messages created in `[since, until)`, and those without a usable creation time, which
    load as in any run so that the gates see them."""
    return [
        message
        for message in messages
        if not isinstance(message, dict)
        or not isinstance(created := message.get("timestamp"), int | float)
        or since <= created < until
    ]


def record_message_walk(con: duckdb.DuckDBPyConnection, walk: MessageWalk) -> None:
    """Store the walk's state; called only after its batch is committed, so a run that dies
    before leaves the previous state and the next run walks the same contacts again. A reload
    stores nothing: the incremental walk's watermarks are not its to move."""
    if walk.reload:
        return
    values = {"last_walk_at": walk.started_at.isoformat()}
    if walk.full:
        values["last_full_walk_at"] = walk.started_at.isoformat()
    if walk.events_watermark is not None:
        values["events_watermark"] = str(walk.events_watermark)
    con.executemany(
        f"insert or replace into {STATE_TABLE} values (?, ?, ?, ?)",
        [(SOURCE, name, value, utc_now()) for name, value in values.items()],
    )
