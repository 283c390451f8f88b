"""The simulated business: who works there, which channels it runs, and how busy it is when.

Everything here is plain data and pure functions of a seeded `random.Random`, so the same
`WorkspaceSpec` always yields the same workspace.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from itertools import accumulate
from zoneinfo import ZoneInfo

# respond.io channel `source` values (RESPONDIO.md 1.5), with the share of conversations each
# carries in a WhatsApp-first business.
CHANNEL_KINDS: dict[str, tuple[str, str, float]] = {
    # kind: (respond.io source, display name, share of traffic)
    "whatsapp": ("whatsapp_cloud", "WhatsApp Sales", 0.68),
    "messenger": ("facebook", "Facebook Messenger", 0.12),
    "instagram": ("instagram", "Instagram DM", 0.09),
    "telegram": ("telegram", "Telegram", 0.05),
    "webchat": ("custom_channel", "Website chat", 0.06),
}
DEFAULT_CHANNELS: tuple[str, ...] = tuple(CHANNEL_KINDS)

# Relative load by local hour of day (0..23) and by ISO weekday (1 = Monday).
HOURLY_LOAD = (
    0.15, 0.08, 0.05, 0.04, 0.05, 0.10, 0.30, 0.60, 1.00, 1.50, 1.80, 1.90,
    1.70, 1.60, 1.80, 1.90, 1.70, 1.40, 1.10, 0.95, 0.85, 0.70, 0.45, 0.25,
)  # fmt: skip
WEEKDAY_LOAD = {1: 1.15, 2: 1.10, 3: 1.05, 4: 1.05, 5: 1.00, 6: 0.60, 7: 0.45}

BUSINESS_HOURS: dict[int, tuple[time, time]] = {
    weekday: (time(9, 0), time(18, 0)) for weekday in range(1, 6)
}

FIRST_NAMES = (
    "Aisha", "Bruno", "Chen", "Dara", "Elif", "Femi", "Gita", "Hugo", "Ines", "Jomo", "Kiri",
    "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera",
    "Wei", "Ximena", "Yusuf", "Zara",
)  # fmt: skip
LAST_NAMES = (
    "Almeida", "Banerjee", "Costa", "Dubois", "Eze", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Khan", "Lopez", "Mensah", "Novak", "Okafor", "Petrov", "Rossi", "Sato",
    "Tanaka", "Urquhart", "Varga", "Wang", "Yilmaz", "Zhou",
)  # fmt: skip
COUNTRIES = (
    ("IN", "91", 0.30),
    ("BR", "55", 0.20),
    ("MX", "52", 0.15),
    ("NG", "234", 0.12),
    ("ID", "62", 0.13),
    ("DE", "49", 0.10),
)
TEAMS = ("Sales", "Support", "Billing")


@dataclass(frozen=True)
class WorkspaceSpec:
    """What `wabi simulate` was asked for; the only input of generation."""

    seed: int = 7
    contacts: int = 200
    agents: int = 8
    days: int = 28
    messages_per_day: int = 120
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    start: date = date(2026, 9, 7)
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        unknown = set(self.channels) - set(CHANNEL_KINDS)
        if unknown:
            raise ValueError(f"unknown channel kinds {sorted(unknown)}; use {list(CHANNEL_KINDS)}")
        if min(self.contacts, self.agents, self.days, self.messages_per_day) < 1:
            raise ValueError("contacts, agents, days and messages per day must be at least 1")
        ZoneInfo(self.timezone)  # raises on an unknown zone name

    def as_json(self) -> dict[str, object]:
        """The spec as `workspace.json` records it (and `wabi demo` compares it)."""
        return asdict(self) | {"start": self.start.isoformat(), "channels": list(self.channels)}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start_at(self) -> datetime:
        """The first instant of the simulated period, as an aware UTC datetime."""
        return datetime.combine(self.start, time(0), self.zone).astimezone(ZoneInfo("UTC"))

    @property
    def end_at(self) -> datetime:
        end = self.start + timedelta(days=self.days)
        return datetime.combine(end, time(0), self.zone).astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class Channel:
    channel_id: int
    kind: str
    source: str
    name: str
    created_at: int


@dataclass(frozen=True)
class Agent:
    user_id: int
    first_name: str
    last_name: str
    email: str
    role: str
    team: str
    reply_speed: float  # multiplies the median first-reply delay; < 1 is faster
    capacity: float  # relative share of assignments


@dataclass
class Contact:
    contact_id: int
    first_name: str
    last_name: str
    phone: str
    country_code: str
    created_at: int
    created_via: str  # inbound | manual | import
    channel: Channel
    conversations_planned: int
    # Bad import rows and duplicate manual entries are deleted by a user soon after; such a
    # contact never gets a conversation (RESPONDIO.md has no deletion event: see respondio_events).
    deleted_at: int | None = None
    deleted_by_user_id: int | None = None


def weighted_choice(rng: random.Random, items: list, weights: list[float]) -> object:
    return rng.choices(items, weights=weights, k=1)[0]


def make_channels(spec: WorkspaceSpec) -> list[Channel]:
    created = int(spec.start_at.timestamp()) - 86_400 * 400
    return [
        Channel(
            channel_id=100_001 + index,
            kind=kind,
            source=CHANNEL_KINDS[kind][0],
            name=CHANNEL_KINDS[kind][1],
            created_at=created + index * 86_400,
        )
        for index, kind in enumerate(spec.channels)
    ]


def make_agents(spec: WorkspaceSpec, rng: random.Random) -> list[Agent]:
    agents = []
    for index in range(spec.agents):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        role = "manager" if index % 10 == 0 else "agent"
        agents.append(
            Agent(
                user_id=500_001 + index,
                first_name=first,
                last_name=last,
                email=f"{first}.{last}.{index}@example.com".lower(),
                role=role,
                team=TEAMS[index % len(TEAMS)],
                reply_speed=rng.lognormvariate(0.0, 0.5),
                capacity=0.4 if role == "manager" else rng.uniform(0.7, 1.4),
            )
        )
    return agents


def sample_local_instant(rng: random.Random, spec: WorkspaceSpec, day_index: int) -> datetime:
    """A UTC instant on the given local day, drawn from the hourly load curve."""
    local_day = spec.start + timedelta(days=day_index)
    hour = rng.choices(range(24), weights=HOURLY_LOAD, k=1)[0]
    local = datetime.combine(local_day, time(hour, rng.randrange(60), rng.randrange(60)))
    return local.replace(tzinfo=spec.zone).astimezone(ZoneInfo("UTC"))


@cache
def utc_day(day_number: int) -> str:
    """The ISO date of the `day_number`-th day since 1970-01-01 (UTC), i.e. of `ts // 86_400`."""
    return (date(1970, 1, 1) + timedelta(days=day_number)).isoformat()


@cache
def _day_weights(spec: WorkspaceSpec, first_day: int) -> tuple[list[int], list[float]]:
    """Days from `first_day` to the period's end and their cumulative weekly load (cached:
    every conversation draws a day)."""
    days = list(range(first_day, spec.days))
    weights = [WEEKDAY_LOAD[(spec.start + timedelta(days=d)).isoweekday()] for d in days]
    return days, list(accumulate(weights))


def sample_day(rng: random.Random, spec: WorkspaceSpec, first_day: int = 0) -> int:
    days, cumulative = _day_weights(spec, first_day)
    return rng.choices(days, cum_weights=cumulative, k=1)[0]


def next_business_moment(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` if it falls inside business hours, else the next opening (UTC in, UTC out)."""
    local = moment.astimezone(zone)
    for _ in range(8):
        hours = BUSINESS_HOURS.get(local.isoweekday())
        if hours:
            opening = datetime.combine(local.date(), hours[0], zone)
            closing = datetime.combine(local.date(), hours[1], zone)
            if local < opening:
                return opening.astimezone(ZoneInfo("UTC"))
            if local < closing:
                return moment
        local = datetime.combine(local.date() + timedelta(days=1), time(0), zone)
    return moment
