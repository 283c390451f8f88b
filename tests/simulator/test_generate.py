"""The simulated workspace: deterministic, and its oracle agrees with the records it serves."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from simulator import captures
from simulator.generate import generate
from simulator.oracle import read_expected
from tests.conftest import TINY_SPEC


def _digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_spec_gives_byte_identical_workspaces(tmp_path):
    generate(TINY_SPEC, tmp_path / "a")
    generate(TINY_SPEC, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_days_sorted_in_runs_merged_from_disk_give_the_same_bytes(tmp_path, monkeypatch):
    """A day bigger than the sort buffer is sorted in runs and merged: same files, fewer bytes
    held. The faults add truncated lines, whose order against their full line matters."""
    generate(TINY_SPEC, tmp_path / "whole", faults="heavy")
    monkeypatch.setattr(captures, "SORT_RUN_BYTES", 2_000)
    generate(TINY_SPEC, tmp_path / "runs", faults="heavy")
    assert _digest(tmp_path / "whole") == _digest(tmp_path / "runs")
    assert not list((tmp_path / "runs").rglob("*.run*"))


def test_another_seed_gives_another_workspace(tmp_path):
    generate(TINY_SPEC, tmp_path / "a")
    generate(replace(TINY_SPEC, seed=TINY_SPEC.seed + 1), tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "b")


def test_oracle_totals_match_the_served_records(tiny_workspace):
    """The oracle is computed from true events; the API records are serialised separately."""
    messages = [json.loads(line) for line in (tiny_workspace / "api" / "messages.jsonl").open()]
    expected = read_expected(tiny_workspace, "rpt_messages_daily")

    outgoing = [m for m in messages if m["traffic"] == "outgoing"]
    assert sum(int(r["received"]) for r in expected) == len(messages) - len(outgoing)
    assert sum(int(r["sent"]) for r in expected) == len(outgoing)
    assert sum(int(r["read"]) for r in expected) == sum(
        any(s["value"] == "read" for s in m["status"]) for m in outgoing
    )


def test_statuses_move_forward_in_time_and_failures_carry_a_reason(tiny_workspace):
    order = {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 1}
    for line in (tiny_workspace / "api" / "messages.jsonl").open():
        message = json.loads(line)
        if message["traffic"] != "outgoing":
            assert "status" not in message
            continue
        statuses = message["status"]
        assert [s["timestamp"] for s in statuses] == sorted(s["timestamp"] for s in statuses)
        assert [order[s["value"]] for s in statuses] == sorted(order[s["value"]] for s in statuses)
        assert all(s.get("message") for s in statuses if s["value"] == "failed")


def test_whatsapp_messages_carry_a_wamid_and_others_do_not(tiny_workspace):
    channels = {
        c["id"]: c["source"]
        for c in json.loads((tiny_workspace / "api" / "channels.json").read_text())
    }
    for line in (tiny_workspace / "api" / "messages.jsonl").open():
        message = json.loads(line)
        is_whatsapp = channels[message["channelId"]] == "whatsapp_cloud"
        assert message["channelMessageId"].startswith("wamid.") == is_whatsapp
