"""Batch jobs over real files, their events read back from the real Kafka broker.

The input is scikit-learn's bundled breast cancer data (Wisconsin diagnostic, 569 rows),
written as a CSV; the jobs write Parquet and CSV outputs.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from emitters.batch import current_run, job_run, lineage_job
from emitters.client import LineageClient
from lineage_pipeline.events import EventType, LineageEvent
from lineage_pipeline.settings import TopicSettings
from tests.test_emitter_kafka import create_topic, kafka_client, read_events

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


@pytest.fixture
def client(kafka_broker: str, topic_names: TopicSettings, tmp_path: Path) -> LineageClient:
    create_topic(kafka_broker, topic_names.events)
    return kafka_client(kafka_broker, topic_names.events, tmp_path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def by_type(events: list[LineageEvent]) -> dict[EventType, LineageEvent]:
    return {e.eventType: e for e in events}


def test_decorated_job_emits_start_and_complete_with_digests_schema_and_stats(
    client: LineageClient, kafka_broker: str, topic_names: TopicSettings, cancer_csv: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "large_tumours.parquet"

    @lineage_job(namespace="tests", client=client)
    def select_large(src: Path, dst: Path, min_radius: float = 15.0) -> int:
        run = current_run()
        assert run is not None
        run.input_file(src, kind="table")
        df = pd.read_csv(src)
        large = df[df["mean radius"] >= min_radius][["mean radius", "mean area", "target"]]
        large.to_parquet(dst)
        run.output_file(dst, kind="features")
        run.log_metric("rows_kept", len(large))
        return len(large)

    kept = select_large(cancer_csv, out)
    assert client.flush(20.0) == 0
    events = read_events(kafka_broker, topic_names.events, 2)
    assert [e.eventType for e in events] == [EventType.START, EventType.COMPLETE]
    start, complete = events
    assert start.run.runId == complete.run.runId
    assert complete.job.name.endswith("select_large") and complete.job.namespace == "tests"

    truth = pd.read_csv(cancer_csv)
    [src] = complete.inputs
    assert (src.namespace, src.name, src.kind) == ("file", str(cancer_csv), "table")
    assert src.version == sha256(cancer_csv)
    assert src.facets.contentDigest is not None and src.facets.contentDigest.hex == src.version
    assert [f.name for f in src.facets.schema_ or []] == list(truth.columns)
    stats = src.facets.statistics
    assert stats is not None and stats.rowCount == 569
    assert stats.bytes == cancer_csv.stat().st_size
    radius = next(c for c in stats.columns if c.name == "mean radius")
    assert radius.nullCount == 0
    assert radius.distinctCount == truth["mean radius"].nunique()
    assert radius.min == pytest.approx(truth["mean radius"].min())
    assert radius.max == pytest.approx(truth["mean radius"].max())
    assert radius.mean == pytest.approx(truth["mean radius"].mean())

    [dst] = complete.outputs
    assert (dst.name, dst.kind, dst.version) == (str(out), "features", sha256(out))
    assert dst.facets.statistics is not None and dst.facets.statistics.rowCount == kept
    assert [f.name for f in dst.facets.schema_ or []] == ["mean radius", "mean area", "target"]

    facets = complete.run.facets
    assert facets.parameters["min_radius"] == "15.0"
    assert facets.parameters["src"] == repr(cancer_csv)
    assert facets.metrics == {"rows_kept": float(kept)}
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert facets.codeVersion is not None and facets.codeVersion.gitSha == head
    assert facets.codeVersion.entryPoint == "tests/test_batch_jobs.py"
    assert facets.environment is not None and facets.environment.packages["pandas"]
    assert facets.nominalTime is not None and facets.nominalTime.nominalEndTime is not None
    assert facets.nominalTime.nominalStartTime <= facets.nominalTime.nominalEndTime
    assert start.inputs == [], "inputs are declared inside the job, after START"


class DataError(Exception):
    pass


def test_exception_gives_fail_with_error_facet_and_the_same_exception(
    client: LineageClient, kafka_broker: str, topic_names: TopicSettings, cancer_csv: Path
) -> None:
    raised = DataError("column 'mean radius' has negative values")

    @lineage_job(name="validate", namespace="tests", client=client)
    def validate(src: Path) -> None:
        current_run().input_file(src)  # type: ignore[union-attr]
        raise raised

    with pytest.raises(DataError) as info:
        validate(cancer_csv)
    assert info.value is raised
    assert info.traceback[-1].name == "validate", "the traceback still ends in the job"
    assert client.flush(20.0) == 0
    start, fail = read_events(kafka_broker, topic_names.events, 2)
    assert (start.eventType, fail.eventType) == (EventType.START, EventType.FAIL)
    error = fail.run.facets.error
    assert error is not None
    assert error.message == "DataError: column 'mean radius' has negative values"
    assert error.stackTrace is not None and "raise raised" in error.stackTrace
    assert fail.inputs[0].version == sha256(cancer_csv)


def test_pandas_capture_and_sql_step(
    client: LineageClient, kafka_broker: str, topic_names: TopicSettings, cancer_csv: Path,
    tmp_path: Path,
) -> None:
    original_read_csv = pd.read_csv
    out_csv = tmp_path / "summary.csv"
    with job_run("summarise", namespace="tests", client=client, capture_pandas=True) as run:
        df = pd.read_csv(cancer_csv)
        df.groupby("target").mean().to_csv(out_csv)
        run.sql_step(
            "INSERT INTO mart.summary SELECT s.target, avg(s.radius) AS radius "
            "FROM raw.cancer s GROUP BY s.target",
            namespace="postgres://db:5432",
        )
    assert pd.read_csv is original_read_csv, "pandas is unpatched after the run"
    assert client.flush(20.0) == 0
    complete = by_type(read_events(kafka_broker, topic_names.events, 2))[EventType.COMPLETE]
    inputs = {d.name: d for d in complete.inputs}
    outputs = {d.name: d for d in complete.outputs}
    assert inputs[str(cancer_csv)].version == sha256(cancer_csv)
    assert inputs[str(cancer_csv)].facets.statistics.rowCount == 569  # type: ignore[union-attr]
    assert outputs[str(out_csv)].version == sha256(out_csv)
    assert outputs[str(out_csv)].facets.statistics.rowCount == 2  # type: ignore[union-attr]
    assert inputs["raw.cancer"].namespace == "postgres://db:5432"
    lineage = {c.field: c for c in outputs["mart.summary"].facets.columnLineage or []}
    assert [(i.name, i.field) for i in lineage["radius"].inputFields] == [("raw.cancer", "radius")]
    assert lineage["radius"].inputFields[0].transformations[0].subtype == "AGGREGATION"
    assert lineage["target"].inputFields[0].transformations[0].subtype == "IDENTITY"
    assert complete.job.facets.sql is not None


def test_lineage_problems_never_break_the_job(tmp_path: Path) -> None:
    broken = LineageClient.from_config(transport="console", queue_size=1)
    broken.transport.send = None  # type: ignore[assignment]  # every send now fails

    @lineage_job(client=broken)
    def job(x: object) -> str:
        run = current_run()
        assert run is not None
        run.input_file(tmp_path / "does-not-exist.csv")
        run.input_file("s3://bucket/key.parquet")
        run.log_metric("bad", "not a number")  # type: ignore[arg-type]
        run.log_param("obj", object())
        return "done"

    assert job(object()) == "done"
    broken.close(1.0)


def test_pandas_capture_is_scoped_to_the_run_and_restored(tmp_path: Path) -> None:
    import io
    import threading

    from emitters.transports.console import ConsoleTransport

    frame = load_breast_cancer(as_frame=True).frame.head(50)
    frame.to_json(tmp_path / "a.json")
    frame.to_parquet(tmp_path / "b.parquet")
    lines = io.StringIO()
    client = LineageClient(ConsoleTransport(lines))
    originals = (pd.read_json, pd.read_parquet, pd.DataFrame.to_csv)
    with job_run("outer", client=client, capture_pandas=True):
        with job_run("inner", client=client, capture_pandas=True):
            pd.read_json(tmp_path / "a.json")
        assert pd.read_json is not originals[0], "still patched for the outer run"
        pd.read_parquet(tmp_path / "b.parquet")
        outside = threading.Thread(target=pd.read_json, args=(tmp_path / "a.json",))
        outside.start()
        outside.join()
    assert (pd.read_json, pd.read_parquet, pd.DataFrame.to_csv) == originals
    assert client.flush(5.0) == 0
    done = [LineageEvent.model_validate_json(line) for line in lines.getvalue().splitlines()]
    done = [e for e in done if e.eventType == EventType.COMPLETE]
    inputs = {e.job.name: [(d.name, d.facets.statistics.rowCount) for d in e.inputs]  # type: ignore[union-attr]
              for e in done}
    assert inputs == {
        "inner": [(str(tmp_path / "a.json"), 50)],
        "outer": [(str(tmp_path / "b.parquet"), 50)],
    }, "each read belongs to the innermost run of its own thread; other threads are not captured"
    inner = next(e for e in done if e.job.name == "inner")
    outer = next(e for e in done if e.job.name == "outer")
    assert inner.run.parent is not None and inner.run.parent.runId == outer.run.runId
    client.close()
