"""``python -m bench.serve``: see :mod:`bench.serve`."""

from bench.serve import main

raise SystemExit(main())
