"""The merged state of one input or output dataset of a run (:class:`DatasetState`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lineage_pipeline.events import (
    ColumnStats,
    ContentDigest,
    DataSource,
    InputField,
    SchemaField,
    Statistics,
    Symlink,
    Transformation,
)
from lineage_pipeline.graph_model import dataset_uid
from lineage_pipeline.naming import normalize_dataset
from stream_processor.stitch.registers import Reg, lww, merge_map, merge_rows

#: Typed dataset facets kept whole per dataset, last writer wins (wire names). Columns (from
#: ``schema`` and ``statistics``) and ``columnLineage`` are *also* merged as unions, finer
#: grained: an event that carries only part of them must not hide the rest.
DATASET_FACETS = ("schema", "statistics", "contentDigest", "symlinks", "dataSource")


@dataclass(slots=True)
class DatasetState:
    """One input or output dataset of a run, merged over the run's events.

    ``version`` is the latest explicit version an event gave; ``resolvedVersion`` the version
    pinned when the processor first resolved a version-less input (the latest version it had
    seen generated), so every later publication of the run names the same version.
    ``firstSeen`` / ``lastSeen`` are the earliest / latest eventTime that listed the dataset
    (epoch ms; ``lastSeen`` is ``None`` in states stored before it existed: see
    :attr:`last_seen`).
    ``columns`` (column -> type), ``columnStats`` (column -> statistics) and ``lineage``
    (``[outField, inNamespace, inName, inField]`` JSON -> transformations) are unions over
    every event, each entry a last-writer-wins register.

    A plain dataclass (the processor merges dozens of these per event; a model's attribute
    handling cost more than the merge); stored as JSON through
    :data:`stream_processor.stitch.runs.RUN_STATE`.
    """

    namespace: str
    name: str
    firstSeen: int
    lastSeen: int | None = None
    kind: Reg | None = None
    version: Reg | None = None
    resolvedVersion: str | None = None
    facets: dict[str, Reg] = field(default_factory=dict)
    extra: dict[str, Reg] = field(default_factory=dict)
    columns: dict[str, Reg] = field(default_factory=dict)
    columnStats: dict[str, Reg] = field(default_factory=dict)
    lineage: dict[str, Reg] = field(default_factory=dict)

    @property
    def last_seen(self) -> int:
        """The latest eventTime that listed the dataset (epoch ms)."""
        return self.firstSeen if self.lastSeen is None else self.lastSeen

    def clone(self) -> DatasetState:
        """A copy that can be merged into without changing this one (registers are
        immutable, so they are shared)."""
        return DatasetState(self.namespace, self.name, self.firstSeen, self.lastSeen, self.kind,
                            self.version, self.resolvedVersion, dict(self.facets),
                            dict(self.extra), dict(self.columns), dict(self.columnStats),
                            dict(self.lineage))

    @property
    def uid(self) -> str:
        """The dataset uid ``namespace:name``."""
        return dataset_uid(self.namespace, self.name)

    @property
    def kind_value(self) -> str:
        """The dataset kind (``table`` unless an event said otherwise)."""
        return str(self.kind.v) if self.kind is not None else "table"

    @property
    def explicit_version(self) -> str | None:
        """The latest version an event gave explicitly, else ``None``."""
        return str(self.version.v) if self.version is not None else None

    def _facet(self, name: str) -> Any:
        reg = self.facets.get(name)
        return None if reg is None else reg.v

    @property
    def schema_fields(self) -> list[SchemaField] | None:
        """The ``schema`` facet's fields."""
        raw = self._facet("schema")
        return None if raw is None else [SchemaField.model_validate(f) for f in raw]

    def column_types(self) -> dict[str, str | None]:
        """Every column any ``schema`` facet named -> its (latest) type."""
        return {name: reg.v for name, reg in sorted(self.columns.items())}

    def column_stats(self) -> dict[str, ColumnStats]:
        """Every column any ``statistics`` facet described -> its (latest) statistics."""
        return {name: ColumnStats.model_validate(reg.v)
                for name, reg in sorted(self.columnStats.items())}

    def lineage_pairs(self) -> list[tuple[str, InputField]]:
        """Column lineage as ``(output column, input field with its transformations)`` pairs,
        the union over every event's ``columnLineage`` facet (input names normalised)."""
        pairs = []
        for key, reg in sorted(self.lineage.items()):
            out_field, ns, name, in_field = json.loads(key)
            transformations = [Transformation.model_validate(t) for t in reg.v]
            pairs.append((out_field, InputField(namespace=ns, name=name, field=in_field,
                                                transformations=transformations)))
        return pairs

    @property
    def statistics(self) -> Statistics | None:
        """The ``statistics`` facet."""
        raw = self._facet("statistics")
        return None if raw is None else Statistics.model_validate(raw)

    @property
    def content_digest(self) -> ContentDigest | None:
        """The ``contentDigest`` facet."""
        raw = self._facet("contentDigest")
        return None if raw is None else ContentDigest.model_validate(raw)

    @property
    def symlinks(self) -> list[Symlink] | None:
        """The ``symlinks`` facet."""
        raw = self._facet("symlinks")
        return None if raw is None else [Symlink.model_validate(s) for s in raw]

    @property
    def data_source(self) -> DataSource | None:
        """The ``dataSource`` facet."""
        raw = self._facet("dataSource")
        return None if raw is None else DataSource.model_validate(raw)

    def merge(self, ds: dict[str, Any], t: int, event_id: str) -> None:
        """Merge dataset ``ds`` (its wire record, as in an event record) as listed by event
        ``event_id`` at eventTime ``t`` (in place). Register values share the record's
        objects: neither side changes them afterwards."""
        self.firstSeen = min(self.firstSeen, t)
        self.lastSeen = max(self.last_seen, t)
        kind = ds.get("kind")
        if kind and kind != "table":  # "table" is the model's default: it says nothing
            self.kind = lww(self.kind, Reg(t, event_id, kind))
        if ds.get("version"):
            self.version = lww(self.version, Reg(t, event_id, ds["version"]))
        facets = ds.get("facets") or {}
        for facet in DATASET_FACETS:
            value = facets.get(facet)
            if value is not None:
                if facet == "symlinks":
                    value = _normalise_symlinks(value)
                merge_map(self.facets, facet, Reg(t, event_id, value))
        merge_rows(self.extra, (facets.get("extra") or {}).items(), t, event_id)
        merge_rows(self.columns, ((f["name"], f.get("type")) for f in facets.get("schema") or ()),
                   t, event_id)
        statistics = facets.get("statistics") or {}
        merge_rows(self.columnStats, ((c["name"], c) for c in statistics.get("columns") or ()),
                   t, event_id)
        merge_rows(self.lineage, (
            (_lineage_key(out_col["field"], inp["namespace"], inp["name"], inp["field"]),
             inp.get("transformations") or [])
            for out_col in facets.get("columnLineage") or ()
            for inp in out_col.get("inputFields") or ()), t, event_id)


@lru_cache(maxsize=1 << 16)
def _lineage_key(out_field: str, namespace: str, name: str, in_field: str) -> str:
    """The ``lineage`` key of a pair: ``[outField, inNamespace, inName, inField]`` JSON, the
    input's name normalised (cached: the same pairs come back in every run of a job)."""
    ns, nm = normalize_dataset(namespace, name)
    return json.dumps([out_field, ns, nm, in_field])


@lru_cache(maxsize=1 << 16)
def lineage_key_parts(key: str) -> tuple[str, str, str, str, str]:
    """``(outField, inNamespace, inName, inField, input dataset uid)`` of a ``lineage`` key
    of :class:`DatasetState` (cached parse of its JSON)."""
    out_field, namespace, name, in_field = json.loads(key)
    return (str(out_field), str(namespace), str(name), str(in_field),
            dataset_uid(namespace, name))


def _normalise_symlinks(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for link in links:
        ns, name = normalize_dataset(link["namespace"], link["name"])
        out.append({**link, "namespace": ns, "name": name})
    return out
