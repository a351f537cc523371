"""From a stitched run to its graph record: the run, and only what changed.

:func:`state_to_record` is the contract other parts code against. Given the same
``(state, published)`` it always builds the same record (only ``publishedAt`` reads the
clock, unless ``now_ms`` is given). The record (:mod:`lineage_pipeline.graph_record`, whose
:func:`~lineage_pipeline.graph_record.expand` says which graph elements it writes) holds:

- the run (``runs[0]``: the stitched :class:`~stream_processor.stitch.RunState`: state,
  startTime, endTime, code version, parameters/metrics/environment/extra facets as JSON text,
  error, parent/root), its parent and root runs (id and job), and ``consumed``: every input
  version (and every column-lineage source the run does not list as an input, once the run
  is terminal);
- what ``published`` (:class:`~stream_processor.published.Published`) does not know with the
  same content: the Job (namespace, name, jobType, integration, processingType, sql), each
  Dataset (``write``), each output version the run generated (digest, rows, bytes, schema
  hash, ``columnStats``, the uid of the column lineage its run declared for it), each input
  version (the same content, stored weakly: a producer's values win), each schema and each
  column lineage. ``published=None`` publishes everything.

So a repeat run of a known job with unchanged schemas and lineage publishes its run, its
CONSUMED_BY relationships and, for each output, the new version with VERSION_OF and
GENERATED; START publishes no output whose version is not known yet.

Versions: an input without an explicit version takes the version pinned when the processor
resolved it (the latest version it had seen generated for that dataset), else
``"unversioned"``: one node for every such read of the dataset, which holds the schema
readers saw but no content (digest, size, statistics differ from read to read). An output
without one is ``"run:<runId>"``, published once the run is terminal (before that the
version does not exist yet). Likewise a columnLineage pair whose source the run does not
list as an input waits for the terminal event, then takes the source's pinned version.

``first`` of every row is the earliest eventTime of the run that showed the element (and
``last`` of the run's own row its latest); both only move outwards as events merge in, so the
graph's min / max of them is the same whatever order, batching or replay brought the records.
An element ``published`` covers (same content, observed no later) is left out: that cannot
change the graph either. ``kind`` ("table" is the
event model's default) is written only by the producing run or an explicit kind, so a
consumer never overwrites it. Strings go through
:func:`~lineage_pipeline.graph_model.graph_text` (names of any content store); ``None`` values
are left out.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from lineage_pipeline.events import LineageEvent
from lineage_pipeline.graph_model import (
    GraphMutations,
    dataset_uid,
    graph_text,
    graph_value,
    job_uid,
    version_uid,
)
from lineage_pipeline.graph_record import (
    GraphRecord,
    LineagePair,
    VersionRow,
    expand,
    new_record,
)
from stream_processor.columns import column_stats_json, lineage_pairs, lineage_uid_of, schema_of
from stream_processor.dataset_facets import NODE_FACETS as _NODE_FACETS
from stream_processor.dataset_facets import dataset_props
from stream_processor.published import Published
from stream_processor.run_rows import job_props, run_row, stub_run
from stream_processor.stitch import DatasetState, RunState, merge_event

#: Version of an input that names none and whose producer the processor has not seen.
UNVERSIONED = "unversioned"
#: Run state published for a run with no terminal event after ``processor.stale_after_s``.
STALE = "STALE"
#: A ``(key, digest, first observation)`` the caller notes in :class:`Published` once the
#: record is accepted.
Note = tuple[str, str, int]


def _digest(*parts: Any) -> str:
    """A content digest for :class:`Published` (process-local, never stored): BLAKE2b of the
    parts' ``repr`` (deterministic for the strings, numbers, lists and dicts given here)."""
    return hashlib.blake2b(repr(parts).encode("utf-8", "surrogatepass"),
                           digest_size=10).hexdigest()


def input_version(ds: DatasetState) -> str:
    """The version of input ``ds``: explicit, else pinned at resolution, else ``unversioned``."""
    return ds.explicit_version or ds.resolvedVersion or UNVERSIONED


def output_version(ds: DatasetState, state: RunState) -> str | None:
    """The version of output ``ds``: explicit, else ``run:<runId>`` once the run is terminal,
    else ``None`` (not published yet)."""
    if ds.explicit_version:
        return ds.explicit_version
    return f"run:{state.runId}" if state.is_terminal else None


class _Builder:
    """Builds one record; ``notes`` are what to note in ``published`` once it is accepted."""

    def __init__(self, state: RunState, record: GraphRecord, published: Published | None):
        self.state = state
        self.record = record
        self.published = published
        self.notes: list[Note] = []
        self._datasets: dict[str, int] = {}
        self._kinds: dict[int, str | None] = {}
        self.job = job_uid(state.job_namespace, state.job_name)

    def fresh(self, key: str, digest: str, first: int) -> bool:
        """``True`` (and noted) unless ``key`` was published with ``digest`` and an
        observation no later than ``first``: then publishing it again changes nothing."""
        if self.published is not None and self.published.covers(key, digest, first):
            return False
        self.notes.append((key, digest, first))
        return True

    def dataset(self, namespace: str, name: str, kind: str | None, first: int,
                view: DatasetState | None = None) -> int:
        """The index of a dataset in the record; whether its node is written is decided
        once every reference is in (:meth:`finish_datasets`). ``view``: the run's view of
        it, whose facets become the node's properties (:func:`dataset_props`)."""
        uid = dataset_uid(namespace, name)
        index = self._datasets.get(uid)
        if index is None:
            self.record["datasets"].append({"namespace": graph_text(namespace),
                                            "name": graph_text(name), "write": False,
                                            "kind": kind, "first": first, "props": {}})
            index = self._datasets[uid] = len(self.record["datasets"]) - 1
        ref = self.record["datasets"][index]
        ref["first"] = min(ref["first"], first)
        if kind is not None and ref["kind"] is None:  # a producer names the kind
            ref["kind"] = kind
        if view is not None and (view.extra or view.facets.keys() & _NODE_FACETS):
            ref["props"].update(dataset_props(view))
        return index

    def finish_datasets(self) -> None:
        """Write each Dataset node unless it was published with an observation no later
        than this one's, when this record names its kind (a producer), that kind, and when
        it carries facet properties, those."""
        for uid, index in self._datasets.items():
            ref = self.record["datasets"][index]
            key, kind, first = "D:" + uid, ref["kind"], ref["first"]
            props = _digest(sorted(ref["props"].items())) if ref["props"] else ""
            known = self.published.get(key) if self.published is not None else None
            known_kind, _, known_props = known[0].partition("|") if known else ("", "", "")
            if (known is not None and known[1] <= first and kind in (None, known_kind)
                    and props in ("", known_props)):
                continue
            ref["write"] = True
            self.notes.append((key, f"{kind if kind is not None else known_kind}|"
                                    f"{props or known_props}", first))

    def _schema(self, ds: DatasetState, index: int) -> str | None:
        found = schema_of(ds)
        if found is None:
            return None
        hash_, columns = found
        if self.fresh(f"S:{dataset_uid(ds.namespace, ds.name)}#{hash_}", "1", ds.firstSeen):
            self.record["schemas"].append({
                "dataset": index, "hash": hash_, "first": ds.firstSeen, "offset": 0,
                "fieldCount": None,
                "fields": [{"name": graph_text(n), "type": graph_value(t),  # type: ignore[typeddict-item]
                            "tags": [graph_text(tag) for tag in tags]}
                           for n, t, tags in columns]})
        return hash_

    def version(self, ds: DatasetState, version: str, produced: bool,
                read: DatasetState | None = None) -> int:
        """Add the version (unless published with this content and an observation no later
        than this one; for a version a run read, any producer's publication will do: its
        values win) and return its dataset index. ``read``: the run's view of the same
        version as an input (a run that reads and writes one version), which fills what the
        output's view leaves empty, so the run's own values are written as the producer's."""
        kind = ds.kind_value if (produced or ds.kind is not None) else None
        first = ds.firstSeen if read is None else min(ds.firstSeen, read.firstSeen)
        index = self.dataset(ds.namespace, ds.name, kind, first, ds)
        lineage = self._lineage(ds, index) if produced else None
        row: VersionRow = {"dataset": index, "version": graph_text(version),
                           "produced": produced, "lineage": lineage, "kind": kind,
                           "first": first, **self._content(ds, index)}  # type: ignore[typeddict-item]
        if read is not None:
            for k, v in self._content(read, index).items():
                if row[k] is None:  # type: ignore[literal-required]
                    row[k] = v  # type: ignore[literal-required]
        if version == UNVERSIONED and not produced:
            # one node stands for every read that named no version: what one run saw of the
            # data (digest, size, statistics) is no fact about it, its schema is
            for k in ("digestAlgorithm", "digest", "rowCount", "bytes", "columnStats"):
                row[k] = None  # type: ignore[literal-required]
        content = _digest(self.state.runId if produced else "", *(
            row[k] for k in ("lineage", "schema", "kind", "digestAlgorithm", "digest",  # type: ignore[literal-required]
                             "rowCount", "bytes", "columnStats")))
        content = ("P" if produced else "W") + content
        key = "V:" + version_uid(ds.namespace, ds.name, version)
        known = self.published.get(key) if self.published is not None else None
        if known is not None and known[1] <= first and (
                known[0] == content or (not produced and known[0].startswith("P"))):
            return index
        # a reader republishing only for its earlier observation keeps the producer's entry
        keep = known is not None and not produced and known[0].startswith("P")
        self.notes.append((key, known[0] if known is not None and keep else content, first))
        self.record["versions"].append(row)
        return index

    def _content(self, ds: DatasetState, index: int) -> dict[str, str | int | None]:
        """What a run's view ``ds`` says of a version: schema hash (the schema published when
        new), digest, row count, bytes and column statistics."""
        digest_reg = ds.facets.get("contentDigest")
        digest = digest_reg.v if digest_reg is not None and isinstance(digest_reg.v, dict) else {}
        stats_reg = ds.facets.get("statistics")
        stats = stats_reg.v if stats_reg is not None and isinstance(stats_reg.v, dict) else {}
        return {"schema": self._schema(ds, index),
                "digestAlgorithm": _text(digest.get("algorithm")),
                "digest": _text(digest.get("hex")), "rowCount": _int(stats.get("rowCount")),
                "bytes": _int(stats.get("bytes")), "columnStats": column_stats_json(ds)}

    def _lineage(self, out: DatasetState, out_index: int) -> str | None:
        """The uid of the column lineage the run declares for output ``out`` (``None``: no
        pair yet); its row, with a dataset reference per source, only when new. Every source
        is referenced anyway, no later, as an input or a consumed lineage source."""
        state = self.state
        found = []
        for key, (namespace, name) in lineage_pairs(out):
            if key[1] not in state.inputs and not state.is_terminal:
                continue  # a source the run has not listed (yet): wait for its version
            source = state.inputs.get(key[1])
            found.append((key, namespace, name,
                          max(out.firstSeen, source.firstSeen) if source else out.firstSeen))
        if not found:
            return None
        uid = lineage_uid_of(self.job, dataset_uid(out.namespace, out.name),
                             tuple(key for key, *_ in found))
        if self.fresh("L:" + uid, "1", out.firstSeen):
            pairs: list[LineagePair] = [
                {"outField": graph_text(key[0]), "input": self.dataset(namespace, name, None,
                                                                       first),
                 "inField": graph_text(key[2]), "transformation": key[3], "subtype": key[4],
                 "masking": key[5]}
                for key, namespace, name, first in found]
            self.record["lineages"].append({"uid": uid, "output": out_index,
                                            "first": out.firstSeen, "pairs": pairs})
        return uid

    def consumed(self, index: int, version: str, first: int) -> None:
        ref = self.record["datasets"][index]
        key = f"C:{self.state.runId}>{version_uid(ref['namespace'], ref['name'], version)}"
        if self.fresh(key, "1", first):
            self.record["consumed"].append({"dataset": index, "version": graph_text(version),
                                            "first": first})


def _text(value: Any) -> str | None:
    return graph_text(value) if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _runs(b: _Builder) -> None:
    state, record = b.state, b.record
    record["runs"].append(run_row(state))
    parent = state.parent_run
    stubs = []
    if parent is not None:
        stubs.append((parent.runId, parent.job.namespace, parent.job.name))
        root = parent.root
        if root is not None and root.runId != parent.runId:
            stubs.append((root.runId, root.job.namespace, root.job.name))
    for run_id, namespace, name in stubs:  # parent and root runs, known by id and job
        if b.fresh("R:" + run_id, _digest(namespace, name), state.firstSeen):
            record["runs"].append(stub_run(run_id, namespace, name, state.firstSeen))
    job = job_props(state)
    if b.fresh("J:" + b.job, _digest(state.job_namespace, state.job_name, job),
               state.firstSeen):
        record["jobs"].append({"namespace": graph_text(state.job_namespace),
                               "name": graph_text(state.job_name), "first": state.firstSeen,
                               "props": job})


def _datasets(b: _Builder) -> None:
    state = b.state
    made = {uid: v for uid, ds in state.outputs.items()
            if (v := output_version(ds, state)) is not None}
    for uid in sorted(state.inputs):
        ds = state.inputs[uid]
        version = input_version(ds)
        if made.get(uid) == version:  # read and written by the run: one producer's row
            index = b.dataset(ds.namespace, ds.name, None, ds.firstSeen, ds)
        else:
            index = b.version(ds, version, produced=False)
        b.consumed(index, version, ds.firstSeen)
    listed = set(state.inputs)
    for uid in sorted(made):
        read = state.inputs.get(uid)
        b.version(state.outputs[uid], made[uid], produced=True,
                  read=read if read is not None and input_version(read) == made[uid] else None)
    if state.is_terminal:  # column-lineage sources the run does not list as inputs
        sources: dict[str, tuple[str, str, int]] = {}  # uid -> names, earliest output naming it
        for ds in state.outputs.values():
            for key, (namespace, name) in lineage_pairs(ds):
                if key[1] not in listed:
                    known = sources.get(key[1])
                    first = ds.firstSeen if known is None else min(known[2], ds.firstSeen)
                    sources[key[1]] = (namespace, name, first)
        for uid in sorted(sources):
            namespace, name, first = sources[uid]
            pinned = state.lineageSources.get(uid) or UNVERSIONED
            b.consumed(b.dataset(namespace, name, None, first), pinned, first)
    b.finish_datasets()


def state_to_record(state: RunState, *, source_event_id: str, event_time: int,
                    now_ms: int | None = None, published: Published | None = None,
                    ) -> tuple[GraphRecord, list[Note]]:
    """Return the record that makes the graph hold stitched run ``state``, and the notes to
    record in ``published`` once the record is accepted (see the module docstring).

    ``source_event_id``/``event_time`` name the event that led to this publication (epoch
    ms); ``now_ms`` is ``publishedAt`` (default: the clock).
    """
    record = new_record(source_event_id, event_time,
                        now_ms if now_ms is not None else int(time.time() * 1000))
    b = _Builder(state, record, published)
    _runs(b)
    _datasets(b)
    return record, b.notes


def event_to_record(event: LineageEvent, run_state: RunState | None = None, *,
                    now_ms: int | None = None, published: Published | None = None,
                    ) -> tuple[GraphRecord, list[Note]]:
    """Return the record for ``event`` given its run's stitched state (see
    :func:`state_to_record`).

    ``run_state`` is the state *after* ``event`` was merged; ``None`` stitches ``event``
    alone. Raises :class:`ValueError` when ``run_state`` belongs to another run.
    """
    state = run_state if run_state is not None else merge_event(None, event)
    if state.runId != event.run.runId:
        raise ValueError(f"run state {state.runId} does not belong to event {event.eventId}")
    return state_to_record(state, source_event_id=event.eventId, event_time=event.eventTime,
                           now_ms=now_ms, published=published)


def event_to_mutations(event: LineageEvent, run_state: RunState | None = None, *,
                       now_ms: int | None = None, published: Published | None = None,
                       ) -> GraphMutations:
    """The node and relationship upserts of the record :func:`event_to_record` builds
    (:func:`~lineage_pipeline.graph_record.expand`); with ``published``, what the record
    carried is noted in it, as the processor does once a record is accepted."""
    record, notes = event_to_record(event, run_state, now_ms=now_ms, published=published)
    if published is not None:
        published.note(notes)
    return expand(record)


def stale_record(state: RunState, *, now_ms: int | None = None) -> GraphRecord:
    """Return the record that marks open run ``state`` as ``STALE`` (only its state changes;
    a later event of the run republishes its real state). Raises :class:`ValueError` for a
    terminal run: a finished run is never stale."""
    if state.is_terminal:
        raise ValueError(f"run {state.runId} is {state.state}; terminal runs are never stale")
    record = new_record(f"stale:{state.runId}", state.lastSeen,
                        now_ms if now_ms is not None else int(time.time() * 1000))
    row = stub_run(state.runId, state.job_namespace, state.job_name, state.firstSeen,
                    state.lastSeen)
    row["state"] = STALE
    record["runs"].append(row)
    return record
