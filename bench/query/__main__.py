"""``python -m bench.query [--nodes N] [--samples S] [--backend B]``: query latency."""

import sys

from bench.query import main

sys.exit(main())
