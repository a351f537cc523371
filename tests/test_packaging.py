"""The plain ``pip install lineage-pipeline`` is the emitter SDK alone, and it emits to Kafka.

A producer job installs the package without extras. This test does what such a job does:
it copies the project's packages (as listed in ``pyproject.toml``) to a temporary directory,
creates a fresh virtual environment there (``python -m venv``, with the pip it bundles) and
runs ``pip install <copy>`` into it: non-editable, no extras, dependencies from PyPI through
pip's cache. It then checks

- the footprint: the fresh ``site-packages`` (pip and setuptools included) stays within
  :data:`MAX_SITE_PACKAGES_BYTES`, and none of :data:`HEAVY` is installed;
- the imports: every module of ``lineage_pipeline`` (the core) and ``emitters`` (the SDK)
  imports, except the few of :data:`NEEDS_AN_EXTRA` for want of their extra, and none of
  them loads a heavy module;
- the SDK: a script run by the fresh interpreter imports ``emitters``, runs a job with
  :func:`emitters.job_run` over a real file, and emits to the session's real Kafka broker
  (``kafka_broker``); the test process reads the topic back and decodes the START and
  COMPLETE events of that run, with the input file's SHA-256 as its version. The script
  also checks that no heavy module was imported and that features of extras
  (``sql_lineage``, ``emitters.torch``, ``capture_pandas``) fail with an error naming the
  extra to install.

The build copies the sources first so that stale ``build/`` output of the repository can
never end up in the wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lineage_pipeline.codec import EventCodec
from lineage_pipeline.events import EventType, LineageEvent

ROOT = Path(__file__).resolve().parents[1]

#: Distributions the plain install must not bring (they belong to extras).
HEAVY = ("faust-streaming", "neo4j", "falkordb", "pyarrow", "torch", "pyspark", "pandas")
#: Top-level modules of those (and of the other extras) the SDK must not import.
HEAVY_MODULES = ("faust", "neo4j", "falkordb", "redis", "pyarrow", "torch", "pyspark",
                 "pandas", "numpy", "openlineage", "openlineage_sql", "typer", "rich")
#: The fresh environment's site-packages, pip and setuptools included.
MAX_SITE_PACKAGES_BYTES = 80 * 1000 * 1000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _pip_env() -> dict[str, str]:
    """The environment for the fresh venv's pip: this one's (an index mirror, pip's cache
    directory) without ``PYTHON*`` variables, which could put the repository on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _copy_sources(dest: Path) -> Path:
    """Copy pyproject.toml, the readme and every package ``pyproject.toml`` ships to ``dest``."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {p.rstrip("*").split(".")[0] for p in patterns}
    dest.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", dest)
    shutil.copy2(ROOT / pyproject["project"]["readme"], dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for top in sorted(tops):
        if (ROOT / top).is_dir():
            shutil.copytree(ROOT / top, dest / top, ignore=ignore)
    return dest


def _site_packages(venv: Path) -> Path:
    (path,) = (venv / "lib").glob("python3*/site-packages")
    return path


def _tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with ``pip install <project copy>`` (no extras) done; its directory."""
    base = tmp_path_factory.mktemp("plain_install")
    source = _copy_sources(base / "src")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    started = time.monotonic()
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True, text=True, env=_pip_env(), timeout=800, check=False,
    )
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    print(f"\nplain install: pip install took {time.monotonic() - started:.1f} s")
    yield venv


def _installed(venv: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True, text=True, env=_pip_env(), timeout=120, check=True,
    ).stdout
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(out)}


def test_the_plain_install_is_the_emitter_sdk_only(plain_venv: Path) -> None:
    installed = _installed(plain_venv)
    size = _tree_bytes(_site_packages(plain_venv))
    print(f"plain install: site-packages {size / 1e6:.1f} MB, {len(installed)} packages: "
          + ", ".join(f"{n}=={v}" for n, v in sorted(installed.items())))
    assert "lineage-pipeline" in installed
    heavy = sorted(set(HEAVY) & set(installed))
    assert not heavy, f"the plain install brings extras' packages: {heavy}"
    assert size <= MAX_SITE_PACKAGES_BYTES, (
        f"site-packages is {size / 1e6:.1f} MB > {MAX_SITE_PACKAGES_BYTES / 1e6:.0f} MB"
    )


#: Modules of the SDK and the core that need an extra: module prefix -> the modules whose
#: absence may stop their import on the plain install.
NEEDS_AN_EXTRA = {
    "emitters.cli": {"typer", "rich"},  # `lineage spool`, part of the lineage CLI ([local])
    "emitters.spark.autoload": {"pyspark", "py4j"},  # [spark]
    "emitters.torch": {"torch"},  # [torch]
    "lineage_pipeline.graph.neo4j": {"neo4j"},  # [sink]
    "lineage_pipeline.graph.falkordb": {"falkordb", "redis"},  # [sink]
    "lineage_pipeline.openlineage": {"openlineage", "attr"},  # [openlineage]
}

IMPORT_ALL = textwrap.dedent('''
    """Import every module of the SDK and the core; report failures and heavy modules."""
    import importlib, json, pkgutil, sys

    import emitters, lineage_pipeline

    failures = {}
    for package in (emitters, lineage_pipeline):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.endswith(".__main__"):
                continue
            try:
                importlib.import_module(module.name)
            except ImportError as exc:
                cause = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
                failures[module.name] = (cause.name or "").split(".")[0] or str(exc)
    heavy = sorted(m for m in sys.argv[1].split(",") if m in sys.modules)
    print(json.dumps({"failures": failures, "heavy": heavy}))
''')


def test_the_core_and_the_sdk_import_on_the_plain_install(plain_venv: Path, tmp_path: Path) -> None:
    """Every module of ``lineage_pipeline`` and ``emitters`` imports without extras, except
    those of :data:`NEEDS_AN_EXTRA` (for the missing modules listed there), and importing
    them all loads none of the heavy modules of the extras."""
    script = tmp_path / "import_all.py"
    script.write_text(IMPORT_ALL, "utf-8")
    done = subprocess.run(
        [str(plain_venv / "bin" / "python"), str(script), ",".join(HEAVY_MODULES)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("LINEAGE_", "PYTHON"))},
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    unexpected = {
        module: missing
        for module, missing in report["failures"].items()
        if not any(
            (module == prefix or module.startswith(prefix + ".")) and missing in allowed
            for prefix, allowed in NEEDS_AN_EXTRA.items()
        )
    }
    assert not unexpected, f"modules that need more than the plain install: {unexpected}"
    assert report["heavy"] == [], f"importing the core loads {report['heavy']}"


PRODUCER_JOB = textwrap.dedent('''
    """A producer job with the plain install: one run over a real CSV file, to Kafka."""
    import json
    import sys

    from emitters import get_client, job_run, sql_lineage

    source, target, heavy = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    with job_run("packaging_probe", namespace="packaging") as run:
        run.input_file(source)
        with open(source) as fh, open(target, "w") as out:
            out.write(fh.read().upper())
        run.output_file(target)
    delivered = get_client().flush(30)

    def error_of(feature):
        try:
            feature()
        except ImportError as exc:
            return str(exc)
        return None

    def torch_emitter():
        import emitters.torch  # noqa: F401

    def pandas_capture():
        from emitters.pandas_capture import capture_pandas

        with capture_pandas():
            pass

    errors = {
        "sql": error_of(lambda: sql_lineage("INSERT INTO t SELECT a FROM s", namespace="db")),
        "torch": error_of(torch_emitter),
        "pandas": error_of(pandas_capture),
    }
    loaded = sorted(m for m in heavy if m in sys.modules)
    print(json.dumps({"run_id": run.run_id, "pending": delivered, "loaded": loaded,
                      "errors": errors}))
''')


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def _read_events(bootstrap: str, topic: str, expected: int, timeout_s: float) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout_s
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                values.append(msg.value() or b"")
    finally:
        consumer.close()
    return values


def test_a_job_on_the_plain_install_emits_to_kafka(
    plain_venv: Path, kafka_broker: str, tmp_path: Path
) -> None:
    topic = f"lineage.events.packaging.{uuid.uuid4().hex[:8]}"
    _create_topic(kafka_broker, topic)
    source = tmp_path / "orders.csv"
    source.write_text("id,amount\n1,9.5\n2,3.25\n", "utf-8")
    target = tmp_path / "report.csv"
    job = tmp_path / "job.py"
    job.write_text(PRODUCER_JOB, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINEAGE_", "PYTHON"))}
    env |= {
        "LINEAGE_KAFKA__BOOTSTRAP_SERVERS": kafka_broker,
        "LINEAGE_TOPICS__EVENTS": topic,
        "LINEAGE_EMITTER__TRANSPORT": "kafka",
        "LINEAGE_EMITTER__SPOOL_DIR": str(tmp_path / "spool"),
        "LINEAGE_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [str(plain_venv / "bin" / "python"), str(job), str(source), str(target),
         ",".join(HEAVY_MODULES)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, f"the job failed:\n{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], f"the SDK imported heavy modules: {report['loaded']}"
    assert report["pending"] == 0, "events still queued after flush"
    for extra, error in report["errors"].items():  # features of extras name their extra
        assert error and f"pip install 'lineage-pipeline[{extra}]'" in error, (extra, error)

    codec = EventCodec()
    events: list[LineageEvent] = [codec.decode(v) for v in _read_events(kafka_broker, topic,
                                                                         2, 30)]
    mine = [e for e in events if e.run.runId == report["run_id"]]
    assert [e.eventType for e in mine] == [EventType.START, EventType.COMPLETE], events
    complete = mine[-1]
    assert complete.job.name == "packaging_probe"
    (inp,) = complete.inputs
    assert inp.name == str(source)
    assert inp.version == hashlib.sha256(source.read_bytes()).hexdigest()
    (out,) = complete.outputs
    assert out.name == str(target)
    assert out.version == hashlib.sha256(target.read_bytes()).hexdigest()
