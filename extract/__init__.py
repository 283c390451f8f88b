"""Source clients and the raw loader: plain Python (no Dagster), reused by assets, CLI and tests."""
