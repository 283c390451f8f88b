"""The dbt project as Dagster sees it, and how its manifest gets built.

Kept apart from the asset definitions so the CLI and tests can build the manifest before the
definitions (which need it) are imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import REPO_ROOT

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

wabi_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """`wabi-dbt` beside the running interpreter (so an unactivated virtualenv works): dbt, killed
    with the process that started it (`orchestration.dbt_child`)."""
    return str(Path(sys.prefix) / "bin" / "wabi-dbt")


def _newest_source_mtime() -> float:
    patterns = ("dbt_project.yml", "profiles.yml", "models/**/*", "macros/**/*", "tests/**/*")
    return max(
        path.stat().st_mtime
        for pattern in patterns
        for path in DBT_PROJECT_DIR.glob(pattern)
        if path.is_file()
    )


def prepare_manifest(force: bool = False) -> Path:
    """Run `dbt parse` when the manifest is missing or older than the project's files."""
    manifest = wabi_dbt_project.manifest_path
    if force or not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
            ],
            check=True,
            cwd=DBT_PROJECT_DIR,
        )
    return manifest


def mart_models() -> tuple[str, ...]:
    """The models under `models/marts/`: the contract's tables, which publish copies."""
    manifest = json.loads(wabi_dbt_project.manifest_path.read_text())
    return tuple(
        sorted(
            node["name"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["fqn"][1] == "marts"
        )
    )
