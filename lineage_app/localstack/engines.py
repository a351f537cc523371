"""Where the JVM engines live: the jars Maven resolved and the Java that runs them.

``make install`` runs Maven on ``deploy/engines/kafka/pom.xml`` and
``deploy/engines/neo4j/pom.xml`` (``dependency:copy-dependencies``), which copies each
engine's runtime classpath into ``<engines dir>/kafka-<version>/`` and
``<engines dir>/neo4j-<version>/``. The engines dir is ``$LINEAGE_ENGINES_DIR``, else
``<sys.prefix>/engines`` (the project's ``.venv/engines``). Java is ``$LINEAGE_JAVA``, else
``$JAVA_HOME/bin/java``, else ``java`` on ``PATH`` (Kafka 4 and Neo4j 5.26 run on Java 17+).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from lineage_pipeline.errors import StackError

#: Versions the project's poms resolve (kept in step with deploy/engines/*/pom.xml and
#: docker-compose.yml; tests/test_deploy_compose.py checks the majors agree).
KAFKA_VERSION = "4.1.2"
NEO4J_VERSION = "5.26.30"

_INSTALL_HINT = "run `make install` (it resolves the engines with Maven into .venv/engines)"


def engines_dir() -> Path:
    """Return the directory holding the resolved engine classpaths (may not exist yet)."""
    named = os.environ.get("LINEAGE_ENGINES_DIR")
    return Path(named) if named else Path(sys.prefix) / "engines"


def classpath(engine: str, version: str) -> str:
    """Return the Java classpath (``dir/*``) of ``engine`` at ``version``.

    Raises :class:`StackError` naming the directory and the fix when it holds no jars.
    """
    folder = engines_dir() / f"{engine}-{version}"
    if not folder.is_dir() or not any(folder.glob("*.jar")):
        raise StackError(f"{engine} {version} is not installed in {folder}; {_INSTALL_HINT}")
    return str(folder / "*")


def java_binary() -> str:
    """Return the ``java`` executable to run the engines with.

    Raises :class:`StackError` when none is found.
    """
    named = os.environ.get("LINEAGE_JAVA")
    if named:
        return named
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError("no `java` on PATH; install OpenJDK 17 or set JAVA_HOME")
    return found


__all__ = [
    "KAFKA_VERSION",
    "NEO4J_VERSION",
    "classpath",
    "engines_dir",
    "java_binary",
]
