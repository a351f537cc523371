"""Run facts computed once per process: the interpreter and packages, and the code's git state."""

from __future__ import annotations

import contextlib
import functools
import getpass
import logging
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from lineage_pipeline.events import CodeVersion, Environment

log = logging.getLogger("emitters.facets")

#: Packages whose versions every run records (when installed).
KEY_PACKAGES = (
    "lineage-pipeline",
    "pandas",
    "numpy",
    "pyarrow",
    "scikit-learn",
    "torch",
    "pyspark",
    "confluent-kafka",
    "openlineage-python",
    "fastavro",
    "pydantic",
)


@functools.cache
def collect_environment() -> Environment:
    """Return Python version, versions of :data:`KEY_PACKAGES` that are installed, host,
    user and platform. Computed once per process; never raises."""
    packages: dict[str, str] = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        except Exception:  # broken metadata must not break the job
            continue
    try:
        user: str | None = getpass.getuser()
    except Exception:
        user = None
    return Environment(
        pythonVersion=platform.python_version(),
        packages=packages,
        host=socket.gethostname(),
        user=user,
        platform=platform.platform(),
    )


def _entry_point() -> Path | None:
    main = sys.modules.get("__main__")
    candidate = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else None)
    if candidate and os.path.exists(candidate):
        return Path(os.path.abspath(candidate))
    return None


def _git(directory: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def strip_credentials(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part (``git@host:repo`` is kept)."""
    parsed = urlparse(url)
    if parsed.scheme and parsed.netloc and "@" in parsed.netloc:
        return urlunparse(parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1]))
    return url


@functools.lru_cache(maxsize=64)
def _code_version(directory: str, entry: str | None) -> CodeVersion:
    root_text = _git(Path(directory), "rev-parse", "--show-toplevel")
    if root_text is None:
        return CodeVersion(entryPoint=entry)
    root = Path(root_text)
    sha = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    remote = _git(root, "config", "--get", "remote.origin.url")
    entry_point = entry
    if entry is not None:
        with contextlib.suppress(ValueError):
            entry_point = str(Path(entry).relative_to(root))
    return CodeVersion(
        gitSha=sha,
        dirty=None if status is None else bool(status),
        repository=strip_credentials(remote) if remote else str(root),
        branch=branch if branch and branch != "HEAD" else None,
        entryPoint=entry_point,
    )


def collect_code_version(path: str | os.PathLike[str] | None = None) -> CodeVersion:
    """Return the git commit, dirty flag, repository, branch and entry point of the code.

    ``path``: a file or directory inside the repository (default: the running script,
    else the working directory). The entry point is the script's path relative to the
    repository root. Outside git only ``entryPoint`` is set. Cached per process; never raises.
    """
    try:
        entry = Path(os.path.abspath(path)) if path is not None else _entry_point()
        if entry is None:
            directory = Path.cwd()
        else:
            directory = entry if entry.is_dir() else entry.parent
        return _code_version(str(directory), str(entry) if entry is not None else None)
    except Exception as exc:
        log.info("lineage: code version unknown: %s", exc)
        return CodeVersion()
