"""Secrets never appear in logs or CLI output.

A processor, a sink, an emitting job and several ``lineage`` commands run as real processes
with a SASL password, a TLS key password and a graph password set through the environment
(``LINEAGE_KAFKA__SASL_PASSWORD``, ``LINEAGE_KAFKA__SSL_KEY_PASSWORD``,
``LINEAGE_GRAPH__PASSWORD``). The Tansu broker has no SASL and FalkorDB no password, so every
component fails to authenticate and logs its errors — the path where a secret is most likely
to leak. Then every log file and every output is scanned for each secret, raw and URL- or
base64-encoded.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from lineage_pipeline.localstack.processes import start_python_service
from tests.e2e_stack import make_settings, stack_env

LINEAGE = str(Path(sys.executable).with_name("lineage"))


def forms(secret: str) -> list[str]:
    """The spellings of ``secret`` a log could contain."""
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]


def test_no_secret_in_any_log_or_cli_output(
    kafka_broker: str, falkordb_server: int, tmp_path: Path
) -> None:
    secrets = {
        "sasl": f"kafka-Pw-{uuid.uuid4().hex}",
        "ssl_key": f"key-Pw-{uuid.uuid4().hex}",
        "graph": f"graph-Pw-{uuid.uuid4().hex}",
    }
    settings = make_settings(kafka_broker, falkordb_server, tmp_path)
    env = {
        **stack_env(settings),
        "LINEAGE_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LINEAGE_KAFKA__SASL_MECHANISM": "PLAIN",
        "LINEAGE_KAFKA__SASL_USERNAME": "lineage",
        "LINEAGE_KAFKA__SASL_PASSWORD": secrets["sasl"],
        "LINEAGE_KAFKA__SSL_KEY_PASSWORD": secrets["ssl_key"],
        "LINEAGE_GRAPH__USERNAME": "default",
        "LINEAGE_GRAPH__PASSWORD": secrets["graph"],
        "LINEAGE_LOG_LEVEL": "DEBUG",
    }
    outputs: dict[str, str] = {}
    services = []
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
        for args in (["upstream", "tests:x", "--json"], ["runs", "tests:job"], ["status"],
                     ["dlq", "list"], ["spool", "status"], ["--help"]):
            cmd = subprocess.run([LINEAGE, *args], capture_output=True, text=True, timeout=60,
                                 env={**os.environ, **env})
            outputs["lineage " + " ".join(args)] = cmd.stdout + cmd.stderr
        # let the services retry their connections for a while
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(s.alive() for s in services):
            time.sleep(0.2)
    finally:
        for svc in services:
            svc.stop()
    for log in sorted((tmp_path / "logs").glob("*.log")):
        outputs[log.name] = log.read_text("utf-8", errors="replace")
    assert outputs["processor.log"] and outputs["sink.log"] and outputs["job"]
    leaks = [(where, kind) for where, text in outputs.items()
             for kind, secret in secrets.items() for form in forms(secret) if form in text]
    print(f"SECRETS SCAN: {len(outputs)} logs/outputs, "
          f"{sum(len(t) for t in outputs.values())} chars, leaks={len(leaks)}")
    assert leaks == []
