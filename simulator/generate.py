"""Generate a simulated workspace: the records respond.io's API would serve, and the truth.

Generation walks one contact at a time through its whole history, so memory stays flat as the
workspace grows and each contact's messages come out in the order they happened. The oracle
(`simulator.oracle`) is fed the true events as they are generated, never the serialised API records.
"""

from __future__ import annotations

import base64
import json
import math
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from simulator.model import (
    CHANNEL_KINDS,
    COUNTRIES,
    FIRST_NAMES,
    LAST_NAMES,
    Agent,
    Channel,
    Contact,
    WorkspaceSpec,
    make_agents,
    make_channels,
    next_business_moment,
    sample_day,
    sample_local_instant,
)
from simulator.oracle import Oracle

UTC = ZoneInfo("UTC")
WINDOW_SECONDS = 24 * 3600
MEAN_MESSAGES_PER_CONVERSATION = 6.0
CLOSING_CATEGORIES = (
    ("Resolved", "The customer's question was answered."),
    ("Sale closed", "The customer placed an order."),
    ("No response", "The customer stopped replying."),
    ("Spam", "Not a real enquiry."),
)
INCOMING_TEXTS = ("Hi, is this in stock?", "What are your opening hours?", "Can I change my order?",
                  "Thanks!", "How much is delivery?", "My parcel has not arrived.")  # fmt: skip
OUTGOING_TEXTS = ("Hello! Let me check that for you.", "Yes, we have it in stock.",
                  "Your order has been updated.", "Delivery is free over 50.",
                  "Anything else I can help with?")  # fmt: skip
# WhatsApp Cloud API error codes (Meta's error-code reference) used for failed sends.
ERROR_OUTSIDE_WINDOW = (131047, "Re-engagement message")
ERROR_UNDELIVERABLE = (131026, "Message undeliverable")
ERROR_MARKETING_LIMIT = (
    131049,
    "This message was not delivered to maintain healthy ecosystem engagement.",
)


@dataclass
class StatusEvent:
    value: str  # pending | sent | delivered | read | failed
    at: int
    message: str | None = None


@dataclass
class SimMessage:
    """One message as it truly happened."""

    message_id: int
    channel_message_id: str
    contact_id: int
    channel: Channel
    direction: str  # incoming | outgoing
    created_at: int
    body: dict[str, object]
    sender_source: str | None = None  # user | workflow | broadcast | api (outgoing only)
    user_id: int | None = None
    statuses: list[StatusEvent] = field(default_factory=list)
    error_code: int | None = None
    is_outside_window: bool = False

    def to_api_record(self) -> dict[str, object]:
        """The message as `GET /contact/{identifier}/message/list` returns it."""
        record: dict[str, object] = {
            "messageId": self.message_id,
            "channelMessageId": self.channel_message_id,
            "contactId": self.contact_id,
            "channelId": self.channel.channel_id,
            "traffic": self.direction,
            "timestamp": self.created_at,
            "message": self.body,
        }
        if self.direction == "outgoing":
            record["status"] = [
                {"value": s.value, "timestamp": s.at}
                | ({"message": s.message} if s.message else {})
                for s in self.statuses
            ]
            sender: dict[str, object] = {"source": self.sender_source}
            if self.user_id is not None:
                sender["userId"] = self.user_id
            record["sender"] = sender
        return record


def _dumps(record: object) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class ContactHistory:
    """Plays out one contact's conversations in time order."""

    def __init__(
        self,
        spec: WorkspaceSpec,
        rng: random.Random,
        contact: Contact,
        agents: list[Agent],
    ) -> None:
        self.spec = spec
        self.rng = rng
        self.contact = contact
        self.agents = agents
        self.agent_weights = [a.capacity for a in agents]
        self.end_at = int(spec.end_at.timestamp())
        self.last_incoming_at: int | None = None
        self.messages: list[SimMessage] = []

    # -- message factories ------------------------------------------------------------------
    def _channel_message_id(self) -> str:
        kind = self.contact.channel.kind
        if kind == "whatsapp":
            return "wamid." + base64.b64encode(self.rng.randbytes(30)).decode()
        if kind in ("messenger", "instagram"):
            return "m_" + base64.urlsafe_b64encode(self.rng.randbytes(24)).decode().rstrip("=")
        if kind == "telegram":
            return str(self.rng.randrange(10**6, 10**9))
        return f"web-{self.rng.getrandbits(64):016x}"

    def incoming(self, at: int) -> None:
        if at >= self.end_at:
            return
        body = {"type": "text", "text": self.rng.choice(INCOMING_TEXTS)}
        if self.rng.random() < 0.08:
            kind = self.rng.choice(("image", "audio", "file"))
            body = {
                "type": "attachment",
                "attachment": {"type": kind, "url": "https://cdn.example.com/m"},
            }
        self.messages.append(
            SimMessage(
                message_id=0,
                channel_message_id=self._channel_message_id(),
                contact_id=self.contact.contact_id,
                channel=self.contact.channel,
                direction="incoming",
                created_at=at,
                body=body,
            )
        )
        self.last_incoming_at = at

    def outgoing(self, at: int, sender: str, user_id: int | None = None) -> SimMessage | None:
        """An outgoing message created at `at`, with the status history it really went through."""
        if at >= self.end_at:
            return None
        rng = self.rng
        is_template = sender == "broadcast" or (sender == "workflow" and rng.random() < 0.5)
        if is_template:
            body = {
                "type": "whatsapp_template",
                "template": {"name": "offer_of_the_week", "languageCode": "en"},
            }
        else:
            body = {"type": "text", "text": rng.choice(OUTGOING_TEXTS)}
        message = SimMessage(
            message_id=0,
            channel_message_id=self._channel_message_id(),
            contact_id=self.contact.contact_id,
            channel=self.contact.channel,
            direction="outgoing",
            created_at=at,
            body=body,
            sender_source=sender,
            user_id=user_id,
        )
        sent_at = at + rng.randint(1, 3)
        outside_at_send = (
            self.last_incoming_at is None or sent_at - self.last_incoming_at > WINDOW_SECONDS
        )
        statuses = [StatusEvent("pending", at)]
        is_whatsapp = self.contact.channel.kind == "whatsapp"
        if is_whatsapp and outside_at_send and not is_template:
            # Meta refuses free-form messages outside the 24-hour customer-service window.
            message.error_code = ERROR_OUTSIDE_WINDOW[0]
            statuses.append(StatusEvent("failed", sent_at, ERROR_OUTSIDE_WINDOW[1]))
        elif rng.random() < 0.012:
            message.error_code = ERROR_UNDELIVERABLE[0]
            statuses += [
                StatusEvent("sent", sent_at),
                StatusEvent("failed", sent_at + rng.randint(2, 90), ERROR_UNDELIVERABLE[1]),
            ]
        elif is_whatsapp and sender == "broadcast" and rng.random() < 0.05:
            message.error_code = ERROR_MARKETING_LIMIT[0]
            statuses += [
                StatusEvent("sent", sent_at),
                StatusEvent("failed", sent_at + rng.randint(1, 20), ERROR_MARKETING_LIMIT[1]),
            ]
        else:
            statuses.append(StatusEvent("sent", sent_at))
            if rng.random() < 0.95:
                # Most phones are online; some pick the message up hours later.
                offline = rng.random() < 0.1
                delivered_at = sent_at + (
                    rng.randint(600, 6 * 3600) if offline else rng.randint(1, 40)
                )
                statuses.append(StatusEvent("delivered", delivered_at))
                read_chance = 0.35 if sender == "broadcast" else 0.8
                if rng.random() < read_chance:
                    read_at = delivered_at + int(rng.expovariate(1 / 900)) + 1
                    statuses.append(StatusEvent("read", read_at))
        message.statuses = [s for s in statuses if s.at < self.end_at]
        # The contract's clock for the window: when it was sent, else its earliest known event.
        basis = next((s.at for s in message.statuses if s.value == "sent"), at)
        message.is_outside_window = (
            self.last_incoming_at is None or basis - self.last_incoming_at > WINDOW_SECONDS
        )
        self.messages.append(message)
        return message

    # -- conversations ----------------------------------------------------------------------
    def agent_reply_at(self, agent: Agent, after: int) -> int:
        """When `agent` answers a message that arrived at `after`: slower outside business hours."""
        moment = datetime.fromtimestamp(after, UTC)
        on_call = self.rng.random() < 0.15
        start = moment if on_call else next_business_moment(moment, self.spec.zone)
        median = 240 * agent.reply_speed
        delay = self.rng.lognormvariate(math.log(median), 0.9)
        return max(after + 1, int(start.timestamp() + delay))

    def conversation(self, start: int) -> int:
        """Play one conversation from `start`; return when its last message was created."""
        rng = self.rng
        agent = rng.choices(self.agents, weights=self.agent_weights, k=1)[0]
        opener = rng.choices(("contact", "user", "workflow", "broadcast"), (0.78, 0.1, 0.06, 0.06))[
            0
        ]
        t = start
        if opener == "contact":
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
                self.incoming(t)
                t += rng.randint(5, 120)
            if rng.random() < 0.45:
                self.outgoing(start + rng.randint(1, 4), "workflow")
        else:
            user_id = agent.user_id if opener == "user" else None
            self.outgoing(t, opener, user_id)
            if rng.random() < 0.5:
                return t
            t += rng.randint(60, 4 * 3600)
            self.incoming(t)
        rounds = rng.choice((1, 1, 2, 2, 3))
        for round_index in range(rounds):
            assert self.last_incoming_at is not None
            t = self.agent_reply_at(agent, max(t, self.last_incoming_at))
            for _ in range(rng.choice((1, 1, 2))):
                self.outgoing(t, "user", agent.user_id)
                t += rng.randint(10, 90)
            if round_index + 1 < rounds:
                t += rng.randint(30, 1800)
                self.incoming(t)
        return t

    def play(self) -> list[SimMessage]:
        contact = self.contact
        created_day = int((contact.created_at - self.spec.start_at.timestamp()) // 86_400)
        starts = sorted(
            int(
                sample_local_instant(
                    self.rng, self.spec, sample_day(self.rng, self.spec, max(created_day, 0))
                ).timestamp()
            )
            for _ in range(contact.conversations_planned)
        )
        if contact.created_via == "inbound":
            starts = [contact.created_at, *starts[1:]]
        busy_until = contact.created_at
        for start in starts:
            start = max(start, busy_until + self.rng.randint(1800, 6 * 3600))
            if start >= self.end_at:
                break
            busy_until = self.conversation(start)
        return sorted(self.messages, key=lambda m: (m.created_at, m.direction != "incoming"))


def _make_contact(
    spec: WorkspaceSpec,
    rng: random.Random,
    index: int,
    channels: list[Channel],
    mean_conversations: float,
) -> Contact:
    via = rng.choices(("inbound", "manual", "import"), (0.7, 0.15, 0.15))[0]
    start_ts = int(spec.start_at.timestamp())
    if via == "import":
        created_at = start_ts + 10 * 3600 + rng.randint(0, 120)
    else:
        created_at = int(sample_local_instant(rng, spec, sample_day(rng, spec)).timestamp())
    country, prefix, _ = rng.choices(COUNTRIES, [c[2] for c in COUNTRIES])[0]
    channel = rng.choices(channels, weights=[CHANNEL_KINDS[c.kind][2] for c in channels])[0]
    planned = max(1, min(40, round(rng.expovariate(1 / mean_conversations)) + 1))
    return Contact(
        contact_id=1_000_001 + index,
        first_name=rng.choice(FIRST_NAMES),
        last_name=rng.choice(LAST_NAMES),
        phone=f"+{prefix}{rng.randrange(10**9, 10**10)}",
        country_code=country,
        created_at=created_at,
        created_via=via,
        channel=channel,
        conversations_planned=planned,
    )


def contact_record(contact: Contact) -> dict[str, object]:
    """The contact as `POST /contact/list` returns it (RESPONDIO.md 1.5)."""
    return {
        "id": contact.contact_id,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "phone": contact.phone,
        "email": None,
        "language": "en",
        "profilePic": None,
        "countryCode": contact.country_code,
        "status": "close",
        "tags": [],
        "assignee": None,
        "lifecycle": None,
        "custom_fields": [],
        "created_at": contact.created_at,
    }


def user_record(agent: Agent) -> dict[str, object]:
    return {
        "id": agent.user_id,
        "firstName": agent.first_name,
        "lastName": agent.last_name,
        "email": agent.email,
        "role": agent.role,
        "team": {"id": 900 + ["Sales", "Support", "Billing"].index(agent.team), "name": agent.team},
        "restrictions": [],
    }


def channel_record(channel: Channel) -> dict[str, object]:
    return {
        "id": channel.channel_id,
        "name": channel.name,
        "source": channel.source,
        "created_at": channel.created_at,
    }


def generate(spec: WorkspaceSpec, out_dir: Path) -> dict[str, int]:
    """Write the workspace for `spec` to `out_dir`; return record counts."""
    rng = random.Random(f"wabi-workspace:{spec.seed}")
    channels = make_channels(spec)
    agents = make_agents(spec, rng)
    api_dir = out_dir / "api"
    api_dir.mkdir(parents=True, exist_ok=True)
    (api_dir / "users.json").write_text(_dumps([user_record(a) for a in agents]))
    (api_dir / "channels.json").write_text(_dumps([channel_record(c) for c in channels]))
    (api_dir / "closing_notes.json").write_text(
        _dumps([{"category": c, "description": d} for c, d in CLOSING_CATEGORIES])
    )

    oracle = Oracle(spec)
    mean_conversations = (
        spec.messages_per_day * spec.days / MEAN_MESSAGES_PER_CONVERSATION / spec.contacts
    )
    message_ids = iter(range(70_000_001, 10**12))
    counts = {"contacts": 0, "messages": 0}
    with (
        (api_dir / "contacts.jsonl").open("w", encoding="utf-8") as contacts_file,
        (api_dir / "messages.jsonl").open("w", encoding="utf-8") as messages_file,
    ):
        for index in range(spec.contacts):
            contact_rng = random.Random(f"wabi-contact:{spec.seed}:{index}")
            contact = _make_contact(spec, contact_rng, index, channels, mean_conversations)
            if contact.created_at >= spec.end_at.timestamp():
                continue
            messages = ContactHistory(spec, contact_rng, contact, agents).play()
            contacts_file.write(_dumps(contact_record(contact)) + "\n")
            counts["contacts"] += 1
            for message in messages:
                message.message_id = next(message_ids)
                messages_file.write(_dumps(message.to_api_record()) + "\n")
                oracle.add_message(message)
            counts["messages"] += len(messages)

    oracle.write(out_dir / "expected")
    manifest = {
        "spec": asdict(spec) | {"start": spec.start.isoformat()},
        "counts": counts,
        "generated_by": "wabi simulate",
    }
    (out_dir / "workspace.json").write_text(json.dumps(manifest, indent=2, default=list) + "\n")
    return counts
