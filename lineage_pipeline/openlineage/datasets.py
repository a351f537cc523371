"""Datasets: :class:`~lineage_pipeline.events.Dataset` <-> OpenLineage input/output datasets.

Facet mapping (https://openlineage.io/spec/2-0-2/; see :mod:`lineage_pipeline.openlineage`):
``schema`` (a field's ``tags`` -> ``tags``, one entry per field and tag; nested fields by
their path ``parent.child``, :func:`flat_fields`), ``columnLineage``
(its ``dataset`` part is kept in ``extra["columnLineage.dataset"]``), ``symlinks``,
``dataSource``, ``version`` (``datasetVersion``), ``datasetType`` (the kind, upper case:
``TABLE``, ``FILE``, ``MODEL``, ...; the custom ``lineagePipeline_dataset`` only for a kind the
queries do not know, and still read), ``lineagePipeline_contentDigest`` and
``lineagePipeline_statistics`` (exact), and the standard statistics views
``inputFacets.dataQualityMetrics`` / ``outputFacets.outputStatistics`` (a third party's are
read into the statistics and kept whole besides, as extras). Unknown facets travel
in the dataset's ``extra`` map; input/output facets as ``inputFacets.<name>`` /
``outputFacets.<name>``.
"""

from __future__ import annotations

from typing import Any

from openlineage.client.generated import (
    column_lineage_dataset,
    data_quality_metrics_input_dataset,
    dataset_type_dataset,
    dataset_version_dataset,
    datasource_dataset,
    output_statistics_output_dataset,
    schema_dataset,
    symlinks_dataset,
    tags_dataset,
)
from openlineage.client.generated.base import DatasetFacet

from lineage_pipeline.events import (
    ColumnLineageField,
    ColumnStats,
    ContentDigest,
    Dataset,
    DatasetFacets,
    DataSource,
    InputField,
    SchemaField,
    Statistics,
    Symlink,
    Transformation,
)
from lineage_pipeline.graph_model import DATASET_KINDS
from lineage_pipeline.openlineage.facets import (
    PREFIX,
    ContentDigestDatasetFacet,
    DatasetKindDatasetFacet,
    StatisticsDatasetFacet,
)
from lineage_pipeline.openlineage.values import json_text, json_value, merge_extras, or_default


# -- to OpenLineage --------------------------------------------------------------------------
def _nested(fields: list[SchemaField]) -> list[schema_dataset.SchemaDatasetFacetFields]:
    """The schema facet's fields, nested again: a field named ``parent.child`` after a field
    ``parent`` is ``child`` among ``parent``'s ``fields`` (the nearest such parent; see
    :func:`flat_fields`)."""
    roots: list[schema_dataset.SchemaDatasetFacetFields] = []
    by_path: dict[str, schema_dataset.SchemaDatasetFacetFields] = {}
    for s in fields:
        node = schema_dataset.SchemaDatasetFacetFields(
            name=s.name, type=s.type, description=s.description, fields=None)
        parent, path = None, s.name
        while "." in path and parent is None:
            path = path.rsplit(".", 1)[0]
            parent = by_path.get(path)
        if parent is None:
            roots.append(node)
        else:
            node.name = s.name[len(path) + 1:]
            parent.fields = [*(parent.fields or []), node]
        by_path.setdefault(s.name, node)
    return roots


def flat_fields(fields: list[dict[str, Any]] | None, prefix: str = "") -> list[SchemaField]:
    """The fields of an OpenLineage ``schema`` facet, flattened depth first: a struct or
    array field's sub-fields (its ``fields``) follow it, named by their path
    (``parent.child``), so each is a column of its own in the graph, with type and
    description. Raises ``KeyError`` for a field without a name."""
    out: list[SchemaField] = []
    for f in fields or []:
        name = prefix + str(f["name"])
        out.append(SchemaField(name=name, type=f.get("type"), description=f.get("description")))
        out.extend(flat_fields(f.get("fields"), name + "."))
    return out


def _schema_facets(fields: list[SchemaField], p: str) -> dict[str, DatasetFacet]:
    """``schema`` (nested fields again, :func:`_nested`), plus ``tags`` when a field has
    tags (tag ``key``, value ``"true"``, ``field`` its path)."""
    facets: dict[str, DatasetFacet] = {
        "schema": schema_dataset.SchemaDatasetFacet(fields=_nested(fields), producer=p)
    }
    tags = [
        tags_dataset.TagsDatasetFacetFields(key=tag, value="true", field=s.name)
        for s in fields
        for tag in s.tags
    ]
    if tags:
        facets["tags"] = tags_dataset.TagsDatasetFacet(tags=tags, producer=p)
    return facets


def _column_lineage_facet(
    lineage: list[ColumnLineageField], p: str
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    return column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            c.field: column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=i.namespace,
                        name=i.name,
                        field=i.field,
                        transformations=[
                            column_lineage_dataset.Transformation(
                                type=t.type, subtype=t.subtype, description=t.description,
                                masking=t.masking,
                            )
                            for t in i.transformations
                        ],
                    )
                    for i in c.inputFields
                ]
            )
            for c in lineage
        },
        producer=p,
    )


def _kind(facets: dict[str, Any], default: str) -> str:
    """The kind a dataset's ``facets`` give (the custom ``lineagePipeline_dataset`` facet, else
    a ``datasetType`` the queries know, lower-cased), popping the facets it came from; a
    ``datasetType`` of another value stays among the facets (an extra) and gives
    ``default``."""
    custom = facets.pop(PREFIX + "dataset", None)
    standard = facets.get("datasetType")
    typed = str(standard.get("datasetType") or "").lower() if isinstance(standard, dict) else ""
    if custom is not None or typed in DATASET_KINDS:
        facets.pop("datasetType", None)
    return str(or_default((custom or {}).get("kind"), typed if typed in DATASET_KINDS else default))


def dataset_facets(ds: Dataset, producer: str) -> dict[str, DatasetFacet]:
    """Return the OpenLineage ``facets`` of ``ds`` (facet name -> facet; typed part only)."""
    p = producer
    f = ds.facets
    facets: dict[str, DatasetFacet] = {
        "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(
            datasetType=ds.kind.upper(), producer=p),
    }
    if ds.kind not in DATASET_KINDS:  # the standard facet's upper case would lose it
        facets[PREFIX + "dataset"] = DatasetKindDatasetFacet(kind=ds.kind, producer=p)
    if ds.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=ds.version, producer=p
        )
    if f.schema_ is not None:
        facets.update(_schema_facets(f.schema_, p))
    if f.columnLineage is not None:
        facets["columnLineage"] = _column_lineage_facet(f.columnLineage, p)
    if f.symlinks is not None:
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(namespace=s.namespace, name=s.name, type=s.type)
                for s in f.symlinks
            ],
            producer=p,
        )
    if f.dataSource is not None:
        facets["dataSource"] = datasource_dataset.DatasourceDatasetFacet(
            name=f.dataSource.name, uri=f.dataSource.uri, producer=p
        )
    if f.contentDigest is not None:
        facets[PREFIX + "contentDigest"] = ContentDigestDatasetFacet(
            algorithm=f.contentDigest.algorithm, hex=f.contentDigest.hex, producer=p
        )
    if f.statistics is not None:
        facets[PREFIX + "statistics"] = StatisticsDatasetFacet(
            rowCount=f.statistics.rowCount,
            bytes=f.statistics.bytes,
            columns=[c.model_dump(exclude_none=True) for c in f.statistics.columns],
            producer=p,
        )
    return facets


def input_facets(ds: Dataset, producer: str) -> dict[str, Any]:
    """Return the ``inputFacets`` of input ``ds``: ``dataQualityMetrics`` from its
    statistics (row count, bytes, per-column null/distinct counts, min, max), else none."""
    stats = ds.facets.statistics
    if stats is None:
        return {}
    metrics = {
        c.name: data_quality_metrics_input_dataset.ColumnMetrics(
            nullCount=c.nullCount, distinctCount=c.distinctCount, min=c.min, max=c.max
        )
        for c in stats.columns
    }
    dq = data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        columnMetrics=metrics, rowCount=stats.rowCount, bytes=stats.bytes, producer=producer
    )
    return {"dataQualityMetrics": dq}


def output_facets(ds: Dataset, producer: str) -> dict[str, Any]:
    """Return the ``outputFacets`` of output ``ds``: ``outputStatistics`` (row count, size in
    bytes) when its statistics give either, else none."""
    stats = ds.facets.statistics
    if stats is None or (stats.rowCount is None and stats.bytes is None):
        return {}
    return {
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=stats.rowCount, size=stats.bytes, producer=producer
        )
    }


def add_dataset_extras(jd: dict[str, Any], ds: Dataset, side: str) -> None:
    """Add the ``extra`` facets of ``ds`` to its OpenLineage JSON object ``jd`` (in place).

    ``side`` is ``"inputFacets"`` or ``"outputFacets"``: ``<side>.<name>`` extras go there,
    in place of the standard statistics views made from the typed statistics (an extra is
    the facet as a third party sent it, whole: ``fileCount``, quantiles ...).
    Extra ``tags`` entries are appended to a typed ``tags`` facet; ``columnLineage.dataset``
    becomes the ``columnLineage`` facet's ``dataset`` part.
    """
    extra = ds.facets.extra
    typed_tags = "tags" in jd.setdefault("facets", {})  # made from the schema fields' tags
    merge_extras(jd["facets"], extra, True)
    for name, text in extra.items():
        if name.startswith(side + "."):
            jd.setdefault(side, {})[name[len(side) + 1 :]] = json_value(text)
    if "tags" in extra and typed_tags:
        more = json_value(extra["tags"])
        if isinstance(more, dict) and isinstance(more.get("tags"), list):
            jd["facets"]["tags"]["tags"].extend(more["tags"])
    if "columnLineage.dataset" in extra and "columnLineage" in jd["facets"]:
        jd["facets"]["columnLineage"]["dataset"] = json_value(extra["columnLineage.dataset"])


# -- from OpenLineage ------------------------------------------------------------------------
def _transformations(spec: dict[str, Any]) -> list[Transformation]:
    given = spec.get("transformations")
    if given:
        return [
            Transformation(type=or_default(t.get("type"), "DIRECT"), subtype=t.get("subtype"),
                           description=t.get("description"), masking=bool(t.get("masking")))
            for t in given
        ]
    legacy = spec.get("transformationType")
    if legacy:  # columnLineage 1.0: IDENTITY or MASKED on the output field
        return [
            Transformation(
                type="DIRECT",
                subtype="IDENTITY" if legacy == "IDENTITY" else "TRANSFORMATION",
                description=spec.get("transformationDescription"),
                masking=legacy == "MASKED",
            )
        ]
    return []


def _column_lineage(facet: dict[str, Any]) -> list[ColumnLineageField]:
    fields = []
    for out_field, spec in (facet.get("fields") or {}).items():
        spec = spec or {}
        inputs = []
        for i in spec.get("inputFields") or []:
            transformations = _transformations(i) or _transformations(spec)
            inputs.append(InputField(namespace=i["namespace"], name=i["name"], field=i["field"],
                                     transformations=transformations))
        fields.append(ColumnLineageField(field=out_field, inputFields=inputs))
    return fields


def _statistics(
    custom: dict[str, Any] | None, side: dict[str, Any]
) -> Statistics | None:
    if custom is not None:
        return Statistics(
            rowCount=custom.get("rowCount"),
            bytes=custom.get("bytes"),
            columns=[ColumnStats.model_validate(c) for c in custom.get("columns") or []],
        )
    dq = side.get("dataQualityMetrics")
    st = side.get("inputStatistics") or side.get("outputStatistics")
    if dq is None and st is None:
        return None
    stats = Statistics()
    if st is not None:
        stats.rowCount = st.get("rowCount")
        stats.bytes = st.get("size")
    if dq is not None:
        stats.rowCount = dq.get("rowCount", stats.rowCount)
        stats.bytes = dq.get("bytes", stats.bytes)
        stats.columns = [
            ColumnStats(name=name, nullCount=m.get("nullCount"),
                        distinctCount=m.get("distinctCount"), min=m.get("min"), max=m.get("max"))
            for name, m in (dq.get("columnMetrics") or {}).items()
        ]
    return stats


def _take_field_tags(df: DatasetFacets, facets: dict[str, Any]) -> None:
    """Move the ``tags`` facet entries that tag a schema field (value ``"true"``) onto that
    field's ``tags``; other entries stay in ``facets["tags"]`` (dropped when none are left)."""
    if not df.schema_ or not isinstance(facets.get("tags"), dict):
        return
    by_name = {f.name: f for f in df.schema_}
    others = []
    for tag in facets["tags"].get("tags") or []:
        target = by_name.get(str(tag.get("field"))) if isinstance(tag, dict) else None
        if target is not None and tag.get("key") and tag.get("value", "true") == "true":
            target.tags.append(tag["key"])
        else:
            others.append(tag)
    if others:
        facets["tags"] = {**facets["tags"], "tags": others}
    else:
        facets.pop("tags")


def dataset_from(d: dict[str, Any], side_name: str) -> Dataset:
    """Return the :class:`Dataset` of an OpenLineage dataset JSON object ``d``.

    ``side_name`` is ``"inputFacets"`` or ``"outputFacets"``. Raises ``KeyError`` /
    ``TypeError`` / ``ValueError`` / ``pydantic.ValidationError`` for a malformed object.
    """
    facets: dict[str, Any] = dict(d.get("facets") or {})
    side: dict[str, Any] = dict(d.get(side_name) or {})
    df = DatasetFacets()
    extra: dict[str, str] = {}
    kind = _kind(facets, "file" if d["namespace"] == "file" else "table")
    version = (facets.pop("version", None) or {}).get("datasetVersion")
    if (sc := facets.pop("schema", None)) is not None:
        df.schema_ = flat_fields(sc.get("fields"))
    _take_field_tags(df, facets)
    if (cl := facets.pop("columnLineage", None)) is not None:
        df.columnLineage = _column_lineage(cl)
        if cl.get("dataset"):
            extra["columnLineage.dataset"] = json_text(cl["dataset"])
    if (sy := facets.pop("symlinks", None)) is not None:
        df.symlinks = [
            Symlink(namespace=i["namespace"], name=i["name"],
                    type=or_default(i.get("type"), "TABLE"))
            for i in sy.get("identifiers") or []
        ]
    if (ds := facets.pop("dataSource", None)) is not None:
        df.dataSource = DataSource(name=or_default(ds.get("name"), or_default(ds.get("uri"), "")),
                                   uri=ds.get("uri"))
    if (cd := facets.pop(PREFIX + "contentDigest", None)) is not None:
        df.contentDigest = ContentDigest(algorithm=cd["algorithm"], hex=cd["hex"])
    exact = facets.pop(PREFIX + "statistics", None)
    df.statistics = _statistics(exact, side)
    if exact is not None:  # this project's event: its standard views were made from it
        for view in ("dataQualityMetrics", "inputStatistics", "outputStatistics"):
            side.pop(view, None)
    extra.update({name: json_text(value) for name, value in facets.items()})
    extra.update({f"{side_name}.{name}": json_text(value) for name, value in side.items()})
    df.extra = extra
    return Dataset(namespace=d["namespace"], name=d["name"], kind=kind, version=version,
                   facets=df)
