"""Property tests: generated LineageEvents survive the Avro codec and OpenLineage JSON.

- Avro (single-object encoding, and Confluent framing with a ``mock://`` Schema Registry):
  ``decode(encode(e)) == e`` for every generated event.
- OpenLineage RunEvent JSON (openlineage-python's model): the typed part comes back
  unchanged, extension facets come back as the same JSON values.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_pipeline.codec import AvroCodec, EventCodec, registry_client
from lineage_pipeline.events import (
    CodeVersion,
    ColumnLineageField,
    ColumnStats,
    ContentDigest,
    Dataset,
    DatasetFacets,
    DataSource,
    Environment,
    ErrorFacet,
    EventType,
    InputField,
    Job,
    JobFacets,
    JobRef,
    JobType,
    LineageEvent,
    NominalTime,
    ParentRun,
    RootRun,
    Run,
    RunFacets,
    SchemaField,
    SqlFacet,
    Statistics,
    Symlink,
    Transformation,
)
from lineage_pipeline.openlineage import (
    from_openlineage_json,
    to_openlineage_event,
    to_openlineage_json,
)

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
opt_text = st.none() | text
ids = st.uuids().map(str)
millis = st.integers(0, 253_402_300_799_999)  # up to year 9999
counts = st.none() | st.integers(0, 2**62)
numbers = st.floats(allow_nan=False, allow_infinity=False)
opt_numbers = st.none() | numbers

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
#: extension facets: JSON objects under names that no typed facet uses
extras = st.dictionaries(
    text.map(lambda s: "x_" + s), st.dictionaries(text, json_values, max_size=3).map(json.dumps),
    max_size=2,
)

job_refs = st.builds(JobRef, namespace=text, name=text)
parents = st.none() | st.builds(
    ParentRun, runId=ids, job=job_refs, root=st.none() | st.builds(RootRun, runId=ids, job=job_refs)
)
transformations = st.builds(
    Transformation, type=st.sampled_from(["DIRECT", "INDIRECT"]), subtype=opt_text,
    description=opt_text, masking=st.booleans(),
)
input_fields = st.builds(
    InputField, namespace=text, name=text, field=text,
    transformations=st.lists(transformations, max_size=2),
)
column_lineage = st.lists(
    st.builds(ColumnLineageField, field=text, inputFields=st.lists(input_fields, max_size=2)),
    max_size=3, unique_by=lambda c: c.field,
)
schema_fields = st.lists(
    st.builds(SchemaField, name=text, type=opt_text, description=opt_text,
              tags=st.lists(st.sampled_from(["PII", "PII.email", "confidential"]), max_size=2)),
    max_size=4, unique_by=lambda f: f.name,
)
column_stats = st.builds(
    ColumnStats, name=text, nullCount=counts, distinctCount=counts, min=opt_numbers,
    max=opt_numbers, mean=opt_numbers,
)
statistics = st.builds(Statistics, rowCount=counts, bytes=counts,
                       columns=st.lists(column_stats, max_size=3))
dataset_facets = st.builds(
    DatasetFacets,
    schema=st.none() | schema_fields,
    columnLineage=st.none() | column_lineage,
    statistics=st.none() | statistics,
    contentDigest=st.none() | st.builds(ContentDigest, algorithm=st.just("sha256"),
                                        hex=st.text("0123456789abcdef", min_size=64, max_size=64)),
    symlinks=st.none() | st.lists(st.builds(Symlink, namespace=text, name=text, type=text),
                                  max_size=2),
    dataSource=st.none() | st.builds(DataSource, name=text, uri=opt_text),
    extra=extras,
)
datasets = st.builds(
    Dataset, namespace=text, name=text,
    kind=st.sampled_from(["table", "file", "model", "features", "predictions", "metrics"]),
    version=opt_text, facets=dataset_facets,
)
run_facets = st.builds(
    RunFacets,
    nominalTime=st.none() | st.builds(NominalTime, nominalStartTime=millis,
                                      nominalEndTime=st.none() | millis),
    codeVersion=st.none() | st.builds(CodeVersion, gitSha=opt_text, dirty=st.none() | st.booleans(),
                                      repository=opt_text, branch=opt_text, entryPoint=opt_text),
    parameters=st.dictionaries(text, text, max_size=3),
    metrics=st.dictionaries(text, numbers, max_size=3),
    environment=st.none() | st.builds(
        Environment, pythonVersion=opt_text, packages=st.dictionaries(text, text, max_size=3),
        host=opt_text, user=opt_text, platform=opt_text,
    ),
    error=st.none() | st.builds(ErrorFacet, message=text, stackTrace=opt_text,
                                programmingLanguage=text),
    extra=extras,
)
job_facets = st.builds(
    JobFacets,
    jobType=st.none() | st.builds(JobType, processingType=text, integration=text,
                                  jobType=opt_text),
    sql=st.none() | st.builds(SqlFacet, query=text, dialect=opt_text),
    extra=extras,
)
events = st.builds(
    LineageEvent,
    eventId=ids,
    eventType=st.sampled_from(list(EventType)),
    eventTime=millis,
    producer=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12),
    run=st.builds(Run, runId=ids, parent=parents, facets=run_facets),
    job=st.builds(Job, namespace=text, name=text, facets=job_facets),
    inputs=st.lists(datasets, max_size=2),
    outputs=st.lists(datasets, max_size=2),
    truncated=st.lists(text, max_size=2),
)

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", params=["single_object", "confluent"])
def codec(request: pytest.FixtureRequest) -> EventCodec:
    if request.param == "confluent":
        registry = registry_client(f"mock://{uuid.uuid4().hex}")
        return EventCodec(AvroCodec("lineage_event", registry=registry))
    return EventCodec()


@SETTINGS
@given(event=events)
def test_avro_round_trip_is_lossless(codec: EventCodec, event: LineageEvent) -> None:
    data = codec.encode(event)
    assert data[:2] == b"\xc3\x01" or data[:1] == b"\x00"
    assert codec.decode(data) == event


def _split_extras(event: LineageEvent) -> tuple[dict[str, Any], list[Any]]:
    """Return (typed part, extension facets as JSON values)."""
    dump = event.model_dump(by_alias=True)
    found: list[Any] = []

    def take(facets: dict[str, Any]) -> None:
        found.append({k: json.loads(v) for k, v in facets.pop("extra").items()})

    take(dump["run"]["facets"])
    take(dump["job"]["facets"])
    for ds in dump["inputs"] + dump["outputs"]:
        take(ds["facets"])
    return dump, found


@SETTINGS
@given(event=events)
def test_openlineage_json_round_trip_keeps_the_typed_part(event: LineageEvent) -> None:
    text_json = to_openlineage_json(event)
    back = from_openlineage_json(text_json)
    typed, extra = _split_extras(event)
    typed_back, extra_back = _split_extras(back)
    assert typed_back == typed
    assert extra_back == extra


def test_openlineage_json_uses_spec_facet_names() -> None:
    event = LineageEvent(
        eventType=EventType.COMPLETE,
        eventTime=1_700_000_000_123,
        producer="https://example.com/p",
        run=Run(runId=str(uuid.uuid4()), facets=RunFacets(
            nominalTime=NominalTime(nominalStartTime=1_700_000_000_000),
            error=ErrorFacet(message="boom"), parameters={"a": "1"},
            codeVersion=CodeVersion(gitSha="abc", dirty=True, repository="git@h:r.git",
                                    branch="main", entryPoint="train.py"),
            environment=Environment(pythonVersion="3.11.2", packages={"torch": "2.3"}))),
        job=Job(namespace="ns", name="j", facets=JobFacets(sql=SqlFacet(query="SELECT 1"))),
        inputs=[Dataset(namespace="file", name="/a.csv", version="v1", facets=DatasetFacets(
            schema=[SchemaField(name="x", type="int64")],
            statistics=Statistics(rowCount=3, bytes=10, columns=[ColumnStats(name="x", min=1)])))],
        outputs=[Dataset(namespace="file", name="/b.csv", facets=DatasetFacets(
            statistics=Statistics(rowCount=2)))],
    )
    doc = json.loads(to_openlineage_json(event))
    assert doc["eventTime"] == "2023-11-14T22:13:20.123Z"
    run_facets = doc["run"]["facets"]
    assert {"nominalTime", "errorMessage", "executionParameters",
            "processing_engine"} <= set(run_facets)
    assert all("_producer" in f and "_schemaURL" in f for f in run_facets.values())
    # standard facets where OpenLineage has one; the custom ones keep only the rest
    assert run_facets["executionParameters"]["parameters"] == [{"key": "a", "value": "1"}]
    assert run_facets["processing_engine"]["version"] == "3.11.2"
    assert run_facets["lineagePipeline_codeVersion"] == {
        "dirty": True, "_producer": event.producer,
        "_schemaURL": run_facets["lineagePipeline_codeVersion"]["_schemaURL"]}
    location = doc["job"]["facets"]["sourceCodeLocation"]
    assert (location["type"], location["url"], location["version"], location["branch"],
            location["path"]) == ("git", "git@h:r.git", "abc", "main", "train.py")
    assert doc["inputs"][0]["facets"]["datasetType"]["datasetType"] == "TABLE"
    assert "lineagePipeline_dataset" not in doc["inputs"][0]["facets"]
    assert from_openlineage_json(json.dumps(doc)) == event  # and it all reads back
    assert doc["job"]["facets"]["sql"]["query"] == "SELECT 1"
    src = doc["inputs"][0]
    assert src["facets"]["schema"]["fields"] == [{"name": "x", "type": "int64"}]
    assert src["facets"]["version"]["datasetVersion"] == "v1"
    assert src["inputFacets"]["dataQualityMetrics"]["rowCount"] == 3
    assert src["inputFacets"]["dataQualityMetrics"]["columnMetrics"]["x"]["min"] == 1
    assert doc["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 2
    # the openlineage-python model accepts it
    assert to_openlineage_event(event).run.runId == event.run.runId


def test_third_party_openlineage_event_keeps_unknown_facets_and_stable_id() -> None:
    doc = {
        "eventType": "START",
        "eventTime": "2024-05-01T10:00:00.123456+02:00",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0/integration/dbt",
        "run": {"runId": str(uuid.uuid4()), "facets": {"spark_version": {"spark": "3.5"}}},
        "job": {"namespace": "dbt", "name": "model.orders"},
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.orders",
                    "facets": {"columnLineage": {"fields": {"id": {
                        "inputFields": [{"namespace": "n", "name": "t", "field": "id"}],
                        "transformationType": "IDENTITY"}}}},
                    "inputFacets": {"custom": {"a": 1}}}],
    }
    event = from_openlineage_json(json.dumps(doc))
    assert event.eventTime == 1_714_550_400_123
    assert json.loads(event.run.facets.extra["spark_version"]) == {"spark": "3.5"}
    ds = event.inputs[0]
    assert ds.kind == "table"
    assert ds.facets.columnLineage is not None
    assert ds.facets.columnLineage[0].inputFields[0].transformations[0].subtype == "IDENTITY"
    assert json.loads(ds.facets.extra["inputFacets.custom"]) == {"a": 1}
    assert from_openlineage_json(json.dumps(doc)).eventId == event.eventId


def test_openlineage_json_of_older_sdk_versions_still_decodes() -> None:
    """Events the SDK wrote before it used the standard facets (custom parameters, a full
    custom code version, the custom dataset kind) read as they always did; a third party's
    ``sourceCodeLocation`` gives the run's code version and stays among the job facets."""
    def facet(**body: Any) -> dict[str, Any]:
        return {"_producer": "p", "_schemaURL": "https://example.com/s", **body}

    doc = {"eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z", "producer": "p",
           "run": {"runId": str(uuid.uuid4()), "facets": {
               "lineagePipeline_parameters": facet(parameters={"lr": "0.1"}),
               "lineagePipeline_codeVersion": facet(gitSha="abc", dirty=False,
                                                    repository="r", branch="b",
                                                    entryPoint="e.py")}},
           "job": {"namespace": "ns", "name": "j"},
           "inputs": [{"namespace": "s3://b", "name": "k", "facets": {
               "lineagePipeline_dataset": facet(kind="features")}}]}
    old = from_openlineage_json(json.dumps(doc))
    assert old.run.facets.parameters == {"lr": "0.1"}
    assert old.run.facets.codeVersion == CodeVersion(gitSha="abc", dirty=False, repository="r",
                                                     branch="b", entryPoint="e.py")
    assert old.inputs[0].kind == "features"
    third = {**doc, "run": {"runId": str(uuid.uuid4())}, "inputs": [], "job": {
        "namespace": "ns", "name": "j", "facets": {"sourceCodeLocation": facet(
            type="git", url="https://h/r", version="f00", path="dags/x.py")}}}
    event = from_openlineage_json(json.dumps(third))
    assert event.run.facets.codeVersion == CodeVersion(gitSha="f00", repository="https://h/r",
                                                       entryPoint="dags/x.py")
    assert json.loads(event.job.facets.extra["sourceCodeLocation"])["url"] == "https://h/r"
