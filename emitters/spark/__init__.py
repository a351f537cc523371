"""Spark emitter (extra ``[spark]``): table- and column-level lineage from Spark query plans.

One call::

    from emitters.spark import enable_lineage

    spark = SparkSession.builder.appName("features").getOrCreate()
    enable_lineage(spark, namespace="ml")          # application run START
    df = spark.read.parquet("data/payments.parquet").join(...).groupBy(...).agg(...)
    df.write.mode("overwrite").parquet("data/features")   # one run: inputs, output, columns
    spark.stop()                                   # application run COMPLETE

Without changing the job's code (configuration only), any of:

- ``python -m emitters.spark job.py [args...]`` runs the script with lineage enabled on
  every session it creates (options: ``--namespace``, ``--app-name``, ``--emit-reads``);
- ``spark.lineage.enabled=true`` in the session's configuration (``--conf`` of
  ``spark-submit``, ``spark-defaults.conf``, ``builder.config``) or
  ``LINEAGE_SPARK_ENABLED=1``, together with ``import emitters.spark.autoload`` anywhere
  before the session is created, e.g. from the interactive ``pyspark`` shell by
  ``PYTHONSTARTUP=<a file containing that import>`` (the shell runs it after creating
  ``spark``) -- see :mod:`emitters.spark.autoload`.

Each write action (``DataFrameWriter`` save/parquet/csv/json/orc/text, ``insertInto``,
``saveAsTable``, ``CREATE TABLE ... AS SELECT`` and ``INSERT ... SELECT`` through
``spark.sql``, JDBC writes) becomes one run, a child of the application run, with inputs,
outputs, schemas, column lineage, row counts and output version. Reads emit nothing unless
``emit_reads``. Modules: :mod:`.emitter` (listener, thread, lifecycle), :mod:`.actions`
(events of one execution), :mod:`.plan` and :mod:`.lineage` (plan JSON and column lineage),
:mod:`.jvm` (every py4j call), :mod:`.datasets` (names, versions), :mod:`.config`.
"""

from __future__ import annotations

from typing import Any

from emitters.spark.config import SparkLineageConfig
from emitters.spark.emitter import EventClient, SparkLineage, registered, remember
from lineage_pipeline.errors import ConfigError
from lineage_pipeline.events import ParentRun


def _conf_reader(spark: Any) -> Any:
    """A reader of the session's runtime configuration (it includes the SparkConf keys the
    session was created with and keys set later by ``builder.config`` / ``spark.conf``)."""

    def get(key: str) -> str | None:
        try:
            value = spark.conf.get(key, None)
        except Exception:
            value = None
        return str(value) if value is not None else None

    return get


def enable_lineage(
    spark: Any,
    client: EventClient | None = None,
    *,
    namespace: str | None = None,
    app_name: str | None = None,
    parent: ParentRun | None = None,
    emit_reads: bool | None = None,
    compute_digests: bool | None = None,
    config: SparkLineageConfig | None = None,
) -> SparkLineage:
    """Capture lineage of every write action of ``spark`` (a classic ``SparkSession``).

    ``client``: where events go (default :func:`emitters.client.get_client`, configured by
    environment / ``spark.lineage.configFile``); ``namespace``, ``app_name``, ``parent``,
    ``emit_reads``, ``compute_digests``: see :class:`SparkLineageConfig` (arguments win over
    ``spark.lineage.*`` configuration and ``LINEAGE_SPARK_*`` variables); ``config``: a
    fully resolved configuration instead. Emits the application run's START and returns
    its :class:`SparkLineage` handle (``flush()``, ``close()``); calling it again on the
    same session returns the open handle. Raises
    :class:`~lineage_pipeline.errors.ConfigError` for a Spark Connect session (no JVM to
    hook) or an invalid setting.
    """
    if getattr(spark, "_jsparkSession", None) is None:
        raise ConfigError(
            "emitters.spark needs a classic SparkSession with a JVM (not Spark Connect)"
        )
    existing = registered(spark)
    if existing is not None:
        return existing
    if config is None:
        config = SparkLineageConfig.resolve(
            _conf_reader(spark),
            namespace=namespace,
            app_name=app_name,
            parent=parent,
            emit_reads=emit_reads,
            compute_digests=compute_digests,
        )
    if client is None:
        from emitters.client import LineageClient, get_client

        client = (
            LineageClient.from_config(config.config_file)
            if config.config_file
            else get_client()
        )
    handle = SparkLineage(spark, client, config)
    remember(spark, handle)
    return handle.start()


def disable_lineage(spark: Any, timeout_s: float = 10.0) -> None:
    """Stop capturing on ``spark``: handle what is queued, emit the application COMPLETE.
    Does nothing when lineage is not enabled; never raises."""
    handle = registered(spark)
    if handle is not None:
        handle.close(timeout_s)


def lineage_handle(spark: Any) -> SparkLineage | None:
    """The open :class:`SparkLineage` of ``spark``, or ``None``."""
    return registered(spark)


__all__ = [
    "EventClient",
    "SparkLineage",
    "SparkLineageConfig",
    "disable_lineage",
    "enable_lineage",
    "lineage_handle",
]
