"""The processor's logic, free of Faust: messages in, graph and DLQ records out.

Per consumed message (:meth:`EventProcessor.handle`), in this order:

1. decode (:mod:`stream_processor.decode`: Avro from ``topics.events``, OpenLineage JSON from
   ``topics.openlineage``); undecodable -> DLQ record with the reason;
2. dedupe by ``eventId``: a repeat within this batch is dropped; one its run remembers
   (:attr:`~stream_processor.stitch.RunState.seen`, the run's latest events, kept and
   forgotten with its state) is counted and merged again: stitching is idempotent, so it
   changes nothing unless a crash lost its state write, and its run's state is published
   again (the sink writes idempotently): at-least-once across crashes;
3. values the graph cannot hold faithfully (NaN, infinities, NUL, lone surrogates,
   over-long text) normalised by one rule and flagged on the run
   (:mod:`stream_processor.faithful`); dataset identity: every dataset under its canonical name
   (:class:`~stream_processor.identity.DatasetIdentity`: alias table, symlinks facets);
4. stitch: merge the event into its run's state (:func:`~stream_processor.stitch.merge_event`,
   names normalised, version-less inputs resolved against the
   :class:`~stream_processor.state.VersionStore`), record its generated versions and mark
   the event id. Events are decoded to their wire records and merged without building
   models (:meth:`~lineage_pipeline.codec.EventCodec.decode_record`).

Mapping and storing happen once per run per batch (:meth:`EventProcessor.drain`): each run
touched in the batch has its latest state stored and is mapped from its latest stitched
state to one graph record (:func:`~stream_processor.mapping.state_to_record`: the run and
only what this process has not published yet,
:class:`~stream_processor.published.Published`) and encoded (Avro,
:class:`~lineage_pipeline.graph_record.GraphRecordCodec`), so a run with several events in a
batch is mapped once; a record over ``max_record_bytes`` is published as several records
(:mod:`stream_processor.record_split`). When a run's record cannot be built (a bug, or a part
still over the cap), its state goes back to what it was before the batch and its events
are handled one at a time, each one whose record fails going to the DLQ with reason
``handler_error`` and left out of the state (so a replay after a fix merges it anew).

Finished runs leave the state: a terminal run untouched for ``finished_grace_s`` (default an
hour) is replaced by its :func:`~stream_processor.state.departed_summary` (run id, job,
times, winning terminal event, latest event ids: about 330 bytes in memory), and the summary
is forgotten after another ``departed_memory_s`` (default 7 days; its event ids with it).
The sweep runs while handling a message, at most once a minute per partition, over that
partition's runs. A late event of a departed run (a duplicate COMPLETE, a late RUNNING, a
COMPLETE with more facets) is merged into the summary and published so that the graph's
merge rules (:mod:`graph_sink.statements`: ``observedAt`` min, ``updatedAt`` max, a terminal
``Run.state`` never replaced by a non-terminal one, other props last write wins, ``None``
never written) cannot regress anything: the Run node carries only its state and
``startTime``/``endTime`` of the summary's winning terminal event and earliest START, and
its times; inputs without an explicit version and column-lineage sources the event does not
list with one are left out (their version was pinned when the run was whole; resolving it
again could name another). Its run-level facets (parameters, metrics, code version ...) are
not written: they are whole JSON texts in the graph, which the summary cannot complete.
After ``departed_memory_s`` a late event counts as a new run's first.

Any exception in 1-4 sends the message to the DLQ with reason ``handler_error`` and the
exception text, and leaves the state untouched. :meth:`EventProcessor.drain` returns one
graph record per run touched in the batch (the graph always holds the merged run), one per
late event of a departed run, then the DLQ records; graph records are keyed by runId so one
run's records stay ordered on one partition.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.errors import EventError
from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import ReplacedCount, dataset_uid
from lineage_pipeline.graph_record import GraphRecord, GraphRecordCodec
from lineage_pipeline.metrics import DUPLICATES, EVENTS_IN, MUTATIONS_OUT, STALE_RUNS
from lineage_pipeline.settings import ProcessorSettings
from stream_processor.decode import decode_message, decode_openlineage_message
from stream_processor.dlq import REASON_HANDLER_ERROR, OutRecord, SourceMessage, dlq_record
from stream_processor.faithful import flag_replaced_text, normalise_if_needed
from stream_processor.identity import DatasetIdentity
from stream_processor.mapping import Note, stale_record, state_to_record
from stream_processor.published import Published
from stream_processor.record_split import split_record
from stream_processor.run_rows import json_text
from stream_processor.state import RunStore, StoredRun, VersionStore, departed_summary
from stream_processor.stitch import RunState, merge_event
from stream_processor.stitch.merge import EventRecord, as_record, event_type
from stream_processor.versions import output_version

log = logging.getLogger(__name__)

#: Default cap on one encoded graph record, bytes (Kafka's default max.request.size is 1 MiB).
DEFAULT_MAX_RECORD_BYTES = 1_000_000
#: Most often the finished-run sweep runs per partition, ms.
SWEEP_EVERY_MS = 60_000
#: The Run properties (besides runId, job and state) a late event of a departed run publishes.
_LATE_RUN_PROPS = frozenset({"startTime", "endTime"})
_DEFAULTS = ProcessorSettings()


@dataclass(slots=True)
class _Touched:
    """A run touched in the current batch: its state before the batch's first event of it,
    its events (message, event after identity), and its latest stitched state."""

    before: StoredRun | None
    state: RunState
    events: list[tuple[SourceMessage, EventRecord]] = field(default_factory=list)


class EventProcessor:
    """Turns consumed lineage-event messages into graph and DLQ records.

    ``graph_topic``/``dlq_topic``: output topic names; messages from ``openlineage_topic`` are
    OpenLineage JSON, all others Avro lineage events; ``runs``/``versions``: the state
    stores; ``identity`` maps dataset names to canonical ones (default: symlinks
    only, no alias table); ``published``: what this process already published
    (:class:`~stream_processor.published.Published`; default a new one); ``stale_after_s``:
    seconds without news after which an open run is published as ``STALE`` (0 disables);
    ``finished_grace_s`` / ``departed_memory_s``: how long a finished run's full state / its
    departed summary stays after its last change (seconds; a ``finished_grace_s`` of 0 or less
    keeps every run forever; see the module docstring); ``clock`` returns seconds (epoch).
    Not thread-safe: one instance per stream task.
    """

    def __init__(
        self,
        *,
        graph_topic: str,
        dlq_topic: str,
        runs: RunStore,
        versions: VersionStore,
        codec: EventCodec | None = None,
        graph_codec: GraphRecordCodec | None = None,
        stale_after_s: float = 0.0,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        openlineage_topic: str | None = None,
        identity: DatasetIdentity | None = None,
        published: Published | None = None,
        clock: Callable[[], float] = time.time,
        finished_grace_s: float = _DEFAULTS.finished_grace_s,
        departed_memory_s: float = _DEFAULTS.departed_memory_s,
    ) -> None:
        self.graph_topic = graph_topic
        self.dlq_topic = dlq_topic
        self.runs = runs
        self.versions = versions
        self.codec = codec if codec is not None else EventCodec()
        self.graph_codec = graph_codec if graph_codec is not None else GraphRecordCodec()
        self.stale_after_ms = int(stale_after_s * 1000)
        self.max_record_bytes = max_record_bytes
        self.openlineage_topic = openlineage_topic
        self.identity = identity if identity is not None else DatasetIdentity()
        self.published = published if published is not None else Published()
        self.clock = clock
        self._touched: dict[str, _Touched] = {}
        self._late: list[OutRecord] = []
        self._dlq: list[OutRecord] = []
        self._batch_ids: set[str] = set()
        self._stale_published: set[str] = set()
        self.finished_grace_ms = int(finished_grace_s * 1000)
        self.departed_memory_ms = int(departed_memory_s * 1000)
        self._next_sweep: dict[int, int] = {}

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def handle(self, msg: SourceMessage) -> None:
        """Process one consumed message; its outputs wait for :meth:`drain`. Never raises."""
        now = self._now_ms()
        try:
            self._handle(msg, now)
        except Exception as exc:  # any bug or bad data: dead-letter, never silently ack
            self._dead_letter(msg, exc, now)
        try:
            self._sweep(msg.partition, now)
        except Exception:  # a failed sweep leaves the runs as they were; retried next time
            log.exception("finished-run sweep failed on partition %d", msg.partition)

    def _dead_letter(self, msg: SourceMessage, exc: Exception, now: int) -> None:
        log.error("handler error on %s[%d]@%d: %s: %s", msg.topic, msg.partition, msg.offset,
                  type(exc).__name__, exc, exc_info=not isinstance(exc, EventError))
        self._dlq.append(dlq_record(msg, REASON_HANDLER_ERROR, f"{type(exc).__name__}: {exc}",
                                    self.dlq_topic, now))

    def _sweep(self, partition: int, now: int) -> None:
        """Retire ``partition``'s finished runs past their grace window: the full state
        becomes a departed summary, a summary past ``departed_memory_s`` is deleted."""
        if self.finished_grace_ms <= 0 or now < self._next_sweep.get(partition, 0):
            return
        self._next_sweep[partition] = now + min(SWEEP_EVERY_MS, self.finished_grace_ms)
        forget_at = now - self.finished_grace_ms - self.departed_memory_ms
        for summary in self.runs.finished_runs_idle_since(now - self.finished_grace_ms,
                                                          partition):
            run_id = summary.state.runId
            if run_id not in self._touched:  # else its record is still to be built
                self.runs.retire(run_id, summary)
                self._stale_published.discard(run_id)
        for run_id in self.runs.departed_runs_idle_since(forget_at, partition):
            if run_id not in self._touched:
                self.runs.retire(run_id, None)

    def _decode(self, msg: SourceMessage, now: int) -> EventRecord | None:
        """The event of ``msg`` with canonical dataset names, or ``None`` (dead-lettered, or
        a repeat within this batch)."""
        openlineage = msg.topic == self.openlineage_topic
        decoded: LineageEvent | EventRecord | OutRecord
        if openlineage:
            decoded = decode_openlineage_message(msg, self.dlq_topic, now,
                                                 self.codec.avro.max_message_bytes)
        else:
            decoded = decode_message(msg, self.codec, self.dlq_topic, now)
        if isinstance(decoded, OutRecord):
            log.warning("DLQ %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset,
                        dict(decoded.headers).get("reason", b"").decode())
            self._dlq.append(decoded)
            return None
        event = as_record(decoded)
        normalise_if_needed(event, msg.value or b"", openlineage)  # NaN, NUL, long text
        EVENTS_IN.labels(source="openlineage" if openlineage else "lineage",
                         event_type=event_type(event)).inc()
        if event["eventId"] in self._batch_ids:
            DUPLICATES.inc()
            return None
        return self.identity.apply_record(event)  # one name per dataset (aliases, symlinks)

    def _handle(self, msg: SourceMessage, now: int) -> None:
        event = self._decode(msg, now)
        if event is None:
            return
        run_id = event["run"]["runId"]
        touched = self._touched.get(run_id)
        stored = StoredRun(touched.state, now) if touched else self.runs.get(run_id)
        if stored is not None and stored.state.has_seen(event["eventTime"], event["eventId"]):
            # Counted, then merged again: stitching is idempotent, so it changes nothing here;
            # the run's state is published again, which the sink writes idempotently.
            DUPLICATES.inc()
        if stored is not None and stored.departed:
            state = merge_event(stored.state, event)
            values, notes = self._encode(*late_record(event, state, now, self.published))
            summary = departed_summary(state)
            self.runs.put(run_id, StoredRun(summary, now, True))
            self._commit(run_id, event, summary)
            self.published.note(notes)
            # a late event's record holds only what it adds: each is published
            self._late += [OutRecord(self.graph_topic, run_id.encode(), v) for v in values]
            return
        state = merge_event(stored.state if stored else None, event, self.versions.latest)
        self._commit(run_id, event, state)  # the state itself is stored once, by drain()
        if touched is None:
            touched = self._touched[run_id] = _Touched(stored, state)
        touched.state = state
        touched.events.append((msg, event))

    def _commit(self, run_id: str, event: EventRecord, state: RunState) -> None:
        """Record the generated versions of the run's ``state``; note the event in the batch."""
        for ds in state.outputs.values():
            version = output_version(ds, state)
            if version is not None:
                when = ds.version.t if ds.version is not None else (state.endTime or ds.firstSeen)
                self.versions.record(ds.uid, version, when)
        self._batch_ids.add(event["eventId"])
        self._stale_published.discard(run_id)

    def _encode(self, record: GraphRecord, notes: list[Note]) -> tuple[list[bytes], list[Note]]:
        values = [self.graph_codec.encode(record)]
        if len(values[0]) > self.max_record_bytes:
            values = [self.graph_codec.encode(part)
                      for part in split_record(record, self.max_record_bytes)]
        too_big = max(map(len, values))
        if too_big > self.max_record_bytes:
            raise EventError(
                f"graph record of run {record['runs'][0]['runId']} has a part of {too_big} "
                f"bytes, over the {self.max_record_bytes}-byte cap")
        return values, notes

    def _record_of(self, touched: _Touched, now: int) -> list[OutRecord]:
        """The graph record (or its parts) of a run touched in this batch (its latest
        state), noted as published."""
        event, replaced = touched.events[-1][1], ReplacedCount.count
        record, notes = state_to_record(
            touched.state, source_event_id=event["eventId"], event_time=event["eventTime"],
            now_ms=now, published=self.published)
        if flag_replaced_text(touched.state, ReplacedCount.count - replaced):  # Avro NULs
            record["runs"][0]["props"]["extraFacets"] = json_text(touched.state.extra_values())
        values, notes = self._encode(record, notes)
        self.published.note(notes)
        return [OutRecord(self.graph_topic, touched.state.runId.encode(), v) for v in values]

    def _one_by_one(self, run_id: str, touched: _Touched, now: int,
                    as_current: Callable[[SourceMessage], None]) -> list[OutRecord]:
        """The run's record failed to build: start again from its state before the batch
        and handle its events one at a time, dead-lettering each one whose record fails
        (its effect left out of the state). ``as_current``: see :meth:`drain`."""
        as_current(touched.events[0][0])
        if touched.before is not None:
            self.runs.put(run_id, touched.before)
        else:
            self.runs.retire(run_id, None)
        state = touched.before.state if touched.before is not None else None
        out: list[OutRecord] = []
        for msg, event in touched.events:
            merged = merge_event(state, event, self.versions.latest)
            try:
                one = self._record_of(_Touched(None, merged, [(msg, event)]), now)
            except Exception as exc:
                self._dead_letter(msg, exc, now)
                continue
            state = merged
            as_current(msg)
            self.runs.put(run_id, StoredRun(merged, now))
            self._commit(run_id, event, merged)
            out = one  # only the latest record of the run counts
        return out

    def drain(self, as_current: Callable[[SourceMessage], None] = lambda _msg: None,
              ) -> list[OutRecord]:
        """Return and forget the records of the messages handled since the last drain: one
        graph record per touched run (built once, from its latest state), the records of
        late events of departed runs, then the DLQ records.

        Each touched run's state is stored here, once per batch (not once per event: its
        encoding costs about a millisecond). ``as_current(msg)`` makes the message ``msg`` of
        this batch the stores' current one (Faust tables write their changelog to the current
        event's partition and refuse a write without one); it is called before each run's
        state is stored, with the run's last message."""
        now = self._now_ms()
        out: list[OutRecord] = []
        for run_id, touched in self._touched.items():
            try:
                records = self._record_of(touched, now)
            except Exception as exc:
                log.warning("record of run %s failed (%s); handling its %d events one by one",
                            run_id, exc, len(touched.events))
                out += self._one_by_one(run_id, touched, now, as_current)
                continue
            out += records
            as_current(touched.events[-1][0])
            self.runs.put(run_id, StoredRun(touched.state, now))  # once per run and batch
        out += self._late
        MUTATIONS_OUT.inc(len(out))
        out += self._dlq
        self._touched.clear()
        self._late = []
        self._dlq = []
        self._batch_ids.clear()
        return out

    def forget_published(self) -> None:
        """Forget what was published (call when publishing drained records failed)."""
        self.published.clear()

    def stale_records(self) -> list[OutRecord]:
        """Return ``STALE`` graph records for open runs idle for ``stale_after_s`` (each once
        until the run changes again). Counts ``lineage_processor_stale_runs_total``."""
        if self.stale_after_ms <= 0:
            return []
        now = self._now_ms()
        out = []
        for stored in self.runs.open_runs_idle_since(now - self.stale_after_ms):
            run_id = stored.state.runId
            if run_id in self._stale_published:
                continue
            value = self.graph_codec.encode(stale_record(stored.state, now_ms=now))
            out.append(OutRecord(self.graph_topic, run_id.encode(), value))
            self._stale_published.add(run_id)
            STALE_RUNS.inc()
        MUTATIONS_OUT.inc(len(out))
        return out


def late_record(event: LineageEvent | EventRecord, state: RunState, now_ms: int,
                published: Published | None = None) -> tuple[GraphRecord, list[Note]]:
    """The graph record of ``event``, a late event of a departed run, given ``state`` (its
    departed summary with the event merged in, no versions resolved): what the event adds
    that the graph's merge rules cannot turn into a regression (see the module docstring).
    """
    view = state.clone()
    view.inputs = {uid: ds for uid, ds in state.inputs.items() if ds.explicit_version}
    for uid, ds in state.outputs.items():
        lineage = {key: reg for key, reg in ds.lineage.items() if _source_uid(key) in view.inputs}
        if len(lineage) != len(ds.lineage):
            view.outputs[uid] = ds.clone()
            view.outputs[uid].lineage = lineage
    view.lineageSources = {}
    event = as_record(event)
    record, notes = state_to_record(view, source_event_id=event["eventId"],
                                    event_time=event["eventTime"], now_ms=now_ms,
                                    published=published)
    run = record["runs"][0]
    run["props"] = {k: v for k, v in run["props"].items() if k in _LATE_RUN_PROPS}
    return record, notes


def _source_uid(lineage_key: str) -> str:
    """The source dataset uid of a :class:`~stream_processor.stitch.DatasetState` lineage key
    (``[outField, inNamespace, inName, inField]`` JSON)."""
    _out, namespace, name, _field = json.loads(lineage_key)
    return dataset_uid(namespace, name)
