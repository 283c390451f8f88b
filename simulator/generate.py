"""Generate a simulated workspace: the records respond.io's API would serve, and the truth.

Generation walks one contact at a time through its whole history, so memory stays flat as the
workspace grows and each contact's messages come out in the order they happened. The oracle
(`simulator.oracle`) is fed the true events as they are generated, never the serialised API records.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

from simulator.captures import dumps
from simulator.faults import FaultProfile
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
from simulator.respondio_events import RespondioEventWriter
from simulator.whatsapp_cloud import MetaCaptureWriter

UTC = ZoneInfo("UTC")
# The workspace's webhook captures, both kinds under one root as a receiver would keep them.
CAPTURES_DIR = "captures"
WINDOW_SECONDS = 24 * 3600
# Messages a planned conversation yields, broadcasts without a reply and conversations cut by
# the period's end included: calibrated so a workspace holds about `messages_per_day` a day
# (measured: 97-100 % of it over 14 to 30 days, 107 % over 90 days).
MESSAGES_PER_PLANNED_CONVERSATION = 4.5
CLOSING_CATEGORIES = (
    ("Resolved", "The customer's question was answered."),
    ("Sale closed", "The customer placed an order."),
    ("No response", "The customer stopped replying."),
    ("Spam", "Not a real enquiry."),
)
INCOMING_TEXTS = (
    "Hi, is this in stock?",
    "What are your opening hours?",
    "Can I change my order?",
    "Thanks!",
    "How much is delivery?",
    "My parcel has not arrived.",
)
OUTGOING_TEXTS = (
    "Hello! Let me check that for you.",
    "Yes, we have it in stock.",
    "Your order has been updated.",
    "Delivery is free over 50.",
    "Anything else I can help with?",
)
COMMENT_TEXTS = (
    "Asked about a refund.",
    "VIP customer.",
    "Waiting for the warehouse.",
    "Sent the catalogue.",
)
OPENERS = ("contact", "user", "workflow", "api", "broadcast")
OPENER_WEIGHTS = (0.72, 0.08, 0.06, 0.02, 0.12)
AUTO_CLOSE_AFTER_SECONDS = 12 * 3600
# Share of contacts deleted soon after being added, by how they were added.
DELETION_RATE = {"import": 0.05, "manual": 0.03}
# Who speaks first to a contact, by how the contact was added (imports wait for a campaign).
FIRST_OPENER_BY_SOURCE = {"inbound": "contact", "manual": "user", "api": "api"}
# WhatsApp Cloud API error codes (Meta's error-code reference) used for failed sends.
ERROR_OUTSIDE_WINDOW = (131047, "Re-engagement message")
ERROR_UNDELIVERABLE = (131026, "Message undeliverable")
ERROR_EXPERIMENT = (130472, "User's number is part of an experiment")
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
class Assignment:
    """A change of a conversation's assignee (None = unassigned)."""

    at: int
    assignee_id: int | None
    previous_assignee_id: int | None
    by_type: str  # user | workflow | api | system
    by_user_id: int | None


@dataclass(eq=False)
class SimConversation:
    """One open-to-close cycle of a contact, as it truly happened."""

    contact_id: int
    channel: Channel
    opened_at: int
    opened_by: str  # contact | user | workflow | api
    opened_by_user_id: int | None = None
    assignments: list[Assignment] = field(default_factory=list)
    assignee: Agent | None = None
    closed_at: int | None = None
    closed_by_type: str | None = None  # user | workflow | auto_close
    closed_by_user_id: int | None = None
    closing_category: str | None = None
    closing_summary: str | None = None
    conversation_id: int = 0  # assigned in time order once the contact's history is played


@dataclass
class SimComment:
    created_at: int
    contact_id: int
    conversation: SimConversation | None
    user_id: int
    mentioned_user_ids: list[int]
    text: str
    comment_id: int = 0


@dataclass(eq=False)
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
    conversation: SimConversation | None = None

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


class AgentPool:
    """The workspace's agents, drawn by capacity; the cumulative weights of each draw are built
    once, as every reply draws an agent."""

    def __init__(self, agents: list[Agent]) -> None:
        self.agents = agents
        self.manager = next((a for a in agents if a.role == "manager"), None)
        self._draws: dict[int | None, tuple[list[Agent], list[float]]] = {}

    def pick(self, rng: random.Random, other_than: Agent | None = None) -> Agent:
        """An agent other than `other_than` when there is another."""
        key = None if other_than is None else other_than.user_id
        draw = self._draws.get(key)
        if draw is None:
            choices = [a for a in self.agents if a is not other_than] or self.agents
            draw = self._draws[key] = (choices, list(accumulate(a.capacity for a in choices)))
        return rng.choices(draw[0], cum_weights=draw[1], k=1)[0]


class ContactHistory:
    """Plays out one contact's conversations in time order."""

    def __init__(
        self,
        spec: WorkspaceSpec,
        rng: random.Random,
        contact: Contact,
        agents: AgentPool,
    ) -> None:
        self.spec = spec
        self.rng = rng
        self.contact = contact
        self.agents = agents
        self.end_at = int(spec.end_at.timestamp())
        self.last_incoming_at: int | None = None
        self.messages: list[SimMessage] = []
        self.conversations: list[SimConversation] = []
        self.comments: list[SimComment] = []
        self.current: SimConversation | None = None  # the conversation open right now

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
                conversation=self.current,
            )
        )
        self.last_incoming_at = at

    def outgoing(
        self, at: int, sender: str, user_id: int | None = None, template: bool = False
    ) -> SimMessage | None:
        """An outgoing message created at `at`, with the status history it really went through.
        Broadcasts are always templates, workflows' messages half the time."""
        if at >= self.end_at:
            return None
        rng = self.rng
        is_template = (
            template or sender == "broadcast" or (sender == "workflow" and rng.random() < 0.5)
        )
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
            conversation=self.current,
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
        elif is_whatsapp and sender == "broadcast" and rng.random() < 0.1:
            # Marketing sends Meta holds back: per-user limits, or the user is in an experiment.
            code, title = ERROR_MARKETING_LIMIT if rng.random() < 0.8 else ERROR_EXPERIMENT
            message.error_code = code
            statuses += [
                StatusEvent("sent", sent_at),
                StatusEvent("failed", sent_at + rng.randint(1, 20), title),
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
    def pick_agent(self, other_than: Agent | None = None) -> Agent:
        return self.agents.pick(self.rng, other_than)

    def agent_reply_at(self, agent: Agent, after: int) -> int:
        """When `agent` answers a message that arrived at `after`: slower outside business hours."""
        moment = datetime.fromtimestamp(after, UTC)
        on_call = self.rng.random() < 0.15
        start = moment if on_call else next_business_moment(moment, self.spec.zone)
        median = 240 * agent.reply_speed
        delay = self.rng.lognormvariate(math.log(median), 0.9)
        return max(after + 1, int(start.timestamp() + delay))

    def open(self, at: int, opened_by: str, user: Agent | None = None) -> SimConversation | None:
        if at >= self.end_at:
            return None
        self.current = SimConversation(
            contact_id=self.contact.contact_id,
            channel=self.contact.channel,
            opened_at=at,
            opened_by=opened_by,
            opened_by_user_id=user.user_id if user else None,
        )
        self.conversations.append(self.current)
        return self.current

    def assign(
        self, at: int, assignee: Agent | None, by_type: str, by_user: Agent | None = None
    ) -> None:
        conversation = self.current
        if conversation is None or at >= self.end_at:
            return
        previous = conversation.assignee
        conversation.assignments.append(
            Assignment(
                at=at,
                assignee_id=assignee.user_id if assignee else None,
                previous_assignee_id=previous.user_id if previous else None,
                by_type=by_type,
                by_user_id=by_user.user_id if by_user else None,
            )
        )
        conversation.assignee = assignee

    def comment(self, at: int, author: Agent) -> None:
        if at >= self.end_at:
            return
        mentioned = [self.pick_agent(other_than=author)] if self.rng.random() < 0.4 else []
        text = self.rng.choice(COMMENT_TEXTS)
        if mentioned:
            text += f" {{{{@user.{mentioned[0].user_id}}}}} can you take a look?"
        self.comments.append(
            SimComment(
                created_at=at,
                contact_id=self.contact.contact_id,
                conversation=self.current,
                user_id=author.user_id,
                mentioned_user_ids=[m.user_id for m in mentioned],
                text=text,
            )
        )

    def close(self, at: int, by_type: str, by_user: Agent | None = None) -> bool:
        """Close the open conversation at `at`, unless the period ends first (it stays open)."""
        conversation = self.current
        if conversation is None or at >= self.end_at:
            return False
        conversation.closed_at = at
        conversation.closed_by_type = by_type
        conversation.closed_by_user_id = by_user.user_id if by_user else None
        if by_type != "auto_close":
            category, summary = self.rng.choices(CLOSING_CATEGORIES, (0.55, 0.25, 0.12, 0.08))[0]
            conversation.closing_category = category
            conversation.closing_summary = summary
        self.current = None
        return True

    def reply_rounds(self, t: int) -> int:
        """Agents answer the contact, round after round; return the time of the last message."""
        rng = self.rng
        rounds = rng.choice((1, 1, 2, 2, 3))
        for round_index in range(rounds):
            if self.current is None or self.last_incoming_at is None:
                return t  # the contact's message fell after the period's end
            agent = self.current.assignee or self.pick_agent()
            t = self.agent_reply_at(agent, max(t, self.last_incoming_at))
            if self.current.assignee is None:
                # Nobody was assigned: the agent who picks it up assigns it to themselves.
                self.assign(t - 1, agent, "user", agent)
            for _ in range(rng.choice((1, 1, 2))):
                self.outgoing(t, "user", agent.user_id)
                t += rng.randint(10, 90)
            if round_index == 0 and rng.random() < 0.10:
                self.comment(t + rng.randint(5, 120), agent)
            if round_index == 0 and rng.random() < 0.12:
                # A manager hands it to a colleague; sometimes it sits unassigned first.
                manager = self.agents.manager or agent
                t += rng.randint(60, 1200)
                if rng.random() < 0.25:
                    self.assign(t, None, "user", manager)
                    t += rng.randint(60, 900)
                self.assign(t, self.pick_agent(other_than=agent), "user", manager)
            if round_index + 1 < rounds:
                t += rng.randint(30, 1800)
                self.incoming(t)
        return t

    def conversation(self, start: int, opener: str) -> int:
        """Play one conversation opened at `start` by `opener`; return when it ended."""
        rng = self.rng
        if opener == "contact":
            if self.open(start, "contact") is None:
                return start
            t = start
            for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
                self.incoming(t)
                t += rng.randint(5, 120)
            if rng.random() < 0.45:
                self.outgoing(start + rng.randint(1, 4), "workflow")
            if rng.random() < 0.75:
                self.assign(start + rng.randint(1, 3), self.pick_agent(), "workflow")
        else:
            agent = self.pick_agent()
            user = agent if opener == "user" else None
            if self.open(start, opener, user) is None:
                return start
            if user:
                self.assign(start, agent, "user", agent)
            # Re-engaging a contact needs a template outside the 24-hour window; agents mostly
            # know, and notifications from the API and workflows always are templates.
            template = opener != "user" or rng.random() < 0.7
            self.outgoing(
                start + rng.randint(5, 60), opener, user.user_id if user else None, template
            )
            t = start + rng.randint(60, 4 * 3600)
            if rng.random() < 0.55:
                self.incoming(t)
                if self.current and self.current.assignee is None and rng.random() < 0.8:
                    self.assign(t + rng.randint(1, 3), self.pick_agent(), "workflow")
            else:
                t = start + 60
                self.close(t + 12 * 3600, "auto_close")
                return t + 12 * 3600
        t = self.reply_rounds(t)
        roll = rng.random()
        assignee = self.current.assignee if self.current else None
        if roll < 0.74 and assignee is not None:
            closed_at = t + rng.randint(60, 1800)
            self.close(closed_at, "user", assignee)
        elif roll < 0.82:
            closed_at = t + rng.randint(5, 60)
            self.close(closed_at, "workflow")
        else:
            closed_at = t + AUTO_CLOSE_AFTER_SECONDS
            self.close(closed_at, "auto_close")
        return closed_at

    def broadcast(self, at: int) -> int | None:
        """A campaign message outside any conversation; a reply opens one (returns its time)."""
        if self.outgoing(at, "broadcast") is None or self.rng.random() > 0.3:
            return None
        return at + self.rng.randint(600, 4 * 3600)

    def play(self) -> list[SimMessage]:
        contact, rng = self.contact, self.rng
        created_day = int((contact.created_at - self.spec.start_at.timestamp()) // 86_400)
        first_day = max(created_day, 0)
        starts = sorted(
            int(
                sample_local_instant(
                    rng, self.spec, sample_day(rng, self.spec, first_day)
                ).timestamp()
            )
            for _ in range(contact.conversations_planned)
        )
        first_opener = FIRST_OPENER_BY_SOURCE.get(contact.created_via)
        if first_opener:
            # Who added the contact is who speaks first, right away.
            delay = 0 if first_opener == "contact" else rng.randint(60, 1800)
            starts = [contact.created_at + delay, *starts[1:]]
        busy_until: int | None = None  # when the previous conversation ended
        for index, start in enumerate(starts):
            if busy_until is not None:
                start = max(start, busy_until + rng.randint(1800, 6 * 3600))
            if start >= self.end_at:
                break
            opener = rng.choices(OPENERS, OPENER_WEIGHTS)[0]
            if index == 0 and first_opener:
                opener = first_opener
            if opener == "broadcast":
                reply_at = self.broadcast(start)
                if reply_at is None:
                    busy_until = start
                    continue
                start, opener = reply_at, "contact"
            busy_until = self.conversation(start, opener)
            while self.current is None and rng.random() < 0.08:
                # The customer writes again soon after the close: a reopened conversation.
                busy_until = self.conversation(busy_until + rng.randint(300, 5400), "contact")
            if self.current is not None:
                break  # still open when the period ends
        return sorted(self.messages, key=lambda m: (m.created_at, m.direction != "incoming"))


def _make_contact(
    spec: WorkspaceSpec,
    rng: random.Random,
    index: int,
    channels: list[Channel],
    agents: list[Agent],
    mean_conversations: float,
) -> Contact:
    via = rng.choices(("inbound", "manual", "import", "api"), (0.68, 0.14, 0.14, 0.04))[0]
    start_ts = int(spec.start_at.timestamp())
    if via == "import":
        created_at = start_ts + 10 * 3600 + rng.randint(0, 120)
    else:
        created_at = int(sample_local_instant(rng, spec, sample_day(rng, spec)).timestamp())
    country, prefix, _ = rng.choices(COUNTRIES, [c[2] for c in COUNTRIES])[0]
    channel = rng.choices(channels, weights=[CHANNEL_KINDS[c.kind][2] for c in channels])[0]
    # Every contact gets a first conversation; the rest are spread to meet the daily volume.
    planned = 1 + min(39, round(rng.expovariate(1 / mean_conversations)))
    deleted_at = None
    if rng.random() < DELETION_RATE.get(via, 0.0):
        # A bad import row goes within days, a duplicate manual entry within the hour.
        lifetime = rng.randint(3600, 3 * 86_400) if via == "import" else rng.randint(120, 3600)
        if created_at + lifetime < spec.end_at.timestamp():
            deleted_at = created_at + lifetime
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
        deleted_at=deleted_at,
        deleted_by_user_id=None if deleted_at is None else rng.choice(agents).user_id,
    )


def play_contacts(
    spec: WorkspaceSpec, channels: list[Channel], agents: list[Agent]
) -> Iterator[tuple[Contact, ContactHistory | None, list[SimMessage]]]:
    """Every contact added within the period, one at a time, with its played history (None
    for a contact deleted before anyone wrote to it) and its messages in time order."""
    conversations_per_contact = (
        spec.messages_per_day * spec.days / MESSAGES_PER_PLANNED_CONVERSATION / spec.contacts
    )
    mean_conversations = max(0.01, conversations_per_contact - 1)
    end_at = spec.end_at.timestamp()
    pool = AgentPool(agents)
    for index in range(spec.contacts):
        rng = random.Random(f"wabi-contact:{spec.seed}:{index}")
        contact = _make_contact(spec, rng, index, channels, agents, mean_conversations)
        if contact.created_at >= end_at:
            continue
        if contact.deleted_at is not None:
            yield contact, None, []
            continue
        history = ContactHistory(spec, rng, contact, pool)
        yield contact, history, history.play()


def contact_record(
    contact: Contact, open_conversation: SimConversation | None
) -> dict[str, object]:
    """The contact as `POST /contact/list` returns it (RESPONDIO.md 1.5) at the period's end."""
    assignee = open_conversation.assignee if open_conversation else None
    return {
        "id": contact.contact_id,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "phone": contact.phone,
        "email": None,
        "language": "en",
        "profilePic": None,
        "countryCode": contact.country_code,
        "status": "open" if open_conversation else "close",
        "tags": [],
        "assignee": None
        if assignee is None
        else {
            "id": assignee.user_id,
            "firstName": assignee.first_name,
            "lastName": assignee.last_name,
            "email": assignee.email,
        },
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


def generator_fingerprint() -> str:
    """A hash of the simulator's own source, recorded in `workspace.json`: a workspace made by
    other code is not taken for this code's."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def generate(
    spec: WorkspaceSpec, out_dir: Path, *, faults: str = "none", compress: bool = False
) -> dict[str, int]:
    """Write the workspace for `spec` to `out_dir`; return record counts.

    `out_dir` receives: `api/` (what the respond.io API serves), `captures/` (what webhook
    receivers write, the directory for `WABI_WEBHOOK_DIR`): `captures/respondio_events/`
    (respond.io webhook events) and `captures/whatsapp_cloud/` (Meta webhook captures of the
    WhatsApp channels),
    `expected/` (the oracle's figures) and `workspace.json` (the spec and the counts).
    """
    profile = FaultProfile.named(faults)
    rng = random.Random(f"wabi-workspace:{spec.seed}")
    channels = make_channels(spec)
    agents = make_agents(spec, rng)
    api_dir = out_dir / "api"
    api_dir.mkdir(parents=True, exist_ok=True)
    (api_dir / "users.json").write_text(dumps([user_record(a) for a in agents]))
    (api_dir / "channels.json").write_text(dumps([channel_record(c) for c in channels]))
    (api_dir / "closing_notes.json").write_text(
        dumps([{"category": c, "description": d} for c, d in CLOSING_CATEGORIES])
    )

    oracle = Oracle(spec, out_dir / "expected")
    events = RespondioEventWriter(
        out_dir / CAPTURES_DIR / "respondio_events",
        spec,
        agents,
        gzip=compress,
        malformed_rate=profile.malformed_line,
    )
    meta = MetaCaptureWriter(
        out_dir / CAPTURES_DIR / "whatsapp_cloud",
        spec,
        gzip=compress,
        malformed_rate=profile.malformed_line,
    )
    message_ids = iter(range(70_000_001, 10**12))
    conversation_ids = iter(range(30_000_001, 10**12))
    comment_ids = iter(range(90_000_001, 10**12))
    counts = dict.fromkeys(
        ("contacts", "deleted_contacts", "messages", "conversations", "comments"), 0
    )
    with (
        (api_dir / "contacts.jsonl").open("w", encoding="utf-8") as contacts_file,
        (api_dir / "messages.jsonl").open("w", encoding="utf-8") as messages_file,
    ):
        for contact, history, messages in play_contacts(spec, channels, agents):
            if history is None:
                # Gone before anyone wrote to it: the API no longer lists it, only events tell.
                events.add(contact, contact_record(contact, None), [], [])
                oracle.add_contact(contact, [], [])
                counts["deleted_contacts"] += 1
                continue
            # ids in time order, as the platform hands them out
            for message in messages:
                message.message_id = next(message_ids)
            for conversation in history.conversations:
                conversation.conversation_id = next(conversation_ids)
            for comment in history.comments:
                comment.comment_id = next(comment_ids)
            record = contact_record(contact, history.current)
            contacts_file.write(dumps(record) + "\n")
            messages_file.writelines(dumps(m.to_api_record()) + "\n" for m in messages)
            events.add(
                contact, contact_record(contact, None), history.conversations, history.comments
            )
            meta.add(contact, messages)
            oracle.add_contact(contact, messages, history.conversations)
            counts["contacts"] += 1
            counts["messages"] += len(messages)
            counts["conversations"] += len(history.conversations)
            counts["comments"] += len(history.comments)

    oracle.close()
    counts |= {f"respondio_{k}": v for k, v in events.close().items()}
    counts |= {f"whatsapp_cloud_{k}": v for k, v in meta.close().items()}
    manifest = {
        "spec": spec.as_json(),
        "faults": faults,
        "counts": counts,
        "generated_by": "wabi simulate",
        "generator": generator_fingerprint(),
    }
    (out_dir / "workspace.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return counts
