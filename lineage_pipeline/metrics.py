"""Prometheus metrics of every lineage-pipeline process (prometheus-client).

Names follow Prometheus conventions: ``lineage_`` prefix, base units (seconds, bytes),
``_total`` for counters. Labels are bounded: event type, source topic kind, DLQ reason,
mutation kind, dataset uid (bounded by the number of datasets, never run ids).
The dashboards in ``deploy/grafana`` and the rules in ``deploy/prometheus`` query exactly
these names; ``tests`` evaluate them against a real Prometheus.
"""

from __future__ import annotations

import urllib.request

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.parser import text_string_to_metric_families

# -- emitter ---------------------------------------------------------------------------------
EMITTER_EVENTS = Counter(
    "lineage_emitter_events_total", "Events handed to the emitter, by outcome.", ["outcome"]
)  # outcome: queued, delivered, spooled, dropped, failed
EMITTER_DROPPED = Counter(
    "lineage_emitter_dropped_total", "Events the emitter dropped, by reason.", ["reason"]
)
EMITTER_CONFIG_ERRORS = Counter(
    "lineage_emitter_config_errors_total",
    "Emitters started with an invalid configuration, which keep their events in the spool.",
)
EMITTER_SPOOL_BYTES = Gauge("lineage_emitter_spool_bytes", "Bytes waiting in the local spool.")
EMITTER_CAPTURE_ERRORS = Counter(
    "lineage_emitter_capture_errors_total",
    "Failures inside an integration's capture code (logged, never raised into the job).",
    ["integration"],
)  # integration: the job type's integration, lower-case (python, pytorch, spark)

# -- processor -------------------------------------------------------------------------------
EVENTS_IN = Counter(
    "lineage_processor_events_in_total",
    "Events read by the processor, by source and event type.",
    ["source", "event_type"],
)  # source: lineage (Avro) or openlineage (JSON)
DUPLICATES = Counter(
    "lineage_processor_duplicates_total", "Events dropped as duplicates of an event id."
)
DLQ = Counter(
    "lineage_processor_dlq_total", "Records sent to the dead-letter queue, by reason.", ["reason"]
)
MUTATIONS_OUT = Counter(
    "lineage_processor_mutation_records_total", "Graph mutation records published."
)
CONSUMER_LAG = Gauge(
    "lineage_consumer_lag_messages",
    "Messages behind the end of the topic, by consumer and topic.",
    ["consumer", "topic"],
)
OFFSET_GAPS = Counter(
    "lineage_processor_offset_gaps_total",
    "Input offset ranges the consumer skipped, read again from the broker and handled.",
)
PROCESSOR_RESTARTS = Counter(
    "lineage_processor_restarts_total",
    "Times the processor restarted itself in place (recovery stalled, or SIGHUP).",
)
NORMALISED_VALUES = Counter(
    "lineage_processor_normalised_values_total",
    "Event values the graph cannot hold faithfully, normalised (stream_processor.faithful).",
    ["rule"],
)  # rule: non_finite, text, truncated
STALE_RUNS = Counter(
    "lineage_processor_stale_runs_total", "Runs marked STALE after no terminal event."
)

# -- sink ------------------------------------------------------------------------------------
SINK_BATCH_SIZE = Histogram(
    "lineage_sink_batch_mutations",
    "Mutations per graph write batch.",
    buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 25000),
)
SINK_WRITE_SECONDS = Histogram(
    "lineage_sink_write_seconds",
    "Time to write one batch to the graph.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SINK_WRITE_ERRORS = Counter(
    "lineage_sink_write_errors_total", "Graph write failures, by retryable or not.", ["retryable"]
)
SINK_RECORDS = Counter("lineage_sink_records_total", "Mutation records written to the graph.")
SINK_DLQ = Counter(
    "lineage_sink_dlq_total",
    "Records the sink sent to the dead-letter queue, by reason.",
    ["reason"],
)  # reason: a DecodeError reason, invalid_mutations, graph_rejected
EVENT_TO_GRAPH_SECONDS = Histogram(
    "lineage_event_to_graph_seconds",
    "From the event's eventTime to its graph commit.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
SINK_GRAPH_WAITING = Gauge(
    "lineage_sink_graph_waiting",
    "1 while the sink waits for the graph: a graph call failed as unavailable and is retried "
    "with backoff, consumption paused and nothing committed; 0 otherwise.",
)
DATASET_LAST_WRITE = Gauge(
    "lineage_dataset_last_write_timestamp_seconds",
    "Unix time of the last successful write of a dataset (a GENERATED version).",
    ["dataset", "namespace", "kind"],
)
DATASET_EXPECTED_INTERVAL = Gauge(
    "lineage_dataset_expected_interval_seconds",
    "The freshness SLA of a dataset: configured, or learned from its write history.",
    ["dataset", "namespace", "kind"],
)

COMPLETENESS = Gauge(
    "lineage_completeness_ratio",
    "Share of the lineage captured, by measure (runs_with_inputs_and_outputs, "
    "jobs_with_column_lineage, datasets_with_owner, datasets_with_documentation) and "
    "namespace ('*': overall); refreshed by the graph sink.",
    ["measure", "namespace"],
)


# -- known label values ----------------------------------------------------------------------
#: Every ``DecodeError`` reason of :mod:`lineage_pipeline.codec` (both topics' Avro framing).
DECODE_REASONS = (
    "empty", "too_large", "truncated", "unknown_fingerprint", "bad_magic", "no_schema_registry",
    "unknown_schema_id", "malformed_avro", "trailing_bytes", "invalid_event",
    "integrity_mismatch",
)
#: Every reason of ``lineage_processor_dlq_total``: the decode reasons, the OpenLineage JSON
#: topic's (``stream_processor.decode``) and a failing handler's (``stream_processor.dlq``).
PROCESSOR_DLQ_REASONS = (*DECODE_REASONS, "invalid_json", "invalid_openlineage", "handler_error")
#: Every rule of ``lineage_processor_normalised_values_total`` (``stream_processor.faithful``).
NORMALISE_RULES = ("non_finite", "text", "truncated")
#: Every reason of ``lineage_sink_dlq_total`` (``graph_sink.service``).
SINK_DLQ_REASONS = (*DECODE_REASONS, "invalid_mutations", "graph_rejected")
#: The values of ``lineage_sink_write_errors_total{retryable}``.
RETRYABLE_VALUES = ("true", "false")


def init_label_values(component: str) -> None:
    """Export every known value of the bounded labels of ``component``'s counters at 0.

    ``component``: ``"processor"`` (DLQ by reason) or ``"sink"`` (DLQ by reason, write errors
    by retryable). Called once at start-up, so a healthy process already has the series the
    DLQ and error panels and alert rules aggregate (``rate()`` of a series that appears only
    with its first increment misses that increment, and an empty panel looks broken).
    Raises :class:`ValueError` for another component.
    """
    if component == "processor":
        for reason in PROCESSOR_DLQ_REASONS:
            DLQ.labels(reason=reason)
        for rule in NORMALISE_RULES:
            NORMALISED_VALUES.labels(rule=rule)
    elif component == "sink":
        for reason in SINK_DLQ_REASONS:
            SINK_DLQ.labels(reason=reason)
        for retryable in RETRYABLE_VALUES:
            SINK_WRITE_ERRORS.labels(retryable=retryable)
    else:
        raise ValueError(f"unknown component {component!r}: processor or sink")


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on ``addr:port`` from a daemon thread (0 disables)."""
    if port:
        start_http_server(port, addr=addr)


def read_metric(port: int, name: str, host: str = "127.0.0.1",
                timeout_s: float = 2.0) -> float | None:
    """Return the value of the unlabelled sample ``name`` that the process serving
    ``http://host:port/metrics`` exports, or ``None`` when it does not answer or has no such
    sample (e.g. ``read_metric(sink_port, "lineage_sink_graph_waiting")``)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode("utf-8", "replace")
    except (OSError, ValueError):  # URLError and connection resets are OSErrors
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return None
