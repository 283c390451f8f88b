"""wabi's Dagster code location and the `wabi` command."""
