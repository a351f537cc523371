"""End to end: a real training and inference run through the real LineageClient into the
Kafka broker, read back and decoded as a consumer of ``lineage.events`` would."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from emitters.client import LineageClient
from emitters.torch import inference_run
from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import EventType, LineageEvent
from lineage_pipeline.settings import TopicSettings
from tests.test_emitter_kafka import read_to_end
from tests.torch._mlp import EPOCHS, LR, load_features, make_model, train

pytestmark = pytest.mark.torch


@pytest.fixture
def client(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path
) -> Iterator[LineageClient]:
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    for future in admin.create_topics([NewTopic(topic_names.events, 1, 1)]).values():
        future.result(timeout=30)
    c = LineageClient.from_config(
        None,
        bootstrap_servers=kafka_broker,
        topic=topic_names.events,
        transport="kafka",
        spool_dir=tmp_path / "spool",
    )
    try:
        yield c
    finally:
        c.close(10.0)


def read_events(bootstrap: str, topic: str) -> list[LineageEvent]:
    """Every record of ``topic`` up to the broker's end offset, decoded (call it after the
    client's flush: then that is every event sent, and nothing more can arrive)."""
    codec = EventCodec()
    events = []
    for msg in read_to_end(bootstrap, topic):
        value = msg.value()
        assert value is not None
        events.append(codec.decode(value))
    return events


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_and_inference_events_through_kafka(
    client: LineageClient,
    kafka_broker: str,
    topic_names: TopicSettings,
    features_csv: Path,
    tmp_path: Path,
) -> None:
    ckpt = tmp_path / "mlp.pt"
    trained = train(features_csv, seed=11, checkpoint=ckpt, client=client)
    predictions = tmp_path / "predictions.csv"
    dataset = load_features(features_csv)
    with inference_run("score_breast_cancer", "tests.torch", client=client,
                       outputs=[predictions], inputs=[features_csv]) as scoring:
        model = make_model()
        model.load_state_dict(torch.load(ckpt))
        model.eval()
        with torch.no_grad():
            probs = torch.softmax(model(dataset.tensors[0]), dim=1)[:, 1].numpy()
        pd.DataFrame({"row": np.arange(len(probs)), "p_malignant": probs}).to_csv(
            predictions, index=False
        )
    assert client.flush(30.0) == 0

    # training: START + one RUNNING per epoch + COMPLETE; inference: START + COMPLETE
    events = read_events(kafka_broker, topic_names.events)
    assert len(events) == EPOCHS + 4
    assert trained.run is not None
    training = [e for e in events if e.run.runId == trained.run.run_id]
    assert [e.eventType for e in training] == (
        [EventType.START] + [EventType.RUNNING] * EPOCHS + [EventType.COMPLETE]
    )
    assert [e.run.facets.metrics["epoch"] for e in training[1:-1]] == list(range(EPOCHS))
    complete = training[-1]
    params = complete.run.facets.parameters
    assert float(params["optimizer.lr"]) == LR and params["data.train.batch_size"] == "32"
    assert params["seed.torch"] == "11" and params["epochs"] == str(EPOCHS)
    assert complete.run.facets.metrics["loss"] == pytest.approx(trained.epoch_losses[-1])
    history = json.loads(complete.run.facets.extra["torchEpochs"])["epochs"]
    assert [row["loss"] for row in history] == pytest.approx(trained.epoch_losses)
    (features_in,) = complete.inputs
    assert features_in.version == sha256_file(features_csv)
    assert features_in.facets.schema_ is not None and len(features_in.facets.schema_) == 31
    (model_out,) = complete.outputs
    assert (model_out.name, model_out.kind) == (str(ckpt), "model")
    assert model_out.version == sha256_file(ckpt)
    assert model_out.facets.contentDigest is not None
    assert model_out.facets.contentDigest.algorithm == "sha256"

    scored = [e for e in events if e.run.runId == scoring.run_id]
    assert [e.eventType for e in scored] == [EventType.START, EventType.COMPLETE]
    done = scored[-1]
    inputs = {d.kind: d for d in done.inputs}
    assert (inputs["model"].name, inputs["model"].version) == (str(ckpt), model_out.version)
    assert inputs["features"].version == features_in.version
    (preds,) = done.outputs
    assert (preds.kind, preds.name, preds.version) == (
        "predictions", str(predictions), sha256_file(predictions)
    )
    assert preds.facets.statistics is not None and preds.facets.statistics.rowCount == 569
