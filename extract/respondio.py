"""respond.io Developer API v2 (`shared/spec/RESPONDIO.md`): workspace users and channels,
contacts, and each contact's messages, walked with cursor pagination."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from extract.http import BearerSession, SourceRequestError

log = logging.getLogger("wabi.extract.respondio")

SOURCE = "respondio"
PAGE_LIMIT = 100  # the API's maximum
ALL_CONTACTS_QUERY = {"search": "", "timezone": "UTC", "filter": {"$or": []}}


@dataclass(frozen=True)
class Page:
    url: str
    items: list[Any]


class RespondioClient:
    def __init__(self, session: BearerSession, *, concurrency: int = 4) -> None:
        self.session = session
        self.concurrency = concurrency
        # Contacts whose message list answered 404: deleted since they were listed.
        self.contacts_gone: list[str] = []

    def pages(self, method: str, path: str, body: dict[str, Any] | None = None) -> Iterator[Page]:
        """Every page of a list endpoint, following `pagination.next` until it is empty."""
        url = self.session.url(f"{path}?limit={PAGE_LIMIT}")
        seen: set[str] = set()
        while url:
            if url in seen:
                raise SourceRequestError(f"pagination of {path} loops back to a page already read")
            seen.add(url)
            payload = self.session.request_json(method, url, json=body)
            items = payload.get("items") if isinstance(payload, dict) else None
            if not isinstance(items, list):
                raise SourceRequestError(f"{path} answered without an items list")
            yield Page(url=url, items=items)
            url = (payload.get("pagination") or {}).get("next") or ""

    def users(self) -> Iterator[Page]:
        return self.pages("GET", "/space/user")

    def channels(self) -> Iterator[Page]:
        return self.pages("GET", "/space/channel")

    def contacts(self) -> Iterator[Page]:
        return self.pages("POST", "/contact/list", ALL_CONTACTS_QUERY)

    def contact_messages(self, contact_id: str) -> list[Page]:
        """The contact's message pages; none for a contact deleted since it was listed (the
        messages already loaded stay in the warehouse)."""
        try:
            return list(self.pages("GET", f"/contact/id:{contact_id}/message/list"))
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
