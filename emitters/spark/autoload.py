"""Configuration-only activation: enable lineage on sessions created by unchanged code.

Importing this module wraps ``pyspark.sql.SparkSession.Builder.getOrCreate`` (the entry point
of every classic session: scripts, ``spark-submit``, the ``pyspark`` shell) so that each
session it returns gets :func:`emitters.spark.enable_lineage` when its configuration says
so: ``spark.lineage.enabled=true`` (``--conf``, ``spark-defaults.conf``, ``builder.config``)
or ``LINEAGE_SPARK_ENABLED=1``. A session already active at import time is checked too.
Every other ``spark.lineage.*`` key / ``LINEAGE_SPARK_*`` variable applies
(:mod:`emitters.spark.config`).

Ways to get the import run without editing the job:

- ``python -m emitters.spark job.py args...`` (:mod:`emitters.spark.__main__`), which also
  marks the application run FAIL when the script raises;
- the interactive shell: ``PYTHONSTARTUP=startup.py pyspark`` with ``startup.py`` holding
  ``import emitters.spark.autoload`` (``bin/pyspark`` runs the user's startup file after it
  created ``spark``).

Failures while enabling are logged and counted, never raised into the job.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from emitters.spark.config import SparkLineageConfig
from emitters.spark.emitter import _count_error

log = logging.getLogger("emitters.spark")

_state: dict[str, Any] = {"original": None, "force": False, "overrides": {}}


def _conf_reader(session: Any) -> Any:
    from emitters.spark import _conf_reader as reader

    return reader(session)


def maybe_enable(session: Any) -> None:
    """Enable lineage on ``session`` if configured (or forced by :func:`install`); never
    raises."""
    try:
        if getattr(session, "_jsparkSession", None) is None:
            return  # Spark Connect: nothing to hook
        from emitters.spark import enable_lineage, lineage_handle

        if lineage_handle(session) is not None:
            return
        config = SparkLineageConfig.resolve(_conf_reader(session), **_state["overrides"])
        if _state["force"] or config.enabled:
            enable_lineage(session, config=config)
    except Exception as exc:
        _count_error("autoload", exc)


def install(force: bool = False, **overrides: Any) -> None:
    """Wrap ``SparkSession.Builder.getOrCreate`` (once) and check the active session.

    ``force``: enable on every session regardless of ``spark.lineage.enabled``;
    ``overrides``: :class:`~emitters.spark.config.SparkLineageConfig` fields (``None``
    values are ignored). Calling it again updates ``force``/``overrides``.
    """
    from pyspark.sql.session import SparkSession

    _state["force"] = _state["force"] or force
    _state["overrides"] = {k: v for k, v in overrides.items() if v is not None}
    builder = SparkSession.Builder
    if _state["original"] is None:
        original = builder.getOrCreate

        @functools.wraps(original)
        def get_or_create(self: Any) -> Any:
            session = original(self)
            maybe_enable(session)
            return session

        _state["original"] = original
        builder.getOrCreate = get_or_create  # type: ignore[method-assign]
    active = SparkSession.getActiveSession()
    if active is not None:
        maybe_enable(active)


def uninstall() -> None:
    """Restore the original ``getOrCreate`` (open handles stay open)."""
    from pyspark.sql.session import SparkSession

    original = _state["original"]
    if original is not None:
        SparkSession.Builder.getOrCreate = original  # type: ignore[method-assign]
    _state.update(original=None, force=False, overrides={})


install()
