"""Every ``LINEAGE_*`` environment variable the project reads, so a typo is an error.

A variable is known when it is

- a settings path of :class:`~lineage_pipeline.settings.LineageSettings`:
  ``LINEAGE_<FIELD>[__<FIELD>...]`` (case-insensitive, as pydantic-settings reads it), each
  part a field of the section before it, down to a leaf; a section may be given whole as
  JSON (``LINEAGE_KAFKA='{...}'``), and below a mapping field (``kafka.extra``, the
  ``emitter`` section, which the emitter validates itself) any key goes;
- or one of :data:`OTHER_VARIABLES` (read outside the settings: the config file's path,
  the PII policy, the Spark emitter, log level, the local stack's engines, Docker Compose).

:func:`unknown_variables` lists the others; :func:`~lineage_pipeline.settings.load_settings`
refuses them with :class:`~lineage_pipeline.errors.ConfigError` naming each one (the CLI and
the services exit 2; the emitter inside a job falls back to its spool instead, see
:func:`emitters.client.get_client`).
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

PREFIX = "LINEAGE_"

#: Variables read outside :class:`~lineage_pipeline.settings.LineageSettings`, and by whom.
OTHER_VARIABLES: dict[str, str] = {
    "LINEAGE_CONFIG": "the configuration file (lineage_pipeline.settings)",
    "LINEAGE_ROLE": "the caller's role for PII redaction (lineage CLI)",
    "LINEAGE_PII_PATTERNS": "PII classification patterns (lineage_pipeline.pii)",
    "LINEAGE_PII_SENSITIVE": "sensitive tag prefixes (lineage_pipeline.pii)",
    "LINEAGE_PII_ROLES_ALLOWED": "roles that see PII statistics (lineage_pipeline.pii)",
    "LINEAGE_LOG_LEVEL": "log level of the services",
    "LINEAGE_JAVA": "the JDK of the local stack's engines (lineage_app.localstack)",
    "LINEAGE_ENGINES_DIR": "where the local stack's engine jars are (lineage_app.localstack)",
    "LINEAGE_PARTITIONS": "topic partitions in docker-compose.yml",
    "LINEAGE_VERSION": "the image tag in docker-compose.yml",
    "LINEAGE_SPARK_ENABLED": "Spark emitter (emitters.spark.config)",
    "LINEAGE_SPARK_NAMESPACE": "Spark emitter",
    "LINEAGE_SPARK_APP_NAME": "Spark emitter",
    "LINEAGE_SPARK_EMIT_READS": "Spark emitter",
    "LINEAGE_SPARK_COMPUTE_DIGESTS": "Spark emitter",
    "LINEAGE_SPARK_DIGEST_MAX_BYTES": "Spark emitter",
    "LINEAGE_SPARK_CATALOG_NAMESPACE": "Spark emitter",
    "LINEAGE_SPARK_QUEUE_SIZE": "Spark emitter",
    "LINEAGE_SPARK_PARENT_RUN_ID": "Spark emitter",
    "LINEAGE_SPARK_PARENT_NAMESPACE": "Spark emitter",
    "LINEAGE_SPARK_PARENT_JOB_NAME": "Spark emitter",
}


def _section(annotation: Any) -> type[BaseModel] | bool | None:
    """The settings section class of a field's ``annotation``; ``True`` for a mapping (any
    key below it goes); ``None`` for a leaf."""
    origin = typing.get_origin(annotation)
    if annotation is Any or annotation is dict or origin in (dict, Mapping):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_setting(model: type[BaseModel], parts: list[str]) -> bool:
    """``True`` when ``parts`` (lower case) name a settings path of ``model``."""
    fields = {name.lower(): f for name, f in model.model_fields.items()}
    field = fields.get(parts[0])
    if field is None:
        return False
    below = _section(field.annotation)
    if below is True or len(parts) == 1:
        return True
    if below is None:
        return False
    return _is_setting(below, parts[1:]) if isinstance(below, type) else False


def unknown_variables(model: type[BaseModel],
                      environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``LINEAGE_*`` names in ``environ`` (default ``os.environ``) that are neither a
    settings path of ``model`` nor in :data:`OTHER_VARIABLES`, sorted."""
    env = os.environ if environ is None else environ
    found = []
    for name in env:
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in OTHER_VARIABLES:
            continue
        if not _is_setting(model, upper[len(PREFIX):].lower().split("__")):
            found.append(name)
    return sorted(found)


def _paths(model: type[BaseModel], stem: str) -> list[str]:
    """Every variable name of a leaf setting of ``model`` (``stem``: the name so far)."""
    names = []
    for name, f in model.model_fields.items():
        below = _section(f.annotation)
        full = f"{stem}{name.upper()}"
        names.extend(_paths(below, f"{full}__") if isinstance(below, type) else [full])
    return names


def describe_unknown(model: type[BaseModel], names: list[str]) -> str:
    """A message naming each unknown variable, with the closest known spelling when one is
    close, and how to fix it."""
    known = list(OTHER_VARIABLES) + _paths(model, PREFIX)
    parts = []
    for name in names:
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.85)
        parts.append(f"{name}" + (f" (did you mean {close[0]}?)" if close else ""))
    return ("unknown environment variable(s): " + ", ".join(parts)
            + f"; {PREFIX}<SECTION>__<KEY> names a setting (README, 'Configuration'): fix "
            "the name or unset the variable")
