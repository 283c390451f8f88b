"""A simulated month looks like a real WhatsApp-first business, read from the files it wrote:
the API records, respond.io's webhook events, Meta's webhook captures and the oracle's reports.
"""

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from simulator.generate import generate
from simulator.model import WorkspaceSpec

SPEC = WorkspaceSpec(
    seed=5, contacts=600, agents=10, days=30, messages_per_day=400, timezone="America/New_York"
)
END_AT = int(SPEC.end_at.timestamp())
# A Meta payload arrives at most 30 s after its event, a late status at most 8 h more.
MAX_CAPTURE_DELAY = 30 + 8 * 3600 + 60
WINDOW_SECONDS = 24 * 3600
MENTION = re.compile(r"\{\{@user\.(\d+)\}\}")


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _local(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(SPEC.zone)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("realism_workspace")
    generate(SPEC, out_dir)
    return out_dir


@pytest.fixture(scope="module")
def messages(workspace) -> list[dict]:
    return _jsonl(workspace / "api" / "messages.jsonl")


@pytest.fixture(scope="module")
def users(workspace) -> list[dict]:
    return json.loads((workspace / "api" / "users.json").read_text())


@pytest.fixture(scope="module")
def whatsapp_channel_ids(workspace) -> set[int]:
    channels = json.loads((workspace / "api" / "channels.json").read_text())
    return {c["id"] for c in channels if c["source"] == "whatsapp_cloud"}


@pytest.fixture(scope="module")
def events(workspace) -> list[dict]:
    """respond.io webhook events in arrival order, redeliveries dropped."""
    seen, unique = set(), []
    for path in sorted((workspace / "captures" / "respondio_events").glob("*.jsonl")):
        for event in _jsonl(path):
            if event["eventId"] not in seen:
                seen.add(event["eventId"])
                unique.append(event)
    return unique


@pytest.fixture(scope="module")
def meta_statuses(workspace) -> list[tuple[str, dict]]:
    """Every `statuses[]` element of the Meta captures in arrival order, as (raw line, status)."""
    found = []
    for path in sorted((workspace / "captures" / "whatsapp_cloud").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            payload = json.loads(line)
            for entry in payload["entry"]:
                for change in entry["changes"]:
                    found.extend((line, s) for s in change["value"].get("statuses", []))
    return found


@pytest.fixture(scope="module")
def meta_wamids(workspace) -> set[str]:
    """The wamids of every incoming message and status in the Meta captures."""
    wamids = set()
    for path in sorted((workspace / "captures" / "whatsapp_cloud").glob("*.jsonl")):
        for payload in _jsonl(path):
            for entry in payload["entry"]:
                for change in entry["changes"]:
                    value = change["value"]
                    wamids.update(m["id"] for m in value.get("messages", []))
                    wamids.update(s["id"] for s in value.get("statuses", []))
    return wamids


def _events_of(events, name):
    return [e for e in events if e["event"] == name]


def test_the_busiest_hour_of_incoming_messages_is_a_weekday_business_hour(messages):
    slots = Counter(
        (_local(m["timestamp"]).isoweekday(), _local(m["timestamp"]).hour)
        for m in messages
        if m["traffic"] == "incoming"
    )
    (weekday, hour), _ = slots.most_common(1)[0]
    assert weekday <= 5
    assert 9 <= hour < 18


def test_weekdays_are_busier_than_weekend_days(messages):
    per_day = Counter(_local(m["timestamp"]).date() for m in messages)
    weekday = [n for day, n in per_day.items() if day.isoweekday() <= 5]
    weekend = [n for day, n in per_day.items() if day.isoweekday() > 5]
    assert weekday
    assert weekend
    assert sum(weekday) / len(weekday) > sum(weekend) / len(weekend)


def test_whatsapp_carries_the_most_messages(messages, whatsapp_channel_ids):
    per_channel = Counter(m["channelId"] for m in messages)
    assert len(per_channel) > 1
    assert per_channel.most_common(1)[0][0] in whatsapp_channel_ids


def test_daily_delivered_and_read_never_exceed_what_came_before(workspace):
    with (workspace / "expected" / "rpt_messages_daily.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        sent, delivered, read = (int(row[c]) for c in ("sent", "delivered", "read"))
        assert delivered <= sent, row
        assert read <= delivered, row
    assert sum(int(r["read"]) for r in rows) > 0


def test_some_conversations_are_reopened_soon_after_closing(events):
    history = defaultdict(list)  # contact -> [(openedAt, closedAt or None)]
    closed_at = {
        e["conversation"]["id"]: e["conversation"]["closedAt"]
        for e in _events_of(events, "conversationClosed")
    }
    for event in _events_of(events, "conversationOpened"):
        conversation = event["conversation"]
        history[event["contact"]["id"]].append(
            (conversation["openedAt"], closed_at.get(conversation["id"]))
        )
    reopened = 0
    for cycles in history.values():
        cycles.sort(key=lambda cycle: cycle[0])
        for (_, previous_close), (next_open, _) in pairwise(cycles):
            assert previous_close is not None, "a contact has one open conversation at a time"
            assert next_open > previous_close
            reopened += next_open - previous_close <= 2 * 3600
    assert reopened > 0


def test_conversations_are_opened_closed_and_assigned_by_every_kind_of_actor(events):
    opened_by = Counter(
        e["conversation"]["openedBy"]["source"] for e in _events_of(events, "conversationOpened")
    )
    closed_by = Counter(
        e["conversation"]["closedBy"]["source"] for e in _events_of(events, "conversationClosed")
    )
    assignments = _events_of(events, "contactAssigneeUpdated")
    assigned_by = Counter(e["assignedBy"]["source"] for e in assignments)
    assert {"contact", "user", "workflow", "api"} <= set(opened_by)
    assert {"user", "workflow", "auto_close"} <= set(closed_by)
    assert {"workflow", "user"} <= set(assigned_by)
    reassigned = [
        e
        for e in assignments
        if e["assignee"] and e["previousAssignee"]
        if e["assignee"]["id"] != e["previousAssignee"]["id"]
    ]
    unassigned = [e for e in assignments if e["assignee"] is None]
    assert reassigned
    assert unassigned
    assert all(e["previousAssignee"] is not None for e in unassigned)


def test_comments_exist_and_some_mention_a_user(events, users):
    comments = _events_of(events, "newComment")
    user_ids = {u["id"] for u in users}
    assert comments
    assert {c["comment"]["userId"] for c in comments} <= user_ids
    mentioned = [int(m) for c in comments for m in MENTION.findall(c["comment"]["text"])]
    assert mentioned
    assert set(mentioned) <= user_ids


def test_contacts_are_created_by_every_source(events):
    sources = Counter(e["contact"]["source"] for e in _events_of(events, "newContact"))
    assert set(sources) == {"incoming_message", "user", "contact_import", "developer_api"}


def test_some_contacts_are_deleted_and_vanish_from_the_api_and_messages(
    workspace, events, messages
):
    """Deleted contacts are gone from the contact list, had no message, and the oracle counts
    each on the local day of its `contactDeleted` event."""
    deleted = {e["contact"]["id"]: e for e in _events_of(events, "contactDeleted")}
    added = {e["contact"]["id"]: e for e in _events_of(events, "newContact")}
    assert len(deleted) >= 3
    listed = {c["id"] for c in _jsonl(workspace / "api" / "contacts.jsonl")}
    assert not set(deleted) & listed
    assert set(deleted) | listed == set(added)
    assert not set(deleted) & {m["contactId"] for m in messages}
    assert all(e["timestamp"] > added[cid]["timestamp"] for cid, e in deleted.items())
    assert all(e["deletedBy"]["source"] == "user" for e in deleted.values())
    expected = Counter(_local(e["timestamp"]).date().isoformat() for e in deleted.values())
    with (workspace / "expected" / "rpt_contacts_daily.csv").open(newline="") as handle:
        reported = {
            row["report_date"]: int(row["deleted_contacts"])
            for row in csv.DictReader(handle)
            if row["deleted_contacts"] != "0"
        }
    assert reported == expected


def test_every_kind_of_whatsapp_failure_occurs(meta_statuses):
    codes = Counter(
        error["code"]
        for _, status in meta_statuses
        if status["status"] == "failed"
        for error in status["errors"]
    )
    assert {131047, 131026, 131049, 130472} <= set(codes)


def test_re_engagement_failures_are_sends_outside_the_24_hour_window(messages, meta_statuses):
    by_wamid = {m["channelMessageId"]: m for m in messages}
    incoming_times = defaultdict(list)
    for message in messages:
        if message["traffic"] == "incoming":
            incoming_times[message["contactId"]].append(message["timestamp"])
    failed_wamids = {
        status["id"]
        for _, status in meta_statuses
        if status["status"] == "failed" and any(e["code"] == 131047 for e in status["errors"])
    }
    assert failed_wamids
    for wamid in failed_wamids:
        message = by_wamid[wamid]
        assert message["traffic"] == "outgoing"
        assert message["message"]["type"] != "whatsapp_template"
        failed_at = next(s["timestamp"] for s in message["status"] if s["value"] == "failed")
        previous = [t for t in incoming_times[message["contactId"]] if t <= message["timestamp"]]
        if previous:
            assert failed_at - max(previous) > WINDOW_SECONDS, message


def test_whatsapp_messages_carry_the_same_wamid_in_both_sources(
    messages, whatsapp_channel_ids, meta_wamids
):
    whatsapp = [m for m in messages if m["channelId"] in whatsapp_channel_ids]
    api_wamids = {m["channelMessageId"] for m in whatsapp}
    assert meta_wamids <= api_wamids
    checked = 0
    for message in whatsapp:
        if message["traffic"] == "incoming":
            event_times = [message["timestamp"]]
        else:  # respond.io's own `pending` never reaches Meta
            event_times = [s["timestamp"] for s in message["status"] if s["value"] != "pending"]
        if event_times and min(event_times) < END_AT - MAX_CAPTURE_DELAY:
            assert message["channelMessageId"] in meta_wamids, message
            checked += 1
    assert checked > 0.9 * len(whatsapp)


def test_meta_captures_hold_out_of_order_and_duplicated_statuses(meta_statuses):
    rank = {"sent": 1, "delivered": 2, "read": 3, "failed": 2}
    lines = Counter(line for line, _ in meta_statuses)
    assert any(n > 1 for n in lines.values()), "no status payload was delivered twice"
    furthest: dict[str, int] = {}
    out_of_order = 0
    seen = set()
    for line, status in meta_statuses:
        if line in seen:
            continue  # a redelivery is not a status out of order
        seen.add(line)
        wamid, value = status["id"], rank[status["status"]]
        out_of_order += value < furthest.get(wamid, 0)
        furthest[wamid] = max(furthest.get(wamid, 0), value)
    assert out_of_order > 0
