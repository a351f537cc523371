"""The lineage emitter SDK: publish lineage events from Python jobs without slowing them.

Start here::

    from emitters import job_run, lineage_job, LineageClient

    with job_run("nightly_report", namespace="analytics") as run:
        run.input_file("data/orders.csv")
        ...
        run.output_file("out/report.parquet")

Modules: :mod:`emitters.client` (queue + background sender), :mod:`emitters.config`
(settings and their precedence), :mod:`emitters.transports` (kafka, spool, console,
composite), :mod:`emitters.run` (generic run builder), :mod:`emitters.batch` (decorator and
context manager), :mod:`emitters.facets` (digests, schema, statistics, code version,
environment), :mod:`emitters.pandas_capture`, :mod:`emitters.sql`, :mod:`emitters.size_cap`.
"""

from emitters.batch import BatchRun, current_run, job_run, lineage_job
from emitters.client import LineageClient, get_client, set_client
from emitters.config import EmitterConfig, EmitterSettings, load_emitter_config
from emitters.facets import (
    collect_code_version,
    collect_environment,
    dataframe_dataset,
    dataset_id_for_path,
    file_dataset,
)
from emitters.run import RunContext
from emitters.sql import SqlLineage, sql_lineage
from emitters.transports import Transport, create_transport, register_transport

__all__ = [
    "BatchRun",
    "EmitterConfig",
    "EmitterSettings",
    "LineageClient",
    "RunContext",
    "SqlLineage",
    "Transport",
    "collect_code_version",
    "collect_environment",
    "create_transport",
    "current_run",
    "dataframe_dataset",
    "dataset_id_for_path",
    "file_dataset",
    "get_client",
    "job_run",
    "lineage_job",
    "load_emitter_config",
    "register_transport",
    "set_client",
    "sql_lineage",
]
