"""`wabi demo` reuses its simulated workspace only when it is exactly the one it would make."""

from dataclasses import replace

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
