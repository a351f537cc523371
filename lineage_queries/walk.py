"""Breadth-first lineage walks over the graph, at dataset, version, run, job and column level.

One catalog query per (level, label) of the frontier, so a walk of depth ``d`` costs at most
about ``d`` round trips whatever the fan-out. Relationships count only when first observed at or
before ``as_of`` (epoch ms; ``None`` = now), so a walk ``as_of`` a past time answers from the
graph as it was then.

Steps (``depth`` counts hops; a processing step is two: input -> run -> output):

- DatasetVersion: upstream the runs that GENERATED it, downstream the runs that CONSUMED it;
- Run: upstream the versions it CONSUMED, downstream the versions it GENERATED;
- Field (a column of a version, two hops per step): declared column lineage, the
  ``(Field)-[:DERIVED_FROM {lineageUid}]->(Field)`` relationships of the lineage the run that
  generated the output applied (``GENERATED.lineageUid``); for a run that declared none for
  an output,
  the column of the same name on the other side, else that version as a whole (a model
  trained on a table, say), from where the walk goes on at version level. Such relationships are
  ``DERIVED_FROM`` with ``inferred`` = ``"name"`` or ``"dataset"`` and the ``runId``. The
  run of each column hop and the versions holding the columns come along as context
  (CONSUMED_BY, GENERATED, HAS_FIELD relationships) but the walk goes on only from the columns;
- roots: a Dataset stands for its versions and a Job for its runs (depth 0); a dataset
  column (``dataset#column``) for that column of every version (Field nodes at depth 0,
  with their versions).

Each run's Job and each version's Dataset are attached (RUN_OF, VERSION_OF relationships).

:func:`lineage_queries.subgraph.to_subgraph` turns a walk into the Subgraph JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from lineage_pipeline.graph_model import NodeLabel, RelType, column_uid
from lineage_queries.answers import RelationshipProps
from lineage_queries.shapes import column_props, column_stats, dataset_of

Direction = Literal["upstream", "downstream"]
#: ``query(name, **params) -> rows``: runs one catalog query (``LineageGraph.query``).
QueryFn = Callable[..., list[dict[str, Any]]]

# (direction, frontier label) -> (catalog query, neighbour label, relationship type,
#                                 relationship from neighbour?)
_STEPS: dict[tuple[str, NodeLabel], tuple[str, NodeLabel, RelType, bool]] = {
    ("upstream", NodeLabel.DATASET_VERSION): (
        "upstream_producers", NodeLabel.RUN, RelType.GENERATED, True),
    ("upstream", NodeLabel.RUN): (
        "upstream_inputs", NodeLabel.DATASET_VERSION, RelType.CONSUMED_BY, True),
    ("downstream", NodeLabel.DATASET_VERSION): (
        "downstream_consumers", NodeLabel.RUN, RelType.CONSUMED_BY, False),
    ("downstream", NodeLabel.RUN): (
        "downstream_outputs", NodeLabel.DATASET_VERSION, RelType.GENERATED, False),
}
#: The deepest walk a caller may ask for.
MAX_DEPTH = 100

_ORDER = list(NodeLabel)


@dataclass(frozen=True, slots=True)
class ResolvedNode:
    """A node a NODE string names: its ``label``, ``uid`` and properties; ``column`` when it
    names one column of every version of a dataset (``dataset#column``)."""

    label: NodeLabel
    uid: str
    props: dict[str, Any]
    column: str | None = None

    @property
    def id(self) -> str:
        """The root id shown in answers (``uid``, plus ``#column`` for a dataset column)."""
        return f"{self.uid}#{self.column}" if self.column is not None else self.uid


@dataclass
class Walk:
    """What a walk found.

    ``nodes``: uid -> (label, props, depth); ``relationships``: (from, to, type) -> extra
    relationship
    properties (stored direction); ``flow``: walk-direction adjacency (node -> nodes found
    from it), used to bridge hidden nodes.
    """

    root: ResolvedNode
    direction: Direction
    depth: int
    nodes: dict[str, tuple[NodeLabel, dict[str, Any], int]] = field(default_factory=dict)
    relationships: dict[tuple[str, str, str], RelationshipProps] = field(default_factory=dict)
    flow: dict[str, set[str]] = field(default_factory=dict)
    #: runs and versions whose Job / Dataset is already attached
    attached: set[str] = field(default_factory=set)

    def add(self, uid: str, label: NodeLabel, props: dict[str, Any], depth: int) -> bool:
        """Add a node; return ``False`` when it was already there."""
        if uid in self.nodes:
            return False
        self.nodes[uid] = (label, props, depth)
        return True

    def link(self, src: str, dst: str, rel: RelType, extra: RelationshipProps | None = None
             ) -> None:
        """Add relationship ``src -[rel]-> dst`` (stored direction)."""
        key = (src, dst, rel.value)
        if key not in self.relationships or extra:
            self.relationships[key] = extra.copy() if extra else {}

    def attach(self, uid: str, label: NodeLabel, props: dict[str, Any] | None) -> None:
        """Attach the Job (of a run) or Dataset (of a version) ``props`` to node ``uid``."""
        if props is None or not props.get("uid"):
            return
        target = str(props["uid"])
        self.add(target, label, dict(props), self.nodes[uid][2])
        rel = RelType.RUN_OF if label is NodeLabel.JOB else RelType.VERSION_OF
        self.link(uid, target, rel)
        self.attached.add(uid)

    def of_label(self, label: NodeLabel) -> list[str]:
        """The uids of the nodes with ``label``, in discovery order."""
        return [uid for uid, (lbl, _, _) in self.nodes.items() if lbl is label]


class Walker:
    """Runs walks with a catalog ``query`` function (see the module docstring)."""

    def __init__(self, query: QueryFn) -> None:
        self.query = query

    def walk(self, root: ResolvedNode, direction: Direction, depth: int,
             as_of: int | None = None) -> Walk:
        """Walk ``depth`` hops from ``root`` in ``direction``; return what was found."""
        w = Walk(root, direction, depth)
        w.add(root.uid, root.label, root.props, 0)
        # depth -> label -> uids to expand at that depth
        todo: dict[int, dict[NodeLabel, list[str]]] = {}

        def schedule(uid: str, label: NodeLabel, at: int) -> None:
            if at < depth:
                todo.setdefault(at, {}).setdefault(label, []).append(uid)

        self._start(w, schedule, as_of)
        for level in range(depth):
            for label, uids in sorted(todo.pop(level, {}).items(),
                                      key=lambda kv: _ORDER.index(kv[0])):
                if label is NodeLabel.FIELD:
                    if level + 2 <= depth:
                        self._field_step(w, sorted(set(uids)), level + 2, as_of, schedule)
                else:
                    self._step(w, label, sorted(set(uids)), level + 1, as_of, schedule)
        self._attach(w, "run_jobs", NodeLabel.RUN, NodeLabel.JOB, RelType.RUN_OF)
        self._attach(w, "version_datasets", NodeLabel.DATASET_VERSION, NodeLabel.DATASET,
                     RelType.VERSION_OF)
        return w

    # -- roots -------------------------------------------------------------------------------
    def _start(self, w: Walk, schedule: Callable[[str, NodeLabel, int], None],
               as_of: int | None) -> None:
        root = w.root
        if root.label is NodeLabel.DATASET and root.column is not None:
            rows = self.query("dataset_column_fields", uids=[root.uid], column=root.column,
                              as_of=as_of)
            for uid, props, row in sorted(((*far_column(r), r) for r in rows),
                                          key=lambda x: x[0]):
                w.add(row["version"], NodeLabel.DATASET_VERSION, dict(row["version_props"]), 0)
                w.link(row["version"], root.uid, RelType.VERSION_OF)
                w.add(uid, NodeLabel.FIELD, props, 0)
                w.link(row["version"], uid, RelType.HAS_FIELD)
                w.flow.setdefault(root.uid, set()).add(uid)
                schedule(uid, NodeLabel.FIELD, 0)
        elif root.label is NodeLabel.DATASET:
            for uid in self._expand(w, "dataset_versions", [root.uid], NodeLabel.DATASET_VERSION,
                                    RelType.VERSION_OF, True, 0, as_of):
                schedule(uid, NodeLabel.DATASET_VERSION, 0)
        elif root.label is NodeLabel.JOB:
            for uid in self._expand(w, "job_runs", [root.uid], NodeLabel.RUN, RelType.RUN_OF,
                                    True, 0, as_of):
                schedule(uid, NodeLabel.RUN, 0)
        else:
            schedule(root.uid, root.label, 0)

    # -- steps -------------------------------------------------------------------------------
    def _step(self, w: Walk, label: NodeLabel, uids: list[str], at: int, as_of: int | None,
              schedule: Callable[[str, NodeLabel, int], None]) -> None:
        if label is NodeLabel.DATASET_VERSION and at + 1 <= w.depth:
            self._two_hops(w, uids, at, as_of, schedule)
            return
        step = _STEPS.get((w.direction, label))
        if step is None:
            return
        name, next_label, rel, from_neighbour = step
        for uid in self._expand(w, name, uids, next_label, rel, from_neighbour, at, as_of):
            schedule(uid, next_label, at)

    def _two_hops(self, w: Walk, uids: list[str], at: int, as_of: int | None,
                  schedule: Callable[[str, NodeLabel, int], None]) -> None:
        """Versions -> runs (at ``at``) -> versions (at ``at + 1``) in one query."""
        up = w.direction == "upstream"
        name = "upstream_producers_inputs" if up else "downstream_consumers_outputs"
        found: list[str] = []
        for row in self.query(name, uids=uids, as_of=as_of):
            src, run = row["src"], row["run"]
            w.link(*((run, src) if up else (src, run)),
                   RelType.GENERATED if up else RelType.CONSUMED_BY)
            w.flow.setdefault(src, set()).add(run)
            w.add(run, NodeLabel.RUN, dict(row["run_props"] or {}), at)
            if run not in w.attached:
                w.attach(run, NodeLabel.JOB, row["job"])
            for nxt in row["next"] or ():
                uid = nxt.get("uid") if nxt else None
                if uid is None:
                    continue
                w.link(*((uid, run) if up else (run, uid)),
                       RelType.CONSUMED_BY if up else RelType.GENERATED)
                w.flow.setdefault(run, set()).add(uid)
                if w.add(uid, NodeLabel.DATASET_VERSION, dict(nxt.get("props") or {}), at + 1):
                    found.append(uid)
        for uid in sorted(found):
            schedule(uid, NodeLabel.DATASET_VERSION, at + 1)

    def _expand(self, w: Walk, query: str, frontier: list[str], label: NodeLabel,
                rel: RelType, from_neighbour: bool, depth: int, as_of: int | None) -> list[str]:
        """Run one step query; add neighbours and relationships; return the new nodes."""
        new: list[str] = []
        for row in self.query(query, uids=frontier, as_of=as_of):
            uid, src = row["uid"], row["src"]
            w.link(*((uid, src) if from_neighbour else (src, uid)), rel)
            w.flow.setdefault(src, set()).add(uid)
            if w.add(uid, label, dict(row["props"] or {}), depth):
                new.append(uid)
        return sorted(new)

    def _field_step(self, w: Walk, uids: list[str], at: int, as_of: int | None,
                    schedule: Callable[[str, NodeLabel, int], None]) -> None:
        up = w.direction == "upstream"
        cols = [_column_param(uid, w.nodes[uid][1]) for uid in uids]
        rows = [(row, "declared") for row in self.query(
            "field_derived_up" if up else "field_derived_down", cols=cols, as_of=as_of)]
        rows += [(row, "name" if row["column"] is not None else "dataset") for row in self.query(
            "field_flow_up" if up else "field_flow_down", cols=cols, as_of=as_of)]
        found: list[tuple[str, NodeLabel]] = []
        for row, how in rows:
            src = row["src"]
            if row["column"] is not None:
                uid, props = far_column(row)
                label = NodeLabel.FIELD
            else:
                uid, label, props = row["version"], NodeLabel.DATASET_VERSION, row["version_props"]
            extra: RelationshipProps = {"runId": row["run"]}
            if how == "declared":
                extra["transformation"] = row["transformation"]
            else:
                extra["inferred"] = how
            derived, source = (src, uid) if up else (uid, src)
            w.link(derived, source, RelType.DERIVED_FROM, extra)
            w.flow.setdefault(src, set()).add(uid)
            if w.add(uid, label, dict(props or {}), at):
                found.append((uid, label))
            self._context(w, row, at)
        for uid, label in sorted(found):
            schedule(uid, label, at)

    @staticmethod
    def _context(w: Walk, row: dict[str, Any], at: int) -> None:
        """Add the run of a column hop and the versions holding both columns (not walked
        from): (version)-[:HAS_FIELD]->(field), (input)-[:CONSUMED_BY]->(run)-[:GENERATED]->
        (output)."""
        up = w.direction == "upstream"
        src_v, dst_v, run = row.get("src_version"), row.get("version"), row.get("run")
        if src_v is not None:
            w.add(src_v, NodeLabel.DATASET_VERSION, dict(row["src_version_props"] or {}),
                  at - 2)
            w.link(src_v, row["src"], RelType.HAS_FIELD)
        if dst_v is not None:
            w.add(dst_v, NodeLabel.DATASET_VERSION, dict(row["version_props"] or {}), at)
            if row["column"] is not None:
                w.link(dst_v, far_column(row)[0], RelType.HAS_FIELD)
        if run is not None and row.get("run_props") is not None:
            w.add(run, NodeLabel.RUN, dict(row["run_props"]), at - 1)
            inp, out = (dst_v, src_v) if up else (src_v, dst_v)
            if inp is not None:
                w.link(inp, run, RelType.CONSUMED_BY)
            if out is not None:
                w.link(run, out, RelType.GENERATED)

    def _attach(self, w: Walk, query: str, of: NodeLabel, label: NodeLabel, rel: RelType
                ) -> None:
        """Attach each ``of`` node's Job/Dataset not attached yet (relationship from node ->
        attached node)."""
        uids = [uid for uid in w.of_label(of) if uid not in w.attached]
        if not uids:
            return
        for row in self.query(query, uids=uids):
            w.link(row["src"], row["uid"], rel)
            w.add(row["uid"], label, dict(row["props"] or {}), w.nodes[row["src"]][2])


def _column_param(uid: str, props: dict[str, Any]) -> dict[str, Any]:
    """The ``$cols`` entry of a column node of a walk: its id, version, dataset column (the
    Field uid) and name."""
    version, name = str(props.get("versionUid")), str(props.get("name"))
    return {"uid": uid, "version": version, "name": name,
            "field": column_uid(dataset_of(version, props), name)}


def far_column(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The id and properties of the column a column-level row leads to (its ``version``,
    ``column``, ``type``, ``tags``, ``stats`` and ``version_props``)."""
    version, name = str(row["version"]), str(row["column"])
    stats = column_stats({"columnStats": row.get("stats")}).get(name, {})
    props = column_props(version, row.get("version_props"), name, row.get("type"),
                         row.get("tags"), stats)
    return str(props["uid"]), dict(props)
