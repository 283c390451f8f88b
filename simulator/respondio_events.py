"""respond.io webhook event captures: conversation facts the API does not serve.

respond.io's API has no conversation resource; conversations reach a business through webhook
events whose bodies are not public (RESPONDIO.md 1.7), so wabi defines one shape per event, in
the API's naming (camelCase, unix-second times, ids as numbers). Every event is one JSON line:

    {"event": <name>, "eventId": <hex>, "timestamp": <unix s>, "contact": {"id": <n>}, ...}

- `newContact`: `contact` is the full contact record (as `POST /contact/list` returns it) plus
  `source`: `incoming_message`, `user` (with `user: {id}`), `contact_import` or `developer_api`.
- `conversationOpened`: `conversation: {id, channelId, openedAt, openedBy: {source, userId?}}`,
  source one of contact, user, workflow, api.
- `contactAssigneeUpdated`: `conversation: {id}`, `assignee` and `previousAssignee` (`{id,
  firstName, lastName, email}` or null = unassigned), `assignedBy: {source, userId?}`, source one
  of user, workflow, api, system.
- `conversationClosed`: `conversation: {id, channelId, openedAt, closedAt, closedBy: {source,
  userId?}, closingNote: {category, summary} or null}`, source one of user, workflow, auto_close.
- `newComment`: `comment: {id, text, createdAt, userId}`; a mention is `{{@user.<id>}}` in the
  text, as the API writes it.
- `contactDeleted`: `deletedBy: {source, userId?}`. respond.io lists no such webhook event
  (RESPONDIO.md 1.7), yet its Contacts report counts deletions to the second, so the platform
  knows them: wabi defines this event [I] for a deployment that forwards deletions (a workflow
  or an integration). Without it, a deletion shows only as the contact missing from
  `POST /contact/list`, dated at the extraction that notices. The simulator deletes only
  contacts nobody wrote to yet (bad import rows, duplicate manual entries), so every message
  stays reachable through the API whenever it is extracted.

Files: `<workspace>/captures/respondio_events/<YYYY-MM-DD>.jsonl[.gz]` by arrival day; an event
arrives 0-2 s after it happened and about 0.5 % are delivered twice (same `eventId`), as webhooks
are.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.captures import DayBucketWriter, dumps

if TYPE_CHECKING:
    from simulator.generate import SimComment, SimConversation
    from simulator.model import Agent, Contact, WorkspaceSpec

CONTACT_SOURCES = {
    "inbound": "incoming_message",
    "manual": "user",
    "import": "contact_import",
    "api": "developer_api",
}
DUPLICATE_RATE = 0.005


def _actor(source: str, user_id: int | None) -> dict[str, object]:
    return {"source": source} | ({"userId": user_id} if user_id is not None else {})


class RespondioEventWriter:
    def __init__(
        self,
        out_dir: Path,
        spec: WorkspaceSpec,
        agents: list[Agent],
        *,
        gzip: bool = False,
        malformed_rate: float = 0.0,
    ) -> None:
        self._seed = spec.seed
        self._end_at = int(spec.end_at.timestamp())
        self._users = {
            agent.user_id: {
                "id": agent.user_id,
                "firstName": agent.first_name,
                "lastName": agent.last_name,
                "email": agent.email,
            }
            for agent in agents
        }
        self.malformed_rate = malformed_rate
        self._files = DayBucketWriter(out_dir, compress=gzip)
        self.counts = dict.fromkeys(("events", "duplicates", "malformed"), 0)

    def add(
        self,
        contact: Contact,
        contact_record: dict[str, object],
        conversations: list[SimConversation],
        comments: list[SimComment],
    ) -> None:
        rng = random.Random(f"wabi-respondio-events:{self._seed}:{contact.contact_id}")
        faults = random.Random(f"wabi-respondio-malformed:{self._seed}:{contact.contact_id}")
        ref = {"id": contact.contact_id}
        source = CONTACT_SOURCES[contact.created_via]
        new_contact: dict[str, object] = {"contact": contact_record | {"source": source}}
        added_by = contact.deleted_by_user_id or (
            conversations[0].opened_by_user_id if conversations else None
        )
        if contact.created_via == "manual" and added_by:
            new_contact["user"] = {"id": added_by}
        self._emit(rng, faults, "newContact", contact.created_at, new_contact)
        if contact.deleted_at is not None:
            deleted_by = _actor("user", contact.deleted_by_user_id)
            body = {"contact": ref, "deletedBy": deleted_by}
            self._emit(rng, faults, "contactDeleted", contact.deleted_at, body)
        for conversation in conversations:
            opened = {
                "id": conversation.conversation_id,
                "channelId": conversation.channel.channel_id,
                "openedAt": conversation.opened_at,
                "openedBy": _actor(conversation.opened_by, conversation.opened_by_user_id),
            }
            self._emit(
                rng,
                faults,
                "conversationOpened",
                conversation.opened_at,
                {"contact": ref, "conversation": opened},
            )
            for assignment in conversation.assignments:
                self._emit(
                    rng,
                    faults,
                    "contactAssigneeUpdated",
                    assignment.at,
                    {
                        "contact": ref,
                        "conversation": {"id": conversation.conversation_id},
                        "assignee": self._users.get(assignment.assignee_id),
                        "previousAssignee": self._users.get(assignment.previous_assignee_id),
                        "assignedBy": _actor(assignment.by_type, assignment.by_user_id),
                    },
                )
            if conversation.closed_at is not None:
                note = None
                if conversation.closing_category:
                    note = {
                        "category": conversation.closing_category,
                        "summary": conversation.closing_summary,
                    }
                closed = opened | {
                    "closedAt": conversation.closed_at,
                    "closedBy": _actor(conversation.closed_by_type, conversation.closed_by_user_id),
                    "closingNote": note,
                }
                del closed["openedBy"]
                self._emit(
                    rng,
                    faults,
                    "conversationClosed",
                    conversation.closed_at,
                    {"contact": ref, "conversation": closed},
                )
        for comment in comments:
            body = {
                "id": comment.comment_id,
                "text": comment.text,
                "createdAt": comment.created_at,
                "userId": comment.user_id,
            }
            self._emit(
                rng, faults, "newComment", comment.created_at, {"contact": ref, "comment": body}
            )
        self._files.flush()

    def _emit(
        self,
        rng: random.Random,
        faults: random.Random,
        event: str,
        at: int,
        body: dict[str, object],
    ) -> None:
        line = dumps({"event": event, "eventId": rng.randbytes(12).hex(), "timestamp": at} | body)
        arrivals = [at + rng.randint(0, 2)]
        if rng.random() < DUPLICATE_RATE:
            arrivals.append(arrivals[0] + rng.randint(5, 600))
        for copy, arrival in enumerate(arrivals):
            if arrival >= self._end_at:
                break
            cut = faults.randint(1, len(line) - 1) if faults.random() < self.malformed_rate else 0
            self._files.add(arrival, line, cut)
            self.counts["duplicates" if copy else "events"] += 1
            self.counts["malformed"] += cut > 0

    def close(self) -> dict[str, int]:
        return self.counts | {"files": self._files.close()}
