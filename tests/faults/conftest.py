"""Fixtures of the fault-injection suite.

Every scenario here is bounded in time: each test gets a ``timeout`` marker of
:data:`SCENARIO_TIMEOUT_S` seconds unless it sets its own (pytest-timeout).

- ``fault_settings``: fresh topics (created), graph name, group ids and metrics ports on the
  session's Kafka broker and a leased Neo4j graph, data under the test's ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage_app.localstack.stack import create_topics
from lineage_pipeline.settings import GraphSettings, LineageSettings
from tests.e2e_stack import make_settings

SCENARIO_TIMEOUT_S = 120


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List each scenario's lost / duplicated / skipped counts at the end of the run."""
    from tests.faults.harness import REPORTED

    if REPORTED:
        terminalreporter.section("fault-injection scenarios")
        for line in REPORTED:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.path).replace("\\", "/") and \
                item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SCENARIO_TIMEOUT_S))


@pytest.fixture
def fault_settings(kafka_broker: str, graph_settings: GraphSettings,
                   tmp_path: Path) -> LineageSettings:
    settings = make_settings(kafka_broker, graph_settings, tmp_path)
    create_topics(settings)
    return settings
