"""The ``lineage`` command line (typer + rich)."""

import os

# The CLI uses no pydantic plugins; looking for them reads the metadata of every installed
# distribution (importlib.metadata) on the first model class, a cost every command paid at
# start-up. An explicit PYDANTIC_DISABLE_PLUGINS in the environment is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
