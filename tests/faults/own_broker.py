"""A pipeline on a Kafka broker of the test's own, for the scenarios that kill the broker.

:func:`own_broker_pipeline` starts Apache Kafka with its log under ``data_dir`` on free client
and controller ports, creates the topics, starts a sink and a processor (both registered in
``started``, the fault suite's stop-by-pid list) and waits until the processor has its
partitions. :meth:`OwnBrokerPipeline.kill_broker` SIGKILLs the broker; :meth:`restart_broker`
starts it again on the same log directory and ports (KRaft recovers the log).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lineage_app.localstack.kafka_server import start_kafka
from lineage_app.localstack.processes import ManagedProcess, free_port, port_open
from lineage_app.localstack.stack import create_topics
from lineage_pipeline.settings import GraphSettings, LineageSettings
from tests.e2e_stack import make_settings
from tests.faults.harness import log_count, start_processor, start_sink
from tests.support.waiting import wait_until

#: The processor's log line once it has its partitions.
READY = "stream processor ready"


@dataclass
class OwnBrokerPipeline:
    """The broker's log directory and ports, the settings that point at it, the services."""

    home: Path
    port: int
    controller_port: int
    settings: LineageSettings
    sink: ManagedProcess
    processor: ManagedProcess
    broker: ManagedProcess
    started: list[ManagedProcess]

    @property
    def bootstrap(self) -> str:
        """The broker's ``host:port``."""
        return f"127.0.0.1:{self.port}"

    def kill_broker(self) -> None:
        """SIGKILL the broker and wait until its port is closed."""
        self.broker.kill()
        assert wait_until(lambda: not port_open(self.port), 10), "the broker's port stays open"

    def restart_broker(self) -> None:
        """Start the broker again on the same log directory and ports (waits until ready)."""
        self.broker = start_kafka(self.home, self.port, controller_port=self.controller_port)
        self.started.append(self.broker)


def own_broker_pipeline(graph: GraphSettings, data_dir: Path,
                        started: list[ManagedProcess]) -> OwnBrokerPipeline:
    """Start the broker, topics, sink and processor for ``graph`` under ``data_dir``; return
    once the processor has its partitions."""
    home = data_dir / "own-kafka"
    port, controller_port = free_port(), free_port()
    broker = start_kafka(home, port, controller_port=controller_port)
    started.append(broker)
    settings = make_settings(f"127.0.0.1:{port}", graph, data_dir)
    create_topics(settings)
    sink = start_sink(settings, data_dir)
    started.append(sink)
    processor = start_processor(settings, data_dir)
    started.append(processor)
    assert wait_until(lambda: log_count(processor.log_path, READY) >= 1, 90), \
        "processor never assigned"
    return OwnBrokerPipeline(home, port, controller_port, settings, sink, processor, broker,
                             started)
