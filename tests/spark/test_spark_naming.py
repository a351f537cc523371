"""Pure parts of the Spark emitter: dataset naming, output versions, settings, plan JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitters.facets import dataset_id_for_path
from emitters.spark.config import SparkLineageConfig
from emitters.spark.datasets import (
    catalog_namespace_for,
    directory_version,
    jdbc_dataset_id,
    path_dataset_id,
    slug,
)
from emitters.spark.plan import parse_plan_json, spark_type_name
from lineage_pipeline.errors import ConfigError, EventError


@pytest.mark.parametrize(
    ("url", "table", "expected"),
    [
        ("jdbc:postgresql://db.example:5432/shop?user=u&password=p", "public.orders",
         ("postgres://db.example:5432", "shop.public.orders")),
        ("jdbc:mysql://u:pw@mysql.example:3306/crm", "users",
         ("mysql://mysql.example:3306", "crm.users")),
        ("jdbc:derby:memory:sales;create=true;password=x", "T1", ("derby:memory:sales", "T1")),
        ("jdbc:sqlserver://host:1433;databaseName=db;password=x", "dbo.t",
         ("sqlserver://host:1433", "dbo.t")),
    ],
)
def test_jdbc_names_follow_the_naming_spec_without_credentials(
    url: str, table: str, expected: tuple[str, str]
) -> None:
    assert jdbc_dataset_id(url, table) == expected


def test_spark_paths_name_like_the_batch_emitter(tmp_path: Path) -> None:
    out = tmp_path / "features"
    assert path_dataset_id(f"file:{out}") == dataset_id_for_path(out) == ("file", str(out))
    assert path_dataset_id("s3a://bucket/a/b") == ("s3://bucket", "a/b")
    assert catalog_namespace_for("thrift://meta.example:9083,thrift://b:9083") == (
        "hive://meta.example:9083"
    )
    assert catalog_namespace_for(None) == "spark_catalog"
    assert slug("/tmp/x/daily-features.v2") == "tmp_x_daily_features_v2"


def test_directory_version_covers_visible_files_and_their_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "day=1").mkdir(parents=True)
    (out / "day=1" / "part-0000-a.parquet").write_bytes(b"rows")
    (out / "_SUCCESS").write_bytes(b"")
    (out / ".part-0000-a.parquet.crc").write_bytes(b"crc")
    first = directory_version(out)
    assert first is not None
    assert (first.files, first.bytes, first.algorithm) == (1, 4, "sha256-tree")
    (out / "_SUCCESS").write_bytes(b"changed")  # hidden: no new version
    assert directory_version(out) == first
    (out / "day=1" / "part-0000-a.parquet").rename(out / "day=1" / "part-0000-b.parquet")
    renamed = directory_version(out)
    assert renamed is not None and renamed.digest != first.digest  # a new write's files
    manifest = directory_version(out, max_bytes=1)
    assert manifest is not None and manifest.algorithm == "sha256-manifest"
    assert directory_version(tmp_path / "missing") is None


def test_a_single_file_has_the_batch_emitters_version(tmp_path: Path) -> None:
    # one file written by pandas and read by Spark is one dataset version, whoever digests it
    import hashlib

    from emitters.facets import file_dataset

    path = tmp_path / "cells.parquet"
    path.write_bytes(b"parquet bytes")
    version = directory_version(path)
    assert version is not None and version.algorithm == "sha256"
    assert version.digest == hashlib.sha256(b"parquet bytes").hexdigest()
    assert file_dataset(path).version == version.digest


def test_settings_precedence_arguments_conf_environment() -> None:
    conf = {"spark.lineage.namespace": "from_conf", "spark.lineage.emitReads": "true"}
    env = {"LINEAGE_SPARK_NAMESPACE": "from_env", "LINEAGE_SPARK_APP_NAME": "env_app",
           "LINEAGE_SPARK_PARENT_RUN_ID": "r-1", "LINEAGE_SPARK_PARENT_JOB_NAME": "dag"}
    cfg = SparkLineageConfig.resolve(conf.get, env)
    assert (cfg.namespace, cfg.app_name, cfg.emit_reads) == ("from_conf", "env_app", True)
    assert cfg.parent is not None and (cfg.parent.runId, cfg.parent.job.name) == ("r-1", "dag")
    assert cfg.parent.job.namespace == "from_conf"
    cfg = SparkLineageConfig.resolve(conf.get, env, namespace="arg", emit_reads=None)
    assert (cfg.namespace, cfg.emit_reads) == ("arg", True)
    with pytest.raises(ConfigError, match=r"spark\.lineage\.queueSize"):
        SparkLineageConfig.resolve({"spark.lineage.queueSize": "many"}.get, {})
    with pytest.raises(ConfigError, match="unknown"):
        SparkLineageConfig.resolve(None, {}, colour="blue")


def test_plan_json_parsing_and_types() -> None:
    with pytest.raises(EventError):
        parse_plan_json("{not json")
    with pytest.raises(EventError):
        parse_plan_json('[{"class": "a.Project", "num-children": 1}]')
    assert spark_type_name("long") == "bigint"
    assert spark_type_name({"type": "array", "elementType": "integer"}) == "array<int>"
    assert spark_type_name(
        {"type": "struct", "fields": [{"name": "a", "type": "string"}]}
    ) == "struct<a:string>"
