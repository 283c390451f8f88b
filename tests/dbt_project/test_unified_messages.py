"""fct_messages reads respond.io's API and Meta's webhook captures and counts each WhatsApp
message once, on real dbt over real DuckDB files.

One simulated workspace (the demo's spec) and two warehouses, each built by one `dbt build`:
- both sources: the marts must equal the simulator's oracle exactly, as with respond.io alone,
  and failures carry Meta's error codes;
- Meta's captures only (respond.io's raw tables empty), with one capture line in LOST_EVERY
  dropped, as by a receiver that lost some POSTs: the WhatsApp figures must equal what an oracle
  computed here from the kept capture lines (not by the code under test) says Meta saw, which
  is at most the simulator's truth; contacts are keyed hashes of the customers' numbers.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extract.respondio import CONTACTS, MESSAGES
from simulator.model import WorkspaceSpec
from simulator.oracle import MESSAGES_DAILY_COLUMNS
from simulator.warehouse import Warehouse, Workspace, load_raw, new_warehouse, read_lines
from tests.dbt_project.warehouse import KEY, dbt_build

DEMO_SPEC = WorkspaceSpec(seed=7, contacts=400, agents=12, days=28, messages_per_day=250)
STATES = ("received", "sent", "delivered", "read", "failed")
RATES = ("delivery_rate", "read_rate", "failure_rate")
# The captures-only warehouse reads every capture line but one in LOST_EVERY, as from a receiver
# that lost some of Meta's POSTs: some messages are unknown, some known only from later statuses.
LOST_EVERY = 7


def _expected_messages_daily(workspace: Workspace) -> dict[tuple[str, str], dict[str, str]]:
    _, rows = workspace.expected("rpt_messages_daily")
    return {(row["report_date"], row["channel_id"]): row for row in rows}


@dataclass
class MetaCaptures:
    """What Meta's payloads in a set of capture files say, read with the standard library."""

    incoming: dict[str, tuple[int, str, str]]  # wamid -> (timestamp, phone_number_id, from)
    statuses: dict[str, list[tuple[str, int, str, str]]]  # wamid -> (status, ts, pnid, recipient)
    failures: dict[str, tuple[int, str]]  # wamid -> (code, title) of its earliest failed event

    @classmethod
    def read(cls, files: list[Path]) -> MetaCaptures:
        incoming: dict[str, tuple[int, str, str]] = {}
        statuses: dict[str, set[tuple[str, int, str, str]]] = defaultdict(set)
        failed: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for number, value in _change_values(files):
            for message in value.get("messages", []):
                incoming[message["id"]] = (int(message["timestamp"]), number, message["from"])
            for status in value.get("statuses", []):
                at = int(status["timestamp"])
                statuses[status["id"]].add((status["status"], at, number, status["recipient_id"]))
                for error in status.get("errors", [])[:1]:
                    failed[status["id"]].append((at, error["code"], error["title"]))
        return cls(
            incoming=incoming,
            statuses={wamid: sorted(events) for wamid, events in statuses.items()},
            failures={wamid: min(events)[1:] for wamid, events in failed.items()},
        )

    def messages_daily(self) -> dict[tuple[str, str], Counter[str]]:
        """(report_date, channel_id) -> counts, by the contract's rules: an incoming message on
        its timestamp's date; an outgoing one (a wamid known only from statuses) on its first
        `sent` event's date, else its earliest event's, at its furthest state."""
        rows: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for at, number, _ in self.incoming.values():
            rows[(_utc_date(at), f"whatsapp_cloud:{number}")]["received"] += 1
        for wamid, events in self.statuses.items():
            if wamid in self.incoming:
                continue
            values = {status for status, *_ in events}
            sent = [at for status, at, *_ in events if status == "sent"]
            reported_at = min(sent) if sent else min(at for _, at, *_ in events)
            row = rows[(_utc_date(reported_at), f"whatsapp_cloud:{events[0][2]}")]
            row["sent"] += 1
            row["delivered"] += bool(values & {"delivered", "read"})
            row["read"] += "read" in values
            row["failed"] += "failed" in values and not values & {"delivered", "read"}
        return rows


@dataclass(frozen=True)
class Built:
    """A warehouse built from some capture files, and what those files say."""

    warehouse: Warehouse
    captures: MetaCaptures

    def query(self, sql: str) -> list[tuple]:
        return self.warehouse.query(sql)

    def messages_daily(self) -> dict[tuple[str, str], dict[str, object]]:
        _, rows = self.warehouse.rows("rpt_messages_daily")
        return {(str(row["report_date"]), row["channel_id"]): row for row in rows}


def _change_values(files: list[Path]) -> Iterator[tuple[str, dict]]:
    """(phone_number_id, value) of every change of every payload in `files`."""
    for path in files:
        for line in read_lines(path):
            try:
                payload = json.loads(line)
            except ValueError:
                continue  # a truncated line: the loader rejects it too
            for entry in payload.get("entry", []):
                for change in entry.get("changes", []):
                    value = change.get("value", {})
                    yield value.get("metadata", {}).get("phone_number_id"), value


def _utc_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _build(
    workspace: Workspace, data_dir: Path, *, respondio: bool, capture_files: list[Path]
) -> Built:
    """Load the raw tables (empty where a source is left out) and run `dbt build` once."""
    warehouse = new_warehouse(data_dir)
    captures_dir = data_dir / "captures"
    captures_dir.mkdir()
    for path in capture_files:
        shutil.copy2(path, captures_dir / path.name)
    api = {
        table: workspace.api_records(name)
        for table, name in ((MESSAGES, "messages.jsonl"), (CONTACTS, "contacts.jsonl"))
    }
    load_raw(warehouse, api if respondio else None, captures_dir)
    dbt_build(warehouse)
    return Built(warehouse, MetaCaptures.read(capture_files))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.generate(DEMO_SPEC, tmp_path_factory.mktemp("demo_workspace"))


@pytest.fixture(scope="module")
def both_sources(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Built:
    files = sorted(path for path in workspace.meta_dir.iterdir() if path.is_file())
    data_dir = tmp_path_factory.mktemp("both_sources") / "data"
    return _build(workspace, data_dir, respondio=True, capture_files=files)


@pytest.fixture(scope="module")
def captures_only(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Built:
    lossy_dir = tmp_path_factory.mktemp("lossy_captures")
    for path in sorted(workspace.meta_dir.iterdir()):
        lines = read_lines(path)
        kept = [line for number, line in enumerate(lines) if number % LOST_EVERY != 1]
        (lossy_dir / path.name.removesuffix(".gz")).write_text("".join(kept), encoding="utf-8")
    data_dir = tmp_path_factory.mktemp("captures_only") / "data"
    return _build(workspace, data_dir, respondio=False, capture_files=sorted(lossy_dir.iterdir()))


# -- both sources ---------------------------------------------------------------------------


def test_with_both_sources_messages_daily_equals_the_oracle_exactly(workspace, both_sources):
    expected = _expected_messages_daily(workspace)
    actual = both_sources.messages_daily()

    assert len(expected) > 100
    assert actual.keys() == expected.keys()
    mismatches = []
    for key, row in expected.items():
        for column in MESSAGES_DAILY_COLUMNS:
            if actual[key][column] != int(row[column]):
                mismatches.append((key, column, row[column], actual[key][column]))
        for column in RATES:
            want = None if row[column] == "" else float(row[column])
            got = actual[key][column]
            if (want is None) != (got is None) or (want is not None and abs(want - got) > 1e-9):
                mismatches.append((key, column, row[column], got))
    assert mismatches == []


def test_with_both_sources_each_message_is_one_row(workspace, both_sources):
    api_ids = {
        record["channelMessageId"]
        if record["channelMessageId"].startswith("wamid.")
        else f"respondio:{record['messageId']}"
        for record in workspace.api_records("messages.jsonl")
    }
    meta_ids = both_sources.captures.incoming.keys() | both_sources.captures.statuses.keys()
    (rows, distinct_ids), *_ = both_sources.query(
        "select count(*), count(distinct message_id) from marts.fct_messages"
    )
    fact_ids = {row[0] for row in both_sources.query("select message_id from marts.fct_messages")}

    assert meta_ids
    assert meta_ids <= api_ids  # the simulator's Meta sees only respond.io's WhatsApp traffic
    assert rows == distinct_ids == len(api_ids)
    assert fact_ids == api_ids


def test_with_both_sources_failures_carry_metas_error_code_and_title(both_sources):
    failures = both_sources.captures.failures
    actual = {
        message_id: (error_code, error_title)
        for message_id, error_code, error_title in both_sources.query(
            "select message_id, error_code, error_title from marts.fct_messages "
            "where failed_at is not null and message_id like 'wamid.%'"
        )
    }

    assert len(failures) > 20
    assert {wamid: actual.get(wamid) for wamid in failures} == failures
    # a failure Meta never reported has respond.io's text but no code
    assert all(code is None for wamid, (code, _) in actual.items() if wamid not in failures)


# -- captures only --------------------------------------------------------------------------


def test_with_captures_only_whatsapp_figures_are_what_the_capture_files_show(
    workspace, captures_only
):
    expected = captures_only.captures.messages_daily()
    actual = captures_only.messages_daily()

    assert actual.keys() == expected.keys()
    mismatches = {
        key: (dict(expected[key]), {state: actual[key][state] for state in STATES})
        for key in expected
        if any(actual[key][state] != expected[key][state] for state in STATES)
    }
    assert mismatches == {}
    # Meta knows the sender of no outgoing message.
    assert all(
        row[f"sent_by_{sender}"] == 0
        for row in actual.values()
        for sender in ("user", "workflow", "broadcast", "api")
    )
    # What Meta saw is at most the truth: the oracle's WhatsApp channel.
    whatsapp_channels = {str(channel) for channel in _whatsapp_channel_ids(workspace)}
    truth: Counter[str] = Counter()
    for (_, channel), row in _expected_messages_daily(workspace).items():
        if channel in whatsapp_channels:
            truth.update({state: int(row[state]) for state in STATES})
    seen: Counter[str] = Counter()
    for row in actual.values():
        seen.update({state: row[state] for state in STATES})
    assert 0 < seen["received"] < truth["received"]
    assert all(0 < seen[state] <= truth[state] for state in STATES)


def test_with_captures_only_messages_known_from_later_statuses_are_reported(captures_only):
    """Outgoing messages whose `sent` payload was lost are known from their later events, and
    reported on the earliest of them (the figures test checks the dates)."""
    rows = captures_only.query(
        """select count(*) from marts.fct_messages
        where direction = 'outgoing' and sent_at is null and status in ('delivered', 'read')"""
    )
    assert rows[0][0] > 0


def test_with_captures_only_contacts_are_keyed_phone_hashes(captures_only):
    captures = captures_only.captures
    numbers = {number for *_, number in captures.incoming.values()} | {
        events[0][3] for events in captures.statuses.values()
    }
    contacts = {row[0] for row in captures_only.query("select contact_id from marts.fct_messages")}
    senders = captures_only.query(
        "select direction, sender_type, count(*) from marts.fct_messages group by all"
    )

    assert contacts == {f"whatsapp_cloud:{KEY.phone_hash(number)}" for number in numbers}
    assert not any(number in contact for number in numbers for contact in contacts)
    assert {(direction, sender) for direction, sender, _ in senders} == {
        ("incoming", "contact"),
        ("outgoing", None),
    }


def _whatsapp_channel_ids(workspace: Workspace) -> list[int]:
    channels = json.loads((workspace.root / "api" / "channels.json").read_text())
    return [channel["id"] for channel in channels if channel["source"] == "whatsapp_cloud"]
