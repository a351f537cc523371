"""``python -m emitters.spark [options] script.py [args...]``: run a PySpark script with
lineage enabled on every session it creates, without changing the script.

Options: ``--namespace NS`` (job namespace), ``--app-name NAME`` (the application run's job
name), ``--emit-reads`` (also runs for read-only actions). Everything else comes from the
usual configuration (:mod:`emitters.spark.config`, :mod:`emitters.config`). When the
script raises (or exits non-zero), the application run ends with FAIL and the error; the
exit status is the script's.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse options, enable the autoload hook, run the script as ``__main__``."""
    parser = argparse.ArgumentParser(
        prog="python -m emitters.spark",
        description="Run a PySpark script with lineage capture enabled.",
    )
    parser.add_argument("--namespace", default=None, help="job namespace")
    parser.add_argument("--app-name", default=None, help="job name of the application run")
    parser.add_argument("--emit-reads", action="store_true", default=None,
                        help="emit runs for read-only actions too")
    parser.add_argument("script", help="the PySpark script to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the script")
    opts = parser.parse_args(argv)

    from emitters.spark import autoload
    from emitters.spark.emitter import open_handles

    autoload.install(
        force=True, namespace=opts.namespace, app_name=opts.app_name, emit_reads=opts.emit_reads
    )
    script = os.path.abspath(opts.script)
    sys.argv = [script, *opts.args]
    sys.path.insert(0, os.path.dirname(script))
    error: BaseException | None = None
    status = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if status != 0:
            error = exc
    except BaseException as exc:
        error = exc
        raise
    finally:
        for handle in open_handles():
            handle.close(error=error)
    return status


if __name__ == "__main__":
    sys.exit(main())
