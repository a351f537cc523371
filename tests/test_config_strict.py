"""Configuration is strict everywhere: a ``LINEAGE_*`` variable that names no setting stops
the CLI and the services (exit 2, the variable named); inside a job the emitter keeps its
events in the spool instead, with a warning naming the key, and nothing is lost."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from emitters.cli import spool_app
from emitters.spark import config as spark_config
from lineage_pipeline.environment import OTHER_VARIABLES, unknown_variables
from lineage_pipeline.settings import LineageSettings, TopicSettings
from tests.test_emitter_kafka import create_topic, read_events
from tests.test_emitter_offline import spooled_ids

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"\bLINEAGE_[A-Z0-9_]*[A-Z0-9]\b")


def test_variables_that_name_no_setting_are_listed() -> None:
    env = {"LINEAGE_GRAPH_URL": "x", "LINEAGE_FOO": "1", "LINEAGE_GRAPH__URL": "x",
           "LINEAGE_KAFKA__EXTRA": "{}", "LINEAGE_EMITTER__QUEUE_SIZE": "1",
           "LINEAGE_DATA_DIR": "d", "lineage_graph__password": "p", "LINEAGE_KAFKA": "{}",
           "LINEAGE_GRAPH__URL__X": "1", "LINEAGE_SPARK_ENABLED": "1", "PATH": "/bin",
           "LINEAGE_PROCESSOR__APP_ID": "a", "LINEAGE_PII_PATTERN": "{}"}
    assert unknown_variables(LineageSettings, env) == [
        "LINEAGE_FOO", "LINEAGE_GRAPH_URL", "LINEAGE_GRAPH__URL__X", "LINEAGE_PII_PATTERN"]


def test_every_variable_the_project_names_is_known() -> None:
    """Code, deployment files and docs: a new variable must be a setting or registered."""
    names: set[str] = set()
    for folder in ("emitters", "stream_processor", "graph_sink", "lineage_pipeline",
                   "lineage_queries", "lineage_app", "bench", "deploy", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".yml", ".yaml", ".md", ".json", ".sh"}:
                names |= set(NAME.findall(path.read_text("utf-8", "replace")))
    for path in (ROOT / "README.md", ROOT / "docker-compose.yml", ROOT / "Makefile"):
        names |= set(NAME.findall(path.read_text("utf-8")))
    names -= {"LINEAGE_PII", "LINEAGE_SPARK"}  # prose about the families
    names -= {"LINEAGE_GRAPH_URL"}  # the README's example of a typo
    assert unknown_variables(LineageSettings, dict.fromkeys(names, "")) == []
    spark = {env for _conf, env in spark_config._KEYS.values()}
    assert spark <= set(OTHER_VARIABLES)


def run_module(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    return subprocess.run([sys.executable, "-m", module, *args], env={**child, **env},
                          capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def test_the_cli_and_the_services_refuse_an_unknown_variable(tmp_path: Path) -> None:
    env = {"LINEAGE_GRAPH_URL": "bolt://127.0.0.1:1", "LINEAGE_DATA_DIR": str(tmp_path)}
    cli = run_module("lineage_app.cli.app", "dlq", "list", env=env)
    print("lineage dlq list:", cli.returncode, cli.stderr.strip())
    assert cli.returncode == 2
    assert "LINEAGE_GRAPH_URL (did you mean LINEAGE_GRAPH__URL?)" in " ".join(cli.stderr.split())
    for service in ("stream_processor", "graph_sink"):
        done = run_module(service, env={"LINEAGE_FOO": "1", "LINEAGE_DATA_DIR": str(tmp_path)})
        print(service, done.returncode)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "unknown environment variable(s): LINEAGE_FOO" in done.stderr


JOB = textwrap.dedent("""
    import sys
    from pathlib import Path
    from emitters.batch import current_run, lineage_job

    src, dst = Path(sys.argv[1]), Path(sys.argv[2])

    @lineage_job(name="typo.copy", namespace="tests")
    def job() -> None:
        run = current_run()
        run.input_file(src)
        dst.write_text(src.read_text())
        run.output_file(dst)

    job()
    print("job done")
""")


def test_an_emitter_setting_typo_keeps_the_jobs_lineage_in_the_spool(
    kafka_broker: str, topic_names: TopicSettings, tmp_path: Path,
) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("a,b\n1,2\n")
    script = tmp_path / "job.py"
    script.write_text(JOB)
    env = {"LINEAGE_EMITTER__QUEUE_SISE": "10", "LINEAGE_DATA_DIR": str(tmp_path / "data"),
           "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": kafka_broker,
           "LINEAGE_TOPICS__EVENTS": topic_names.events,
           "PYTHONPATH": str(ROOT)}
    child = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    done = subprocess.run([sys.executable, str(script), str(src), str(dst)],
                          env={**child, **env}, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0 and "job done" in done.stdout, done.stderr
    assert "emitter.queue_sise" in done.stderr and "spool" in done.stderr, done.stderr
    spool_dir = tmp_path / "data" / "spool"
    ids = spooled_ids(spool_dir)
    print(f"job with LINEAGE_EMITTER__QUEUE_SISE: exit 0, {len(ids)} events spooled")
    assert len(ids) == 2  # START and COMPLETE

    create_topic(kafka_broker, topic_names.events)
    runner = CliRunner()
    replay = runner.invoke(spool_app, ["replay", "--spool-dir", str(spool_dir),
                                       "--bootstrap-servers", kafka_broker])
    assert replay.exit_code == 0 and "2 delivered" in replay.output, replay.output
    events = read_events(kafka_broker, topic_names.events, 2, settle_s=1.0)
    assert sorted(e.eventId for e in events) == sorted(ids)
    status = runner.invoke(spool_app, ["status", "--spool-dir", str(spool_dir), "--json"])
    assert json.loads(status.output)["records"] == 0
