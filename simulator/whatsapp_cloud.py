"""WhatsApp Cloud API webhook captures of the simulated WhatsApp channels (SOURCES.md §1).

A business on the Cloud API receives one webhook POST from Meta per incoming message and per
status change of an outgoing message, and keeps each body as one line of a JSONL file per arrival
day. `MetaCaptureWriter` writes exactly that for the WhatsApp contacts of a simulated workspace,
with the ids the respond.io records carry (an incoming message's `id` and a status's `id` are the
message's `channelMessageId`, the wamid).

Every payload has the envelope of `tests/fixtures/whatsapp_cloud/message_text.json` (one entry,
one change, `field: messages`). The body of each kind copies one real fixture, key for key:

- incoming text: `message_text.json`; image: `message_image.json` (with `url`); audio:
  `message_audio_voice.json` (always a voice note, `voice: true`); video: `message_video.json`;
  respond.io's `file` attachment: `message_document.json` (a PDF with `filename`). Image and video
  carry no `caption`, as Meta omits it when the customer wrote none (respond.io's attachment body
  has no text).
- `sent`: `status_sent_pmp_marketing.json`: `conversation{id, expiration_timestamp, origin}` and
  `pricing{billable, pricing_model, type, category}`.
- `delivered`: `status_delivered_cbp_service.json`'s conversation (no `expiration_timestamp`, which
  Meta sends on `sent` only) with the same PMP `pricing` as `sent` (the CBP fixture predates
  `pricing.type`; Meta's status reference lists it for every PMP pricing object).
- `read`: `status_read_no_pricing_2023.json`, no conversation and no pricing (Meta sends them
  with `sent` and one of `delivered`/`read` only, and `delivered` carries them here).
- `failed`: `status_failed_131047.json`: `errors[{code, title, message, error_data{details},
  href}]`, no conversation and no pricing. `href` is always the absolute URL of the 131047 capture.
- `pending` is respond.io's own state: Meta sends nothing for it.

Pricing is per-message (PMP): a template sent by a broadcast is `marketing`, any other template
`utility`, free-form messages `service`. Service messages, and utility templates inside the
customer-service window, are free (`billable: false`, `type: free_customer_service`); the rest
are `billable: true`, `type: regular`. The `conversation` id is kept per contact and origin for
24 hours from its first `sent`, expiring on the minute as the fixtures do (`expiration_timestamp`
is a whole minute).

Arrival: each payload arrives 0-3 s after its event (a few up to 30 s); about 2 % of status
payloads arrive minutes to hours late and about 1 % of payloads are delivered twice (the copy
later, byte-identical), so statuses out of order happen as they do in real captures. Payloads
arriving at or after the end of the simulated period are not written. `malformed_rate` adds,
just before a payload, a truncated copy of its line as a crashed receiver leaves one.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.captures import DayBucketWriter, dumps
from simulator.model import Channel, Contact, WorkspaceSpec

if TYPE_CHECKING:  # generate.py imports this module: a runtime import would be circular
    from simulator.generate import SimMessage, StatusEvent

ERRORS_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
# code -> (title, message, error_data.details); 131047 and 131049 as in the real captures, 131026
# and 130472 from Meta's error-code reference (no real capture of them is at hand).
ERRORS: dict[int, tuple[str, str, str]] = {
    131047: (
        "Re-engagement message",
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131026: ("Message undeliverable", "Message undeliverable", "Unable to deliver message."),
    130472: (
        "User's number is part of an experiment",
        "User's number is part of an experiment",
        "Failed to send message because this user's phone number is part of an experiment.",
    ),
}
DOCUMENT_NAMES = ("invoice.pdf", "receipt.pdf", "order_details.pdf", "id_card.pdf")
CONVERSATION_SECONDS = 24 * 3600
LATE_STATUS_RATE = 0.02
DUPLICATE_RATE = 0.01


@cache  # every payload needs it
def business_number(channel: Channel) -> tuple[str, str, str]:
    """The (WABA id, phone number id, display phone number) of a WhatsApp channel.

    A pure function of the channel id, so every writer of the workspace agrees on them.
    """
    digest = hashlib.sha256(f"wabi-meta-number:{channel.channel_id}".encode()).digest()
    waba_id = 10**14 + int.from_bytes(digest[:8]) % (9 * 10**14)
    phone_number_id = 10**14 + int.from_bytes(digest[8:16]) % (9 * 10**14)
    # +1 555 numbers, like the test numbers in Meta's examples (15550783881)
    display = f"1555{int.from_bytes(digest[16:24]) % 10**7:07d}"
    return str(waba_id), str(phone_number_id), display


def _envelope(channel: Channel, value: dict[str, object]) -> dict[str, object]:
    waba_id, phone_number_id, display = business_number(channel)
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def _media(rng: random.Random) -> tuple[str, str]:
    """A (media id, sha256) pair shaped like Meta's: 16 digits, base64 of 32 bytes."""
    return str(rng.randrange(10**15, 10**16)), base64.b64encode(rng.randbytes(32)).decode()


def _incoming_body(rng: random.Random, body: dict[str, object]) -> tuple[str, dict[str, object]]:
    """Meta's `type` and the object under that key for a respond.io incoming message body."""
    if body["type"] == "text":
        return "text", {"body": body["text"]}
    attachment = body.get("attachment")
    kind = attachment.get("type") if isinstance(attachment, dict) else None
    if kind == "image":
        media_id, sha = _media(rng)
        url = f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}"
        return "image", {"mime_type": "image/jpeg", "sha256": sha, "id": media_id, "url": url}
    if kind == "audio":
        media_id, sha = _media(rng)
        return "audio", {
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": sha,
            "id": media_id,
            "voice": True,
        }
    if kind == "video":
        media_id, sha = _media(rng)
        return "video", {"mime_type": "video/mp4", "sha256": sha, "id": media_id}
    if kind == "file":
        media_id, sha = _media(rng)
        return "document", {
            "filename": rng.choice(DOCUMENT_NAMES),
            "mime_type": "application/pdf",
            "sha256": sha,
            "id": media_id,
        }
    raise ValueError(f"no WhatsApp Cloud mapping for an incoming {body['type']!r} {kind or ''}")


def _category(message: SimMessage) -> str:
    if message.body["type"] != "whatsapp_template":
        return "service"
    return "marketing" if message.sender_source == "broadcast" else "utility"


def _pricing(message: SimMessage, category: str) -> dict[str, object]:
    free = category == "service" or (category == "utility" and not message.is_outside_window)
    return {
        "billable": not free,
        "pricing_model": "PMP",
        "type": "free_customer_service" if free else "regular",
        "category": category,
    }


def _status_body(
    message: SimMessage,
    status: StatusEvent,
    wa_id: str,
    category: str,
    conversation: tuple[str, int] | None,
) -> dict[str, object]:
    """One `statuses[]` element; `conversation` is (id, expiration) when the message was sent."""
    body: dict[str, object] = {
        "id": message.channel_message_id,
        "status": status.value,
        "timestamp": str(status.at),
        "recipient_id": wa_id,
    }
    if status.value == "failed":
        code = message.error_code or 0
        default = status.message or "Message failed to send."
        title, text, details = ERRORS.get(code, (default, default, default))
        error = {
            "code": code,
            "title": title,
            "message": text,
            "error_data": {"details": details},
            "href": ERRORS_HREF,
        }
        body["errors"] = [error]
    elif status.value in ("sent", "delivered") and conversation is not None:
        conversation_id, expiration = conversation
        meta_conversation: dict[str, object] = {"id": conversation_id}
        if status.value == "sent":
            meta_conversation["expiration_timestamp"] = str(expiration)
        meta_conversation["origin"] = {"type": category}
        body["conversation"] = meta_conversation
        body["pricing"] = _pricing(message, category)
    return body


class MetaCaptureWriter:
    """Writes `<out_dir>/<YYYY-MM-DD>.jsonl[.gz]`, one Meta webhook payload per line.

    Contacts come one at a time, not in arrival order: lines go to a temporary bucket per
    arrival day, and `close()` sorts one day at a time, so memory stays flat.
    """

    def __init__(
        self,
        out_dir: Path,
        spec: WorkspaceSpec,
        *,
        gzip: bool = False,
        malformed_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.malformed_rate = malformed_rate
        self._seed = f"{spec.seed}" if seed is None else f"{spec.seed}:{seed}"
        self._end_at = int(spec.end_at.timestamp())
        self._files = DayBucketWriter(out_dir, compress=gzip)
        self.counts = dict.fromkeys(
            ("payloads", "incoming_messages", "statuses", "duplicates", "late", "malformed"), 0
        )

    def add(self, contact: Contact, messages: list[SimMessage]) -> None:
        """Queue the payloads of one contact's messages (given in time order)."""
        if contact.channel.kind != "whatsapp":
            return
        rng = random.Random(f"wabi-meta:{self._seed}:{contact.contact_id}")
        # Faults draw from their own stream: the payloads do not depend on the malformed rate.
        faults = random.Random(f"wabi-meta-malformed:{self._seed}:{contact.contact_id}")
        wa_id = contact.phone.lstrip("+")
        profile = {"profile": {"name": f"{contact.first_name} {contact.last_name}"}, "wa_id": wa_id}
        conversations: dict[str, tuple[str, int]] = {}  # origin -> (id, expiration)
        for message in messages:
            if message.direction == "incoming":
                kind, content = _incoming_body(rng, message.body)
                incoming = {
                    "from": wa_id,
                    "id": message.channel_message_id,
                    "timestamp": str(message.created_at),
                    "type": kind,
                    kind: content,
                }
                value = {"contacts": [profile], "messages": [incoming]}
                line = dumps(_envelope(message.channel, value))
                self._deliver(rng, faults, message.created_at, line, "incoming_messages")
                continue
            category = _category(message)
            # Meta's conversation is fixed when the message is sent; `delivered` repeats it.
            opened_at = next(
                (s.at for s in message.statuses if s.value in ("sent", "delivered")), None
            )
            conversation = None
            if opened_at is not None:
                conversation = conversations.get(category)
                if conversation is None or conversation[1] <= opened_at:
                    expiration = math.ceil((opened_at + CONVERSATION_SECONDS) / 60) * 60
                    conversation = (rng.randbytes(16).hex(), expiration)
                    conversations[category] = conversation
            for status in message.statuses:
                if status.value == "pending":
                    continue
                body = _status_body(message, status, wa_id, category, conversation)
                line = dumps(_envelope(message.channel, {"statuses": [body]}))
                self._deliver(rng, faults, status.at, line, "statuses")
        self._files.flush()

    def _deliver(
        self,
        rng: random.Random,
        faults: random.Random,
        event_at: int,
        line: str,
        kind: str,
    ) -> None:
        """Queue one payload at its arrival time(s): delay, lateness, Meta's redelivery."""
        arrival = event_at + (rng.randint(4, 30) if rng.random() < 0.03 else rng.randint(0, 3))
        late = kind == "statuses" and rng.random() < LATE_STATUS_RATE
        if late:
            arrival += round(math.exp(rng.uniform(math.log(120), math.log(8 * 3600))))
        arrivals = [arrival]
        if rng.random() < DUPLICATE_RATE:
            arrivals.append(arrival + round(math.exp(rng.uniform(math.log(15), math.log(3600)))))
        for copy, at in enumerate(arrivals):
            if at >= self._end_at:
                break
            cut = faults.randint(1, len(line) - 1) if faults.random() < self.malformed_rate else 0
            self._files.add(at, line, cut)
            self.counts["payloads"] += 1
            self.counts["malformed"] += int(cut > 0)
            if copy:
                self.counts["duplicates"] += 1
            else:
                self.counts[kind] += 1
                self.counts["late"] += int(late)

    def close(self) -> dict[str, int]:
        """Sort each day by arrival (then line text) and write its file; return the counts.

        Counts: `payloads` lines holding a whole payload, of which `incoming_messages` and
        `statuses` first deliveries and `duplicates` redeliveries; `late` late statuses;
        `malformed` truncated lines (besides the payloads); `files` day files written.
        """
        return self.counts | {"files": self._files.close()}
