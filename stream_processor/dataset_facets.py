"""A dataset's facets as properties of its ``Dataset`` node (graph record v3 ``props``).

Every dataset facet the graph does not store elsewhere is kept on the node, one property per
facet, so a writer that sends only some facets never erases the others (the sink's
``SET n += props``: last write wins per facet):

- ``facet_<name>``: the facet's JSON text (compact, sorted keys): the typed ``dataSource``
  (``{"name", "uri"}``) and ``symlinks`` (``{"identifiers": [{"namespace", "name",
  "type"}]}``, names canonical) facets, and every other facet of the event's ``extra`` map
  under its name there (``ownership``, ``documentation``, ``storage``, ``catalog``,
  ``lifecycleStateChange``, ``columnLineage.dataset`` (the dataset-level column lineage) and
  custom facets);
- ``symlinks``: the uids of the dataset's other names (``namespace:name`` of each symlink
  identifier, sorted), which ``LineageGraph.resolve`` searches when no node has the uid a
  user gave: a dataset is found by its physical name and by each of its symlinks.

``schema``, ``statistics``, ``contentDigest`` and ``columnLineage`` are not repeated here:
the graph keeps them per version (``Schema``/``Field`` nodes, version properties, column
lineage relationships). What one run saw of the dataset (the input and output dataset
facets, ``inputFacets.<name>`` / ``outputFacets.<name>``, and ``dataQualityAssertions``) is
kept on that run instead (:func:`run_dataset_facets`, the ``Run`` property
``datasetFacets``): the node keeps what is true of the dataset, and a run's read statistics
do not rewrite it.
"""

from __future__ import annotations

import json

from lineage_pipeline.events import run_scoped_facet
from lineage_pipeline.graph_model import (
    FACET_PREFIX,
    PropValue,
    dataset_uid,
    graph_text,
    graph_value,
)
from stream_processor.stitch import DatasetState, RunState

#: The typed facets kept on the node (besides every ``extra`` one).
NODE_FACETS = frozenset({"symlinks", "dataSource"})


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def dataset_props(ds: DatasetState) -> dict[str, PropValue]:
    """The ``Dataset`` node properties of run view ``ds`` (see the module docstring); ``{}``
    when it carries no such facet. Strings go through
    :func:`~lineage_pipeline.graph_model.graph_text`."""
    props: dict[str, PropValue] = {}
    links = ds.facets.get("symlinks")
    if links is not None and isinstance(links.v, list):
        identifiers = [link for link in links.v if isinstance(link, dict)]
        props["symlinks"] = sorted({graph_text(dataset_uid(str(i.get("namespace", "")),
                                                           str(i.get("name", ""))))
                                    for i in identifiers})
        props[FACET_PREFIX + "symlinks"] = graph_text(_json({"identifiers": identifiers}))
    source = ds.facets.get("dataSource")
    if source is not None and isinstance(source.v, dict):
        props[FACET_PREFIX + "dataSource"] = graph_text(_json(source.v))
    for name, reg in ds.extra.items():
        if isinstance(reg.v, str) and not run_scoped_facet(name):
            props[FACET_PREFIX + graph_text(name)] = graph_value(reg.v)
    return props


def run_dataset_facets(state: RunState) -> str | None:
    """The ``datasetFacets`` property of run ``state``: JSON ``{"inputs": {dataset uid:
    {facet key: JSON text}}, "outputs": {...}}`` of its datasets' run-scoped facets
    (:func:`~lineage_pipeline.events.run_scoped_facet`), so each run keeps what it read and
    wrote; ``None`` when none."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for role, datasets in (("inputs", state.inputs), ("outputs", state.outputs)):
        for ds in datasets.values():
            found = {k: r.v for k, r in sorted(ds.extra.items())
                     if run_scoped_facet(k) and isinstance(r.v, str)}
            if found:
                out.setdefault(role, {})[dataset_uid(ds.namespace, ds.name)] = found
    return _json(out) if out else None
