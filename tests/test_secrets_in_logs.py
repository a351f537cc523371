"""Secrets never appear in logs or CLI output.

A processor, a sink, an emitting job and several ``lineage`` commands run as real processes
at DEBUG with a SASL password and a TLS key password set through the environment
(``LINEAGE_KAFKA__SASL_PASSWORD``, ``LINEAGE_KAFKA__SSL_KEY_PASSWORD``) and a leased Neo4j
server's real password (``LINEAGE_GRAPH__PASSWORD``). The broker's listener has no SASL, so
every Kafka client fails to authenticate and logs its errors — the path where a secret is
most likely to leak — while the graph connections succeed (the driver's handshake is logged).
The commands then run again with a wrong graph password, so Neo4j refuses them too.

Every log file of the test's data dir and every output is scanned for each secret, raw and
URL- or base64-encoded, and so is every server log under the session's stack dir (Kafka's
and each Neo4j server's, including the one whose password is here).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from functools import partial
from pathlib import Path
from urllib.parse import quote

import neo4j
from neo4j.exceptions import AuthError

from lineage_app.localstack.processes import ManagedProcess, start_python_service
from lineage_pipeline.settings import GraphSettings
from tests.e2e_stack import (
    make_settings,
    stack_env,
)
from tests.support.waiting import wait_for

LINEAGE = str(Path(sys.executable).with_name("lineage"))
COMMANDS = (["upstream", "tests:x", "--json"], ["runs", "tests:job"], ["status"],
            ["dlq", "list"], ["spool", "status"], ["--help"])
#: What a Kafka client logs once it has tried SASL against the plaintext listener.
KAFKA_AUTH_FAILURE = ("SASL", "authentication", "Authentication")


def forms(secret: str) -> list[str]:
    """The spellings of ``secret`` a log could contain."""
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]


def server_logs(stack_dir: Path) -> dict[str, str]:
    """Every file in a ``logs`` directory under the session's stack dir (the Kafka broker's
    and the Neo4j servers'), by path."""
    return {str(p.relative_to(stack_dir)): p.read_text("utf-8", errors="replace")
            for p in sorted(stack_dir.rglob("*"))
            if p.is_file() and "logs" in p.relative_to(stack_dir).parts}


def run_commands(env: dict[str, str], label: str, outputs: dict[str, str]) -> None:
    for args in COMMANDS:
        cmd = subprocess.run([LINEAGE, *args], capture_output=True, text=True, timeout=60,
                             env={**os.environ, **env})
        outputs[f"lineage {' '.join(args)} ({label})"] = cmd.stdout + cmd.stderr


def tried_kafka(service: ManagedProcess) -> bool:
    """``True`` once ``service`` logged a failed Kafka authentication (or exited)."""
    text = service.log_path.read_text("utf-8", errors="replace")
    return not service.alive() or any(word in text for word in KAFKA_AUTH_FAILURE)


def accepts(graph: GraphSettings, password: str) -> bool:
    """``True`` if Neo4j accepts ``password`` now (it locks a user for a few seconds after
    repeated failed logins)."""
    try:
        with neo4j.GraphDatabase.driver(graph.url, auth=(graph.username or "neo4j", password),
                                        connection_timeout=3.0) as driver:
            driver.verify_connectivity()
            return True
    except AuthError:
        return False


def test_no_secret_in_any_log_or_cli_output(
    kafka_broker: str, graph_settings: GraphSettings, stack_dir: Path, tmp_path: Path
) -> None:
    assert graph_settings.password is not None
    secrets = {
        "sasl": f"kafka-Pw-{uuid.uuid4().hex}",
        "ssl_key": f"key-Pw-{uuid.uuid4().hex}",
        "neo4j": graph_settings.password.get_secret_value(),
        "wrong_graph": f"graph-Pw-{uuid.uuid4().hex}",
    }
    settings = make_settings(kafka_broker, graph_settings, tmp_path)
    env = {
        **stack_env(settings),
        "LINEAGE_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LINEAGE_KAFKA__SASL_MECHANISM": "PLAIN",
        "LINEAGE_KAFKA__SASL_USERNAME": "lineage",
        "LINEAGE_KAFKA__SASL_PASSWORD": secrets["sasl"],
        "LINEAGE_KAFKA__SSL_KEY_PASSWORD": secrets["ssl_key"],
        "LINEAGE_LOG_LEVEL": "DEBUG",
    }
    assert env["LINEAGE_GRAPH__PASSWORD"] == secrets["neo4j"]
    outputs: dict[str, str] = {}
    services: list[ManagedProcess] = []
    try:
        for name, module in (("sink", "graph_sink"), ("processor", "stream_processor")):
            services.append(start_python_service(name, module, [], tmp_path,
                                                 ready=lambda: True, env=env))
        # an emitting job, logging at DEBUG
        job = subprocess.run(
            [sys.executable, "-c",
             "import logging; logging.basicConfig(level=logging.DEBUG);"
             "from emitters.client import LineageClient;"
             "from tests.faults.harness import make_runs;"
             "c = LineageClient.from_config(kafka_producer={'delivery_timeout_ms': 2000});"
             "[c.emit(e) for e in make_runs('secrets', 1)];"
             "print('pending', c.flush(4.0)); c.close(2.0)"],
            capture_output=True, text=True, timeout=60, env={**os.environ, **env},
            cwd=Path(__file__).resolve().parents[1])
        outputs["job"] = job.stdout + job.stderr
        run_commands(env, "neo4j password", outputs)
        for service in services:
            wait_for(partial(tried_kafka, service),
                     f"{service.name} to fail Kafka authentication", timeout_s=60)
    finally:
        for svc in services:
            svc.stop()
    run_commands({**env, "LINEAGE_GRAPH__PASSWORD": secrets["wrong_graph"]}, "wrong password",
                 outputs)
    # the refused logins lock the user for a while: the lease's next holder needs it back
    wait_for(lambda: accepts(graph_settings, secrets["neo4j"]),
             "Neo4j to accept its password again", timeout_s=30, step_s=1.0)
    for log in sorted((tmp_path / "logs").glob("*.log")):
        outputs[log.name] = log.read_text("utf-8", errors="replace")
    assert outputs["processor.log"] and outputs["sink.log"] and outputs["job"]
    refused = outputs["lineage runs tests:job (wrong password)"]
    assert "auth" in refused.lower() or "credentials" in refused.lower(), refused
    servers = server_logs(stack_dir)
    assert any("kafka" in name for name in servers) and any("neo4j" in n for n in servers)
    outputs.update(servers)
    leaks = [(where, kind) for where, text in outputs.items()
             for kind, secret in secrets.items() for form in forms(secret) if form in text]
    print(f"SECRETS SCAN: {len(outputs)} logs/outputs ({len(servers)} server logs), "
          f"{sum(len(t) for t in outputs.values())} chars, leaks={len(leaks)}")
    assert leaks == []
