"""`wabi docs`: dbt's documentation site, built from the warehouse with the refresh's vars."""

import json
import threading
import urllib.request

from orchestration.cli import main
from orchestration.dbt_docs import DOCS_DIR, serve_docs
from tests.conftest import WABI_VARIABLES


def test_docs_are_built_with_every_column_definition_and_served(pipeline_copy, monkeypatch, capsys):
    for name in (*WABI_VARIABLES, "DAGSTER_HOME"):  # restored afterwards: the command sets them
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("DAGSTER_HOME", str(pipeline_copy.data_dir / "dagster_home"))

    code = main(["docs", "--no-serve", "--data-dir", str(pipeline_copy.data_dir)])

    site = pipeline_copy.data_dir / DOCS_DIR
    assert code == 0
    assert f"{site / 'index.html'}" in capsys.readouterr().out
    manifest = json.loads((site / "manifest.json").read_text())
    read_ratio = manifest["nodes"]["model.wabi.rpt_whatsapp_app_statistics"]["columns"][
        "read_ratio"
    ]
    assert read_ratio["description"] == "read / sent; NULL when nothing was sent."
    catalog = json.loads((site / "catalog.json").read_text())
    assert (
        "engagement_ratio" in catalog["nodes"]["model.wabi.rpt_whatsapp_app_statistics"]["columns"]
    )

    server = serve_docs(site, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert b"dbt" in response.read()
    finally:
        server.shutdown()
        server.server_close()
