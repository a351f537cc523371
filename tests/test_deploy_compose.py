"""docker-compose.yml and the Dockerfile, parsed and checked against the project's configuration.

Docker cannot run here, so the files are read as a Compose implementation and Docker would:
YAML with ``${VAR:-default}`` interpolation, and the Dockerfile's instructions. The project's
environment (``LINEAGE_<SECTION>__<KEY>``) is loaded through :func:`load_settings`, so a key
the settings do not know, or a value they reject, fails here rather than in a container.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import yaml
from pydantic import BaseModel

from lineage_app.localstack.engines import KAFKA_VERSION, NEO4J_VERSION
from lineage_pipeline.settings import (
    DEFAULT_PROCESSOR_METRICS_PORT,
    DEFAULT_SINK_METRICS_PORT,
    LineageSettings,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
PROJECT_SERVICES = {"processor": "stream_processor", "sink": "graph_sink"}
ONE_SHOT = {"topics-init"}
# Secrets compose must refuse to start without (``${VAR:?message}``); test values here.
SECRETS = {"NEO4J_PASSWORD": "s3cret-test-pass", "GRAFANA_ADMIN_PASSWORD": "grafana-test"}

_VAR = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def interpolate(value: Any, env: Mapping[str, str] = SECRETS) -> str:
    """Resolve Compose variables in ``value`` like ``docker compose config`` does."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        present = env.get(name)
        if op in (":-", "-"):
            use_default = present is None or (op == ":-" and present == "")
            return arg if use_default else str(present)
        if op in (":?", "?"):
            if present is None or (op == ":?" and present == ""):
                raise KeyError(f"{name}: {arg}")
            return present
        return present or ""

    return _VAR.sub(one, str(value))


def env_of(service: str, env: Mapping[str, str] = SECRETS) -> dict[str, str]:
    raw = SERVICES[service].get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(value, env) for key, value in raw.items()}


def settings_env_keys() -> set[str]:
    """Every LINEAGE_* variable LineageSettings reads (walks its sections' fields)."""
    keys = set()
    for name, info in LineageSettings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= {f"LINEAGE_{name}__{sub}".upper() for sub in annotation.model_fields}
        else:
            keys.add(f"LINEAGE_{name}".upper())
    return keys


def published(service: str) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each ``ports`` entry (short syntax)."""
    found = []
    for entry in SERVICES[service].get("ports", []):
        parts = interpolate(entry, {**SECRETS}).split(":")
        ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        found.append((ip, int(parts[-2]), int(parts[-1].split("/")[0])))
    return found


def mount(service: str, target: str) -> str:
    """The host source mounted at ``target`` in ``service``."""
    for volume in SERVICES[service].get("volumes", []):
        source, _, rest = str(volume).partition(":")
        if rest.split(":")[0] == target:
            return source
    raise AssertionError(f"{service} mounts nothing at {target}")


def loaded_settings(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> LineageSettings:
    """The settings ``service`` would run with (keys LineageSettings lacks are left out)."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("LINEAGE_")]:
        monkeypatch.delenv(key)
    known = settings_env_keys()
    for key, value in env_of(service).items():
        if key in known:
            monkeypatch.setenv(key, value)
    return load_settings()


# ------------------------------------------------------------------------- compose file --


def test_the_services_of_the_production_shape() -> None:
    assert set(SERVICES) == {"kafka", "topics-init", "schema-registry", "neo4j", "processor",
                             "sink", "prometheus", "grafana"}


def test_every_image_is_pinned_to_a_version() -> None:
    expected_repos = {"kafka": "apache/kafka", "topics-init": "apache/kafka", "neo4j": "neo4j",
                      "schema-registry": "confluentinc/cp-schema-registry",
                      "prometheus": "prom/prometheus", "grafana": "grafana/grafana"}
    for name, service in SERVICES.items():
        image = interpolate(service["image"])
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"
        if name in PROJECT_SERVICES:
            assert service["build"] == ".", name
        else:
            assert repo == expected_repos[name], f"{name}: {image}"
            assert "build" not in service


def pom_version(engine: str) -> str:
    """The ``<engine>.version`` of deploy/engines/<engine>/pom.xml, once its dependency and
    its output directory (``<engines dir>/<engine>-<version>``, engines.classpath) use it."""
    ns, prop = {"m": "http://maven.apache.org/POM/4.0.0"}, f"${{{engine}.version}}"
    pom = ElementTree.parse(ROOT / "deploy" / "engines" / engine / "pom.xml").getroot()
    assert prop in [d.findtext("m:version", namespaces=ns)
                    for d in pom.iterfind("m:dependencies/m:dependency", ns)], engine
    output = pom.findtext(".//m:outputDirectory", namespaces=ns)
    assert output == f"${{engines.dir}}/{engine}-{prop}", output
    return pom.findtext(f"m:properties/m:{engine}.version", namespaces=ns) or ""


def test_compose_runs_the_engine_versions_of_the_local_stack() -> None:
    """Compose, the Maven poms and engines.py agree on Kafka and Neo4j: the same major (Kafka
    4 dropped old protocol versions; Neo4j 5's Cypher and Bolt) and, pinned, the same release."""
    assert (pom_version("kafka"), pom_version("neo4j")) == (KAFKA_VERSION, NEO4J_VERSION)
    for name, version in (("kafka", KAFKA_VERSION), ("topics-init", KAFKA_VERSION),
                          ("neo4j", NEO4J_VERSION)):
        tag = interpolate(SERVICES[name]["image"]).rpartition(":")[2]
        assert tag.split(".")[0] == version.split(".")[0], f"{name}: {tag} is not {version}"
        assert tag.removesuffix("-community") == version, f"{name}: {tag} is not {version}"
    assert interpolate(SERVICES["neo4j"]["image"]).endswith("-community")  # one database


def test_long_running_services_have_health_checks_and_depend_on_healthy_ones() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) >= 2, name
        assert {"interval", "timeout", "retries"} <= set(check), name
        assert service.get("restart") == "unless-stopped", name
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            wanted = ("service_completed_successfully" if dependency in ONE_SHOT
                      else "service_healthy")
            assert rule["condition"] == wanted, (name, dependency)
    assert set(SERVICES["processor"]["depends_on"]) >= {"kafka", "schema-registry", "topics-init"}
    assert set(SERVICES["sink"]["depends_on"]) >= {"kafka", "neo4j", "topics-init"}


def test_ports_are_unique_loopback_for_infrastructure_and_absent_on_scalable_services() -> None:
    seen: dict[int, str] = {}
    for name in SERVICES:
        for ip, host_port, _ in published(name):
            assert host_port not in seen, f"{name} and {seen.get(host_port)} publish {host_port}"
            seen[host_port] = name
            if name != "grafana":
                assert ip == "127.0.0.1", f"{name} publishes {host_port} on {ip}"
    assert {c for _, _, c in published("kafka")} == {9092}
    assert {c for _, _, c in published("neo4j")} == {7474, 7687}
    assert {c for _, _, c in published("prometheus")} == {9090}
    assert {c for _, _, c in published("grafana")} == {3000}
    for name in PROJECT_SERVICES:  # `docker compose up --scale` needs both absent
        assert "ports" not in SERVICES[name] and "container_name" not in SERVICES[name], name


def test_kafka_runs_in_kraft_mode_with_consistent_listeners() -> None:
    env = env_of("kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    by_name = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    protocols = dict(item.split(":")
                     for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(by_name) <= set(protocols)
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in by_name and env["KAFKA_INTER_BROKER_LISTENER_NAME"] in by_name
    node, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert node == str(env["KAFKA_NODE_ID"])
    assert voter == f"{SERVICES['kafka']['hostname']}:{by_name[controller].rsplit(':', 1)[1]}"
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert controller not in advertised and set(advertised) <= set(by_name)
    for name, address in advertised.items():
        assert address.rsplit(":", 1)[1] == by_name[name].rsplit(":", 1)[1], name
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert mount("kafka", env["KAFKA_LOG_DIRS"]) in COMPOSE["volumes"]
    # one broker: every internal topic (offsets, transactions, Kafka 4's share-group state)
    factors = {k: v for k, v in env.items() if k.endswith(("_REPLICATION_FACTOR", "_MIN_ISR"))}
    assert len(factors) == 5 and set(factors.values()) == {"1"}, factors


def test_neo4j_has_auth_from_a_required_secret_and_a_persistent_volume() -> None:
    raw = SERVICES["neo4j"]["environment"]["NEO4J_AUTH"]
    assert raw.startswith("neo4j/${NEO4J_PASSWORD:?")
    with pytest.raises(KeyError, match="NEO4J_PASSWORD"):
        interpolate(raw, {})
    assert mount("neo4j", "/data") in COMPOSE["volumes"]
    for name in ("processor", "sink"):
        assert SERVICES[name]["environment"]["LINEAGE_GRAPH__PASSWORD"].startswith(
            "${NEO4J_PASSWORD:?"
        )
    assert SERVICES["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?"
    )


def test_project_environment_uses_only_lineage_settings_keys() -> None:
    known = settings_env_keys()
    for name in PROJECT_SERVICES:
        keys = {k for k in SERVICES[name]["environment"] if k.startswith("LINEAGE_")}
        unknown = sorted(keys - known)
        assert not unknown, (
            f"{name} sets {unknown}, which lineage_pipeline.settings.LineageSettings does not "
            "define: its extra='forbid' would stop the service at start-up"
        )


@pytest.mark.parametrize("service", sorted(PROJECT_SERVICES))
def test_project_environment_loads_and_points_at_the_compose_services(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = loaded_settings(service, monkeypatch, tmp_path)
    kafka_env = env_of("kafka")
    # Kafka: the internal advertised listener
    assert f"PLAINTEXT://{settings.kafka.bootstrap_servers}" in kafka_env[
        "KAFKA_ADVERTISED_LISTENERS"
    ].split(",")
    # Schema Registry
    registry = urlsplit(settings.kafka.schema_registry_url or "")
    assert registry.hostname == "schema-registry"
    listeners = env_of("schema-registry")["SCHEMA_REGISTRY_LISTENERS"]
    assert urlsplit(listeners).port == registry.port
    # Neo4j over Bolt with the same secret as NEO4J_AUTH
    graph = urlsplit(settings.graph.url)
    assert (settings.graph.backend, graph.scheme, graph.hostname) == ("neo4j", "bolt", "neo4j")
    assert graph.port in {c for _, _, c in published("neo4j")}
    assert settings.graph.name == "neo4j"  # Community edition: the one database
    assert settings.graph.password is not None
    user, _, password = env_of("neo4j")["NEO4J_AUTH"].partition("/")
    assert (settings.graph.username, settings.graph.password.get_secret_value()) == (user, password)
    # metrics port: exposed, health-checked, scraped
    port = settings.processor.metrics_port if service == "processor" else settings.sink.metrics_port
    assert [str(port)] == [str(p) for p in SERVICES[service]["expose"]]
    assert f":{port}/metrics" in " ".join(SERVICES[service]["healthcheck"]["test"])
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    (job,) = [j for j in scrape["scrape_configs"] if j["job_name"] == f"lineage-{service}"]
    (sd,) = job["dns_sd_configs"]
    assert (sd["names"], sd["type"], sd["port"]) == ([service], "A", port)


def test_topics_init_creates_the_configured_topics_with_the_configured_partitions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = loaded_settings("processor", monkeypatch, tmp_path)
    script = interpolate(SERVICES["topics-init"]["command"][0])
    (loop,) = re.findall(r"for topic in ([^;]+);", script)
    topics = settings.topics
    assert set(loop.split()) == {topics.events, topics.openlineage, topics.graph, topics.dlq}
    assert "--if-not-exists" in script and '--partitions "${LINEAGE_PARTITIONS}"' in script
    assert env_of("topics-init")["LINEAGE_PARTITIONS"] == str(topics.partitions)
    assert topics.partitions >= 3
    # the erasure topic (lineage erase) is compacted: the latest record per dataset stays
    erasures = re.search(r"--topic (\S+) --partitions 1 --replication-factor 1 \\\s*"
                         r"--config cleanup.policy=compact", script)
    assert erasures is not None and erasures.group(1) == topics.erasures


def test_the_project_services_run_the_two_entrypoints() -> None:
    assert SERVICES["processor"]["command"] == ["python", "-m", "stream_processor"]
    assert SERVICES["sink"]["command"] == ["python", "-m", "graph_sink"]


def test_prometheus_and_grafana_mount_the_deploy_directory() -> None:
    config_dir = ROOT / mount("prometheus", "/etc/prometheus")
    assert config_dir == ROOT / "deploy" / "prometheus"
    flags = dict(f.split("=", 1) for f in SERVICES["prometheus"]["command"] if "=" in f)
    config = Path(flags["--config.file"])
    assert config.parent == Path("/etc/prometheus") and (config_dir / config.name).is_file()
    assert mount("prometheus", flags["--storage.tsdb.path"]) in COMPOSE["volumes"]

    provisioning = ROOT / mount("grafana", "/etc/grafana/provisioning")
    assert provisioning == ROOT / "deploy" / "grafana" / "provisioning"
    dashboards_dir = ROOT / mount("grafana", "/var/lib/grafana/dashboards")
    (provider_file,) = (provisioning / "dashboards").glob("*.yml")
    (provider,) = yaml.safe_load(provider_file.read_text("utf-8"))["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert {p.name for p in dashboards_dir.glob("*.json")} == {"freshness.json",
                                                               "pipeline-health.json"}
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards_dir / Path(home).name).is_file()
    (source_file,) = (provisioning / "datasources").glob("*.yml")
    (source,) = yaml.safe_load(source_file.read_text("utf-8"))["datasources"]
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus" and url.port in {c for _, _, c in published("prometheus")}


# --------------------------------------------------------------------------- Dockerfile --


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text("utf-8")
    logical = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")))
    pairs = []
    for line in logical.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_the_dockerfile_builds_the_project_on_python_3_11_slim() -> None:
    instructions = dockerfile()
    froms = [args for word, args in instructions if word == "FROM"]
    assert froms == ["python:3.11-slim"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied: set[str] = set()
    for word, args in instructions:
        if word == "COPY":
            *sources, _dest = shlex.split(args)
            copied |= {s.rstrip("/") for s in sources if not s.startswith("--")}
    assert packages <= copied, f"packages not copied into the image: {packages - copied}"
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    missing = sorted(s for s in copied if not (ROOT / s).exists())
    assert not missing, f"COPY sources missing from the repository (docker build fails): {missing}"
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "pip install ." in runs
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    (cmd,) = [args for word, args in instructions if word == "CMD"]
    assert json.loads(cmd) == ["python", "-m", "stream_processor"]
    exposed = {int(p) for word, args in instructions if word == "EXPOSE" for p in args.split()}
    assert exposed == {DEFAULT_PROCESSOR_METRICS_PORT, DEFAULT_SINK_METRICS_PORT}


def test_the_build_context_leaves_out_the_virtualenv_but_not_what_copy_needs() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git"} <= ignored
    copied = {s.rstrip("/") for word, args in dockerfile() if word == "COPY"
              for s in shlex.split(args)[:-1]}
    assert not (copied & ignored), copied & ignored


@pytest.mark.parametrize("service", sorted(PROJECT_SERVICES))
def test_the_entrypoints_exist_and_bind_metrics_where_compose_says(service: str) -> None:
    """In a container /metrics must listen on 0.0.0.0 (`<section>.metrics_addr`), else
    Prometheus, in another container, cannot scrape it."""
    main = ROOT / PROJECT_SERVICES[service] / "__main__.py"
    assert main.exists(), f"compose runs {service} from {main.relative_to(ROOT)}, which is missing"
    assert SERVICES[service]["environment"][f"LINEAGE_{service.upper()}__METRICS_ADDR"] == "0.0.0.0"
    if f"settings.{service}.metrics_addr" not in main.read_text("utf-8"):
        pytest.fail(
            f"{main.relative_to(ROOT)} must call serve_metrics(settings.{service}.metrics_port, "
            f"settings.{service}.metrics_addr): in a container /metrics binds to 0.0.0.0"
        )
