"""A query helper run by the peer's own interpreter (it has asyncpg; the project's has no
PostgreSQL driver): ``python pg_probe.py DSN`` keeps one connection and answers each SQL line
on stdin with one JSON line on stdout, the rows as lists (``{"error": ...}`` on failure).

One persistent connection, so polling costs the server one backend, not a backend per query.
This file imports nothing of the project.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


async def _serve(dsn: str) -> None:
    import asyncpg  # type: ignore[import-not-found]  # in the peer's venv only

    conn: Any = await asyncpg.connect(dsn)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            try:
                rows = await conn.fetch(line)
                out: Any = [list(r.values()) for r in rows]
            except Exception as exc:  # report and go on: the caller decides
                out = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(out, default=str) + "\n")
            sys.stdout.flush()
    finally:
        await conn.close()


def main() -> None:
    """Serve queries on stdin until it closes (see the module docstring)."""
    asyncio.run(_serve(sys.argv[1]))


if __name__ == "__main__":
    main()
