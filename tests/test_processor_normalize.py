"""Dataset identity: the spellings producers use for one dataset normalise to one name."""

from __future__ import annotations

import pytest

from lineage_pipeline.naming import canonical_uids, normalize_dataset, normalize_namespace


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("file", "/tmp/x"),
        ("file", "file:/tmp/x"),
        ("file", "file:///tmp/x/"),
        ("file", "file://localhost/tmp/x"),
        ("", "/tmp/x"),
        ("file://", "/tmp/x/"),
        ("default", "file:///tmp//x"),
        ("file", "/tmp/./y/../x"),
    ],
)
def test_local_file_spellings_are_one_dataset(namespace: str, name: str) -> None:
    assert normalize_dataset(namespace, name) == ("file", "/tmp/x")


def test_file_uri_is_percent_decoded_but_a_plain_path_is_not() -> None:
    assert normalize_dataset("file", "file:///tmp/a%20b.csv") == ("file", "/tmp/a b.csv")
    assert normalize_dataset("file", "/tmp/50%25.csv") == ("file", "/tmp/50%25.csv")


def test_a_file_on_another_host_keeps_its_host() -> None:
    assert normalize_dataset("file", "file://Node7/data/x") == ("file://node7", "/data/x")


@pytest.mark.parametrize(
    ("namespace", "name", "expected"),
    [
        ("s3a://Bucket", "/features/part/", ("s3://bucket", "features/part")),
        ("s3n://bucket/", "features//part", ("s3://bucket", "features/part")),
        ("s3://bucket", "features/part", ("s3://bucket", "features/part")),
        ("any", "s3a://bucket/features/part/", ("s3://bucket", "features/part")),
        ("gcs://b", "k/", ("gs://b", "k")),
        ("hdfs://NN:8020", "/a//b/", ("hdfs://nn:8020", "/a/b")),
        ("postgresql://DB:5432", "Shop.Public.Orders",
         ("postgres://db:5432", "shop.public.orders")),
        ("snowflake://acct", "db.s.t", ("snowflake://acct", "DB.S.T")),
        ("bigquery", "Proj.Data.T", ("bigquery", "Proj.Data.T")),
        ("mysql://h:3306", "Db.T", ("mysql://h:3306", "Db.T")),
        ("kafka://broker:9092", "lineage.events", ("kafka://broker:9092", "lineage.events")),
        ("ml", "model/v1", ("ml", "model/v1")),
    ],
)
def test_namespaces_follow_the_openlineage_naming_spec(
    namespace: str, name: str, expected: tuple[str, str]
) -> None:
    assert normalize_dataset(namespace, name) == expected


def test_normalisation_is_idempotent() -> None:
    for ns, name in [("s3a://B", "/k/"), ("file", "file:///tmp/x/"), ("postgresql://H:1", "A.B")]:
        once = normalize_dataset(ns, name)
        assert normalize_dataset(*once) == once


def test_namespace_alone() -> None:
    assert normalize_namespace("S3A://Bucket/") == "s3://bucket"
    assert normalize_namespace("file://localhost") == "file"
    assert normalize_namespace("local") == "file"
    assert normalize_namespace("default") == "default"


def test_canonical_uids_name_what_the_processor_stored_for_a_spelling() -> None:
    """The queries resolve a NODE a user typed by these (lineage_queries.api)."""
    assert canonical_uids("s3a://Bucket/k/x/")[0] == "s3://bucket:k/x"
    assert "postgres://h:5432:db.public.t" in canonical_uids("postgresql://H:5432:DB.Public.T")
    assert "s3://bucket:k@v1" in canonical_uids("s3a://Bucket:k@v1")
    assert canonical_uids("file:///tmp/x/") == ["file:/tmp/x"]
    assert canonical_uids("") == [] and canonical_uids("@") == []
