"""`wabi demo` reuses its simulated workspace only when it is exactly the one it would make, and
a time zone unknown to Python or DuckDB stops a command with one line before anything runs."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from orchestration.cli import ensure_workspace
from simulator.generate import generate
from simulator.model import WorkspaceSpec

SPEC = WorkspaceSpec(contacts=20, days=3, messages_per_day=30)


def _stamp(directory):
    return (directory / "workspace.json").stat().st_mtime_ns


def test_the_same_spec_is_reused(tmp_path):
    assert ensure_workspace(SPEC, tmp_path)
    before = _stamp(tmp_path)
    assert not ensure_workspace(SPEC, tmp_path)
    assert _stamp(tmp_path) == before


def test_another_spec_or_a_faulty_workspace_is_regenerated(tmp_path):
    generate(SPEC, tmp_path, faults="heavy")
    assert ensure_workspace(SPEC, tmp_path)
    assert '"faults": "none"' in (tmp_path / "workspace.json").read_text()

    ensure_workspace(replace(SPEC, seed=SPEC.seed + 1), tmp_path)
    assert f'"seed": {SPEC.seed + 1}' in (tmp_path / "workspace.json").read_text()


def test_a_workspace_made_by_other_simulator_code_is_regenerated(tmp_path):
    ensure_workspace(SPEC, tmp_path)
    manifest = tmp_path / "workspace.json"
    manifest.write_text(manifest.read_text().replace('"generator": "', '"generator": "old'))
    assert ensure_workspace(SPEC, tmp_path)
    assert '"generator": "old' not in manifest.read_text()


def _wabi(arguments, tmp_path, **variables):
    """`wabi` as users run it, in a process of its own, with only `variables` of wabi's set."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("WABI_") and name != "DAGSTER_HOME"
    }
    env |= {"WABI_DATA_DIR": str(tmp_path / "data"), **variables}
    return subprocess.run(
        [str(Path(sys.prefix) / "bin" / "wabi"), *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


BAD_ZONE = "Mars/Olympus'; drop table x; --"


@pytest.mark.parametrize("command", ["refresh", "demo"])
def test_an_unknown_wabi_timezone_stops_refresh_and_demo_before_anything_runs(tmp_path, command):
    ran = _wabi([command], tmp_path, WABI_TIMEZONE=BAD_ZONE)
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [
        f"wabi: WABI_TIMEZONE must be an IANA time zone name such as Europe/Berlin, "
        f"not {BAD_ZONE!r}"
    ]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", ["refresh", "demo", "simulate"])
def test_an_unknown_timezone_flag_is_refused_by_name(tmp_path, command):
    arguments = [command, "--timezone", "Europe/Atlantis"]
    if command == "simulate":
        arguments += ["--out", str(tmp_path / "workspace")]
    ran = _wabi(arguments, tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [
        "wabi: --timezone must be an IANA time zone name such as Europe/Berlin, "
        "not 'Europe/Atlantis'"
    ]
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "workspace").exists()


def test_a_known_timezone_flag_is_taken(tmp_path):
    ran = _wabi(
        [
            "simulate",
            "--timezone",
            "Asia/Kathmandu",
            "--contacts",
            "10",
            "--agents",
            "2",
            "--days",
            "1",
            "--messages-per-day",
            "10",
            "--out",
            str(tmp_path / "workspace"),
        ],
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    manifest = json.loads((tmp_path / "workspace" / "workspace.json").read_text())
    assert manifest["spec"]["timezone"] == "Asia/Kathmandu"
