"""Configuration shared by the emitters, the processor, the sink and the CLI.

Sources, highest precedence first:

1. keyword arguments given in code (``LineageSettings(kafka={...})``) or CLI options;
2. environment variables ``LINEAGE_<SECTION>__<KEY>`` (e.g. ``LINEAGE_KAFKA__BOOTSTRAP_SERVERS``,
   ``LINEAGE_GRAPH__PASSWORD``);
3. the YAML file named by ``LINEAGE_CONFIG`` (else ``./lineage.yaml`` when it exists);
4. the defaults below, which match ``lineage up`` (the local stack).

Unknown keys in any source raise :class:`~lineage_pipeline.errors.ConfigError` naming the
key. Secrets are :class:`pydantic.SecretStr`: never printed, never logged.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lineage_pipeline.errors import ConfigError
from lineage_pipeline.freshness import FreshnessPolicy

DEFAULT_BROKER_PORT = 19092
DEFAULT_GRAPH_PORT = 17687  # Neo4j Bolt of the local stack
DEFAULT_PROCESSOR_METRICS_PORT = 19464
DEFAULT_SINK_METRICS_PORT = 19465


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSettings(_Section):
    """Kafka client settings (librdkafka names in :meth:`client_config`).

    ``security_protocol``: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``;
    ``sasl_mechanism``: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``.
    ``extra`` passes any other librdkafka property through unchanged.
    """

    bootstrap_servers: str = f"127.0.0.1:{DEFAULT_BROKER_PORT}"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    schema_registry_url: str | None = None
    extra: dict[str, str] = {}

    def client_config(self) -> dict[str, Any]:
        """Return the librdkafka configuration (secrets revealed here only, for the client)."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            if self.ssl_ca_location:
                conf["ssl.ca.location"] = self.ssl_ca_location
            if self.ssl_certificate_location:
                conf["ssl.certificate.location"] = self.ssl_certificate_location
            if self.ssl_key_location:
                conf["ssl.key.location"] = self.ssl_key_location
            if self.ssl_key_password is not None:
                conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_check_hostname else "none"
            )
        if self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            if not self.sasl_mechanism:
                raise ConfigError(
                    "kafka.security_protocol uses SASL but kafka.sasl_mechanism is not set; "
                    "set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                )
            conf["sasl.mechanism"] = self.sasl_mechanism
            if self.sasl_username is not None:
                conf["sasl.username"] = self.sasl_username
            if self.sasl_password is not None:
                conf["sasl.password"] = self.sasl_password.get_secret_value()
        conf.update(self.extra)
        return conf


class TopicSettings(_Section):
    """Topic names and the partition count used when the project creates them."""

    events: str = "lineage.events"
    openlineage: str = "openlineage.events"
    graph: str = "lineage.graph"
    dlq: str = "lineage.dlq"
    #: Compacted; one record per erased dataset (``lineage erase``), read by every sink so a
    #: replay into any graph leaves erased statistics out (graph_sink/erasure_log.py).
    erasures: str = "lineage.erasures"
    partitions: int = 3
    replication_factor: int = 1


class GraphSettings(_Section):
    """Graph backend: ``neo4j`` (Bolt; local default and production) or ``falkordb`` (RESP;
    the light option).

    ``url``: ``bolt://``, ``bolt+s://``, ``neo4j://`` or ``neo4j+s://`` for Neo4j;
    ``redis://host:port`` for FalkorDB. ``name`` is the Neo4j database (Community has one:
    ``neo4j``, the default) or the FalkorDB graph key (default ``lineage``).
    ``password`` or ``password_file`` (a file holding it; the local stack's is
    ``<data_dir>/neo4j/password``, used when neither is given and it exists).
    ``ca_location``: a PEM file of the CA certificate(s) that sign the Neo4j server's
    certificate, trusted instead of the system's CAs; it needs a ``bolt+s://`` or
    ``neo4j+s://`` URL (encrypted, certificate and host name verified).
    """

    backend: Literal["falkordb", "neo4j"] = "neo4j"
    url: str = f"bolt://127.0.0.1:{DEFAULT_GRAPH_PORT}"
    name: str = ""
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_location: Path | None = None
    timeout_s: float = 30.0

    @model_validator(mode="before")
    @classmethod
    def _backend_from_url(cls, data: Any) -> Any:
        """A ``redis://``/``falkor://`` URL without a backend named means FalkorDB."""
        if isinstance(data, dict) and "backend" not in data:
            url = str(data.get("url", ""))
            if url.startswith(("redis://", "rediss://", "falkor://", "falkors://")):
                return {**data, "backend": "falkordb"}
        return data

    @model_validator(mode="after")
    def _defaults_of_backend(self) -> GraphSettings:
        if not self.name:
            self.name = "neo4j" if self.backend == "neo4j" else "lineage"
        if self.backend == "neo4j" and self.username is None:
            self.username = "neo4j"
        if self.password is None and self.password_file is not None:
            try:
                text = self.password_file.read_text("utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read graph.password_file: {exc.strerror}") from exc
            self.password = SecretStr(text)
        if self.ca_location is not None:
            if self.backend != "neo4j" or not self.url.startswith(("bolt+s://", "neo4j+s://")):
                raise ValueError(
                    "graph.ca_location is for an encrypted Neo4j URL with a verified "
                    "certificate: use bolt+s:// or neo4j+s://"
                )
            if not self.ca_location.is_file():
                raise ValueError(f"graph.ca_location {self.ca_location} is not a file")
        return self


class ProcessorSettings(_Section):
    """Stream processor tuning."""

    app_id: str = "lineage-processor"
    stale_after_s: float = 24 * 3600.0
    #: Seconds a finished (COMPLETE/FAIL/ABORT) run's full state stays in the processor's
    #: ``runs`` table after its last change; then only a summary of about 330 bytes stays
    #: (0 or less: every run stays whole forever). Events later than that still land in the
    #: graph without regressing it, but their run-level facets are not written.
    finished_grace_s: float = 3600.0
    #: Seconds that summary stays after the grace window; then the run is forgotten and a
    #: still later event of it counts as a new run's first. A run's remembered event ids (the
    #: processor's dedupe state) stay and go with it.
    departed_memory_s: float = 7 * 24 * 3600.0
    #: Seconds table recovery may read nothing while changelog records remain before the
    #: processor restarts itself in place (``stream_processor.watchdog``; 0 or less: never).
    recovery_stall_s: float = 30.0
    batch_size: int = 500
    batch_timeout_s: float = 0.05
    metrics_port: int = DEFAULT_PROCESSOR_METRICS_PORT
    #: Address /metrics binds to: loopback locally, ``0.0.0.0`` in a container (docker-compose.yml).
    metrics_addr: str = "127.0.0.1"


class SinkSettings(_Section):
    """Graph sink tuning: batches are bounded by size and by time."""

    group_id: str = "lineage-graph-sink"
    batch_size: int = 5000
    batch_timeout_s: float = 0.1
    max_retries: int = 8
    metrics_port: int = DEFAULT_SINK_METRICS_PORT
    #: Address /metrics binds to: loopback locally, ``0.0.0.0`` in a container (docker-compose.yml).
    metrics_addr: str = "127.0.0.1"
    #: Seconds between refreshes of the completeness gauges (``lineage_completeness_ratio``,
    #: :mod:`lineage_pipeline.graph.completeness`; each reads every Run node); 0: never.
    completeness_interval_s: float = Field(default=300.0, ge=0.0)


class IdentitySettings(_Section):
    """Dataset identity: which names denote one dataset (applied by the stream processor after
    the OpenLineage naming-spec normalisation, and by ``lineage alias apply`` to the graph).

    ``aliases``: dataset uid ``"namespace:name"`` -> canonical uid, e.g.
    ``{"file:/data/warehouse/orders": "hive://metastore:analytics.orders"}``; both sides are
    normalised first (so ``file:///data/warehouse/orders/`` matches too).
    ``prefixes``: uid prefix -> replacement prefix, longest prefix first, e.g.
    ``{"s3://lake:warehouse/": "s3://lake-v2:warehouse/"}``.
    ``symlinks``: when true, a dataset carrying an OpenLineage ``symlinks`` facet is recorded
    under its first ``TABLE`` symlink (a storage path and its catalog table are one dataset),
    and the processor remembers that path -> table alias for later events.
    A uid's namespace ends at the last ``:`` of its ``scheme://authority`` part (or the first
    ``:`` when there is no ``//``): ``postgres://h:5432:db.t`` is ``postgres://h:5432`` + ``db.t``.
    """

    aliases: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    symlinks: bool = True


class ServeSettings(_Section):
    """``lineage serve``, the HTTP API (``docs/api.md``): where it listens, where the hashed API
    tokens live (default ``<data_dir>/serve/tokens.json``), the request body limit (bytes;
    413 beyond), the rate limit per token (requests per second refilled, ``rate_limit_burst``
    at once; 429 beyond; 0: none), how long ingestion waits for the broker's
    acknowledgement (seconds; 503 after) and how many threads answer queries at once."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tokens_file: Path | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1)
    rate_limit_per_s: float = Field(default=50.0, ge=0.0)
    rate_limit_burst: int = Field(default=100, ge=1)
    ack_timeout_s: float = Field(default=10.0, gt=0.0)
    #: threads answering queries at once (the rest wait in the event loop: many Python
    #: threads at once only contend for the interpreter lock)
    query_threads: int = Field(default=4, ge=1, le=256)


class LineageSettings(BaseSettings):
    """All configuration of one lineage-pipeline process.

    Raises :class:`ConfigError` (via :func:`load_settings`) on unknown keys or bad values.
    """

    model_config = SettingsConfigDict(
        env_prefix="LINEAGE_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path(".lineage")
    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    graph: GraphSettings = GraphSettings()
    processor: ProcessorSettings = ProcessorSettings()
    sink: SinkSettings = SinkSettings()
    #: Dataset identity (aliases, prefix rules, symlinks): see :class:`IdentitySettings`.
    identity: IdentitySettings = IdentitySettings()
    #: Freshness SLAs (configured per dataset uid/glob, else learned): used by the sink's
    #: freshness gauges and by `lineage freshness`, so both agree.
    freshness: FreshnessPolicy = FreshnessPolicy()
    #: The emitter SDK's section, validated (unknown keys rejected) by
    #: ``emitters.config.EmitterSettings``; kept untyped here so lineage_pipeline does not
    #: import emitters, and so every process reads the same file.
    emitter: dict[str, Any] = {}
    #: ``lineage serve``: see :class:`ServeSettings`.
    serve: ServeSettings = ServeSettings()

    @model_validator(mode="after")
    def _local_stack_password(self) -> LineageSettings:
        g = self.graph
        if g.backend == "neo4j" and g.password is None and g.password_file is None:
            local = self.data_dir / "neo4j" / "password"
            if local.is_file():
                self.graph = g.model_copy(update={"password_file": local})
                self.graph.password = SecretStr(local.read_text("utf-8").strip())
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


#: The file :func:`load_settings` was asked to read, in place of ``LINEAGE_CONFIG``.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("lineage_config_file", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the file given to :func:`load_settings`, else the one named by
    ``LINEAGE_CONFIG``, else ``./lineage.yaml`` if present."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return read_config_file(_CONFIG_FILE.get() or config_file_path())


def config_file_path() -> Path | None:
    """Return the configuration file in effect, or ``None``."""
    named = os.environ.get("LINEAGE_CONFIG")
    if named:
        return Path(named)
    default = Path("lineage.yaml")
    return default if default.exists() else None


def read_config_file(path: Path | None) -> dict[str, Any]:
    """Return the mapping in YAML file ``path`` (``{}`` for ``None``).

    Raises :class:`ConfigError` when the file is missing, unreadable or not a mapping.
    """
    if path is None:
        return {}
    import yaml  # deferred: most processes (every CLI command without a file) never need it

    try:
        loaded = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return loaded


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """Return a one-line-per-problem message naming each bad key and what is wrong.

    ``prefix`` is prepended to each key (e.g. ``emitter`` for a section validated alone).
    """
    lines = []
    for err in exc.errors():
        key = ".".join([*([prefix] if prefix else []), *(str(p) for p in err["loc"])])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown configuration key '{key}'")
        else:
            lines.append(f"'{key}': {err['msg']}")
    return "; ".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> LineageSettings:
    """Return the settings in effect, ``overrides`` taking precedence over every source.

    ``config_file``: a YAML file read in place of ``LINEAGE_CONFIG`` / ``./lineage.yaml``.
    Raises :class:`ConfigError` with each unknown or invalid key named, a ``LINEAGE_*``
    environment variable that names no setting (:mod:`lineage_pipeline.environment`)
    included, or when ``config_file`` does not exist.
    """
    from lineage_pipeline.environment import describe_unknown, unknown_variables

    unknown = unknown_variables(LineageSettings)
    if unknown:
        raise ConfigError(describe_unknown(LineageSettings, unknown))
    if config_file is not None and not config_file.exists():
        raise ConfigError(f"config file {config_file} does not exist")
    token = _CONFIG_FILE.set(config_file)
    try:
        return LineageSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc
    finally:
        _CONFIG_FILE.reset(token)
