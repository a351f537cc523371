"""Settings of the Spark emitter, from arguments, Spark configuration and environment.

Precedence, highest first: keyword arguments of :func:`emitters.spark.enable_lineage`, the
Spark configuration key, the environment variable, the default.

=============================  ==============================  ===============  ============
Spark configuration            environment                     default          meaning
=============================  ==============================  ===============  ============
spark.lineage.enabled          LINEAGE_SPARK_ENABLED           false            autoload on
spark.lineage.namespace        LINEAGE_SPARK_NAMESPACE         default          job namespace
spark.lineage.appName          LINEAGE_SPARK_APP_NAME          spark.app.name   app job name
spark.lineage.emitReads        LINEAGE_SPARK_EMIT_READS        false            read-only runs
spark.lineage.computeDigests   LINEAGE_SPARK_COMPUTE_DIGESTS   true             output digests
spark.lineage.digestMaxBytes   LINEAGE_SPARK_DIGEST_MAX_BYTES  268435456        byte cap
spark.lineage.catalogNamespace LINEAGE_SPARK_CATALOG_NAMESPACE spark_catalog    table namespace
spark.lineage.queueSize        LINEAGE_SPARK_QUEUE_SIZE        1000             pending actions
spark.lineage.configFile       LINEAGE_CONFIG                  (client default) client YAML
spark.lineage.parent.runId     LINEAGE_SPARK_PARENT_RUN_ID     none             parent run
spark.lineage.parent.namespace LINEAGE_SPARK_PARENT_NAMESPACE  = namespace      parent job ns
spark.lineage.parent.jobName   LINEAGE_SPARK_PARENT_JOB_NAME   none             parent job
=============================  ==============================  ===============  ============

The client (transport, Kafka, topic) is configured as for every emitter
(:mod:`emitters.config`: ``LINEAGE_EMITTER__*``, ``LINEAGE_KAFKA__*``, ``LINEAGE_CONFIG``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lineage_pipeline.errors import ConfigError
from lineage_pipeline.events import JobRef, ParentRun

_KEYS: dict[str, tuple[str, str]] = {
    # field: (spark conf key, environment variable)
    "enabled": ("spark.lineage.enabled", "LINEAGE_SPARK_ENABLED"),
    "namespace": ("spark.lineage.namespace", "LINEAGE_SPARK_NAMESPACE"),
    "app_name": ("spark.lineage.appName", "LINEAGE_SPARK_APP_NAME"),
    "emit_reads": ("spark.lineage.emitReads", "LINEAGE_SPARK_EMIT_READS"),
    "compute_digests": ("spark.lineage.computeDigests", "LINEAGE_SPARK_COMPUTE_DIGESTS"),
    "digest_max_bytes": ("spark.lineage.digestMaxBytes", "LINEAGE_SPARK_DIGEST_MAX_BYTES"),
    "catalog_namespace": ("spark.lineage.catalogNamespace", "LINEAGE_SPARK_CATALOG_NAMESPACE"),
    "queue_size": ("spark.lineage.queueSize", "LINEAGE_SPARK_QUEUE_SIZE"),
    "config_file": ("spark.lineage.configFile", "LINEAGE_CONFIG"),
    "parent_run_id": ("spark.lineage.parent.runId", "LINEAGE_SPARK_PARENT_RUN_ID"),
    "parent_namespace": ("spark.lineage.parent.namespace", "LINEAGE_SPARK_PARENT_NAMESPACE"),
    "parent_job_name": ("spark.lineage.parent.jobName", "LINEAGE_SPARK_PARENT_JOB_NAME"),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(key: str, value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key}: expected true or false, got {value!r}")


def _int(key: str, value: str) -> int:
    try:
        out = int(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: expected an integer, got {value!r}") from exc
    if out <= 0:
        raise ConfigError(f"{key}: must be > 0, got {out}")
    return out


@dataclass(frozen=True)
class SparkLineageConfig:
    """Resolved settings of one :class:`~emitters.spark.emitter.SparkLineage`.

    ``namespace``: job namespace of the application and action runs; ``app_name``: job name
    of the application run (default: the Spark application name); ``emit_reads``: emit a
    run for actions that read without writing; ``compute_digests``: hash written local
    directories for the output version (bytes read above ``digest_max_bytes`` are skipped,
    see :mod:`emitters.spark.datasets`); ``catalog_namespace``: namespace of catalog tables
    (``None``: derived from the Hive metastore URI, else ``spark_catalog``);
    ``queue_size``: query executions waiting for the background thread before new ones are
    dropped (counted); ``config_file``: the client's YAML file; ``parent``: parent run
    facet of the application run.
    """

    enabled: bool = False
    namespace: str = "default"
    app_name: str | None = None
    emit_reads: bool = False
    compute_digests: bool = True
    digest_max_bytes: int = 256 * 1024 * 1024
    catalog_namespace: str | None = None
    queue_size: int = 1000
    config_file: str | None = None
    parent: ParentRun | None = None

    @classmethod
    def resolve(
        cls,
        conf_get: Callable[[str], str | None] | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> SparkLineageConfig:
        """Build the settings: ``overrides`` (non-``None`` keyword values) > ``conf_get(key)``
        (a Spark conf reader) > ``env`` (default ``os.environ``) > defaults.

        Raises :class:`~lineage_pipeline.errors.ConfigError` for an unknown override or a
        value of the wrong type.
        """
        environ = os.environ if env is None else env
        unknown = sorted(set(overrides) - set(cls.__dataclass_fields__) - set(_KEYS))
        if unknown:
            raise ConfigError(f"unknown Spark lineage setting(s): {', '.join(unknown)}")
        raw: dict[str, str] = {}
        for name, (conf_key, env_key) in _KEYS.items():
            value = conf_get(conf_key) if conf_get is not None else None
            if value is None:
                value = environ.get(env_key)
            if value is not None:
                raw[name] = value
        out = cls()
        parsed: dict[str, Any] = {}
        for name in ("enabled", "emit_reads", "compute_digests"):
            if name in raw:
                parsed[name] = _bool(_KEYS[name][0], raw[name])
        for name in ("digest_max_bytes", "queue_size"):
            if name in raw:
                parsed[name] = _int(_KEYS[name][0], raw[name])
        for name in ("namespace", "app_name", "catalog_namespace", "config_file"):
            if raw.get(name):
                parsed[name] = raw[name]
        out = replace(out, **parsed)
        run_id = overrides.pop("parent_run_id", None) or raw.get("parent_run_id")
        parent_job = overrides.pop("parent_job_name", None) or raw.get("parent_job_name")
        parent_ns = overrides.pop("parent_namespace", None) or raw.get("parent_namespace")
        explicit = {k: v for k, v in overrides.items() if v is not None}
        out = replace(out, **explicit)
        if out.parent is None and run_id and parent_job:
            out = replace(
                out,
                parent=ParentRun(
                    runId=run_id,
                    job=JobRef(namespace=parent_ns or out.namespace, name=parent_job),
                ),
            )
        return out
