"""``lineage export --openlineage``: an OpenLineage RunEvent carrying a facet of every facet
class openlineage-python defines goes in through the OpenLineage topic (real broker,
processor, sink and graph) and comes back out of the graph equal, up to the normalisation
``lineage_queries.export`` documents (applied by :func:`documented`); the exported event
reads back, and exporting a job or ``--since`` finds the run."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openlineage.client import event_v2
from openlineage.client.generated import base_subset_dataset as subset
from openlineage.client.generated import (
    catalog_dataset,
    column_lineage_dataset,
    data_quality_metrics_dataset,
    dataset_type_dataset,
    dataset_version_dataset,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    environment_variables_run,
    error_message_run,
    execution_parameters_run,
    external_query_run,
    extraction_error_run,
    hierarchy_dataset,
    input_statistics_input_dataset,
    job_dependencies_run,
    job_type_job,
    lifecycle_state_change_dataset,
    lineage,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_job,
    source_code_location_job,
    sql_job,
    storage_dataset,
    symlinks_dataset,
    tags_dataset,
    tags_job,
    tags_run,
    test_run,
)
from openlineage.client.generated import data_quality_assertions_dataset as assertions
from openlineage.client.generated import data_quality_metrics_input_dataset as dq_input
from openlineage.client.serde import Serde

from lineage_pipeline.openlineage import from_openlineage_json
from lineage_pipeline.openlineage.values import iso_to_ms
from lineage_pipeline.settings import GraphSettings
from tests.conftest import GraphFactory
from tests.test_openlineage_e2e import Stack, _stack

pytestmark = pytest.mark.slow

P = "https://example.com/producer/1.0"
RUN = "0196a3a4-1111-7000-8000-00000000e001"
PARENT, ROOT = "0196a3a4-1111-7000-8000-00000000e002", "0196a3a4-1111-7000-8000-00000000e003"
SRC = ("postgres://db.example.com:5432", "shop.public.orders")
OUT = ("s3://lake", "marts/daily_revenue")


def _run_facets() -> dict[str, Any]:
    return {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=PARENT), job=parent_run.Job(namespace="af", name="dag"),
            root=parent_run.Root(run=parent_run.RootRun(runId=ROOT),
                                 job=parent_run.RootJob(namespace="af", name="root_dag"))),
        "nominalTime": nominal_time_run.NominalTimeRunFacet(
            nominalStartTime="2026-12-01T09:00:00.000Z",
            nominalEndTime="2026-12-01T10:00:00.000Z"),
        "errorMessage": error_message_run.ErrorMessageRunFacet(
            message="partial write retried", programmingLanguage="python",
            stackTrace="Traceback ..."),
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version="3.5.1", name="spark", openlineageAdapterVersion="1.20.0"),
        "environmentVariables": environment_variables_run.EnvironmentVariablesRunFacet(
            environmentVariables=[environment_variables_run.EnvironmentVariable(
                name="ENV", value="prod")]),
        "executionParameters": execution_parameters_run.ExecutionParametersRunFacet(
            parameters=[execution_parameters_run.ExecutionParameter(
                key="lr", name="learning rate", description="step", value="0.1")]),
        "externalQuery": external_query_run.ExternalQueryRunFacet(
            externalQueryId="q-42", source="bigquery"),
        "extractionError": extraction_error_run.ExtractionErrorRunFacet(
            totalTasks=2, failedTasks=1, errors=[extraction_error_run.Error(
                errorMessage="no plan", task="t1", taskNumber=1)]),
        "jobDependencies": job_dependencies_run.JobDependenciesRunFacet(
            upstream=[job_dependencies_run.JobDependency(
                job=job_dependencies_run.JobIdentifier(namespace="af", name="extract"))]),
        "tags": tags_run.TagsRunFacet(tags=[tags_run.TagsRunFacetFields(key="env",
                                                                        value="prod")]),
        "test": test_run.TestRunFacet(tests=[test_run.TestExecution(name="rows > 0",
                                                                    status="pass")]),
    }


def _job_facets() -> dict[str, Any]:
    return {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="SPARK", jobType="JOB",
            emissionPattern=job_type_job.EmissionPattern(eventTrigger="RUN",
                                                         eventContentMode="FULL")),
        "sql": sql_job.SQLJobFacet(query="SELECT day, sum(amount) FROM orders GROUP BY 1",
                                   dialect="spark"),
        "documentation": documentation_job.DocumentationJobFacet(description="daily revenue"),
        "ownership": ownership_job.OwnershipJobFacet(owners=[ownership_job.Owner(
            name="team:finance", type="MAINTAINER")]),
        "sourceCode": source_code_job.SourceCodeJobFacet(language="python",
                                                         sourceCode="print(1)"),
        "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url="https://git.example.com/etl", repoUrl="https://git.example.com/etl",
            path="jobs/revenue.py", version="a1b2c3", tag="v7", branch="main"),
        "tags": tags_job.TagsJobFacet(tags=[tags_job.TagsJobFacetFields(key="tier",
                                                                        value="1")]),
        "lineage": lineage.LineageJobFacet(entries=[]),
    }


def _common_dataset_facets(name: str) -> dict[str, Any]:
    return {
        "datasetType": dataset_type_dataset.DatasetTypeDatasetFacet(datasetType="TABLE"),
        "dataSource": datasource_dataset.DatasourceDatasetFacet(name=name, uri=f"{name}/x"),
        "symlinks": symlinks_dataset.SymlinksDatasetFacet(identifiers=[
            symlinks_dataset.Identifier(namespace="file", name=f"/exports/{name}",
                                        type="LOCATION")]),
        "documentation": documentation_dataset.DocumentationDatasetFacet(
            description=f"{name} table"),
        "ownership": ownership_dataset.OwnershipDatasetFacet(owners=[ownership_dataset.Owner(
            name="team:data")]),
        "storage": storage_dataset.StorageDatasetFacet(storageLayer="iceberg",
                                                       fileFormat="parquet"),
        "catalog": catalog_dataset.CatalogDatasetFacet(framework="iceberg", type="rest",
                                                       name="lake"),
        "hierarchy": hierarchy_dataset.HierarchyDatasetFacet(hierarchy=[
            hierarchy_dataset.HierarchyDatasetFacetLevel(type="DATABASE", name="shop")]),
        "tags": tags_dataset.TagsDatasetFacet(tags=[tags_dataset.TagsDatasetFacetFields(
            key="domain", value="sales")]),
        "lineage": lineage.LineageDatasetFacet(inputs=[]),
    }


def sent_event() -> dict[str, Any]:
    """The event as a third party sends it: every facet class, JSON."""
    src = event_v2.InputDataset(namespace=SRC[0], name=SRC[1], facets={
        **_common_dataset_facets("orders"),
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="v41"),
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="day", type="date"),
            schema_dataset.SchemaDatasetFacetFields(name="amount", type="decimal",
                                                    description="order total"),
            schema_dataset.SchemaDatasetFacetFields(name="customer", type="struct", fields=[
                schema_dataset.SchemaDatasetFacetFields(name="id", type="long"),
                schema_dataset.SchemaDatasetFacetFields(
                    name="address", type="struct", description="where it ships", fields=[
                        schema_dataset.SchemaDatasetFacetFields(name="city", type="string")]),
            ]),
            schema_dataset.SchemaDatasetFacetFields(name="items", type="array", fields=[
                schema_dataset.SchemaDatasetFacetFields(name="_element", type="struct",
                                                        fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="sku", type="string")])]),
        ]),
    }, inputFacets={
        "dataQualityMetrics": dq_input.DataQualityMetricsInputDatasetFacet(
            rowCount=1200, bytes=40960, fileCount=3, columnMetrics={
                "amount": dq_input.ColumnMetrics(
                    nullCount=0, distinctCount=900, min=1.0, max=250.0, sum=9.5e4,
                    quantiles={"0.5": 70.0})}),
        "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=1200, size=40960, fileCount=3),
        "dataQualityAssertions": assertions.DataQualityAssertionsDatasetFacet(
            assertions=[assertions.Assertion(assertion="not_null", success=True,
                                             column="amount")]),
        "subset": subset.InputSubsetInputDatasetFacet(
            inputCondition=subset.LocationSubsetCondition(
                locations=["s3://lake/orders/day=2026-12-01"])),
    })
    out = event_v2.OutputDataset(namespace=OUT[0], name=OUT[1], facets={
        **_common_dataset_facets("daily_revenue"),
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion="v7"),
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="day", type="date"),
            schema_dataset.SchemaDatasetFacetFields(name="revenue", type="decimal")]),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            "revenue": column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(
                    namespace=SRC[0], name=SRC[1], field="amount",
                    transformations=[column_lineage_dataset.Transformation(
                        type="DIRECT", subtype="AGGREGATION", description="sum",
                        masking=False)])]),
            "day": column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(
                    namespace=SRC[0], name=SRC[1], field="day",
                    transformations=[column_lineage_dataset.Transformation(
                        type="DIRECT", subtype="IDENTITY", masking=False)])])},
            dataset=[column_lineage_dataset.InputField(
                namespace=SRC[0], name=SRC[1], field="day",
                transformations=[column_lineage_dataset.Transformation(
                    type="INDIRECT", subtype="GROUP_BY")])]),
        "lifecycleStateChange": lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
            lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange.OVERWRITE),
        "dataQualityMetrics": data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
            rowCount=31, columnMetrics={"revenue": data_quality_metrics_dataset.ColumnMetrics(
                nullCount=0)}),
    }, outputFacets={
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=31, size=2048, fileCount=1),
        "subset": subset.OutputSubsetOutputDatasetFacet(
            outputCondition=subset.LocationSubsetCondition(
                locations=["s3://lake/marts/daily_revenue"])),
    })
    event = event_v2.RunEvent(
        eventType=event_v2.RunState.COMPLETE, eventTime="2026-12-01T10:05:00.000Z", producer=P,
        run=event_v2.Run(runId=RUN, facets=_run_facets()),
        job=event_v2.Job(namespace="spark", name="daily_revenue", facets=_job_facets()),
        inputs=[src], outputs=[out])
    return dict(Serde.to_dict(event))


def _schema_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Schema fields as kept: name, type, description and nested fields, recursively."""
    out = []
    for f in fields:
        kept = {k: f[k] for k in ("name", "type", "description") if f.get(k) is not None}
        if f.get("fields"):
            kept["fields"] = _schema_fields(f["fields"])
        out.append(kept)
    return out


def documented(doc: dict[str, Any], *, exported: bool) -> dict[str, Any]:
    """``doc`` with the differences ``lineage_queries.export`` documents taken out: facets'
    ``_producer``/``_schemaURL`` and this project's own ``lineagePipeline_*`` facets; what
    the graph keeps of the typed facets (execution parameters: key and value; job type:
    without its emission pattern; sql: the query; schema fields: name, type, description and
    nested fields; column
    lineage: per input column the transformation type, subtype, masking and description); the
    event id
    and time format."""
    doc = copy.deepcopy(doc)

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()
                    if k not in ("_producer", "_schemaURL")
                    and not k.startswith("lineagePipeline_")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    doc = strip(doc)
    doc["eventTime"] = iso_to_ms(doc["eventTime"])
    run, job = doc["run"]["facets"], doc["job"]["facets"]
    run["executionParameters"]["parameters"] = [
        {"key": p["key"], "value": p["value"]} for p in run["executionParameters"]["parameters"]]
    job["jobType"].pop("emissionPattern", None)
    job["sql"].pop("dialect", None)
    for ds in doc["inputs"] + doc["outputs"]:
        facets = ds["facets"]
        facets["schema"]["fields"] = _schema_fields(facets["schema"]["fields"])
        for field in (facets.get("columnLineage") or {}).get("fields", {}).values():
            field.pop("transformationDescription", None)
            field.pop("transformationType", None)
    if exported:
        assert doc["run"]["facets"].pop("lineage_normalised", None) is None
    return doc


@pytest.fixture(scope="module")
def stack(kafka_broker: str, graphs: GraphFactory,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings: GraphSettings
    with graphs.fresh("neo4j") as settings:
        yield from _stack(kafka_broker, settings, tmp_path_factory.mktemp("export-e2e"))


def test_every_facet_class_round_trips_through_the_graph(stack: Stack, tmp_path: Path) -> None:
    sent = sent_event()
    stack.publish(stack.settings.topics.openlineage, json.dumps(sent).encode())
    stack.wait_complete(RUN)
    out = tmp_path / "events.jsonl"
    stack.lineage("export", "--openlineage", RUN, "--output", str(out))
    [line] = out.read_text().splitlines()
    exported = json.loads(line)
    assert from_openlineage_json(line).run.runId == RUN  # and it reads back
    assert uuid.UUID(exported["run"]["facets"]["lineagePipeline_event"]["eventId"])
    want, got = documented(sent, exported=False), documented(exported, exported=True)
    assert got["run"] == want["run"]
    assert got["job"] == want["job"]
    for side in ("inputs", "outputs"):  # facet by facet, to name the one that differs
        for g, w in zip(got[side], want[side], strict=True):
            for part in ("facets", "inputFacets", "outputFacets"):
                assert sorted(g.get(part, {})) == sorted(w.get(part, {})), (side, part)
                for name, facet in w.get(part, {}).items():
                    assert g[part][name] == facet, (side, part, name)
    assert got == want
    # the same run by its job, and by time
    by_job = stack.lineage("export", "--openlineage", "spark:daily_revenue")
    assert [json.loads(x)["run"]["runId"] for x in by_job.splitlines()] == [RUN]
    since = stack.lineage("export", "--openlineage", "--since", "2026-12-01T10:00:00Z")
    assert RUN in {json.loads(x)["run"]["runId"] for x in since.splitlines()}


def test_each_run_keeps_what_it_read_of_a_shared_dataset(stack: Stack) -> None:
    # issue 18: input and output dataset facets describe one run's read or write, so a later
    # run's facets on the same dataset do not change what an earlier run exports
    first = "0196a3a4-1111-7000-8000-00000000e101"
    second = "0196a3a4-1111-7000-8000-00000000e102"

    def reading(run_id: str, rows: int, when: str) -> dict[str, Any]:
        event = event_v2.RunEvent(
            eventType=event_v2.RunState.COMPLETE, eventTime=when, producer=P,
            run=event_v2.Run(runId=run_id),
            job=event_v2.Job(namespace="spark", name="orders_audit"),
            inputs=[event_v2.InputDataset(namespace=SRC[0], name=SRC[1], inputFacets={
                "inputStatistics": input_statistics_input_dataset
                .InputStatisticsInputDatasetFacet(rowCount=rows)})])
        return dict(Serde.to_dict(event))

    for run_id, rows, when in ((first, 10, "2026-12-02T10:00:00.000Z"),
                               (second, 99, "2026-12-02T11:00:00.000Z")):
        stack.publish(stack.settings.topics.openlineage,
                      json.dumps(reading(run_id, rows, when)).encode())
        stack.wait_complete(run_id)
    for run_id, rows in ((first, 10), (second, 99)):
        [line] = stack.lineage("export", "--openlineage", run_id).splitlines()
        [source] = json.loads(line)["inputs"]
        assert source["inputFacets"]["inputStatistics"]["rowCount"] == rows
    [node] = stack.q("MATCH (d:Dataset {uid: $uid}) RETURN properties(d) AS p",
                     uid=f"{SRC[0]}:{SRC[1]}")
    assert not [k for k in node["p"] if k.startswith("facet_inputFacets.")]  # on the runs
