"""PII tags through the real path: emitter SDK and a third-party OpenLineage producer -> Kafka
-> processor and sink processes -> Neo4j -> ``lineage fields`` as a process.

The in-process test (:mod:`tests.test_pii_propagation`) checks the same rules on the
processor's logic; here one :func:`~tests.e2e_stack.pipeline_stack` for the module runs the
processor with ``LINEAGE_PII_PATTERNS`` (:data:`~tests.test_pii_propagation.PATTERNS`) in its
environment, and the CLI runs without it, so every tag the CLI shows was stored by the
processor process. The lineage (namespace ``crm``)::

    customers (emitter: email tagged pii.email by the SDK's schema field tags)
    contacts  (OpenLineage JSON on the openlineage topic: full_name tagged pii.name in a
               ``tags`` facet; phone tagged pii.phone by the processor's pattern)
      -> clean:  email <- customers.email, email_hash <- customers.email (masking: true),
                 contact_no <- contacts.phone, contact_name <- contacts.full_name, id <- id
      -> report: who <- clean.email, hash <- clean.email_hash, reach <- clean.contact_no,
                 called <- clean.contact_name

``clean`` and ``report`` are written by :func:`emitters.batch.job_run` with DataFrames, so
their column statistics are the SDK's own. Statistics of tagged fields are hidden in
``lineage fields`` (role from ``--role`` or ``$LINEAGE_ROLE``, allowed roles from
``LINEAGE_PII_ROLES_ALLOWED``) and in the Field nodes of ``upstream``, ``run`` and ``impact``
(role from ``$LINEAGE_ROLE``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from confluent_kafka import Producer

from emitters.batch import BatchRun, job_run
from emitters.client import LineageClient
from lineage_pipeline.events import (
    ColumnLineageField,
    Dataset,
    InputField,
    SchemaField,
    Transformation,
)
from lineage_pipeline.graph import open_backend
from lineage_pipeline.pii import REDACTED
from tests.conftest import GraphFactory
from tests.e2e_stack import (
    PipelineStack,
    lineage_json,
    pipeline_stack,
)
from tests.support.waiting import wait_for
from tests.test_pii_propagation import PATTERNS, by_name

pytestmark = pytest.mark.slow

NS = "crm"
#: The CLI runs without the patterns: tags it shows were stored by the processor.
NO_PATTERNS = ("LINEAGE_PII_PATTERNS",)

CUSTOMERS = pd.DataFrame({"id": [1.0, 2.0, 3.0],
                          "email": ["a@x.org", "b@x.org", "c@x.org"]})
CLEAN = pd.DataFrame({"id": [1.0, 2.0, 3.0],
                      "email": ["a@x.org", "b@x.org", "c@x.org"],
                      "email_hash": ["h1", "h2", "h3"],
                      "contact_no": ["555-1", "555-2", None],
                      "contact_name": ["Ann", "Bob", "Cid"]})
#: output column of ``clean`` -> (input dataset, input column, masking)
CLEAN_LINEAGE = {"id": ("customers", "id", False), "email": ("customers", "email", False),
                 "email_hash": ("customers", "email", True),
                 "contact_no": ("contacts", "phone", False),
                 "contact_name": ("contacts", "full_name", False)}
#: output column of ``report`` -> its input column of ``clean``
REPORT_LINEAGE = {"who": "email", "hash": "email_hash", "reach": "contact_no",
                  "called": "contact_name"}


def column_lineage(mapping: dict[str, tuple[str, str, bool]]) -> list[ColumnLineageField]:
    """Return a columnLineage facet: output column -> (input dataset, column, masking)."""
    return [
        ColumnLineageField(field=out, inputFields=[InputField(
            namespace=NS, name=src, field=col, transformations=[Transformation(
                type="DIRECT", subtype="TRANSFORMATION" if masking else "IDENTITY",
                masking=masking)])])
        for out, (src, col, masking) in mapping.items()
    ]


def openlineage_contacts(run_id: str) -> list[bytes]:
    """START and COMPLETE of a third-party job writing ``contacts`` version ``1``, as the
    OpenLineage JSON such a producer puts on the openlineage topic (``tags`` facet 1-0-0)."""
    facets = {
        "schema": {"_producer": "https://example.com/ingest",
                   "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/"
                                 "SchemaDatasetFacet.json",
                   "fields": [{"name": "id", "type": "BIGINT"},
                              {"name": "full_name", "type": "VARCHAR"},
                              {"name": "phone", "type": "VARCHAR"}]},
        "tags": {"_producer": "https://example.com/ingest",
                 "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/"
                               "TagsDatasetFacet.json",
                 "tags": [{"key": "pii.name", "value": "true", "source": "MANUAL",
                           "field": "full_name"}]},
        "version": {"_producer": "https://example.com/ingest",
                    "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
                                  "DatasetVersionDatasetFacet.json",
                    "datasetVersion": "1"},
    }
    out = []
    for state, when in (("START", "2026-01-01T00:00:00Z"), ("COMPLETE", "2026-01-01T00:00:05Z")):
        out.append(json.dumps({
            "eventType": state, "eventTime": when, "producer": "https://example.com/ingest",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id}, "job": {"namespace": NS, "name": "ingest_contacts"},
            "inputs": [], "outputs": [{"namespace": NS, "name": "contacts", "facets": facets}],
        }).encode())
    return out


def tag_column(ds: Dataset | None, column: str, tag: str) -> None:
    """Give ``column`` of ``ds`` the classification ``tag`` (the SDK's schema field tags)."""
    assert ds is not None and ds.facets.schema_ is not None
    fields: list[SchemaField] = ds.facets.schema_
    next(f for f in fields if f.name == column).tags.append(tag)


def emit_jobs(client: LineageClient) -> list[str]:
    """Run the three emitter jobs (export, clean, report); return their run ids."""
    run: BatchRun
    with job_run("export_customers", NS, client=client) as run:
        tag_column(run.output_dataframe(CUSTOMERS, "customers"), "email", "pii.email")
        runs = [run.run_id]
    with job_run("clean", NS, client=client) as run:
        run.input_dataframe(CUSTOMERS, "customers")
        run.add_input(Dataset(namespace=NS, name="contacts", version="1"))
        out = run.output_dataframe(CLEAN, "clean")
        assert out is not None
        out.facets.columnLineage = column_lineage(CLEAN_LINEAGE)
        runs.append(run.run_id)
    report = CLEAN.rename(columns={v: k for k, v in REPORT_LINEAGE.items()})
    with job_run("report", NS, client=client) as run:
        run.input_dataframe(CLEAN, "clean")
        out = run.output_dataframe(report[list(REPORT_LINEAGE)], "report")
        assert out is not None
        out.facets.columnLineage = column_lineage(
            {k: ("clean", v, False) for k, v in REPORT_LINEAGE.items()})
        runs.append(run.run_id)
    return runs


@dataclass
class PiiStack:
    """The module's stack and the run ids sent."""

    stack: PipelineStack
    run_ids: list[str]


@pytest.fixture(scope="module")
def pii(kafka_broker: str, graphs: GraphFactory,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[PiiStack]:
    root: Path = tmp_path_factory.mktemp("pii-e2e")
    extra = {"LINEAGE_PII_PATTERNS": json.dumps(PATTERNS),
             "LINEAGE_PROCESSOR__BATCH_TIMEOUT_S": "0.02"}
    with graphs.fresh("neo4j") as graph, \
            pipeline_stack(kafka_broker, graph, root / "stack", extra) as stack:
        s = stack.settings
        ingest = str(uuid.uuid4())
        producer = Producer({"bootstrap.servers": s.kafka.bootstrap_servers, "linger.ms": 1})
        for value in openlineage_contacts(ingest):
            producer.produce(s.topics.openlineage, value=value, key=b"ingest_contacts")
        assert producer.flush(30) == 0
        client = LineageClient.from_config(
            data_dir=str(root / "emitter"), kafka={"bootstrap_servers": s.kafka.bootstrap_servers},
            topics={"events": s.topics.events})
        try:
            run_ids = [ingest, *emit_jobs(client)]
            assert client.flush(30.0) == 0, "every event reached the broker"
        finally:
            client.close()
        backend = open_backend(s.graph)
        try:
            def landed() -> bool:
                done = backend.query(
                    "MATCH (r:Run) WHERE r.uid IN $ids AND r.state = $s RETURN count(r) AS n",
                    {"ids": run_ids, "s": "COMPLETE"})[0]["n"]
                relationships = backend.query("MATCH (:Field)-[e:DERIVED_FROM]->(:Field) "
                                      "RETURN count(e) AS n")[0]["n"]
                return bool(done == len(run_ids)
                            and relationships == len(CLEAN_LINEAGE) + len(REPORT_LINEAGE))
            wait_for(landed, "every run COMPLETE with its column lineage", timeout_s=90)
        finally:
            backend.close()
        yield PiiStack(stack, run_ids)


def fields(pii: PiiStack, dataset: str, *args: str, env: dict[str, str] | None = None
           ) -> dict[str, dict[str, Any]]:
    """``lineage fields NS:DATASET ARGS --json`` (without the patterns), by column name."""
    rows = lineage_json(pii.stack, "fields", f"{NS}:{dataset}", *args, env=env,
                        drop_env=NO_PATTERNS)
    assert isinstance(rows, list)
    return by_name(rows)


def test_tags_from_the_emitter_an_openlineage_facet_and_patterns_are_stored(
    pii: PiiStack,
) -> None:
    customers = fields(pii, "customers")
    contacts = fields(pii, "contacts")
    assert customers["email"]["tags"] == ["pii.email"]  # the emitter's schema field tags
    assert contacts["full_name"]["tags"] == ["pii.name"]  # the OpenLineage tags facet
    assert contacts["phone"]["tags"] == ["pii.phone"]  # the processor's configured pattern
    assert "tags" not in customers["id"] and "tags" not in contacts["id"]
    for sensitive in (customers["email"], contacts["full_name"], contacts["phone"]):
        assert sensitive["sensitive"] is True
    assert customers["id"]["sensitive"] is False


def test_tags_propagate_two_hops_and_stop_at_masking(pii: PiiStack) -> None:
    clean = fields(pii, "clean")
    report = fields(pii, "report")
    effective = {f"clean.{k}": v["effectiveTags"] for k, v in clean.items()}
    effective.update({f"report.{k}": v["effectiveTags"] for k, v in report.items()})
    assert effective == {
        "clean.id": [], "clean.email": ["pii.email"], "clean.email_hash": [],
        "clean.contact_no": ["pii.phone"], "clean.contact_name": ["pii.name"],
        "report.who": ["pii.email"], "report.hash": [], "report.reach": ["pii.phone"],
        "report.called": ["pii.name"],
    }
    # inherited, not stored: the propagation is the query's, from the sources' tags
    assert all("tags" not in f for f in [*clean.values(), *report.values()])


def test_statistics_of_tagged_fields_are_hidden_unless_the_role_allows(pii: PiiStack) -> None:
    def shown(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {c: (rows[c]["nullCount"], rows[c]["distinctCount"])
                for c in ("email", "email_hash", "contact_no", "contact_name")}

    hidden = (REDACTED, REDACTED)
    redacted = {"email": hidden, "email_hash": (0, 3), "contact_no": hidden,
                "contact_name": hidden}
    visible = {"email": (0, 3), "email_hash": (0, 3), "contact_no": (1, 2),
               "contact_name": (0, 3)}
    assert shown(fields(pii, "clean")) == redacted  # no role
    assert shown(fields(pii, "clean", "--role", "analyst")) == redacted
    assert shown(fields(pii, "clean", "--role", "privacy-officer")) == visible
    assert shown(fields(pii, "clean", env={"LINEAGE_ROLE": "privacy-officer"})) == visible
    auditors = {"LINEAGE_PII_ROLES_ALLOWED": '["auditor"]'}
    assert shown(fields(pii, "clean", "--role", "auditor", env=auditors)) == visible
    assert shown(fields(pii, "clean", "--role", "privacy-officer", env=auditors)) == redacted
    report = fields(pii, "report")
    assert report["who"]["distinctCount"] == REDACTED, "two hops downstream, still hidden"
    assert report["hash"]["distinctCount"] == 3


def field_stats(answer: object) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(dataset uid, column) -> (nullCount, distinctCount) of every Field in a query answer
    (Field node dicts of a Subgraph, Field properties of a run's versions)."""
    out: dict[tuple[str, str], tuple[Any, Any]] = {}
    stack: list[Any] = [answer]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("label") == "Field" or "versionUid" in item:
                out[(str(item.get("dataset") or item.get("datasetUid")), str(item["name"]))] = (
                    item.get("nullCount"), item.get("distinctCount"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def test_lineage_answers_hide_statistics_of_tagged_fields_unless_the_role_allows(
    pii: PiiStack,
) -> None:
    hidden = (REDACTED, REDACTED)
    stack, clean_run = pii.stack, pii.run_ids[2]
    up = field_stats(lineage_json(stack, "upstream", f"{NS}:report", "--column", "who",
                                  drop_env=NO_PATTERNS))
    assert {k: up[k] for k in [("crm:report", "who"), ("crm:clean", "email"),
                               ("crm:customers", "email")]} == dict.fromkeys(
        [("crm:report", "who"), ("crm:clean", "email"), ("crm:customers", "email")], hidden)
    officer = {"LINEAGE_ROLE": "privacy-officer"}
    up = field_stats(lineage_json(stack, "upstream", f"{NS}:report", "--column", "who",
                                  env=officer, drop_env=NO_PATTERNS))
    assert up[("crm:clean", "email")] == (0, 3)

    run = field_stats(lineage_json(stack, "run", clean_run, drop_env=NO_PATTERNS))
    assert run[("crm:clean", "email")] == hidden
    assert run[("crm:clean", "contact_no")] == hidden
    assert run[("crm:clean", "email_hash")] == (0, 3), "masked: not sensitive"
    assert run[("crm:clean", "id")] == (0, 3)

    impact = field_stats(lineage_json(stack, "impact", f"{NS}:customers#email",
                                      drop_env=NO_PATTERNS))
    assert impact[("crm:customers", "email")] == hidden
    assert impact[("crm:report", "who")] == hidden
