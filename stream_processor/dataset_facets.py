"""A dataset's facets as properties of its ``Dataset`` node (graph record v3 ``props``).

Every dataset facet the graph does not store elsewhere is kept on the node, one property per
facet, so a writer that sends only some facets never erases the others (the sink's
``SET n += props``: last write wins per facet):

- ``facet_<name>``: the facet's JSON text (compact, sorted keys): the typed ``dataSource``
  (``{"name", "uri"}``) and ``symlinks`` (``{"identifiers": [{"namespace", "name",
  "type"}]}``, names canonical) facets, and every other facet of the event's ``extra`` map
  under its name there (``ownership``, ``documentation``, ``storage``, ``catalog``,
  ``lifecycleStateChange``, ``dataQualityAssertions``, ``columnLineage.dataset`` (the
  dataset-level column lineage), ``inputFacets.<name>`` / ``outputFacets.<name>`` and
  custom facets);
- ``symlinks``: the uids of the dataset's other names (``namespace:name`` of each symlink
  identifier, sorted), which ``LineageGraph.resolve`` searches when no node has the uid a
  user gave: a dataset is found by its physical name and by each of its symlinks.

``schema``, ``statistics``, ``contentDigest`` and ``columnLineage`` are not repeated here:
the graph keeps them per version (``Schema``/``Field`` nodes, version properties, column
lineage relationships).
"""

from __future__ import annotations

import json

from lineage_pipeline.graph_model import (
    FACET_PREFIX,
    PropValue,
    dataset_uid,
    graph_text,
    graph_value,
)
from stream_processor.stitch import DatasetState

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
        if isinstance(reg.v, str):
            props[FACET_PREFIX + graph_text(name)] = graph_value(reg.v)
    return props
