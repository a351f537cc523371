"""What the sink reports after each committed batch: totals, Prometheus metrics, consumer
lag, and the freshness gauges (last write and expected interval of every dataset).

At start-up the freshness tracker is seeded from the graph's write history
(:func:`lineage_pipeline.graph.history.write_history`, the writes ``lineage freshness``
counts), so a restarted sink keeps exporting the gauges of datasets whose jobs have stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from graph_sink.freshness_gauges import DatasetWriteTracker
from lineage_pipeline import metrics
from lineage_pipeline.errors import LineageError
from lineage_pipeline.graph import GraphBackend
from lineage_pipeline.graph.history import write_history
from lineage_pipeline.graph_model import GraphMutations, NodeLabel, RelType
from lineage_pipeline.settings import LineageSettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SinkBatch:
    """One batch as it went through the sink.

    ``records``: records consumed; ``written``: mutation records written to the graph;
    ``mutations``: node + relationship upserts written; ``dead_letters``: records sent to the DLQ;
    ``offsets``: next offset to commit per (topic, partition); ``write_seconds``: graph write
    time including retries; ``written_at_ms``: when the graph write succeeded (epoch ms).
    """

    records: int = 0
    written: int = 0
    mutations: int = 0
    dead_letters: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    write_seconds: float = 0.0
    written_at_ms: int = 0


@dataclass(slots=True)
class SinkStats:
    """Totals of one :func:`~graph_sink.service.run_sink` call."""

    batches: int = 0
    records: int = 0
    written: int = 0
    mutations: int = 0
    dead_letters: int = 0


class SinkObserver:
    """Counts committed batches into :class:`SinkStats` and the sink's metrics."""

    def __init__(self, settings: LineageSettings) -> None:
        self.settings = settings
        self.stats = SinkStats()
        self.freshness = DatasetWriteTracker(settings.freshness)

    def observe(self, batch: SinkBatch, written: list[GraphMutations],
                consumer: Consumer) -> None:
        """Account for one committed batch and the mutations of it that were written."""
        self.stats.batches += 1
        self.stats.records += batch.records
        self.stats.written += batch.written
        self.stats.mutations += batch.mutations
        self.stats.dead_letters += batch.dead_letters
        if written:
            metrics.SINK_BATCH_SIZE.observe(batch.mutations)
            metrics.SINK_WRITE_SECONDS.observe(batch.write_seconds)
            metrics.SINK_RECORDS.inc(batch.written)
        for m in written:
            latency = (batch.written_at_ms - m.event_time) / 1000
            metrics.EVENT_TO_GRAPH_SECONDS.observe(max(0.0, latency))
            self.dataset_writes(m)
        self._lag(batch, consumer)

    def seed_freshness(self, backend: GraphBackend) -> None:
        """Seed the freshness tracker with every dataset's writes already in the graph (the
        ``dataset_writes`` query of ``lineage freshness``), so a restarted sink exports the
        last-write and SLA gauges of datasets whose jobs have stopped, and keeps them stale.

        A failing query is logged and skipped: the gauges then fill in as writes arrive.
        """
        try:
            history = write_history(backend)
        except LineageError as exc:
            log.warning("freshness not seeded from the graph: %s", exc)
            return
        for ds in history:
            self.freshness.seed(ds.dataset, ds.namespace, ds.kind, ds.times)
        log.info("freshness seeded from the graph: %d datasets", len(history))

    def dataset_writes(self, m: GraphMutations) -> None:
        """Record a write of every dataset that a GENERATED relationship of a COMPLETE run of
        ``m`` wrote,
        in the freshness tracker that publishes the last-write and expected-interval (SLA)
        gauges (the writes ``lineage freshness`` counts).

        The write time is the version's ``observedAt`` (its first observation), so the
        same version republished with a later run state is one write, not several.
        """
        complete = {n.uid for n in m.nodes
                    if n.label is NodeLabel.RUN and n.props.get("state") == "COMPLETE"}
        generated = {e.to_uid for e in m.relationships
                     if e.type is RelType.GENERATED and e.from_uid in complete}
        if not generated:
            return
        for n in m.nodes:
            if n.label is not NodeLabel.DATASET_VERSION or n.uid not in generated:
                continue
            dataset = n.props.get("datasetUid")
            if not isinstance(dataset, str):
                continue
            observed = n.props.get("observedAt")
            when_ms = observed if isinstance(observed, int | float) else m.event_time
            self.freshness.record(
                dataset,
                str(n.props.get("namespace") or ""),
                str(n.props.get("kind") or "dataset"),
                when_ms / 1000,
            )

    def _lag(self, batch: SinkBatch, consumer: Consumer) -> None:
        lag: dict[str, int] = {}
        for (topic, partition), next_offset in batch.offsets.items():
            try:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                lag[topic] = lag.get(topic, 0) + max(0, high - next_offset)
        for topic, value in lag.items():
            group = self.settings.sink.group_id
            metrics.CONSUMER_LAG.labels(consumer=group, topic=topic).set(value)
