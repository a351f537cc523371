"""The ``lineage`` command line (typer + rich)."""
