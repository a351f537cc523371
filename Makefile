# lineage-pipeline: the two commands of the contract are `make demo` and `make test`.
# Every target installs what it needs into .venv from this project's files alone.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch is pinned: PyPI's torch 2.13.0 wheel brings its CUDA libraries (several GB) and
# runs on the CPU here; an unpinned torch may pick a newer, untested build.
TORCH_PIN := torch==2.13.0
# Apache Kafka and Neo4j: jars resolved by Maven into the venv (poms in deploy/engines/).
ENGINES := $(abspath $(VENV))/engines
ENGINES_STAMP := $(VENV)/.engines-installed
MVN := mvn -q -B -Dmaven.repo.local=$(abspath $(VENV))/m2 -Dengines.dir=$(ENGINES)

.PHONY: install sysdeps test demo bench lint typecheck clean up down

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_PIN)"
	$(BIN)/pip install --quiet -e ".[dev,spark,torch,demo,dbt]"
	touch $(STAMP)

$(ENGINES_STAMP): deploy/engines/kafka/pom.xml deploy/engines/neo4j/pom.xml | $(BIN)/python
	@command -v mvn >/dev/null 2>&1 || { echo "Maven (mvn) and Java 17 are needed to install Kafka and Neo4j"; exit 1; }
	$(MVN) -f deploy/engines/kafka/pom.xml dependency:copy-dependencies
	$(MVN) -f deploy/engines/neo4j/pom.xml dependency:copy-dependencies
	touch $(ENGINES_STAMP)

install: $(STAMP) $(ENGINES_STAMP)

# Debian packages used by tests and pictures: graphviz (dot), prometheus, and chromium with
# chromium-driver (tests/test_serve_ui.py drives the lineage page in the system browser).
sysdeps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -x /usr/bin/chromedriver || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	    || echo "warning: could not install$$missing; tests that need them will be skipped"; \
	fi

# Lint and types first (seconds), then the tests (real Kafka, Neo4j, Spark, torch).
test: install sysdeps lint
	$(BIN)/python -m pytest -q -ra tests

demo: install
	$(BIN)/python -m lineage_app.demo

bench: install
	$(BIN)/python -m bench

# ruff and mypy --strict (pyproject.toml: every package, the tests and the benches).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

up: install
	$(BIN)/lineage up

down:
	$(BIN)/lineage down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
