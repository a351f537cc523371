"""Dataset names per the OpenLineage naming spec, platform by platform: the spec's example
(namespace, name) of each platform it lists, and the spellings producers send for them, give
the node uid in the last column (``lineage_pipeline.naming``; spec:
https://openlineage.io/docs/spec/naming).

Spark tables follow the OpenLineage Spark integration: the physical location as the dataset
(a path in its storage namespace) with a ``TABLE`` symlink naming the table in its catalog:
the Hive metastore (``hive://host:port`` + ``db.table``), or, without one, the warehouse
location (``file:/warehouse`` + ``db.table``); Iceberg and Delta tables are the same
physical-location-plus-symlink pair.
"""

from __future__ import annotations

import pytest

from lineage_pipeline.graph_model import dataset_uid
from lineage_pipeline.naming import canonical_uids, normalize_dataset

#: (platform, namespace as sent, name as sent, node uid)
SPEC_TABLE = [
    ("local file", "file", "/data/raw/orders.csv", "file:/data/raw/orders.csv"),
    ("local file, URI name", "file", "file:///data/raw/orders.csv",
     "file:/data/raw/orders.csv"),
    ("remote file", "file://Host7", "/data/x.parquet", "file://host7:/data/x.parquet"),
    ("S3", "s3://sales-metrics", "orders/2024/part-0.parquet",
     "s3://sales-metrics:orders/2024/part-0.parquet"),
    ("S3, s3a scheme", "s3a://Sales-Metrics", "/orders/2024/",
     "s3://sales-metrics:orders/2024"),
    ("GCS", "gs://bucket", "path/to/obj", "gs://bucket:path/to/obj"),
    ("GCS, gcs scheme", "gcs://bucket", "path/to/obj", "gs://bucket:path/to/obj"),
    ("ABFSS", "abfss://container@service.dfs.core.windows.net", "dir/file.parquet",
     "abfss://container@service.dfs.core.windows.net:dir/file.parquet"),
    ("WASBS", "wasbs://container@service.dfs.core.windows.net", "key/obj",
     "wasbs://container@service.dfs.core.windows.net:key/obj"),
    ("HDFS", "hdfs://namenode:8020", "/user/etl/orders", "hdfs://namenode:8020:/user/etl/orders"),
    ("DBFS", "dbfs://workspace", "/mnt/x", "dbfs://workspace:/mnt/x"),
    ("Postgres", "postgres://db.example.com:5432", "metrics.sales.orders",
     "postgres://db.example.com:5432:metrics.sales.orders"),
    ("Postgres, postgresql scheme", "postgresql://DB.example.com:5432", "Metrics.Sales.Orders",
     "postgres://db.example.com:5432:metrics.sales.orders"),
    ("MySQL", "mysql://db.example.com:3306", "metrics.Orders",
     "mysql://db.example.com:3306:metrics.Orders"),
    ("Snowflake", "snowflake://org-account", "metrics.sales.orders",
     "snowflake://org-account:METRICS.SALES.ORDERS"),
    ("BigQuery", "bigquery", "project.dataset.table", "bigquery:project.dataset.table"),
    ("BigQuery, bigquery://", "bigquery://", "project.dataset.table",
     "bigquery:project.dataset.table"),
    ("Redshift", "redshift://cluster.us-west-2:5439", "dev.public.orders",
     "redshift://cluster.us-west-2:5439:dev.public.orders"),
    ("Trino", "trino://trino.example.com:8080", "hive.sales.orders",
     "trino://trino.example.com:8080:hive.sales.orders"),
    ("Athena", "awsathena://athena.us-west-2.amazonaws.com", "awsdatacatalog.db.orders",
     "awsathena://athena.us-west-2.amazonaws.com:awsdatacatalog.db.orders"),
    ("AWS Glue", "arn:aws:glue:us-west-2:123456789012", "table/db/orders",
     "arn:aws:glue:us-west-2:123456789012:table/db/orders"),
    ("Kafka", "kafka://broker.example.com:9092", "orders.events",
     "kafka://broker.example.com:9092:orders.events"),
    ("Hive metastore table", "hive://metastore:9083", "Sales.Orders",
     "hive://metastore:9083:sales.orders"),
    ("Spark warehouse table (symlink)", "file:/opt/spark/warehouse", "default.orders",
     "file:/opt/spark/warehouse:default.orders"),
    ("Spark warehouse table, URI namespace", "file:///opt/spark/warehouse/", "default.orders",
     "file:/opt/spark/warehouse:default.orders"),
    ("Spark warehouse on HDFS (symlink)", "hdfs://NameNode:8020/Warehouse", "db.orders",
     "hdfs://namenode:8020/Warehouse:db.orders"),
    ("Spark warehouse location (physical)", "file", "/opt/spark/warehouse/orders",
     "file:/opt/spark/warehouse/orders"),
    ("Iceberg table location", "s3://lake", "warehouse/db/orders",
     "s3://lake:warehouse/db/orders"),
    ("Iceberg catalog table (symlink)", "s3://lake/warehouse", "db.orders",
     "s3://lake/warehouse:db.orders"),
    ("Delta table location", "s3a://lake", "/delta/orders/", "s3://lake:delta/orders"),
    ("Spark catalog table", "spark_catalog", "default.orders", "spark_catalog:default.orders"),
]


@pytest.mark.parametrize(("platform", "namespace", "name", "uid"), SPEC_TABLE,
                         ids=[row[0] for row in SPEC_TABLE])
def test_spec_names_give_the_node_uid(platform: str, namespace: str, name: str,
                                      uid: str) -> None:
    canonical = normalize_dataset(namespace, name)
    assert dataset_uid(*canonical) == uid
    assert normalize_dataset(*canonical) == canonical  # idempotent: stored names stay put


@pytest.mark.parametrize(("platform", "namespace", "name", "uid"), SPEC_TABLE,
                         ids=[row[0] for row in SPEC_TABLE])
def test_the_cli_finds_the_node_by_the_name_as_sent(platform: str, namespace: str, name: str,
                                                    uid: str) -> None:
    """``LineageGraph.resolve`` tries :func:`canonical_uids` of what the user typed: the
    namespace and name as the producer sent them, joined by ``:``, find the node."""
    assert uid in canonical_uids(f"{namespace}:{name}")
