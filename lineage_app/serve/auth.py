"""API tokens and roles of ``lineage serve``.

A token is ``lps_`` + 43 random URL-safe characters (256 bits), shown once when made
(``lineage serve token add NAME --role ROLE``). At rest only its salted SHA-256 is kept, in
a JSON file (``serve.tokens_file``, default ``<data_dir>/serve/tokens.json``, mode 0600)::

    {"tokens": [{"name": str, "role": str, "salt": hex, "sha256": hex, "created": epoch ms}]}

A request carries ``Authorization: Bearer <token>``; :meth:`TokenStore.verify` compares the
salted hash of what it carries with each entry's in constant time (:func:`hmac.compare_digest`).
The file is read again when it changes, so a token added or revoked applies without a restart.
Tokens are never logged; an entry's ``name`` is what logs, metrics and rate limits use.

Roles (:data:`ROLES`): ``reader`` (every query; statistics of PII-tagged fields redacted),
``privacy-officer`` (every query; those statistics shown when the PII policy allows the role,
``LINEAGE_PII_ROLES_ALLOWED``, default ``["privacy-officer"]``: as the CLI's ``$LINEAGE_ROLE``),
``writer`` (OpenLineage ingestion only), ``admin`` (everything, the DLQ included; PII
statistics as the policy says for ``admin``, hidden by default).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage_pipeline.errors import ConfigError

READER = "reader"
WRITER = "writer"
PRIVACY_OFFICER = "privacy-officer"
ADMIN = "admin"
ROLES = (READER, WRITER, PRIVACY_OFFICER, ADMIN)
#: Who may use which endpoints.
QUERY_ROLES = frozenset({READER, PRIVACY_OFFICER, ADMIN})
INGEST_ROLES = frozenset({WRITER, ADMIN})
DLQ_ROLES = frozenset({ADMIN})
TOKEN_PREFIX = "lps_"


@dataclass(frozen=True)
class Principal:
    """Who a request is: the token's ``name`` and ``role``."""

    name: str
    role: str


def _digest(salt: str, token: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + token.encode("utf-8")).hexdigest()


class TokenStore:
    """The hashed tokens of one file (see the module docstring). Reading and writing raise
    :class:`ConfigError` when the file is unreadable or malformed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: list[dict[str, Any]] = []
        self._stamp: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def _load(self) -> list[dict[str, Any]]:
        """The entries, read again when the file's mtime or size changed."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._entries, self._stamp = [], None
            return []
        stamp = (st.st_mtime, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._entries = self._read()
                self._stamp = stamp
            return self._entries

    def _read(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
            entries = data["tokens"]
            for e in entries:
                if not (isinstance(e["name"], str) and e["role"] in ROLES
                        and bytes.fromhex(e["salt"]) and len(e["sha256"]) == 64):
                    raise ValueError(f"bad entry {e.get('name')!r}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"API token file {self.path} is unusable: {exc}") from exc
        return list(entries)

    def verify(self, token: str) -> Principal | None:
        """The principal of ``token``, or ``None`` when no entry matches (every entry is
        compared, in constant time each)."""
        found: Principal | None = None
        for entry in self._load():
            if hmac.compare_digest(_digest(entry["salt"], token), entry["sha256"]):
                found = Principal(entry["name"], entry["role"])
        return found

    def entries(self) -> list[dict[str, Any]]:
        """Every entry without its hash and salt: ``name``, ``role``, ``created`` (ms)."""
        return [{"name": e["name"], "role": e["role"], "created": e.get("created")}
                for e in self._load()]

    def add(self, name: str, role: str) -> str:
        """Make a token for ``name`` with ``role``; store its salted hash; return the token
        (the only time it exists in clear). Raises :class:`ConfigError` for an unknown role
        or a name already used."""
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if not name or any(e["name"] == name for e in self._load()):
            raise ConfigError(f"a token named {name!r} exists already (or the name is empty)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        entry = {"name": name, "role": role, "salt": salt, "sha256": _digest(salt, token),
                 "created": int(time.time() * 1000)}
        self._write([*self._load(), entry])
        return token

    def revoke(self, name: str) -> bool:
        """Remove the token named ``name``; ``False`` when there is none."""
        entries = self._load()
        kept = [e for e in entries if e["name"] != name]
        if len(kept) == len(entries):
            return False
        self._write(kept)
        return True

    def _write(self, entries: list[dict[str, Any]]) -> None:
        """Replace the file atomically (mode 0600)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"tokens": entries}, fh, indent=2)
        os.replace(tmp, self.path)
        with self._lock:
            self._stamp = None  # read again next time
