"""``python -m bench [NAME...]`` or ``python -m bench NAME --flag...``: run every benchmark
that exists (or the named ones).

A benchmark whose package (or a dependency of it) is missing is skipped and said so; one
that fails is reported and the others still run. Flags after a single name go to that
benchmark (its ``run_kwargs(argv)`` turns them into arguments of its ``run``), e.g.
``python -m bench pipeline --quick`` or ``python -m bench query --nodes 30000``. Exit code 1
if any benchmark failed or missed its goal.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from typing import Any

from bench import BENCHES


def _load(name: str) -> Any | None:
    try:
        return importlib.import_module(f"bench.{name}")
    except ImportError as exc:
        print(f"bench.{name}: skipped ({exc})", file=sys.stderr)
        return None


def _split(args: list[str]) -> tuple[list[str], list[str]]:
    """Split the command line into benchmark names and the flags after them."""
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            return args[:i], args[i:]
    return args, []


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named on the command line (all by default); see the docstring."""
    names, flags = _split(sys.argv[1:] if argv is None else argv)
    names = names or list(BENCHES)
    if flags and len(names) != 1:
        print("flags go to one benchmark: python -m bench NAME --flag ...", file=sys.stderr)
        return 2
    results: dict[str, Any] = {}
    failed = False
    for name in names:
        module = _load(name)
        if module is None:
            continue
        print(f"== bench.{name}", flush=True)
        started = time.perf_counter()
        try:
            kwargs: dict[str, Any] = {}
            if flags:
                parse = getattr(module, "run_kwargs", None)
                if parse is None:
                    raise ValueError(f"bench.{name} takes no flags here; use "
                                     f"python -m bench.{name} {' '.join(flags)}")
                kwargs = parse(flags)
            result = module.run(**kwargs)
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            failed = True
            continue
        printer = getattr(module, "print_table", None)
        if printer is not None:
            printer(result)
        print(json.dumps(result, indent=2, default=str), flush=True)
        result["bench_seconds"] = round(time.perf_counter() - started, 1)
        results[name] = result
        if result.get("goal_met") is False:
            failed = True
    print("== summary")
    for name, result in results.items():
        status = "error" if "error" in result else (
            "goal met" if result.get("goal_met") else
            "goal missed" if result.get("goal_met") is False else "done")
        print(f"  bench.{name:<10} {status}  ({result.get('bench_seconds', '-')} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
